"""Deterministic generator of the tiny reference models in
src/test/resources/reference-models/<case>/ (model/, optional adapter/, expected.json).

    python3 src/test/python/make_reference_models.py            # (re)write the fixtures
    python3 src/test/python/make_reference_models.py --check    # self-checks, writes nothing

Every random number comes from numpy.random.default_rng(<case seed>), all JSON is
written with sorted keys, so running it again reproduces identical bytes.
The golden log-probabilities are computed by reference_model.py from the files
as written (so they reflect the bf16 / f16 rounding of the stored weights).
"""

import argparse
import filecmp
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model as rm  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
DEFAULT_OUT = os.path.join(REPO, "src", "test", "resources", "reference-models")
TRANSFORMERS_V4 = "4.46.2"
TRANSFORMERS_V5 = "5.0.0"

# ---------------------------------------------------------------------------
# Writing files
# ---------------------------------------------------------------------------

def f32_to_bf16_bits(a):
    """float32 -> bf16 bit patterns, round to nearest even on the upper 16 bits."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def encode(a, dtype):
    """float array -> (safetensors dtype, little-endian bytes)."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "f32":
        return "F32", a.astype("<f4").tobytes()
    if dtype == "bf16":
        return "BF16", f32_to_bf16_bits(a).astype("<u2").tobytes()
    if dtype == "f16":
        if np.max(np.abs(a)) > 60000:
            raise ValueError("value out of f16 range")
        return "F16", a.astype("<f2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: {name: (dtype string, shape, bytes)}; names sorted, data contiguous."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    names = sorted(tensors)
    for name in names:
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name in names:
            f.write(tensors[name][2])


def write_json(path, obj):
    """As transformers / PEFT write it: indent 2, sorted keys, trailing newline."""
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

BASE = dict(arch="llama", dtype="f32", vocab=128, hidden=64, inter=128, layers=2, heads=4,
            kv=2, head_dim=None, theta=10000.0, eps=1e-5,
            tied=False, attention_bias=False, mlp_bias=False, llama3=None, rope_style="v4",
            bos=1, eos=2, shards=1, adapter=None, gen_extra=None, max_pos=2048,
            embed_std=None, head_std=0.35, layer_std=1.0)

LLAMA3 = dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
              original_max_position_embeddings=32)

# bf16 cases get smaller logits so that even an engine computing natively in bf16
# (activations rounded to bf16 as transformers does) stays well inside the 0.1 tolerance.
HEAD_STD_BF16 = 0.2
LAYER_STD_BF16 = 0.6

CASES = [
    dict(name="llama-gqa-f32", seed=101, vocab=256, inter=176,
         description="Llama, GQA 4 query heads / 2 kv heads, untied lm_head, no biases, f32."),
    dict(name="qwen2-bias-tied-f32", seed=202, arch="qwen2", theta=1000000.0, eps=1e-6,
         tied=True, bos=126, eos=127, vocab=128,
         description="Qwen2, non-zero q/k/v biases (o_proj none), tied embeddings, GQA 4/2, f32."),
    dict(name="llama3-rope-headdim-f32", seed=303, head_dim=24, attention_bias=True,
         mlp_bias=True, llama3=LLAMA3, vocab=160,
         description="Llama, rope_scaling llama3 (all three frequency regimes for head_dim 24), "
                     "explicit head_dim 24 != hidden/heads, attention_bias and mlp_bias true, f32."),
    dict(name="llama3-rope-parameters-f32", seed=303, head_dim=24, attention_bias=True,
         mlp_bias=True, llama3=LLAMA3, vocab=160, rope_style="v5",
         description="Same weights as llama3-rope-headdim-f32, config written the transformers v5 "
                     "way: rope_parameters{rope_type llama3, rope_theta, ...}, no rope_theta / "
                     "rope_scaling / torch_dtype keys (v5 writes dtype). Same golden values."),
    dict(name="llama-bf16", seed=505, dtype="bf16", theta=500000.0, head_std=HEAD_STD_BF16, layer_std=LAYER_STD_BF16,
         gen_extra={"do_sample": True, "temperature": 0.6, "top_p": 0.9},
         description="Llama, GQA 4/2, weights stored as BF16 (reference from the bf16 values)."),
    dict(name="qwen2-bf16-tied", seed=606, arch="qwen2", dtype="bf16", theta=1000000.0,
         head_std=HEAD_STD_BF16, layer_std=LAYER_STD_BF16,
         eps=1e-6, tied=True, bos=126, eos=127,
         description="Qwen2, q/k/v biases, tied embeddings, GQA 4/2, BF16."),
    dict(name="mistral-f16", seed=707, arch="mistral", dtype="f16", heads=8, kv=2,
         theta=1000000.0, max_pos=32768,
         description="Mistral (sliding_window null, no rope_scaling key), GQA 8 query heads / "
                     "2 kv heads (group 4), head_dim 8, weights stored as F16."),
    dict(name="llama-sharded-f32", seed=808, hidden=48, heads=6, kv=2, eos=[2, 7],
         shards=2, gen_extra={"do_sample": True, "temperature": 0.7, "top_k": 20,
                              "repetition_penalty": 1.1, "max_new_tokens": 64},
         description="Llama, hidden 48, GQA 6/2 (group 3), head_dim 8, weights in two shards "
                     "with model.safetensors.index.json, eos_token_id a list [2, 7]."),
    dict(name="qwen2-lora", seed=909, arch="qwen2", theta=1000000.0, eps=1e-6, tied=True,
         bos=126, eos=127,
         adapter=dict(r=4, alpha=8, rslora=False,
                      targets=["q_proj", "k_proj", "v_proj", "o_proj",
                               "gate_proj", "up_proj", "down_proj"]),
         description="Qwen2 (biases, tied, GQA 4/2, f32) + PEFT LoRA r=4 alpha=8 on all seven "
                     "linear modules (scaling 2). Golden values have the adapter applied."),
    dict(name="llama-rslora", seed=1010, hidden=48, heads=4, kv=4,
         adapter=dict(r=8, alpha=16, rslora=True, targets=["q_proj", "v_proj"]),
         description="Llama, hidden 48, 4 heads without GQA (kv heads = heads), head_dim 12, f32, "
                     "+ PEFT LoRA r=8 alpha=16 use_rslora true (scaling 16/sqrt(8)) on q_proj, "
                     "v_proj. Golden values have the adapter applied."),
]

for _c in CASES:
    for _k, _v in BASE.items():
        _c.setdefault(_k, _v)
    if _c["head_dim"] is None:
        _c["head_dim"] = _c["hidden"] // _c["heads"]

TORCH_DTYPE = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}
TOLERANCE = {"f32": 1e-3, "f16": 1e-3, "bf16": 1e-1}
# Greedy continuations stop once top-1 minus top-2 logit is not above this.
GREEDY_MARGIN = {"f32": 0.05, "f16": 0.05, "bf16": 0.5}


def make_config(c):
    common = {
        "architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                           "mistral": "MistralForCausalLM"}[c["arch"]]],
        "attention_dropout": 0.0,
        "bos_token_id": c["bos"],
        "eos_token_id": c["eos"],
        "hidden_act": "silu",
        "hidden_size": c["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": c["inter"],
        "max_position_embeddings": c["max_pos"],
        "model_type": c["arch"],
        "num_attention_heads": c["heads"],
        "num_hidden_layers": c["layers"],
        "num_key_value_heads": c["kv"],
        "rms_norm_eps": c["eps"],
        "tie_word_embeddings": c["tied"],
        "torch_dtype": TORCH_DTYPE[c["dtype"]],
        "transformers_version": TRANSFORMERS_V4,
        "use_cache": True,
        "vocab_size": c["vocab"],
    }
    if c["arch"] == "llama":
        common.update({"attention_bias": c["attention_bias"], "mlp_bias": c["mlp_bias"],
                       "head_dim": c["head_dim"], "pretraining_tp": 1})
        if c["rope_style"] == "v5":
            del common["torch_dtype"]
            common["dtype"] = TORCH_DTYPE[c["dtype"]]
            common["transformers_version"] = TRANSFORMERS_V5
            rope = {"rope_type": "llama3" if c["llama3"] else "default", "rope_theta": c["theta"]}
            rope.update(c["llama3"] or {})
            common["rope_parameters"] = rope
        else:
            common["rope_theta"] = c["theta"]
            common["rope_scaling"] = dict(c["llama3"], rope_type="llama3") if c["llama3"] else None
    elif c["arch"] == "qwen2":
        assert c["head_dim"] == c["hidden"] // c["heads"]
        common.update({"max_window_layers": c["layers"], "rope_theta": c["theta"],
                       "rope_scaling": None, "sliding_window": 4096,
                       "use_sliding_window": False})
    else:  # mistral: no rope_scaling key at all, sliding_window null
        common.update({"head_dim": c["head_dim"], "rope_theta": c["theta"],
                       "sliding_window": None})
    return common


def make_generation_config(c):
    g = {"_from_model_config": True, "bos_token_id": c["bos"], "eos_token_id": c["eos"],
         "transformers_version": TRANSFORMERS_V4}
    g.update(c["gen_extra"] or {})
    return g


def make_weights(c, rng):
    """float32 weights in transformers state_dict order (the order matters for sharding)."""
    h, inter, d = c["hidden"], c["inter"], c["head_dim"]
    qd, kvd = c["heads"] * d, c["kv"] * d
    qkv_bias = c["arch"] == "qwen2" or c["attention_bias"]
    o_bias = c["arch"] == "llama" and c["attention_bias"]
    w = {}

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    ls = c["layer_std"]

    embed_std = c["embed_std"] or (c["head_std"] if c["tied"] else 0.2)
    w["model.embed_tokens.weight"] = normal((c["vocab"], h), embed_std)
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        for m, out, inp, std in (("q_proj", qd, h, 0.18 * ls), ("k_proj", kvd, h, 0.18 * ls),
                                 ("v_proj", kvd, h, 0.12 * ls), ("o_proj", h, qd, 0.12 * ls)):
            w[p + f"self_attn.{m}.weight"] = normal((out, inp), std)
            if (qkv_bias and m != "o_proj") or (o_bias and m == "o_proj"):
                w[p + f"self_attn.{m}.bias"] = normal((out,), 0.3 if m == "k_proj" else 0.15)
        for m, out, inp, std in (("gate_proj", inter, h, 0.12 * ls), ("up_proj", inter, h, 0.12 * ls),
                                 ("down_proj", h, inter, 0.1 * ls)):
            w[p + f"mlp.{m}.weight"] = normal((out, inp), std)
            if c["mlp_bias"]:
                w[p + f"mlp.{m}.bias"] = normal((out,), 0.1)
        w[p + "input_layernorm.weight"] = (1.0 + normal((h,), 0.15)).astype(np.float32)
        w[p + "post_attention_layernorm.weight"] = (1.0 + normal((h,), 0.15)).astype(np.float32)
    w["model.norm.weight"] = (1.0 + normal((h,), 0.15)).astype(np.float32)
    if not c["tied"]:
        w["lm_head.weight"] = normal((c["vocab"], h), c["head_std"])
    return w


def write_model(c, model_dir, weights):
    os.makedirs(model_dir)
    write_json(os.path.join(model_dir, "config.json"), make_config(c))
    write_json(os.path.join(model_dir, "generation_config.json"), make_generation_config(c))
    encoded = {}
    for name, a in weights.items():
        dtype, data = encode(a, c["dtype"])
        encoded[name] = (dtype, a.shape, data)
    if c["shards"] == 1:
        write_safetensors(os.path.join(model_dir, "model.safetensors"), encoded)
        return
    # Split in state_dict order at half the bytes, as transformers' save_pretrained would
    # with a max_shard_size of about half the model (a layer may straddle the shards).
    total = sum(len(e[2]) for e in encoded.values())
    n = c["shards"]
    files = [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]
    groups, cum = [{} for _ in range(n)], 0
    for name, e in encoded.items():
        k = min(n - 1, cum * n // total)
        groups[k][name] = e
        cum += len(e[2])
    weight_map = {}
    for k in range(n):
        write_safetensors(os.path.join(model_dir, files[k]), groups[k])
        for name in groups[k]:
            weight_map[name] = files[k]
    write_json(os.path.join(model_dir, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": weight_map})


def make_adapter_weights(c, rng):
    """PEFT key layout; A ~ kaiming-uniform(a=sqrt(5)) like PEFT's init, B non-zero."""
    a = c["adapter"]
    h, inter, d = c["hidden"], c["inter"], c["head_dim"]
    dims = {"q_proj": (h, c["heads"] * d), "k_proj": (h, c["kv"] * d),
            "v_proj": (h, c["kv"] * d), "o_proj": (c["heads"] * d, h),
            "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h)}
    w = {}
    for i in range(c["layers"]):
        for m in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
            if m not in a["targets"]:
                continue
            kind = "self_attn" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            base = f"base_model.model.model.layers.{i}.{kind}.{m}"
            fan_in, fan_out = dims[m]
            bound = 1.0 / math.sqrt(fan_in)
            w[base + ".lora_A.weight"] = rng.uniform(-bound, bound, (a["r"], fan_in)).astype(np.float32)
            w[base + ".lora_B.weight"] = (rng.standard_normal((fan_out, a["r"])) * 0.05).astype(np.float32)
    return w


def make_adapter_config(c):
    a = c["adapter"]
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": "tailor-test/" + c["name"],
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": a["alpha"],
        "lora_dropout": 0.05,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": a["r"],
        "rank_pattern": {},
        "revision": None,
        "target_modules": a["targets"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": a["rslora"],
    }


def write_adapter(c, adapter_dir, weights):
    os.makedirs(adapter_dir)
    write_json(os.path.join(adapter_dir, "adapter_config.json"), make_adapter_config(c))
    write_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"),
                      {n: ("F32", a.shape, a.astype("<f4").tobytes()) for n, a in weights.items()})


def make_sequences(c, rng):
    lo = 3
    hi = min(c["vocab"], 126) if c["bos"] == 126 else c["vocab"]  # keep special ids out
    return [
        [int(t) for t in rng.integers(lo, hi, 5)],
        [c["bos"]] + [int(t) for t in rng.integers(lo, hi, 16)],
        [int(t) for t in rng.integers(lo, hi, 40)],
    ]


def special_ids(c):
    eos = c["eos"] if isinstance(c["eos"], list) else [c["eos"]]
    return set(eos) | {c["bos"]}


def make_greedy(c, rng, model, adapter):
    """Two prompts whose greedy continuation is long (>= 4 tokens) with clear margins
    and contains no special token; continuation length capped at 8."""
    lo, hi = 3, (126 if c["bos"] == 126 else c["vocab"])
    chosen, best = [], []
    for _ in range(60):
        prompt = [int(t) for t in rng.integers(lo, hi, int(rng.integers(3, 9)))]
        cont = rm.greedy(model, prompt, 8, GREEDY_MARGIN[c["dtype"]], adapter)
        if special_ids(c) & set(cont):
            cont = cont[:min(cont.index(s) for s in special_ids(c) if s in cont)]
        best.append((len(cont), prompt, cont))
        if len(cont) >= 4:
            chosen.append({"prompt": prompt, "continuation": cont})
            if len(chosen) == 2:
                return chosen
    best.sort(key=lambda t: -t[0])
    return [{"prompt": p, "continuation": k} for _, p, k in best[:2]]


def generate_case(c, case_dir):
    rng = np.random.default_rng(c["seed"])
    weights = make_weights(c, rng)
    write_model(c, os.path.join(case_dir, "model"), weights)
    model = rm.load_model(os.path.join(case_dir, "model"))
    adapter = None
    if c["adapter"]:
        arng = np.random.default_rng(c["seed"] + 1)
        write_adapter(c, os.path.join(case_dir, "adapter"), make_adapter_weights(c, arng))
        adapter = rm.load_adapter(os.path.join(case_dir, "adapter"))
    srng = np.random.default_rng(c["seed"] + 2)
    sequences = [{"token_ids": ids, "logprobs": rm.sequence_logprobs(model, ids, adapter)}
                 for ids in make_sequences(c, srng)]
    expected = {
        "description": c["description"],
        "weights_dtype": c["dtype"],
        "tolerance": TOLERANCE[c["dtype"]],
        "adapter": adapter is not None,
        "sequences": sequences,
        "greedy": make_greedy(c, srng, model, adapter),
    }
    write_json(os.path.join(case_dir, "expected.json"), expected)


def generate_all(out):
    os.makedirs(out, exist_ok=True)
    for c in CASES:
        case_dir = os.path.join(out, c["name"])
        if os.path.exists(case_dir):
            shutil.rmtree(case_dir)
        generate_case(c, case_dir)


# ---------------------------------------------------------------------------
# Self-checks (--check)
# ---------------------------------------------------------------------------

def tiny_model(seed=0, with_bias=True):
    """1 layer, hidden 8, 2 query heads sharing 1 kv head, head_dim 4, vocab 6, llama3 rope."""
    rng = np.random.default_rng(seed)
    raw = {"model_type": "llama", "vocab_size": 6, "hidden_size": 8, "intermediate_size": 12,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
           "head_dim": 4, "rms_norm_eps": 1e-5, "rope_theta": 100.0,
           "rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 2.0, "original_max_position_embeddings": 8},
           "tie_word_embeddings": False, "attention_bias": with_bias, "mlp_bias": with_bias,
           "hidden_act": "silu"}
    cfg = rm.Config(raw)
    shapes = {"model.embed_tokens.weight": (6, 8), "lm_head.weight": (6, 8),
              "model.norm.weight": (8,),
              "model.layers.0.input_layernorm.weight": (8,),
              "model.layers.0.post_attention_layernorm.weight": (8,),
              "model.layers.0.self_attn.q_proj.weight": (8, 8),
              "model.layers.0.self_attn.k_proj.weight": (4, 8),
              "model.layers.0.self_attn.v_proj.weight": (4, 8),
              "model.layers.0.self_attn.o_proj.weight": (8, 8),
              "model.layers.0.mlp.gate_proj.weight": (12, 8),
              "model.layers.0.mlp.up_proj.weight": (12, 8),
              "model.layers.0.mlp.down_proj.weight": (8, 12)}
    w = {}
    for name in rm.weight_names(cfg):
        if name.endswith(".bias"):
            shape = (shapes[name[:-5] + ".weight"][0],)
        else:
            shape = shapes[name]
        w[name] = rng.standard_normal(shape) * 0.5 + (1.0 if "norm" in name else 0.0)
    return rm.Model(cfg, w)


def scalar_forward(model, ids):
    """A second, loop-by-loop implementation in plain Python floats (no numpy math)."""
    cfg, w = model.cfg, {k: v.tolist() for k, v in model.weights.items()}
    eps, d = cfg.rms_norm_eps, cfg.head_dim

    def lin(x, name):
        out = []
        for r, row in enumerate(w[name + ".weight"]):
            s = sum(a * b for a, b in zip(row, x))
            if name + ".bias" in w:
                s += w[name + ".bias"][r]
            out.append(s)
        return out

    def rms(x, name):
        ms = sum(v * v for v in x) / len(x)
        return [v / math.sqrt(ms + eps) * g for v, g in zip(x, w[name])]

    # llama3 inverse frequencies written out from the definition
    p = cfg.rope_params
    inv = []
    for i in range(d // 2):
        f = cfg.rope_theta ** (-2.0 * i / d)
        if cfg.rope_type == "llama3":
            wl = 2 * math.pi / f
            lo, hi = p["original_max_position_embeddings"] / p["low_freq_factor"], \
                p["original_max_position_embeddings"] / p["high_freq_factor"]
            if wl > lo:
                f = f / p["factor"]
            elif wl >= hi:
                s = (p["original_max_position_embeddings"] / wl - p["low_freq_factor"]) / \
                    (p["high_freq_factor"] - p["low_freq_factor"])
                f = (1 - s) * f / p["factor"] + s * f
        inv.append(f)

    def rope(vec, pos):
        # pairs (i, i + d/2) rotate together by angle pos * inv[i]
        out = list(vec)
        for i in range(d // 2):
            c, s = math.cos(pos * inv[i]), math.sin(pos * inv[i])
            a, b = vec[i], vec[i + d // 2]
            out[i] = a * c - b * s
            out[i + d // 2] = b * c + a * s
        return out

    xs = [list(w["model.embed_tokens.weight"][t]) for t in ids]
    group = cfg.num_heads // cfg.num_kv_heads
    for layer in range(cfg.num_layers):
        pre = f"model.layers.{layer}."
        hs = [rms(x, pre + "input_layernorm.weight") for x in xs]
        qs = [lin(h, pre + "self_attn.q_proj") for h in hs]
        ks = [lin(h, pre + "self_attn.k_proj") for h in hs]
        vs = [lin(h, pre + "self_attn.v_proj") for h in hs]
        attn_out = []
        for t in range(len(ids)):
            concat = []
            for head in range(cfg.num_heads):
                kvh = head // group
                q = rope(qs[t][head * d:(head + 1) * d], t)
                scores = []
                for u in range(t + 1):
                    k = rope(ks[u][kvh * d:(kvh + 1) * d], u)
                    scores.append(sum(a * b for a, b in zip(q, k)) / math.sqrt(d))
                m = max(scores)
                e = [math.exp(s - m) for s in scores]
                z = sum(e)
                o = [0.0] * d
                for u in range(t + 1):
                    for j in range(d):
                        o[j] += e[u] / z * vs[u][kvh * d + j]
                concat += o
            attn_out.append(lin(concat, pre + "self_attn.o_proj"))
        xs = [[a + b for a, b in zip(x, o)] for x, o in zip(xs, attn_out)]
        for t in range(len(ids)):
            h = rms(xs[t], pre + "post_attention_layernorm.weight")
            g, u = lin(h, pre + "mlp.gate_proj"), lin(h, pre + "mlp.up_proj")
            act = [gi / (1 + math.exp(-gi)) * ui for gi, ui in zip(g, u)]
            down = lin(act, pre + "mlp.down_proj")
            xs[t] = [a + b for a, b in zip(xs[t], down)]
    return [lin(rms(x, "model.norm.weight"), "lm_head") for x in xs]


def apply_rope_interleaved(x, cos, sin):
    """The classic porting bug: rotate adjacent pairs (2i, 2i+1) instead of halves."""
    half = x.shape[-1] // 2
    c = np.repeat(cos[..., :half], 2, axis=-1)
    s = np.repeat(sin[..., :half], 2, axis=-1)
    rot = np.empty_like(x)
    rot[..., 0::2] = -x[..., 1::2]
    rot[..., 1::2] = x[..., 0::2]
    return x * c + rot * s


class Patched:
    """Temporarily replace a function of reference_model (to simulate a bug)."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def __enter__(self):
        self.old = getattr(rm, self.name)
        setattr(rm, self.name, self.fn)

    def __exit__(self, *a):
        setattr(rm, self.name, self.old)


def check_hand_computed():
    # (a) attention at T=2 for a 1-layer model: position 0 attends only to itself, so its
    # attention output is exactly o_proj(v_0); position 1 is checked against scalar loops.
    model = tiny_model()
    ids = [3, 1, 4, 5]
    ref = rm.forward(model, ids)
    alt = np.array(scalar_forward(model, ids))
    assert np.max(np.abs(ref - alt)) < 1e-12, np.max(np.abs(ref - alt))
    cfg, w = model.cfg, model.weights
    x = rm.rms_norm(w["model.embed_tokens.weight"][[3, 1]],
                    w["model.layers.0.input_layernorm.weight"], cfg.rms_norm_eps)
    cos, sin = rm.rope_cos_sin(cfg, np.arange(2))
    out = rm.attention(model, None, x, 0, cos, sin)
    v0 = x[0] @ w["model.layers.0.self_attn.v_proj.weight"].T + w["model.layers.0.self_attn.v_proj.bias"]
    o0 = np.concatenate([v0, v0]) @ w["model.layers.0.self_attn.o_proj.weight"].T \
        + w["model.layers.0.self_attn.o_proj.bias"]
    assert np.max(np.abs(out[0] - o0)) < 1e-12
    # llama3 in the tiny model: theta 100, d 4 -> inv [1, 0.1], wavelengths 6.28 (between
    # orig/high_ff = 4 and orig/low_ff = 8 -> smoothed) and 62.8 (> 8 -> divided by factor 4).
    inv = rm.rope_inv_freq(cfg)
    wl = 2 * math.pi / 1.0
    s = (8 / wl - 1.0) / (2.0 - 1.0)
    assert abs(inv[0] - ((1 - s) * 1.0 / 4 + s * 1.0)) < 1e-15 and abs(inv[1] - 0.1 / 4) < 1e-15
    # position 0 has no rotation; a hand-checked rotation at position 1 for d = 4:
    v = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    c1, s1 = rm.rope_cos_sin(cfg, np.array([1]))
    r = rm.apply_rope(v, c1, s1)[0, 0]
    a0, a1 = inv[0], inv[1]
    hand = [1 * math.cos(a0) - 3 * math.sin(a0), 2 * math.cos(a1) - 4 * math.sin(a1),
            3 * math.cos(a0) + 1 * math.sin(a0), 4 * math.cos(a1) + 2 * math.sin(a1)]
    assert np.max(np.abs(r - hand)) < 1e-15
    print("ok  (a) reference == scalar-loop implementation (max diff "
          f"{np.max(np.abs(ref - alt)):.1e}); attention(pos 0) == o_proj(v_0); rope by hand")


def check_rope_variants():
    # (b) rotate_half must differ from interleaved pairs, and the tiny model must notice.
    model = tiny_model()
    cfg = model.cfg
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    cos, sin = rm.rope_cos_sin(cfg, np.array([3]))
    half, inter = rm.apply_rope(x, cos, sin), apply_rope_interleaved(x, cos, sin)
    assert np.max(np.abs(half - inter)) > 0.1
    base = rm.forward(model, [3, 1, 4, 5])
    with Patched("apply_rope", apply_rope_interleaved):
        bad = rm.forward(model, [3, 1, 4, 5])
    assert np.max(np.abs(base - bad)) > 1e-3
    print(f"ok  (b) rotate_half vs interleaved: vectors differ by {np.max(np.abs(half - inter)):.2f}, "
          f"tiny-model logits by {np.max(np.abs(base - bad)):.3f}")


def check_lora_zero():
    # (c) LoRA with B = 0 is exactly the base model; with B != 0 it is not; merge identity.
    model = tiny_model()
    rng = np.random.default_rng(5)
    mods = ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"]
    shapes = {m: model.weights[m + ".weight"].shape for m in mods}
    zero = rm.Adapter({"r": 2, "lora_alpha": 4}, {m: (rng.standard_normal((2, shapes[m][1])),
                                                      np.zeros((shapes[m][0], 2))) for m in mods})
    ids = [0, 2, 5, 1]
    assert np.array_equal(rm.forward(model, ids), rm.forward(model, ids, zero))
    nz = rm.Adapter({"r": 2, "lora_alpha": 4, "use_rslora": True},
                    {m: (rng.standard_normal((2, shapes[m][1])),
                         rng.standard_normal((shapes[m][0], 2))) for m in mods})
    assert abs(nz.scaling - 4 / math.sqrt(2)) < 1e-15
    merged = rm.Model(model.cfg, dict(model.weights))
    for m, (a, b) in nz.factors.items():
        merged.weights[m + ".weight"] = merged.weights[m + ".weight"] + nz.scaling * b @ a
    with_lora = rm.forward(model, ids, nz)
    assert np.max(np.abs(with_lora - rm.forward(model, ids))) > 1e-2
    assert np.max(np.abs(with_lora - rm.forward(merged, ids))) < 1e-12
    print("ok  (c) LoRA B=0 == base exactly; B!=0 differs; unmerged == merged W + s*B@A")


def check_bf16_rounding():
    vals = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -1.0 - 2 ** -8 - 2 ** -20, 0.1],
                    dtype=np.float32)
    want = np.array([1.0, 1.0, 1.0 + 4 * 2 ** -8, -1.0 - 2 ** -7, 0.10009765625], dtype=np.float32)
    assert np.array_equal(rm.bf16_bits_to_f32(f32_to_bf16_bits(vals)), want)
    print("ok  bf16 round-to-nearest-even (tie -> even, above half -> up)")


def mutations(c, model, adapter):
    """(label, model, adapter, patch) variants that a buggy port would compute."""
    cfg = model.cfg
    out = [("interleaved rope", model, adapter, Patched("apply_rope", apply_rope_interleaved))]
    if 1 < cfg.num_kv_heads < cfg.num_heads:
        out.append(("gqa j % kv", model, adapter,
                    Patched("kv_head_index", lambda h, kv: np.arange(h) % kv)))
    if cfg.rope_type == "llama3":
        plain = rm.Config(dict(cfg.raw, rope_scaling=None, rope_parameters=None,
                               rope_theta=cfg.rope_theta))
        out.append(("llama3 scaling ignored", rm.Model(plain, model.weights), adapter, None))
    if cfg.rope_theta != 10000.0:
        t = rm.Config(dict(cfg.raw, rope_theta=10000.0, rope_parameters=None,
                           rope_scaling=cfg.raw.get("rope_scaling")))
        out.append(("rope_theta ignored", rm.Model(t, model.weights), adapter, None))
    nb = {k: v for k, v in model.weights.items() if not k.endswith(".bias")}
    if len(nb) != len(model.weights):
        out.append(("biases ignored", rm.Model(cfg, nb), adapter, None))
    nn = {k: (np.ones_like(v) if k.endswith("norm.weight") else v) for k, v in model.weights.items()}
    out.append(("norm weights ignored", rm.Model(cfg, nn), adapter, None))
    if adapter is not None:
        out.append(("adapter ignored", model, None, None))
        wrong = rm.Adapter(dict(adapter.config, use_rslora=not adapter.config["use_rslora"]),
                           adapter.factors)
        out.append(("rslora flag inverted", model, wrong, None))
    return out


def check_fixtures(out):
    total = 0
    for c in CASES:
        case_dir = os.path.join(out, c["name"])
        with open(os.path.join(case_dir, "expected.json")) as f:
            exp = json.load(f)
        model = rm.load_model(os.path.join(case_dir, "model"))
        adapter = rm.load_adapter(os.path.join(case_dir, "adapter")) if exp["adapter"] else None
        tol = exp["tolerance"]
        spreads = []
        for s in exp["sequences"]:
            ids = s["token_ids"]
            assert 5 <= len(ids) <= 40 and len(s["logprobs"]) == len(ids) - 1
            assert rm.sequence_logprobs(model, ids, adapter) == s["logprobs"]
            lp = rm.log_softmax(rm.forward(model, ids, adapter))
            spreads.append(np.mean(np.max(lp, -1) - np.min(lp, -1)))
        assert any(s["token_ids"][0] == c["bos"] for s in exp["sequences"])
        for g in exp["greedy"]:
            assert rm.greedy(model, g["prompt"], len(g["continuation"]),
                             GREEDY_MARGIN[c["dtype"]], adapter) == g["continuation"]
        assert not c["tied"] or "lm_head.weight" not in model.weights
        want = {"f32": "F32", "bf16": "BF16", "f16": "F16"}[c["dtype"]]
        assert set(model.dtypes.values()) == {want}
        diffs = []
        for label, m, a, patch in mutations(c, model, adapter):
            worst = 0.0
            for s in exp["sequences"]:
                if patch:
                    with patch:
                        got = rm.sequence_logprobs(m, s["token_ids"], a)
                else:
                    got = rm.sequence_logprobs(m, s["token_ids"], a)
                worst = max(worst, float(np.max(np.abs(np.array(got) - s["logprobs"]))))
            need = max(5 * tol, 0.05) if label != "adapter ignored" else 0.05
            assert worst > need, (c["name"], label, worst)
            diffs.append(f"{label} {worst:.2f}")
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(case_dir) for f in fs)
        total += size
        glen = [len(g["continuation"]) for g in exp["greedy"]]
        print(f"ok  {c['name']:28s} {size / 1024:6.0f} KiB, mean logprob range {np.mean(spreads):.1f} "
              f"nats, greedy lens {glen}; bugs move logprobs by: " + ", ".join(diffs))
    print(f"    total fixture size {total / 1024:.0f} KiB")
    assert total < 3.2 * 1024 * 1024


def check_llama3_regimes():
    for c in CASES:
        if not c["llama3"]:
            continue
        p, d = c["llama3"], c["head_dim"]
        wl = [2 * math.pi * c["theta"] ** (2 * i / d) for i in range(d // 2)]
        lo = p["original_max_position_embeddings"] / p["low_freq_factor"]
        hi = p["original_max_position_embeddings"] / p["high_freq_factor"]
        regimes = {"keep" if w < hi else "divide" if w > lo else "smooth" for w in wl}
        assert regimes == {"keep", "divide", "smooth"}, (c["name"], regimes)
        assert all(abs(w - lo) > 1e-6 and abs(w - hi) > 1e-6 for w in wl)
    print("ok  llama3 cases hit all three rope regimes (keep / smooth / divide)")


def check_determinism(out):
    with tempfile.TemporaryDirectory() as t1, tempfile.TemporaryDirectory() as t2:
        generate_all(t1)
        generate_all(t2)
        for base in (t2, out):
            cmp = filecmp.dircmp(t1, base, ignore=["README.md"])
            stack = [cmp]
            while stack:
                d = stack.pop()
                assert not d.left_only and not d.right_only, (d.left, d.left_only, d.right_only)
                _, mismatch, errors = filecmp.cmpfiles(d.left, d.right, d.common_files, shallow=False)
                assert not mismatch and not errors, (d.left, mismatch, errors)
                stack.extend(d.subdirs.values())
    print("ok  two fresh runs and the committed fixtures are byte-identical")


def check_same_model_two_configs(out):
    a = json.load(open(os.path.join(out, "llama3-rope-headdim-f32", "expected.json")))
    b = json.load(open(os.path.join(out, "llama3-rope-parameters-f32", "expected.json")))
    for sa, sb in zip(a["sequences"], b["sequences"]):
        assert sa == sb
    print("ok  llama3 rope_scaling (v4) and rope_parameters (v5) configs give identical logprobs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="run the self-checks, write nothing")
    args = ap.parse_args()
    if args.check:
        check_hand_computed()
        check_rope_variants()
        check_lora_zero()
        check_bf16_rounding()
        check_llama3_regimes()
        check_fixtures(args.out)
        check_same_model_two_configs(args.out)
        check_determinism(args.out)
        print("all checks passed")
    else:
        generate_all(args.out)
        print(f"wrote {len(CASES)} cases to {args.out}")


if __name__ == "__main__":
    main()
