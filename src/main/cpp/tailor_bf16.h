// What the native kernels share: bf16 <-> fp32 conversions (rounding as libtorch does), their SIMD clones.
#pragma once
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tailor {

// The kernels' plain loops, compiled for AVX-512, AVX2 and baseline x86-64, picked at load time by the CPU
#if defined(__x86_64__)
#define TAILOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TAILOR_CLONES
#endif

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

#if defined(__x86_64__)
// The same conversions on 16 lanes, for the kernels' AVX-512 paths (inlined into functions compiled
// for AVX-512F or more)
__attribute__((target("avx512f"))) static inline __m512 bf16x16_to_f32(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx512f"))) static inline __m512 bf16x16_to_f32(const uint16_t* p) {
    return bf16x16_to_f32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

__attribute__((target("avx512f"))) static inline __m256i f32x16_to_bf16(__m512 v) {
    __m512i b = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmp_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)),
            _mm512_set1_epi32(0x7f800000), _MM_CMPINT_NLE);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
}
#endif

}  // namespace tailor
