// Training's attention: causal attention within the segments (packed examples) of each row, forward
// and backward, grouped-query heads, fp32 math on bf16 or fp32 inputs, as FlashAttention computes it
// (no [T, T] score matrix is kept: the backward recomputes the scores from q, k and the forward's
// log-sum-exp). Query t of row b attends to keys first[b, t] <= j <= t, so the cost follows the sum
// of the examples' squared lengths, not the squared row length: libtorch's SDPA with a
// block-diagonal mask computed every [T, T] entry (85-140 ms per layer of 4 x 512 tokens forward
// and backward, a fifth of a LoRA step), and took fp32 copies of q and of k, v repeated per head.
//
// The forward works on blocks of QUERIES positions x the group's heads against KEYS keys at a time,
// with the online softmax; the backward works per (row, kv head): for each block of KEYS keys, every
// query that attends to one of them, accumulating dK and dV of the block and dQ of the whole row in
// fp32. Both are plain loops over the head dimension and blocks of keys, compiled for AVX-512, AVX2
// and baseline x86-64 (target_clones); the caller splits work items across threads.
#pragma once
#include <math.h>
#include <stdint.h>
#include <vector>
#include "tailor_bf16.h"
#include "tailor_exp.h"

namespace tailor {

constexpr int64_t SEGMENT_KEYS = 32;     // keys per block
constexpr int64_t SEGMENT_QUERIES = 16;  // query positions per forward block (times the group's heads)

// Where q, k, v are: element (b, head, t, c) at b * row + head * head + t * position + c
struct Strided {
    int64_t row, head, position;
    int64_t at(int64_t b, int64_t h, int64_t t) const { return b * row + h * head + t * position; }
};

// s[j] = sum_c x[c] * kt[c * KEYS + j], a query row against a block of keys stored transposed
static inline __attribute__((always_inline)) void dot_block(const float* x, const float* kt, int64_t d, float* s) {
    for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
        s[j] = 0.0f;
    }
    for (int64_t c = 0; c < d; c++) {
        float xc = x[c];
        const float* k = kt + c * SEGMENT_KEYS;
        for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
            s[j] += xc * k[j];
        }
    }
}

// Keys [j0, j0 + n) of kv head h as fp32: transposed [d][KEYS] (zero beyond n) and, where rows is not
// null, as rows [KEYS][d]
template <typename T>
static inline __attribute__((always_inline)) void load_key_block(const T* x, Strided s, int64_t b, int64_t h, int64_t j0,
        int64_t n, int64_t d, float* transposed, float* rows) {
    for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
        for (int64_t c = 0; c < d; c++) {
            float v = j < n ? load_f32(x + s.at(b, h, j0 + j), c) : 0.0f;
            transposed[c * SEGMENT_KEYS + j] = v;
            if (rows != nullptr) {
                rows[j * d + c] = v;
            }
        }
    }
}

/**
 * Forward. q [batch, heads, length, d], k and v [batch, kvHeads, length, d] by strides (elements; the
 * last dimension contiguous); first[b * length + t] the first key of query t (first <= t,
 * non-decreasing in t). Writes out [batch, length, heads, d] contiguous (the layout the o projection
 * reads) in the inputs' dtype and lse [batch, heads, length] fp32, the log-sum-exp of each query's
 * scaled scores. Work items [begin, end) of batch * kvHeads * ceil(length / QUERIES).
 */
template <typename T>
static inline __attribute__((always_inline)) void segment_attention_forward(const T* q, Strided qs, const T* k,
        Strided ks, const T* v, Strided vs, int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d,
        const int32_t* first, float scale, T* out, float* lse, int64_t begin, int64_t end) {
    const int64_t group = heads / kvHeads;
    const int64_t blocks = (length + SEGMENT_QUERIES - 1) / SEGMENT_QUERIES;
    const int64_t rows = group * SEGMENT_QUERIES;
    std::vector<float> query(rows * d), acc(rows * d), kt(d * SEGMENT_KEYS), vb(SEGMENT_KEYS * d), m(rows), l(rows);
    float s[SEGMENT_KEYS];
    for (int64_t item = begin; item < end; item++) {
        int64_t b = item / (kvHeads * blocks);
        int64_t kvh = item / blocks % kvHeads;
        int64_t t0 = item % blocks * SEGMENT_QUERIES;
        int64_t n = length - t0 < SEGMENT_QUERIES ? length - t0 : SEGMENT_QUERIES;
        const int32_t* f = first + b * length;
        for (int64_t g = 0; g < group; g++) {
            for (int64_t i = 0; i < n; i++) {
                int64_t r = g * SEGMENT_QUERIES + i;
                const T* x = q + qs.at(b, kvh * group + g, t0 + i);
                for (int64_t c = 0; c < d; c++) {
                    query[r * d + c] = load_f32(x, c) * scale;
                    acc[r * d + c] = 0.0f;
                }
                m[r] = -__builtin_inff();
                l[r] = 0.0f;
            }
        }
        for (int64_t j0 = f[t0]; j0 < t0 + n; j0 += SEGMENT_KEYS) {
            int64_t kn = t0 + n - j0 < SEGMENT_KEYS ? t0 + n - j0 : SEGMENT_KEYS;
            load_key_block(k, ks, b, kvh, j0, kn, d, kt.data(), nullptr);
            for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
                for (int64_t c = 0; c < d; c++) {
                    vb[j * d + c] = j < kn ? load_f32(v + vs.at(b, kvh, j0 + j), c) : 0.0f;
                }
            }
            for (int64_t i = 0; i < n; i++) {
                int64_t t = t0 + i;
                int64_t lo = f[t] - j0;  // keys j of the block with lo <= j <= hi are attended
                int64_t hi = t - j0;
                if (lo >= SEGMENT_KEYS || hi < 0) {
                    continue;
                }
                for (int64_t g = 0; g < group; g++) {
                    int64_t r = g * SEGMENT_QUERIES + i;
                    dot_block(query.data() + r * d, kt.data(), d, s);
                    float max = m[r];
                    for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
                        bool in = j >= lo && j <= hi;
                        max = in && s[j] > max ? s[j] : max;
                    }
                    float alpha = exp_nonpositive(m[r] - max);  // m = -inf at first: alpha ~ 0 on zeros
                    float sum = 0.0f;
                    for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
                        bool in = j >= lo && j <= hi;
                        s[j] = in ? exp_nonpositive(s[j] - max) : 0.0f;
                        sum += s[j];
                    }
                    m[r] = max;
                    l[r] = l[r] * alpha + sum;
                    float* a = acc.data() + r * d;
                    for (int64_t c = 0; c < d; c++) {
                        a[c] *= alpha;
                    }
                    for (int64_t j = 0; j < SEGMENT_KEYS && j <= hi; j++) {
                        float p = s[j];
                        const float* vr = vb.data() + j * d;
                        for (int64_t c = 0; c < d; c++) {
                            a[c] += p * vr[c];
                        }
                    }
                }
            }
        }
        for (int64_t g = 0; g < group; g++) {
            int64_t h = kvh * group + g;
            for (int64_t i = 0; i < n; i++) {
                int64_t r = g * SEGMENT_QUERIES + i;
                int64_t t = t0 + i;
                T* o = out + ((b * length + t) * heads + h) * d;
                float inverse = 1.0f / l[r];
                for (int64_t c = 0; c < d; c++) {
                    store_f32(o, c, acc[r * d + c] * inverse);
                }
                lse[(b * heads + h) * length + t] = m[r] + logf(l[r]);
            }
        }
    }
}

/**
 * Backward. q, k, v, first, scale as in the forward; out and dout [batch, length, heads, d] contiguous
 * (the forward's output and its gradient), lse from the forward, last[b * length + j] the last query
 * that attends to key j (non-decreasing). Writes dq [batch, length, heads, d] and dk, dv [batch, length,
 * kvHeads, d], contiguous, in the inputs' dtype. Work items [begin, end) of batch * kvHeads: each owns
 * the gradients of its row and kv head (its group's query heads), so items never write the same place.
 *   p = exp(scale q.k - lse), dp = dout.v, ds = p (dp - sum_c dout out), dv += p dout,
 *   dk += scale ds q, dq += scale ds k
 */
template <typename T>
static inline __attribute__((always_inline)) void segment_attention_backward(const T* q, Strided qs, const T* k,
        Strided ks, const T* v, Strided vs, int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d,
        const int32_t* first, const int32_t* last, float scale, const T* out, const T* dout, const float* lse,
        T* dq, T* dk, T* dv, int64_t begin, int64_t end) {
    const int64_t group = heads / kvHeads;
    std::vector<float> dqAcc(group * length * d), delta(group * length), kt(d * SEGMENT_KEYS), kr(SEGMENT_KEYS * d),
            vt(d * SEGMENT_KEYS), dkAcc(SEGMENT_KEYS * d), dvAcc(SEGMENT_KEYS * d), query(d), grad(d);
    float s[SEGMENT_KEYS], dp[SEGMENT_KEYS];
    for (int64_t item = begin; item < end; item++) {
        int64_t b = item / kvHeads;
        int64_t kvh = item % kvHeads;
        const int32_t* f = first + b * length;
        const int32_t* lastQuery = last + b * length;
        for (int64_t g = 0; g < group; g++) {
            int64_t h = kvh * group + g;
            for (int64_t t = 0; t < length; t++) {
                const T* o = out + ((b * length + t) * heads + h) * d;
                const T* go = dout + ((b * length + t) * heads + h) * d;
                float sum = 0.0f;
                for (int64_t c = 0; c < d; c++) {
                    sum += load_f32(go, c) * load_f32(o, c);
                }
                delta[g * length + t] = sum;
            }
        }
        for (int64_t i = 0; i < group * length * d; i++) {
            dqAcc[i] = 0.0f;
        }
        for (int64_t j0 = 0; j0 < length; j0 += SEGMENT_KEYS) {
            int64_t kn = length - j0 < SEGMENT_KEYS ? length - j0 : SEGMENT_KEYS;
            load_key_block(k, ks, b, kvh, j0, kn, d, kt.data(), kr.data());
            load_key_block(v, vs, b, kvh, j0, kn, d, vt.data(), nullptr);
            for (int64_t i = 0; i < SEGMENT_KEYS * d; i++) {
                dkAcc[i] = 0.0f;
                dvAcc[i] = 0.0f;
            }
            int64_t tEnd = lastQuery[j0 + kn - 1];
            for (int64_t t = j0; t <= tEnd; t++) {
                int64_t lo = f[t] - j0;
                int64_t hi = t - j0;
                if (lo >= kn) {
                    continue;  // t's segment starts after this block
                }
                for (int64_t g = 0; g < group; g++) {
                    int64_t h = kvh * group + g;
                    const T* x = q + qs.at(b, h, t);
                    const T* go = dout + ((b * length + t) * heads + h) * d;
                    for (int64_t c = 0; c < d; c++) {
                        query[c] = load_f32(x, c);
                        grad[c] = load_f32(go, c);
                    }
                    dot_block(query.data(), kt.data(), d, s);
                    dot_block(grad.data(), vt.data(), d, dp);
                    float shift = lse[(b * heads + h) * length + t];
                    float dt = delta[g * length + t];
                    for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
                        bool in = j >= lo && j <= hi && j < kn;
                        float p = in ? exp_nonpositive(s[j] * scale - shift) : 0.0f;
                        s[j] = p;
                        dp[j] = p * (dp[j] - dt);  // ds
                    }
                    int64_t from = lo < 0 ? 0 : lo;
                    int64_t to = hi < kn - 1 ? hi : kn - 1;
                    for (int64_t j = from; j <= to; j++) {
                        float p = s[j];
                        float ds = dp[j];
                        float* __restrict__ gv = dvAcc.data() + j * d;
                        float* __restrict__ gk = dkAcc.data() + j * d;
                        for (int64_t c = 0; c < d; c++) {
                            gv[c] += p * grad[c];
                            gk[c] += ds * query[c];
                        }
                    }
                    float* __restrict__ gq = dqAcc.data() + (g * length + t) * d;
                    for (int64_t j = from; j <= to; j++) {
                        float ds = dp[j];
                        const float* __restrict__ kj = kr.data() + j * d;
                        for (int64_t c = 0; c < d; c++) {
                            gq[c] += ds * kj[c];
                        }
                    }
                }
            }
            for (int64_t j = 0; j < kn; j++) {
                T* gk = dk + ((b * length + j0 + j) * kvHeads + kvh) * d;
                T* gv = dv + ((b * length + j0 + j) * kvHeads + kvh) * d;
                for (int64_t c = 0; c < d; c++) {
                    store_f32(gk, c, dkAcc[j * d + c] * scale);
                    store_f32(gv, c, dvAcc[j * d + c]);
                }
            }
        }
        for (int64_t g = 0; g < group; g++) {
            int64_t h = kvh * group + g;
            for (int64_t t = 0; t < length; t++) {
                T* gq = dq + ((b * length + t) * heads + h) * d;
                for (int64_t c = 0; c < d; c++) {
                    store_f32(gq, c, dqAcc[(g * length + t) * d + c] * scale);
                }
            }
        }
    }
}

#define TAILOR_SEGMENT_ATTENTION(suffix, T)                                                                               \
    TAILOR_CLONES                                                                                                         \
    inline void segment_attention_forward_##suffix(int64_t q, int64_t qRow, int64_t qHead, int64_t qPos, int64_t k,        \
            int64_t kRow, int64_t kHead, int64_t kPos, int64_t v, int64_t vRow, int64_t vHead, int64_t vPos,               \
            int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d, int64_t first, float scale,          \
            int64_t out, int64_t lse, int64_t begin, int64_t end) {                                                       \
        segment_attention_forward(reinterpret_cast<const T*>(q), Strided{qRow, qHead, qPos}, reinterpret_cast<const T*>(k), \
                Strided{kRow, kHead, kPos}, reinterpret_cast<const T*>(v), Strided{vRow, vHead, vPos}, batch, length,     \
                heads, kvHeads, d, reinterpret_cast<const int32_t*>(first), scale, reinterpret_cast<T*>(out),            \
                reinterpret_cast<float*>(lse), begin, end);                                                               \
    }                                                                                                                     \
    TAILOR_CLONES                                                                                                         \
    inline void segment_attention_backward_##suffix(int64_t q, int64_t qRow, int64_t qHead, int64_t qPos, int64_t k,       \
            int64_t kRow, int64_t kHead, int64_t kPos, int64_t v, int64_t vRow, int64_t vHead, int64_t vPos,               \
            int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d, int64_t first, int64_t last,         \
            float scale, int64_t out, int64_t dout, int64_t lse, int64_t dq, int64_t dk, int64_t dv, int64_t begin,        \
            int64_t end) {                                                                                                \
        segment_attention_backward(reinterpret_cast<const T*>(q), Strided{qRow, qHead, qPos},                             \
                reinterpret_cast<const T*>(k), Strided{kRow, kHead, kPos}, reinterpret_cast<const T*>(v),                 \
                Strided{vRow, vHead, vPos}, batch, length, heads, kvHeads, d, reinterpret_cast<const int32_t*>(first),    \
                reinterpret_cast<const int32_t*>(last), scale, reinterpret_cast<const T*>(out),                           \
                reinterpret_cast<const T*>(dout), reinterpret_cast<const float*>(lse), reinterpret_cast<T*>(dq),          \
                reinterpret_cast<T*>(dk), reinterpret_cast<T*>(dv), begin, end);                                          \
    }

TAILOR_SEGMENT_ATTENTION(bf16, uint16_t)
TAILOR_SEGMENT_ATTENTION(f32, float)

#undef TAILOR_SEGMENT_ATTENTION

}  // namespace tailor
