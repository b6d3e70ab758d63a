#!/usr/bin/env python3
"""Writes the golden safetensors fixture for the Java tests, independently of the Java writer.

Uses only numpy, struct and json, following the format spec (SPECS.md "safetensors") exactly as
SafetensorsWriter does: tensor names sorted, data contiguous in that order, compact header JSON
with "__metadata__" first (keys sorted, always "format": "pt"), padded with spaces to a multiple
of 8 bytes. The values used are stored beside the file in golden.json so Java can check them.

Run from the repository root:  python3 src/test/python/make_safetensors_fixtures.py
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "safetensors")


def bf16_bits(values):
    """BF16 is the top half of the F32 bits; the values are chosen so no rounding happens."""
    bits = np.array(values, dtype="<f4").view("<u4")
    assert np.all(bits & 0xFFFF == 0), "value not exactly representable in bf16"
    return (bits >> 16).astype("<u2")


def f16(values):
    array = np.array(values, dtype="<f2")
    assert np.all(array.astype(np.float64) == np.array(values, dtype=np.float64)), "not exact in f16"
    return array


# name -> (dtype, shape, values in row-major order, little-endian array holding them)
TENSORS = {
    "f32": ("F32", [2, 3], [0.0, 1.5, -2.25, 3.0e-5, 1.0e30, -7.0]),
    "bf16": ("BF16", [4], [1.0, -2.5, 0.09375, 65280.0]),
    "f16": ("F16", [3], [0.5, -1.0, 65504.0]),
    "i64": ("I64", [2, 2], [-1, 0, 2**40, -(2**62)]),
    "u8": ("U8", [5], [0, 1, 127, 128, 255]),
    "scalar": ("F32", [], [3.25]),
    "empty": ("F32", [0, 4], []),
}
METADATA = {"format": "pt", "source": "make_safetensors_fixtures.py"}


def to_array(dtype, values):
    if dtype == "F32":
        return np.array(values, dtype="<f4")
    if dtype == "BF16":
        return bf16_bits(values)
    if dtype == "F16":
        return f16(values)
    if dtype == "I64":
        return np.array(values, dtype="<i8")
    if dtype == "U8":
        return np.array(values, dtype="u1")
    raise ValueError(dtype)


def safetensors_bytes(tensors, metadata):
    header = {"__metadata__": dict(sorted(metadata.items()))}
    data = bytearray()
    for name in sorted(tensors):
        dtype, shape, values = tensors[name]
        array = to_array(dtype, values)
        assert array.size == int(np.prod(shape, dtype=np.int64))
        begin = len(data)
        data += array.tobytes()
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "golden.safetensors"), "wb") as f:
        f.write(safetensors_bytes(TENSORS, METADATA))
    expected = {
        "metadata": METADATA,
        "tensors": {name: {"dtype": d, "shape": s, "values": v} for name, (d, s, v) in sorted(TENSORS.items())},
    }
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
