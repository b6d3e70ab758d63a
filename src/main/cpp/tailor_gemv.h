// bf16 matrix-vector kernel for decoding: y[r, o] = sum_k x[r, k] * w[o, k] (+ bias[o]),
// x [rows <= 8, in], w [out, in], y [rows, out], all bf16 row-major, fp32 accumulation.
// The AVX-512 BF16 path is compiled per function (target attribute), so the library loads on any
// x86-64; callers must check available() first. No OpenMP: the Java side splits rows across threads.
#pragma once
#include <stdint.h>
#include <string.h>
// GCC 12's AVX-512 headers self-initialize "undefined" vectors (__Y = __Y), which -Wall reports once
// the intrinsics are inlined here
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

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
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t) ((b >> 16) | 0x40u);
    }
    b += 0x7fffu + ((b >> 16) & 1u);
    return (uint16_t) (b >> 16);
}

#define TAILOR_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

#ifndef TAILOR_PREFETCH_BYTES
#define TAILOR_PREFETCH_BYTES 8192  // measured: 1 KiB ahead gave about half the bandwidth for 8 rows
#endif

// _mm512_reduce_add_ps without GCC 12's spurious -Wmaybe-uninitialized from its headers
TAILOR_BF16_TARGET static inline float hsum(__m512 v) {
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    __m256 a = _mm512_castps512_ps256(v);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

// O output rows times R input rows per pass: every weight byte is loaded once for all R rows.
template <int R, int O>
TAILOR_BF16_TARGET static inline void gemv_block(const uint16_t* x, int64_t in, const uint16_t* w,
        int64_t o, const uint16_t* bias, uint16_t* y, int64_t out) {
    __m512 acc[O][R];
    for (int i = 0; i < O; i++) {
        for (int r = 0; r < R; r++) {
            acc[i][r] = _mm512_setzero_ps();
        }
    }
    const uint16_t* wo = w + o * in;
    int64_t k = 0;
    for (; k + 32 <= in; k += 32) {
        // x's R vectors are loaded once for all O weight rows: reloaded per weight row, the loads
        // limited 8 rows (24 layers' products: 40-44 ms, now 33-34 ms)
        __m512bh xv[R];
        for (int r = 0; r < R; r++) {
            xv[r] = (__m512bh) _mm512_loadu_si512((const void*) (x + r * in + k));
        }
        for (int i = 0; i < O; i++) {
            const uint16_t* p = wo + i * in + k;
            _mm_prefetch((const char*) p + TAILOR_PREFETCH_BYTES, _MM_HINT_T0);
            __m512bh wv = (__m512bh) _mm512_loadu_si512((const void*) p);
            for (int r = 0; r < R; r++) {
                acc[i][r] = _mm512_dpbf16_ps(acc[i][r], xv[r], wv);
            }
        }
    }
    if (k < in) {
        __mmask32 m = (__mmask32) ((1ull << (in - k)) - 1);
        for (int i = 0; i < O; i++) {
            __m512bh wv = (__m512bh) _mm512_maskz_loadu_epi16(m, (const void*) (wo + i * in + k));
            for (int r = 0; r < R; r++) {
                __m512bh xv = (__m512bh) _mm512_maskz_loadu_epi16(m, (const void*) (x + r * in + k));
                acc[i][r] = _mm512_dpbf16_ps(acc[i][r], xv, wv);
            }
        }
    }
    for (int i = 0; i < O; i++) {
        float b = bias != nullptr ? bf16_to_f32(bias[o + i]) : 0.0f;
        for (int r = 0; r < R; r++) {
            y[r * out + o + i] = f32_to_bf16(hsum(acc[i][r]) + b);
        }
    }
}

template <int R, int O>
TAILOR_BF16_TARGET static void gemv_rows(const uint16_t* x, int64_t in, const uint16_t* w,
        int64_t begin, int64_t end, const uint16_t* bias, uint16_t* y, int64_t out) {
    int64_t o = begin;
    for (; o + O <= end; o += O) {
        gemv_block<R, O>(x, in, w, o, bias, y, out);
    }
    for (; o < end; o++) {
        gemv_block<R, 1>(x, in, w, o, bias, y, out);
    }
}

/** True where the CPU (and OS) support AVX-512 BF16. */
inline bool available() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512bf16");
}

/**
 * Computes output rows [begin, end) for all rows of x; addresses are raw pointers. rows in 1..8.
 * bias may be 0 (none).
 */
inline void gemv(int64_t xAddress, int64_t rows, int64_t in, int64_t wAddress, int64_t begin, int64_t end,
        int64_t biasAddress, int64_t yAddress, int64_t out) {
    const uint16_t* x = reinterpret_cast<const uint16_t*>(xAddress);
    const uint16_t* w = reinterpret_cast<const uint16_t*>(wAddress);
    const uint16_t* bias = reinterpret_cast<const uint16_t*>(biasAddress);
    uint16_t* y = reinterpret_cast<uint16_t*>(yAddress);
    // output rows per pass chosen by measurement (4864x896, 2 threads); R x O accumulators plus R x
    // vectors must fit the 32 registers (8 rows: 16 + 8)
    switch (rows) {
        case 1: gemv_rows<1, 1>(x, in, w, begin, end, bias, y, out); break;
        case 2: gemv_rows<2, 1>(x, in, w, begin, end, bias, y, out); break;
        case 3: gemv_rows<3, 1>(x, in, w, begin, end, bias, y, out); break;
        case 4: gemv_rows<4, 4>(x, in, w, begin, end, bias, y, out); break;
        case 5: gemv_rows<5, 4>(x, in, w, begin, end, bias, y, out); break;
        case 6: gemv_rows<6, 4>(x, in, w, begin, end, bias, y, out); break;
        case 7: gemv_rows<7, 2>(x, in, w, begin, end, bias, y, out); break;
        case 8: gemv_rows<8, 2>(x, in, w, begin, end, bias, y, out); break;
        default: break;
    }
}

}  // namespace tailor

#pragma GCC diagnostic pop
