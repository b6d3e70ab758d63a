// bf16 <-> fp32 conversions shared by the native kernels, rounding as libtorch does.
#pragma once
#include <stdint.h>
#include <string.h>

namespace tailor {

static inline float bf16_to_f32(uint16_t h) {
    uint32_t b = (uint32_t) h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {  // round to nearest even, NaN stays NaN
    uint32_t b;
    memcpy(&b, &f, 4);
    // both results computed, one selected: no branch, so that loops around it vectorize
    uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
    uint32_t quietNan = (b >> 16) | 0x40u;
    return (uint16_t) ((b & 0x7fffffffu) > 0x7f800000u ? quietNan : rounded);
}

// Element i of a bf16 or fp32 array as fp32, and storing an fp32 value in either (rounded as libtorch does)
static inline float load_f32(const float* p, int64_t i) { return p[i]; }
static inline float load_f32(const uint16_t* p, int64_t i) { return bf16_to_f32(p[i]); }
static inline void store_f32(float* p, int64_t i, float v) { p[i] = v; }
static inline void store_f32(uint16_t* p, int64_t i, float v) { p[i] = f32_to_bf16(v); }

// v as an array of T holds it: the rounding libtorch applies between two ops in bf16
static inline float held_as(const float*, float v) { return v; }
static inline float held_as(const uint16_t*, float v) { return bf16_to_f32(f32_to_bf16(v)); }

}  // namespace tailor
