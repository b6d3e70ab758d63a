// Mixed-adapter LoRA for decoding (the SGMV of Punica / S-LoRA): each row of x gets its own
// adapter's product, added to the base output y in place:
//   y[r, o] += round(scaling[r] * sum_j bT[r][j, o] * sum_k a[r][j, k] * x[r, k])
// with A [rank, in] and B^T [rank, out] fp32 (as PEFT computes LoRA), x and y both bf16 or both fp32,
// and round() the rounding of the delta to y's dtype before the add, as y.add(delta.to(dtype)) does.
// Plain loops over 16-lane partial sums, compiled for AVX-512, AVX2 and baseline x86-64 (target_clones),
// plus AVX-512 intrinsics for runs of 4 rows with one adapter (a prompt chunk read next to decoding
// rows: 108 rows of 896 -> 16 -> 896 took 229 us row by row, 102 us in runs). The caller splits rows
// across threads.
#pragma once
#include <stdint.h>
#include <vector>
// GCC 12's AVX-512 headers self-initialize "undefined" vectors (__Y = __Y), which -Wall reports once
// the intrinsics are inlined here
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "tailor_bf16.h"

namespace tailor {

static inline void lora_add(float* p, int64_t i, float delta) { p[i] += delta; }
static inline void lora_add(uint16_t* p, int64_t i, float delta) {
    p[i] = f32_to_bf16(bf16_to_f32(p[i]) + bf16_to_f32(f32_to_bf16(delta)));
}

// h[j] = sum_k A[j, k] x[k] for U rows of A at once: U independent chains of 16-lane sums (one
// chain was bound by the FMA latency)
template <int U>
static inline __attribute__((always_inline)) void lora_down(const float* A, const float* x, int64_t in, float* h) {
    const int L = 16;
    float s[U][L] = {};
    int64_t k = 0;
    for (; k + L <= in; k += L) {
        for (int u = 0; u < U; u++) {
            for (int l = 0; l < L; l++) {
                s[u][l] += A[u * in + k + l] * x[k + l];
            }
        }
    }
    for (int u = 0; u < U; u++) {
        float sum = 0.0f;
        for (int64_t t = k; t < in; t++) {
            sum += A[u * in + t] * x[t];
        }
        for (int l = 0; l < L; l++) {
            sum += s[u][l];
        }
        h[u] = sum;
    }
}

// y[o .. o + 16U) += round(scaling * sum_j BT[j, o] h[j]): U blocks of 16 outputs at once
template <int U, typename T>
static inline __attribute__((always_inline)) void lora_up(const float* BT, const float* h, int32_t R, int64_t out,
        int64_t o, float scaling, T* y) {
    const int L = 16;
    float s[U][L] = {};
    for (int32_t j = 0; j < R; j++) {
        for (int u = 0; u < U; u++) {
            for (int l = 0; l < L; l++) {
                s[u][l] += BT[j * out + o + u * L + l] * h[j];
            }
        }
    }
    for (int u = 0; u < U; u++) {
        for (int l = 0; l < L; l++) {
            lora_add(y, o + u * L + l, s[u][l] * scaling);
        }
    }
}

#if defined(__x86_64__)
#define TAILOR_LORA_AVX512 __attribute__((target("avx512f")))
// A run of 4 rows of x (xs [4, in], fp32) with one adapter, on AVX-512: tiles of 4 rows x 4 rows of
// A (or 4 rows x 64 outputs of B^T), so that each load feeds several FMAs and 16 independent sums
// hide the FMA latency (one sum per row was bound by it: 4 cycles per FMA)
TAILOR_LORA_AVX512 static void lora_run4_avx512(const float* A, const float* BT, int32_t R, int64_t in, int64_t out,
        const float* xs, float* h, float* d, float scaling) {  // d: the 4 rows' scaled deltas [4, out]
    const float* x0 = xs;
    const float* x1 = xs + in;
    const float* x2 = xs + 2 * in;
    const float* x3 = xs + 3 * in;
    int64_t vectorEnd = in - in % 16;
    for (int32_t j = 0; j < R; j += 4) {
        int32_t js = R - j < 4 ? R - j : 4;  // rows of A in this tile
        __m512 s[4][4];
        for (int a = 0; a < 4; a++) {
            for (int v = 0; v < 4; v++) {
                s[a][v] = _mm512_setzero_ps();
            }
        }
        for (int64_t k = 0; k < vectorEnd; k += 16) {
            __m512 xv0 = _mm512_loadu_ps(x0 + k), xv1 = _mm512_loadu_ps(x1 + k), xv2 = _mm512_loadu_ps(x2 + k),
                   xv3 = _mm512_loadu_ps(x3 + k);
            for (int a = 0; a < 4; a++) {
                if (a < js) {
                    __m512 w = _mm512_loadu_ps(A + (j + a) * in + k);
                    s[a][0] = _mm512_fmadd_ps(w, xv0, s[a][0]);
                    s[a][1] = _mm512_fmadd_ps(w, xv1, s[a][1]);
                    s[a][2] = _mm512_fmadd_ps(w, xv2, s[a][2]);
                    s[a][3] = _mm512_fmadd_ps(w, xv3, s[a][3]);
                }
            }
        }
        for (int a = 0; a < js; a++) {
            for (int v = 0; v < 4; v++) {
                float t = _mm512_reduce_add_ps(s[a][v]);
                for (int64_t k = vectorEnd; k < in; k++) {
                    t += A[(j + a) * in + k] * xs[v * in + k];
                }
                h[v * R + j + a] = t;
            }
        }
    }
    __m512 sc = _mm512_set1_ps(scaling);
    int64_t o = 0;
    for (; o + 64 <= out; o += 64) {
        __m512 s[4][4];
        for (int b = 0; b < 4; b++) {
            for (int v = 0; v < 4; v++) {
                s[b][v] = _mm512_setzero_ps();
            }
        }
        for (int32_t j = 0; j < R; j++) {
            __m512 h0 = _mm512_set1_ps(h[j]), h1 = _mm512_set1_ps(h[R + j]), h2 = _mm512_set1_ps(h[2 * R + j]),
                   h3 = _mm512_set1_ps(h[3 * R + j]);
            for (int b = 0; b < 4; b++) {
                __m512 w = _mm512_loadu_ps(BT + j * out + o + 16 * b);
                s[b][0] = _mm512_fmadd_ps(w, h0, s[b][0]);
                s[b][1] = _mm512_fmadd_ps(w, h1, s[b][1]);
                s[b][2] = _mm512_fmadd_ps(w, h2, s[b][2]);
                s[b][3] = _mm512_fmadd_ps(w, h3, s[b][3]);
            }
        }
        for (int b = 0; b < 4; b++) {
            for (int v = 0; v < 4; v++) {
                _mm512_storeu_ps(d + v * out + o + 16 * b, _mm512_mul_ps(s[b][v], sc));
            }
        }
    }
    for (; o + 16 <= out; o += 16) {
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
        for (int32_t j = 0; j < R; j++) {
            __m512 b = _mm512_loadu_ps(BT + j * out + o);
            s0 = _mm512_fmadd_ps(b, _mm512_set1_ps(h[j]), s0);
            s1 = _mm512_fmadd_ps(b, _mm512_set1_ps(h[R + j]), s1);
            s2 = _mm512_fmadd_ps(b, _mm512_set1_ps(h[2 * R + j]), s2);
            s3 = _mm512_fmadd_ps(b, _mm512_set1_ps(h[3 * R + j]), s3);
        }
        _mm512_storeu_ps(d + o, _mm512_mul_ps(s0, sc));
        _mm512_storeu_ps(d + out + o, _mm512_mul_ps(s1, sc));
        _mm512_storeu_ps(d + 2 * out + o, _mm512_mul_ps(s2, sc));
        _mm512_storeu_ps(d + 3 * out + o, _mm512_mul_ps(s3, sc));
    }
    for (; o < out; o++) {
        for (int v = 0; v < 4; v++) {
            float sum = 0.0f;
            for (int32_t j = 0; j < R; j++) {
                sum += BT[j * out + o] * h[v * R + j];
            }
            d[v * out + o] = sum * scaling;
        }
    }
}

// y[o] += d[o] for o < out, rounded as lora_add rounds: on AVX-512, 16 at a time (the compiler's
// version of lora_add's loop took half of a prompt run's time)
TAILOR_LORA_AVX512 static void lora_add_row_avx512(float* y, const float* d, int64_t out) {
    int64_t o = 0;
    for (; o + 16 <= out; o += 16) {
        _mm512_storeu_ps(y + o, _mm512_add_ps(_mm512_loadu_ps(y + o), _mm512_loadu_ps(d + o)));
    }
    for (; o < out; o++) {
        lora_add(y, o, d[o]);
    }
}

TAILOR_LORA_AVX512 static void lora_add_row_avx512(uint16_t* y, const float* d, int64_t out) {
    int64_t o = 0;
    for (; o + 16 <= out; o += 16) {
        __m512 yv = bf16x16_to_f32(y + o);
        __m512 dv = bf16x16_to_f32(f32x16_to_bf16(_mm512_loadu_ps(d + o)));  // the delta held in bf16, as lora_add
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + o), f32x16_to_bf16(_mm512_add_ps(yv, dv)));
    }
    for (; o < out; o++) {
        lora_add(y, o, d[o]);
    }
}
#endif

template <typename T>
static inline __attribute__((always_inline)) void lora_rows(const T* x, int64_t rows, int64_t in, const int64_t* a,
        const int64_t* bT, const int32_t* rank, const float* scaling, T* y, int64_t yStride, int64_t out) {
    std::vector<float> xs(in);
    std::vector<float> h;
#if defined(__x86_64__)
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    std::vector<float> deltas;
#endif
    for (int64_t r = 0; r < rows; r++) {
        if (a[r] == 0) {
            continue;  // no adapter (or none on this module) for this row
        }
#if defined(__x86_64__)
        bool run = avx512 && r + 4 <= rows;  // 4 rows with one adapter (a prompt chunk): each weight load used 4 times
        for (int v = 1; run && v < 4; v++) {
            run = a[r + v] == a[r] && bT[r + v] == bT[r] && rank[r + v] == rank[r] && scaling[r + v] == scaling[r];
        }
        if (run) {
            xs.resize(4 * in);
            for (int64_t k = 0; k < 4 * in; k++) {
                xs[k] = load_f32(x, r * in + k);
            }
            h.assign((size_t) 4 * rank[r], 0.0f);
            deltas.resize((size_t) 4 * out);
            lora_run4_avx512(reinterpret_cast<const float*>(a[r]), reinterpret_cast<const float*>(bT[r]), rank[r], in, out,
                    xs.data(), h.data(), deltas.data(), scaling[r]);
            for (int v = 0; v < 4; v++) {
                lora_add_row_avx512(y + (r + v) * yStride, deltas.data() + v * out, out);
            }
            r += 3;
            continue;
        }
#endif
        const float* A = reinterpret_cast<const float*>(a[r]);
        const float* BT = reinterpret_cast<const float*>(bT[r]);
        int32_t R = rank[r];
        for (int64_t k = 0; k < in; k++) {
            xs[k] = load_f32(x, r * in + k);
        }
        h.assign(R, 0.0f);
        int32_t j = 0;
        for (; j + 4 <= R; j += 4) {
            lora_down<4>(A + j * in, xs.data(), in, &h[j]);
        }
        for (; j < R; j++) {
            lora_down<1>(A + j * in, xs.data(), in, &h[j]);
        }
        T* yr = y + r * yStride;
        int64_t o = 0;
        for (; o + 64 <= out; o += 64) {
            lora_up<4>(BT, h.data(), R, out, o, scaling[r], yr);
        }
        for (; o + 16 <= out; o += 16) {
            lora_up<1>(BT, h.data(), R, out, o, scaling[r], yr);
        }
        for (; o < out; o++) {
            float sum = 0.0f;
            for (int32_t t = 0; t < R; t++) {
                sum += BT[t * out + o] * h[t];
            }
            lora_add(yr, o, sum * scaling[r]);
        }
    }
}

TAILOR_CLONES
inline void lora_rows_bf16(int64_t x, int64_t rows, int64_t in, int64_t* a, int64_t* bT, int32_t* rank, float* scaling,
        int64_t y, int64_t yStride, int64_t out) {
    lora_rows(reinterpret_cast<const uint16_t*>(x), rows, in, a, bT, rank, scaling, reinterpret_cast<uint16_t*>(y), yStride, out);
}

TAILOR_CLONES
inline void lora_rows_f32(int64_t x, int64_t rows, int64_t in, int64_t* a, int64_t* bT, int32_t* rank, float* scaling,
        int64_t y, int64_t yStride, int64_t out) {
    lora_rows(reinterpret_cast<const float*>(x), rows, in, a, bT, rank, scaling, reinterpret_cast<float*>(y), yStride, out);
}

}  // namespace tailor

#pragma GCC diagnostic pop
