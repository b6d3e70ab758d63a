"""Independent float64 NumPy reference of the Hugging Face transformers forward
pass for Llama, Qwen2 and Mistral, plus PEFT LoRA adapters.

Read top to bottom: load a Hugging Face model directory (safetensors, possibly
sharded) -> parse config.json -> forward pass -> log-probabilities.

Everything is computed in float64 from the values stored in the files (BF16
and F16 weights are widened exactly), so the numbers here are the "true"
values the fp32 / bf16 / f16 engines are compared against.

No torch, no transformers, no safetensors package: only numpy.
"""

import json
import math
import os
import struct

import numpy as np

# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

_DTYPES = {
    "F64": (np.dtype("<f8"), 8),
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # widened below: f32 bits = bf16 bits << 16
    "I64": (np.dtype("<i8"), 8),
    "I32": (np.dtype("<i4"), 4),
    "I16": (np.dtype("<i2"), 2),
    "I8": (np.dtype("i1"), 1),
    "U8": (np.dtype("u1"), 1),
    "BOOL": (np.dtype("u1"), 1),
}


def bf16_bits_to_f32(bits):
    """uint16 bf16 bit patterns -> float32 (exact)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    """Return ({name: float64 ndarray}, {name: dtype string}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", None)
    spans = []
    tensors, dtypes = {}, {}
    for name, entry in header.items():
        dtype, size = _DTYPES[entry["dtype"]]
        shape = tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        if end - begin != int(np.prod(shape, dtype=np.int64)) * size:
            raise ValueError(f"{path}: {name}: byte size does not match shape")
        spans.append((begin, end))
        raw = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape)
        if entry["dtype"] == "BF16":
            raw = bf16_bits_to_f32(raw)
        tensors[name] = raw.astype(np.float64)
        dtypes[name] = entry["dtype"]
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise ValueError(f"{path}: tensor data is not contiguous")
        pos = end
    if pos != len(body):
        raise ValueError(f"{path}: trailing bytes after the last tensor")
    return tensors, dtypes, metadata


def read_model_weights(model_dir):
    """Single model.safetensors, or shards listed in model.safetensors.index.json."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors, dtypes = {}, {}
        for shard in sorted(set(weight_map.values())):
            t, d, _ = read_safetensors(os.path.join(model_dir, shard))
            for name in t:
                if weight_map.get(name) != shard:
                    raise ValueError(f"{name} found in {shard} but the index says otherwise")
            tensors.update(t)
            dtypes.update(d)
        missing = set(weight_map) - set(tensors)
        if missing:
            raise ValueError(f"tensors listed in the index but missing: {sorted(missing)}")
        return tensors, dtypes
    t, d, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return t, d


# ---------------------------------------------------------------------------
# config.json
# ---------------------------------------------------------------------------

class Config:
    """The fields of a Llama / Qwen2 / Mistral config.json that the math uses."""

    def __init__(self, raw):
        self.raw = raw
        self.model_type = raw["model_type"]
        if self.model_type not in ("llama", "qwen2", "mistral"):
            raise ValueError(f"unsupported model_type {self.model_type}")
        self.vocab_size = raw["vocab_size"]
        self.hidden_size = raw["hidden_size"]
        self.intermediate_size = raw["intermediate_size"]
        self.num_layers = raw["num_hidden_layers"]
        self.num_heads = raw["num_attention_heads"]
        self.num_kv_heads = raw.get("num_key_value_heads") or self.num_heads
        self.head_dim = raw.get("head_dim") or self.hidden_size // self.num_heads
        self.rms_norm_eps = raw["rms_norm_eps"]
        self.tie_word_embeddings = raw.get("tie_word_embeddings", False)
        if raw.get("hidden_act", "silu") != "silu":
            raise ValueError("only hidden_act silu is supported")
        # Which linear layers carry a bias.
        if self.model_type == "qwen2":
            self.qkv_bias, self.o_bias, self.mlp_bias = True, False, False
        elif self.model_type == "llama":
            ab = raw.get("attention_bias", False)
            self.qkv_bias, self.o_bias, self.mlp_bias = ab, ab, raw.get("mlp_bias", False)
        else:  # mistral
            self.qkv_bias, self.o_bias, self.mlp_bias = False, False, False
        # RoPE: transformers v4 writes rope_theta + rope_scaling,
        # transformers v5 writes rope_parameters{rope_type, rope_theta, ...}.
        if raw.get("rope_parameters") is not None:
            rope = dict(raw["rope_parameters"])
            self.rope_theta = rope.get("rope_theta", raw.get("rope_theta", 10000.0))
        else:
            rope = dict(raw.get("rope_scaling") or {})
            self.rope_theta = raw.get("rope_theta", 10000.0)
        self.rope_type = rope.get("rope_type", rope.get("type", "default"))
        self.rope_params = rope
        if self.rope_type not in ("default", "llama3"):
            raise ValueError(f"unsupported rope type {self.rope_type}")


def weight_names(cfg):
    """Every tensor name the model directory must hold (no more, no fewer)."""
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    if not cfg.tie_word_embeddings:
        names.append("lm_head.weight")
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names.append(p + f"self_attn.{m}.weight")
            if (cfg.qkv_bias and m != "o_proj") or (cfg.o_bias and m == "o_proj"):
                names.append(p + f"self_attn.{m}.bias")
        for m in ("gate_proj", "up_proj", "down_proj"):
            names.append(p + f"mlp.{m}.weight")
            if cfg.mlp_bias:
                names.append(p + f"mlp.{m}.bias")
    return names


class Model:
    def __init__(self, cfg, weights, dtypes=None):
        self.cfg = cfg
        self.weights = weights
        self.dtypes = dtypes or {}


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = Config(json.load(f))
    weights, dtypes = read_model_weights(model_dir)
    expected = set(weight_names(cfg))
    if set(weights) != expected:
        raise ValueError(f"weight names differ: missing {sorted(expected - set(weights))}, "
                         f"unexpected {sorted(set(weights) - expected)}")
    return Model(cfg, weights, dtypes)


# ---------------------------------------------------------------------------
# PEFT LoRA adapter
# ---------------------------------------------------------------------------

class Adapter:
    """LoRA factors keyed by the base module name, e.g. 'model.layers.0.self_attn.q_proj'."""

    def __init__(self, config, factors):
        self.config = config
        r, alpha = config["r"], config["lora_alpha"]
        self.scaling = alpha / math.sqrt(r) if config.get("use_rslora", False) else alpha / r
        self.factors = factors  # module -> (A [r, in], B [out, r])


def load_adapter(adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        config = json.load(f)
    if config.get("peft_type") != "LORA" or config.get("use_dora"):
        raise ValueError("only plain LoRA adapters are supported")
    tensors, _, _ = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    prefix = "base_model.model."
    factors = {}
    for name in tensors:
        if not name.startswith(prefix) or not name.endswith((".lora_A.weight", ".lora_B.weight")):
            raise ValueError(f"unexpected adapter key {name}")
        module = name[len(prefix):-len(".lora_A.weight")]
        factors[module] = (tensors[prefix + module + ".lora_A.weight"],
                           tensors[prefix + module + ".lora_B.weight"])
    targets = config["target_modules"]
    for module in factors:
        if isinstance(targets, list) and module.split(".")[-1] not in targets:
            raise ValueError(f"{module} has LoRA weights but is not in target_modules")
    return Adapter(config, factors)


# ---------------------------------------------------------------------------
# The math
# ---------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def linear(model, adapter, x, module):
    """y = x W^T + b (+ scaling * (x A^T) B^T when the adapter targets this module)."""
    w = model.weights
    y = x @ w[module + ".weight"].T
    if module + ".bias" in w:
        y = y + w[module + ".bias"]
    if adapter is not None and module in adapter.factors:
        a, b = adapter.factors[module]
        y = y + adapter.scaling * ((x @ a.T) @ b.T)
    return y


def rope_inv_freq(cfg):
    """inv_freq[i] = theta^(-2i/d), then the llama3 rescaling when configured."""
    d = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    if cfg.rope_type == "llama3":
        p = cfg.rope_params
        factor = p["factor"]
        low_ff, high_ff = p["low_freq_factor"], p["high_freq_factor"]
        orig = p["original_max_position_embeddings"]
        low_wavelen, high_wavelen = orig / low_ff, orig / high_ff
        out = []
        for f in inv:
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:       # high frequency: keep
                out.append(f)
            elif wavelen > low_wavelen:      # low frequency: divide by factor
                out.append(f / factor)
            else:                            # in between: interpolate
                smooth = (orig / wavelen - low_ff) / (high_ff - low_ff)
                out.append((1 - smooth) * f / factor + smooth * f)
        inv = np.array(out)
    return inv


def rope_cos_sin(cfg, positions):
    freqs = np.outer(positions.astype(np.float64), rope_inv_freq(cfg))  # [T, d/2]
    emb = np.concatenate([freqs, freqs], axis=-1)                       # [T, d]
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, cos, sin):
    """x: [heads, T, d]; HF rotate_half convention (split halves, not interleaved pairs)."""
    return x * cos + rotate_half(x) * sin


def kv_head_index(num_heads, num_kv_heads):
    """GQA: query head j reads kv head j // (heads / kv_heads)."""
    group = num_heads // num_kv_heads
    return np.arange(num_heads) // group


def softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def attention(model, adapter, x, layer, cos, sin):
    cfg = model.cfg
    p = f"model.layers.{layer}.self_attn."
    t, d = x.shape[0], cfg.head_dim
    q = linear(model, adapter, x, p + "q_proj").reshape(t, cfg.num_heads, d).transpose(1, 0, 2)
    k = linear(model, adapter, x, p + "k_proj").reshape(t, cfg.num_kv_heads, d).transpose(1, 0, 2)
    v = linear(model, adapter, x, p + "v_proj").reshape(t, cfg.num_kv_heads, d).transpose(1, 0, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    kv = kv_head_index(cfg.num_heads, cfg.num_kv_heads)
    k, v = k[kv], v[kv]                                               # [heads, T, d]
    scores = (q @ k.transpose(0, 2, 1)) * d ** -0.5                   # [heads, T, T]
    causal = np.triu(np.ones((t, t), dtype=bool), k=1)
    scores = np.where(causal, -np.inf, scores)
    out = softmax(scores) @ v                                         # [heads, T, d]
    out = out.transpose(1, 0, 2).reshape(t, cfg.num_heads * d)
    return linear(model, adapter, out, p + "o_proj")


def mlp(model, adapter, x, layer):
    p = f"model.layers.{layer}.mlp."
    gate = linear(model, adapter, x, p + "gate_proj")
    up = linear(model, adapter, x, p + "up_proj")
    return linear(model, adapter, silu(gate) * up, p + "down_proj")


def forward(model, token_ids, adapter=None):
    """Logits [T, vocab] in float64 for positions 0..T-1."""
    cfg, w = model.cfg, model.weights
    token_ids = np.asarray(token_ids, dtype=np.int64)
    x = w["model.embed_tokens.weight"][token_ids]
    cos, sin = rope_cos_sin(cfg, np.arange(len(token_ids)))
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg.rms_norm_eps)
        x = x + attention(model, adapter, h, i, cos, sin)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
        x = x + mlp(model, adapter, h, i)
    x = rms_norm(x, w["model.norm.weight"], cfg.rms_norm_eps)
    head = w["model.embed_tokens.weight"] if cfg.tie_word_embeddings else w["lm_head.weight"]
    return x @ head.T


def log_softmax(logits):
    m = np.max(logits, axis=-1, keepdims=True)
    return logits - m - np.log(np.sum(np.exp(logits - m), axis=-1, keepdims=True))


def sequence_logprobs(model, token_ids, adapter=None):
    """logprobs[i] = log p(token_ids[i+1] | token_ids[0..i])."""
    lp = log_softmax(forward(model, token_ids, adapter))
    return [float(lp[i, token_ids[i + 1]]) for i in range(len(token_ids) - 1)]


def greedy(model, prompt, max_new_tokens=8, min_margin=0.05, adapter=None):
    """Greedy continuation, recomputing the whole sequence each step (no KV cache).
    Stops early when top-1 minus top-2 logit is not above min_margin."""
    ids = list(prompt)
    out = []
    for _ in range(max_new_tokens):
        logits = forward(model, ids, adapter)[-1]
        order = np.argsort(-logits, kind="stable")
        if logits[order[0]] - logits[order[1]] <= min_margin:
            break
        out.append(int(order[0]))
        ids.append(int(order[0]))
    return out


if __name__ == "__main__":
    # Usage: reference_model.py CASE_DIR 1,2,3[,...]   (uses CASE_DIR/adapter when present)
    import sys
    case_dir, ids = sys.argv[1], [int(t) for t in sys.argv[2].split(",")]
    model = load_model(os.path.join(case_dir, "model"))
    adapter_dir = os.path.join(case_dir, "adapter")
    adapter = load_adapter(adapter_dir) if os.path.isdir(adapter_dir) else None
    print(json.dumps(sequence_logprobs(model, ids, adapter)))
