// The element-wise steps of a decoder layer, each in one pass where libtorch took several ops and
// temporaries: RMSNorm (8 ops) and the MLP's silu(gate) * up (2), both with backward passes for training, and the rotary
// position embedding of q and k (6 each). In prefill these
// small ops and their thread hand-offs took about a sixth of a 100-token pass. Results round as
// the libtorch ops round between them (bf16 after each op of a bf16 model), with fp32 math inside;
// sums may differ from libtorch's in order, so a result can differ in its last bit near a tie.
// Plain loops over 16-lane blocks, compiled for AVX-512, AVX2 and baseline x86-64
// (target_clones); the caller splits rows across threads.
#pragma once
#include <math.h>
#include <stdint.h>
#include "tailor_bf16.h"
#include "tailor_exp.h"

namespace tailor {

// transformers' LlamaRMSNorm: out = w * (x * rsqrt(mean(x^2) + eps)), the normalised x in x's dtype
template <typename T>
static inline __attribute__((always_inline)) void rms_norm_rows(const T* x, const T* w, int64_t n, float eps, T* out,
        float* rstd, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
        const T* xr = x + r * n;
        T* o = out + r * n;
        float lanes[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            for (int l = 0; l < 16; l++) {
                float v = load_f32(xr, i + l);
                lanes[l] += v * v;
            }
        }
        float sum = 0.0f;
        for (int l = 0; l < 16; l++) {
            sum += lanes[l];
        }
        for (; i < n; i++) {
            float v = load_f32(xr, i);
            sum += v * v;
        }
        float scale = 1.0f / sqrtf(sum / (float) n + eps);
        if (rstd) {
            rstd[r] = scale;
        }
        for (i = 0; i < n; i++) {
            store_f32(o, i, load_f32(w, i) * held_as(xr, load_f32(xr, i) * scale));
        }
    }
}

// RMSNorm's backward for training, from each row's rstd = 1 / rms kept by the forward pass: with
// g = dy * w held in the dtype (autograd's product), dx = rstd g - rstd^3 x sum(g x) / n, as the
// fp32 ops between x's conversion and the normalised x's give it, rounded once to the dtype.
template <typename T>
static inline __attribute__((always_inline)) void rms_norm_backward_rows(const T* dy, const T* x, const T* w, const float* rstd,
        int64_t n, T* dx, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
        const T* dyr = dy + r * n;
        const T* xr = x + r * n;
        T* o = dx + r * n;
        float lanes[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            for (int l = 0; l < 16; l++) {
                lanes[l] += held_as(xr, load_f32(dyr, i + l) * load_f32(w, i + l)) * load_f32(xr, i + l);
            }
        }
        float dot = 0.0f;
        for (int l = 0; l < 16; l++) {
            dot += lanes[l];
        }
        for (; i < n; i++) {
            dot += held_as(xr, load_f32(dyr, i) * load_f32(w, i)) * load_f32(xr, i);
        }
        float s = rstd[r];
        float c = s * s * s * dot / (float) n;
        for (i = 0; i < n; i++) {
            store_f32(o, i, s * held_as(xr, load_f32(dyr, i) * load_f32(w, i)) - c * load_f32(xr, i));
        }
    }
}

// out = silu(g) * u with silu(g) = g / (1 + exp(-g)) held in the dtype before the product. In blocks
// through an fp32 buffer: with the bf16 loads in the same loop as the exp, GCC vectorized none of it.
template <typename T>
static inline __attribute__((always_inline)) void silu_mul_rows(const T* g, int64_t gRow, const T* u, int64_t uRow,
        int64_t n, T* out, int64_t begin, int64_t end) {
    const int64_t B = 256;
    float block[B];
    for (int64_t r = begin; r < end; r++) {
        const T* gr = g + r * gRow;
        const T* ur = u + r * uRow;
        T* o = out + r * n;
        for (int64_t start = 0; start < n; start += B) {
            int64_t m = n - start < B ? n - start : B;
            for (int64_t i = 0; i < m; i++) {
                block[i] = load_f32(gr, start + i);
            }
            for (int64_t i = 0; i < m; i++) {
                float v = block[i];
                block[i] = v / (1.0f + exp_any(-v));
            }
            for (int64_t i = 0; i < m; i++) {
                store_f32(o, start + i, held_as(gr, block[i]) * load_f32(ur, start + i));
            }
        }
    }
}

// silu(g) * u's backward for training: with s = sigmoid(g) and a = g s held in the dtype, as
// autograd's ops give it: du = dout a, dg = (dout u) s (1 + g (1 - s)), each product held in the
// dtype. dg and du go to one [rows, 2n] buffer (dg in columns [0, n), du in [n, 2n)): the gradient
// of the fused gate/up product's output. Blocks through fp32 buffers, as in the forward pass.
template <typename T>
static inline __attribute__((always_inline)) void silu_mul_backward_rows(const T* g, int64_t gRow, const T* u, int64_t uRow,
        const T* dout, int64_t n, T* dgu, int64_t begin, int64_t end) {
    const int64_t B = 256;
    float sig[B];
    for (int64_t r = begin; r < end; r++) {
        const T* gr = g + r * gRow;
        const T* ur = u + r * uRow;
        const T* dr = dout + r * n;
        T* dg = dgu + r * 2 * n;
        T* du = dg + n;
        for (int64_t start = 0; start < n; start += B) {
            int64_t m = n - start < B ? n - start : B;
            for (int64_t i = 0; i < m; i++) {
                sig[i] = -load_f32(gr, start + i);
            }
            for (int64_t i = 0; i < m; i++) {
                sig[i] = 1.0f / (1.0f + exp_any(sig[i]));
            }
            for (int64_t i = 0; i < m; i++) {
                float v = load_f32(gr, start + i);
                float s = sig[i];
                float d = load_f32(dr, start + i);
                store_f32(du, start + i, d * held_as(gr, v * s));
                store_f32(dg, start + i, held_as(gr, d * load_f32(ur, start + i)) * (s * (1.0f + v * (1.0f - s))));
            }
        }
    }
}

// transformers' apply_rotary_pos_emb: out = x * cos + rotate_half(x) * sin, rotate_half(x) =
// cat(-x2, x1) over the halves of head_dim, each product and the sum held in the dtype. Rows are
// the (batch, position) pairs r = b * T + t; x [B, heads, T, d] by strides (d contiguous), cos and
// sin [B or 1, 1, T, d] by strides (cb 0 where one table serves every batch row), out [B, T, heads, d] contiguous.
template <typename T>
static inline __attribute__((always_inline)) void rotary_rows(const T* x, int64_t xb, int64_t xh, int64_t xt,
        const T* cos, const T* sin, int64_t cb, int64_t ct, int64_t heads, int64_t positions, int64_t d, T* out,
        int64_t begin, int64_t end) {
    int64_t half = d / 2;
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / positions;
        int64_t t = r % positions;
        const T* c = cos + b * cb + t * ct;
        const T* s = sin + b * cb + t * ct;
        for (int64_t h = 0; h < heads; h++) {
            const T* xr = x + b * xb + h * xh + t * xt;
            T* o = out + (r * heads + h) * d;
            for (int64_t i = 0; i < half; i++) {
                float first = held_as(xr, load_f32(xr, i) * load_f32(c, i));
                float rotated = held_as(xr, -load_f32(xr, i + half) * load_f32(s, i));
                store_f32(o, i, first + rotated);
            }
            for (int64_t i = half; i < d; i++) {
                float first = held_as(xr, load_f32(xr, i) * load_f32(c, i));
                float rotated = held_as(xr, load_f32(xr, i - half) * load_f32(s, i));
                store_f32(o, i, first + rotated);
            }
        }
    }
}

/** Rows [begin, end) of x [rows, n] (contiguous) normalised with weight w [n] into out [rows, n]; each row's
    1/rms into rstd [rows] (fp32) unless it is 0. */
TAILOR_CLONES
inline void rms_norm_bf16(int64_t x, int64_t w, int64_t n, float eps, int64_t out, int64_t rstd, int64_t begin, int64_t end) {
    rms_norm_rows(reinterpret_cast<const uint16_t*>(x), reinterpret_cast<const uint16_t*>(w), n, eps,
            reinterpret_cast<uint16_t*>(out), reinterpret_cast<float*>(rstd), begin, end);
}

TAILOR_CLONES
inline void rms_norm_f32(int64_t x, int64_t w, int64_t n, float eps, int64_t out, int64_t rstd, int64_t begin, int64_t end) {
    rms_norm_rows(reinterpret_cast<const float*>(x), reinterpret_cast<const float*>(w), n, eps,
            reinterpret_cast<float*>(out), reinterpret_cast<float*>(rstd), begin, end);
}

/** Rows [begin, end) of dx [rows, n] from dy and x [rows, n], w [n] and the forward pass's rstd [rows] (all contiguous). */
TAILOR_CLONES
inline void rms_norm_backward_bf16(int64_t dy, int64_t x, int64_t w, int64_t rstd, int64_t n, int64_t dx, int64_t begin, int64_t end) {
    rms_norm_backward_rows(reinterpret_cast<const uint16_t*>(dy), reinterpret_cast<const uint16_t*>(x),
            reinterpret_cast<const uint16_t*>(w), reinterpret_cast<const float*>(rstd), n, reinterpret_cast<uint16_t*>(dx), begin, end);
}

TAILOR_CLONES
inline void rms_norm_backward_f32(int64_t dy, int64_t x, int64_t w, int64_t rstd, int64_t n, int64_t dx, int64_t begin, int64_t end) {
    rms_norm_backward_rows(reinterpret_cast<const float*>(dy), reinterpret_cast<const float*>(x),
            reinterpret_cast<const float*>(w), reinterpret_cast<const float*>(rstd), n, reinterpret_cast<float*>(dx), begin, end);
}

/** Rows [begin, end) of gate and up (row r at r * gRow and r * uRow elements, n contiguous each) into out [rows, n]. */
TAILOR_CLONES
inline void silu_mul_bf16(int64_t g, int64_t gRow, int64_t u, int64_t uRow, int64_t n, int64_t out, int64_t begin, int64_t end) {
    silu_mul_rows(reinterpret_cast<const uint16_t*>(g), gRow, reinterpret_cast<const uint16_t*>(u), uRow, n,
            reinterpret_cast<uint16_t*>(out), begin, end);
}

TAILOR_CLONES
inline void silu_mul_f32(int64_t g, int64_t gRow, int64_t u, int64_t uRow, int64_t n, int64_t out, int64_t begin, int64_t end) {
    silu_mul_rows(reinterpret_cast<const float*>(g), gRow, reinterpret_cast<const float*>(u), uRow, n,
            reinterpret_cast<float*>(out), begin, end);
}

/** Rows [begin, end) of dgu [rows, 2n] from gate and up (as above) and dout [rows, n] (contiguous). */
TAILOR_CLONES
inline void silu_mul_backward_bf16(int64_t g, int64_t gRow, int64_t u, int64_t uRow, int64_t dout, int64_t n, int64_t dgu,
        int64_t begin, int64_t end) {
    silu_mul_backward_rows(reinterpret_cast<const uint16_t*>(g), gRow, reinterpret_cast<const uint16_t*>(u), uRow,
            reinterpret_cast<const uint16_t*>(dout), n, reinterpret_cast<uint16_t*>(dgu), begin, end);
}

TAILOR_CLONES
inline void silu_mul_backward_f32(int64_t g, int64_t gRow, int64_t u, int64_t uRow, int64_t dout, int64_t n, int64_t dgu,
        int64_t begin, int64_t end) {
    silu_mul_backward_rows(reinterpret_cast<const float*>(g), gRow, reinterpret_cast<const float*>(u), uRow,
            reinterpret_cast<const float*>(dout), n, reinterpret_cast<float*>(dgu), begin, end);
}

/** Rows [begin, end) of (batch, position) pairs: see rotary_rows; strides in elements. */
TAILOR_CLONES
inline void rotary_bf16(int64_t x, int64_t xb, int64_t xh, int64_t xt, int64_t cos, int64_t sin, int64_t cb, int64_t ct,
        int64_t heads, int64_t positions, int64_t d, int64_t out, int64_t begin, int64_t end) {
    rotary_rows(reinterpret_cast<const uint16_t*>(x), xb, xh, xt, reinterpret_cast<const uint16_t*>(cos),
            reinterpret_cast<const uint16_t*>(sin), cb, ct, heads, positions, d, reinterpret_cast<uint16_t*>(out), begin, end);
}

TAILOR_CLONES
inline void rotary_f32(int64_t x, int64_t xb, int64_t xh, int64_t xt, int64_t cos, int64_t sin, int64_t cb, int64_t ct,
        int64_t heads, int64_t positions, int64_t d, int64_t out, int64_t begin, int64_t end) {
    rotary_rows(reinterpret_cast<const float*>(x), xb, xh, xt, reinterpret_cast<const float*>(cos),
            reinterpret_cast<const float*>(sin), cb, ct, heads, positions, d, reinterpret_cast<float*>(out), begin, end);
}

// Dropout's mask for training: out[i] = scale where entry i is kept (probability 1 - threshold / 2^32),
// else 0, from a counter-based hash of (seed, i) (murmur3's 32-bit finaliser), so that threads fill
// disjoint ranges of one mask without sharing a generator's state. libtorch's bernoulli_ drew every
// entry from one generator on one thread: 1.8M entries per LoRA module per step of 4 x 512 tokens.
TAILOR_CLONES
inline void dropout_mask_f32(int64_t out, int64_t begin, int64_t end, int64_t threshold, float scale, int64_t seedLow,
        int64_t seedHigh) {
    float* o = reinterpret_cast<float*>(out);
    uint32_t limit = (uint32_t) threshold;
    for (int64_t i = begin; i < end; i++) {
        uint32_t x = (uint32_t) i * 0x9e3779b9u + (uint32_t) seedLow;
        x ^= (uint32_t) seedHigh ^ ((uint32_t) (i >> 32) * 0x85ebca6bu);
        x ^= x >> 16;
        x *= 0x85ebca6bu;
        x ^= x >> 13;
        x *= 0xc2b2ae35u;
        x ^= x >> 16;
        o[i] = x >= limit ? scale : 0.0f;
    }
}

}  // namespace tailor
