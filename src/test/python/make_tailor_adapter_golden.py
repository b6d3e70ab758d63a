"""Golden log-probabilities for an adapter written by Tailor itself
(src/test/resources/tailor-saved-adapter/adapter, produced by Adapter.save as
TailorSavedAdapterTest.trainedStandIn builds it), computed by the independent NumPy
implementation of transformers + PEFT LoRA math in reference_model.py on the
qwen2-bias-tied-f32 reference model.

    python3 src/test/python/make_tailor_adapter_golden.py

Deterministic: the same files give byte-identical expected.json.
"""

import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model as rm  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
RES = os.path.join(REPO, "src", "test", "resources")
CASE = os.path.join(RES, "tailor-saved-adapter")


def main():
    model = rm.load_model(os.path.join(RES, "reference-models", "qwen2-bias-tied-f32", "model"))
    adapter = rm.load_adapter(os.path.join(CASE, "adapter"))
    rng = np.random.default_rng(2026)
    sequences = []
    for length in (6, 24, 48):
        ids = [int(t) for t in rng.integers(3, 120, length)]
        sequences.append({"token_ids": ids, "logprobs": rm.sequence_logprobs(model, ids, adapter)})
    base = [rm.sequence_logprobs(model, s["token_ids"]) for s in sequences]
    effect = max(abs(a - b) for s, bl in zip(sequences, base) for a, b in zip(s["logprobs"], bl))
    assert effect > 0.05, "the adapter must change the model visibly, or the test proves nothing"
    expected = {
        "description": "qwen2-bias-tied-f32 + the rsLoRA r=4 all-linear adapter Tailor saved; "
                       "logprobs from reference_model.py (max adapter effect %.3f nats)" % effect,
        "sequences": sequences,
    }
    with open(os.path.join(CASE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
