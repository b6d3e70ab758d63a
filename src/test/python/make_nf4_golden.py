#!/usr/bin/env python3
"""Writes the NF4 golden file for Nf4TensorTest, independently of the Java code.

A numpy-only re-implementation of bitsandbytes' quantize_4bit(quant_type="nf4", blocksize=64,
compress_statistics=True) as its CUDA kernels compute it (csrc/kernels.cu):
- per block of 64 (the last one padded with zeros): absmax = max|w| in fp32, x = w * (1/absmax)
  in fp32, code = dQuantizeNF4(x), a decision tree over 15 thresholds (x > t picks the upper
  side, so a value exactly on a threshold gets the lower code); element 2j goes to the high
  nibble of byte j, 2j+1 to the low nibble;
- double quantization: offset = mean(absmax), then (absmax - offset) in blocks of 256 with
  quantize_blockwise: fp32 absmax per block, x * (1/absmax), dQuantize's binary search over the
  signed dynamic map (create_dynamic_map(signed=True)), run literally here element by element;
- dequantize: absmax = code2[q] * scale2 + offset, w = NF4[code] * absmax, all fp32; a bf16
  result is that fp32 value rounded to nearest even.
Deliberate differences from bitsandbytes, which the Java code shares:
- a block of zeros gets code 7 (0.0) instead of bitsandbytes' NaN comparison (code 0, -1.0),
  so it dequantizes to exactly 0 whatever its reconstructed absmax;
- the offset is the float64 mean rounded to fp32 (bitsandbytes: an fp32 GPU reduction, whose
  last bit depends on the summation order).
torch.linspace (used by create_dynamic_map) computes start + step * i with one rounding on
x86-64 CPUs with FMA (checked against libtorch 2.7.1 there); emulated with float64 below.

Run from the repository root:  python3 src/test/python/make_nf4_golden.py
"""
import base64
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "nf4", "golden.json")
F32 = np.float32

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=F32)
# dQuantizeNF4's float literals, in the order of the codes they separate
NF4_THRESHOLDS = np.array([-0.8480964004993439, -0.6106329262256622, -0.4599952697753906,
                           -0.33967943489551544, -0.23460740596055984, -0.13791173323988914,
                           -0.045525018125772476, 0.03979014977812767, 0.1202552504837513,
                           0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
                           0.5016634166240692, 0.6427869200706482, 0.8614784181118011], dtype=F32)
BLOCK = 64
ABSMAX_BLOCK = 256


def torch_linspace_f32(start, end, steps):
    """ATen's CPU linspace kernel for float32: from the start below half, from the end above."""
    start, end = F32(start), F32(end)
    step = F32(end - start) / F32(steps - 1)
    values = []
    for i in range(steps):
        if i < steps // 2:
            values.append(F32(np.float64(start) + np.float64(step) * i))
        else:
            values.append(F32(np.float64(end) - np.float64(step) * (steps - i - 1)))
    return np.array(values, dtype=F32)


def create_dynamic_map_signed():
    """bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)."""
    data = []
    for i in range(7):
        boundaries = torch_linspace_f32(0.1, 1.0, 2 ** i + 1)
        means = (boundaries[:-1] + boundaries[1:]) / F32(2.0)
        scale = F32(10.0 ** (-6 + i))  # a Python scalar times a float32 tensor multiplies in float32
        data += [float(v) for v in scale * means]
        data += [float(v) for v in -scale * means]
    data += [0.0, 1.0]
    assert len(data) == 256
    return np.array(sorted(data), dtype=F32)


DYNAMIC = create_dynamic_map_signed()


def d_quantize(code, x):
    """bitsandbytes' dQuantize<0> (the non-stochastic binary search), literally."""
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = F32(-1.0), F32(1.0)
    val = code[pivot]
    i = 64
    while i > 0:
        if x > val:
            lower_pivot, lower = pivot, val
            pivot += i
        else:
            upper_pivot, upper = pivot, val
            pivot -= i
        val = code[pivot]
        i >>= 1
    if upper_pivot == 255:
        upper = code[upper_pivot]
    if lower_pivot == 0:
        lower = code[lower_pivot]
    if x > val:
        return upper_pivot if x > (upper + val) * F32(0.5) else pivot
    return lower_pivot if x < (lower + val) * F32(0.5) else pivot


def inverse(absmax):
    safe = np.where(absmax > 0, absmax, F32(1.0))
    return np.where(absmax > 0, F32(1.0) / safe, F32(0.0)).astype(F32)


def padded_rows(values, width):
    rows = -(-values.size // width)
    padded = np.zeros(rows * width, dtype=F32)
    padded[:values.size] = values
    return padded.reshape(rows, width)


def quantize(weight):
    blocks = padded_rows(weight.astype(F32).reshape(-1), BLOCK)
    absmax = np.abs(blocks).max(axis=1).astype(F32)
    scaled = (blocks * inverse(absmax)[:, None]).astype(F32)
    codes = (scaled[:, :, None] > NF4_THRESHOLDS).sum(axis=2).astype(np.uint8)
    packed = (codes[:, 0::2] << 4) | codes[:, 1::2]

    offset = F32(absmax.astype(np.float64).mean())
    centred = padded_rows((absmax - offset).astype(F32), ABSMAX_BLOCK)
    scales = np.abs(centred).max(axis=1).astype(F32)
    normalised = (centred * inverse(scales)[:, None]).astype(F32)
    q = np.array([d_quantize(DYNAMIC, x) for x in normalised.reshape(-1)], dtype=np.uint8)
    # the Java code counts the fp32 midpoints below x instead; both are nearest-value searches
    midpoints = (DYNAMIC[:-1] + DYNAMIC[1:]) * F32(0.5)
    assert np.array_equal(q, (normalised.reshape(-1)[:, None] > midpoints).sum(axis=1)), "search differs"
    return packed.reshape(-1), q[:absmax.size], scales, offset, absmax


def dequantize(packed, q, scales, offset, numel):
    per_block = np.repeat(scales, ABSMAX_BLOCK)[:q.size]
    absmax = ((DYNAMIC[q] * per_block).astype(F32) + offset).astype(F32)
    codes = np.stack([packed >> 4, packed & 0x0F], axis=1).reshape(-1, BLOCK)
    values = (NF4[codes] * absmax[:, None]).astype(F32)
    return values.reshape(-1)[:numel]


def bf16_bits(values):
    bits = values.astype(F32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even (no NaN here)
    return rounded.astype(np.uint16)


def b64(array, dtype):
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def case(name, weight, input_dtype):
    packed, q, scales, offset, absmax = quantize(weight)
    dq = dequantize(packed, q, scales, offset, weight.size)
    flat = weight.reshape(-1).astype(np.float64)
    relative_rms = float(np.sqrt(np.mean((dq - flat) ** 2) / np.mean(flat ** 2)))
    print(f"{name}: {weight.size} values, {absmax.size} blocks, relative RMS error {relative_rms:.4f}")
    return {
        "name": name,
        "shape": list(weight.shape),
        "input_dtype": input_dtype,
        "input_f32_base64": b64(weight, "<f4"),
        "packed_u8_base64": b64(packed, "u1"),
        "quantized_absmax_u8_base64": b64(q, "u1"),
        "absmax_scales": [float(s) for s in scales],
        "absmax_offset": float(offset),
        "dequantized_f32_base64": b64(dq, "<f4"),
        "dequantized_bf16_base64": b64(bf16_bits(dq), "<u2"),
    }


def to_bf16_values(values):
    return (bf16_bits(values).astype(np.uint32) << 16).view(F32)


def mean_abs_error_of_normal(samples, seed):
    """The expected round-trip error on N(0,1), for the test's statistical check."""
    weight = np.random.default_rng(seed).standard_normal(samples).astype(F32)
    packed, q, scales, offset, _ = quantize(weight)
    dq = dequantize(packed, q, scales, offset, weight.size)
    error = np.abs(dq.astype(np.float64) - weight)
    rms = float(np.sqrt(np.mean(error ** 2)))
    print(f"N(0,1), {samples} samples: mean |error| {error.mean():.5f}, RMS error {rms:.5f}")
    return float(error.mean()), rms


def main():
    rng = np.random.default_rng(20261201)
    normal = rng.standard_normal((3, 128)).astype(F32)
    # rows of very different magnitude; the last 5 values form a third block of zeros only
    odd = (rng.standard_normal((7, 19)) * (10.0 ** np.arange(-3, 4))[:, None]).astype(F32).reshape(-1)
    odd[128:] = 0.0
    odd = odd.reshape(7, 19)
    bf16 = to_bf16_values(rng.standard_normal((4, 64)).astype(F32) * F32(0.02))
    # 260 blocks: two blocks of 256 in the second level, the last one partial
    many = (rng.standard_normal((130, 128)) * np.exp(rng.standard_normal((130, 1)))).astype(F32)
    mean_abs, rms = mean_abs_error_of_normal(1 << 18, 7)
    golden = {
        "source": "src/test/python/make_nf4_golden.py",
        "nf4": [float(v) for v in NF4],
        "dynamic_map": [float(v) for v in DYNAMIC],
        "normal_mean_abs_error": mean_abs,
        "normal_rms_error": rms,
        "cases": [case("normal_3x128", normal, "F32"), case("odd_7x19", odd, "F32"),
                  case("bf16_4x64", bf16, "BF16"), case("many_blocks_130x128", many, "F32")],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
