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
// query that attends to one of them (the group's heads of a position together, their dK and dV
// summed before one update of the block's accumulators), with dQ of the whole row in fp32. The inner
// loops run on W-lane vectors held in registers (Lanes), compiled for AVX-512 (W = 16), AVX2 (8) and
// baseline x86-64 (4) and picked by the CPU; the caller splits work items across threads. On one core
// of the AMX VM (4 x 512 packed tokens, 14 heads, 2 kv heads, d 64): forward 29 -> 22 ms, backward
// 48 -> 32 ms against the same loops on plain arrays, whose accumulators the compiler kept on the stack.
#pragma once
#include <math.h>
#include <stdint.h>
#include <vector>
#include "tailor_bf16.h"
#include "tailor_exp.h"

namespace tailor {

constexpr int64_t SEGMENT_KEYS = 32;     // keys per block
constexpr int64_t SEGMENT_QUERIES = 16;  // query positions per forward block (times the group's heads)

// SEGMENT_QUERIES for the Java side, which counts the forward's work items with it
inline int64_t segment_queries() {
    return SEGMENT_QUERIES;
}

// Where q, k, v are: element (b, head, t, c) at b * row + head * head + t * position + c
struct Strided {
    int64_t row, head, position;
    int64_t at(int64_t b, int64_t h, int64_t t) const { return b * row + h * head + t * position; }
};

// W fp32 lanes as one value (GCC's vector extension), loaded from and stored to unaligned addresses:
// accumulators of this type stay in registers, where the compiler kept those of plain arrays on the
// stack and each step of a loop waited on the previous one's store. W follows the instruction set the
// kernel is compiled for (16 with AVX-512, 8 with AVX2, 4 with SSE): vectors wider than the registers
// were split into scalar code.
template <int W>
struct Lanes {
    typedef float Vec __attribute__((vector_size(4 * W), aligned(4)));

    static inline __attribute__((always_inline)) Vec load(const float* p) {
        return *reinterpret_cast<const Vec*>(p);
    }

    static inline __attribute__((always_inline)) void store(float* p, Vec v) {
        *reinterpret_cast<Vec*>(p) = v;
    }
};

// s[j] = sum_c x[c] * kt[c * KEYS + j], a query row against a block of keys stored transposed
template <int W>
static inline __attribute__((always_inline)) void dot_block(const float* x, const float* kt, int64_t d, float* s) {
    typedef Lanes<W> L;
    constexpr int N = SEGMENT_KEYS / W;
    typename L::Vec a[N];
    for (int i = 0; i < N; i++) {
        a[i] = typename L::Vec{};
    }
    for (int64_t c = 0; c < d; c++) {
        float xc = x[c];
        const float* k = kt + c * SEGMENT_KEYS;
        for (int i = 0; i < N; i++) {
            a[i] += xc * L::load(k + i * W);
        }
    }
    for (int i = 0; i < N; i++) {
        L::store(s + i * W, a[i]);
    }
}

// acc[c] += sum_i w[i * ws] * rows[i * rs + c] for c < d: 4 W lanes at a time in four independent
// accumulators (one would wait on its own latency at each row), then W, then one
template <int W>
static inline __attribute__((always_inline)) void accumulate_rows(float* acc, const float* w, int64_t ws, const float* rows,
        int64_t rs, int64_t n, int64_t d) {
    typedef Lanes<W> L;
    int64_t c = 0;
    for (; c + 4 * W <= d; c += 4 * W) {
        typename L::Vec a0 = L::load(acc + c);
        typename L::Vec a1 = L::load(acc + c + W);
        typename L::Vec a2 = L::load(acc + c + 2 * W);
        typename L::Vec a3 = L::load(acc + c + 3 * W);
        for (int64_t i = 0; i < n; i++) {
            float wi = w[i * ws];
            const float* r = rows + i * rs + c;
            a0 += wi * L::load(r);
            a1 += wi * L::load(r + W);
            a2 += wi * L::load(r + 2 * W);
            a3 += wi * L::load(r + 3 * W);
        }
        L::store(acc + c, a0);
        L::store(acc + c + W, a1);
        L::store(acc + c + 2 * W, a2);
        L::store(acc + c + 3 * W, a3);
    }
    for (; c + W <= d; c += W) {
        typename L::Vec a = L::load(acc + c);
        for (int64_t i = 0; i < n; i++) {
            a += w[i * ws] * L::load(rows + i * rs + c);
        }
        L::store(acc + c, a);
    }
    for (; c < d; c++) {
        float a = acc[c];
        for (int64_t i = 0; i < n; i++) {
            a += w[i * ws] * rows[i * rs + c];
        }
        acc[c] = a;
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
template <typename T, int W>
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
                    dot_block<W>(query.data() + r * d, kt.data(), d, s);
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
                    accumulate_rows<W>(a, s, 1, vb.data(), d, hi < SEGMENT_KEYS - 1 ? hi + 1 : SEGMENT_KEYS, d);
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
template <typename T, int W>
static inline __attribute__((always_inline)) void segment_attention_backward(const T* q, Strided qs, const T* k,
        Strided ks, const T* v, Strided vs, int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d,
        const int32_t* first, const int32_t* last, float scale, const T* out, const T* dout, const float* lse,
        T* dq, T* dk, T* dv, int64_t begin, int64_t end) {
    const int64_t group = heads / kvHeads;
    std::vector<float> dqAcc(group * length * d), delta(group * length), kt(d * SEGMENT_KEYS), kr(SEGMENT_KEYS * d),
            vt(d * SEGMENT_KEYS), dkAcc(SEGMENT_KEYS * d), dvAcc(SEGMENT_KEYS * d), query(group * d), grad(group * d),
            pRows(group * SEGMENT_KEYS), dsRows(group * SEGMENT_KEYS);
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
                int64_t from = lo < 0 ? 0 : lo;
                int64_t to = hi < kn - 1 ? hi : kn - 1;
                for (int64_t g = 0; g < group; g++) {  // the group's heads at position t share the keys' range
                    int64_t h = kvh * group + g;
                    const T* x = q + qs.at(b, h, t);
                    const T* go = dout + ((b * length + t) * heads + h) * d;
                    float* qg = query.data() + g * d;
                    float* gg = grad.data() + g * d;
                    for (int64_t c = 0; c < d; c++) {
                        qg[c] = load_f32(x, c);
                        gg[c] = load_f32(go, c);
                    }
                    float* p = pRows.data() + g * SEGMENT_KEYS;
                    float* ds = dsRows.data() + g * SEGMENT_KEYS;
                    dot_block<W>(qg, kt.data(), d, p);
                    dot_block<W>(gg, vt.data(), d, ds);
                    float shift = lse[(b * heads + h) * length + t];
                    float dt = delta[g * length + t];
                    for (int64_t j = 0; j < SEGMENT_KEYS; j++) {
                        bool in = j >= lo && j <= hi && j < kn;
                        float e = in ? exp_nonpositive(p[j] * scale - shift) : 0.0f;
                        p[j] = e;
                        ds[j] = e * (ds[j] - dt);
                    }
                    accumulate_rows<W>(dqAcc.data() + (g * length + t) * d, ds + from, 1, kr.data() + from * d, d, to - from + 1, d);
                }
                // each key's dv and dk: the group's heads summed in registers, one update per key
                for (int64_t j = from; j <= to; j++) {
                    accumulate_rows<W>(dvAcc.data() + j * d, pRows.data() + j, SEGMENT_KEYS, grad.data(), d, group, d);
                    accumulate_rows<W>(dkAcc.data() + j * d, dsRows.data() + j, SEGMENT_KEYS, query.data(), d, group, d);
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

// The kernels as types, so that one dispatcher runs either with a vector width of its choosing
template <typename T>
struct ForwardKernel {
    template <int W, typename... A>
    static inline __attribute__((always_inline)) void run(A... a) {
        segment_attention_forward<T, W>(a...);
    }
};

template <typename T>
struct BackwardKernel {
    template <int W, typename... A>
    static inline __attribute__((always_inline)) void run(A... a) {
        segment_attention_backward<T, W>(a...);
    }
};

// A kernel compiled for each instruction set with its vector width, run with the widest this CPU has
// (as target_clones would pick; it cannot vary W). Elsewhere than x86-64, the baseline's 4 lanes.
template <typename K, typename... A>
void run_baseline(A... a) {
    K::template run<4>(a...);
}

#if defined(__x86_64__)
template <typename K, typename... A>
__attribute__((target("avx512f,fma"))) void run_avx512(A... a) {
    K::template run<16>(a...);
}

template <typename K, typename... A>
__attribute__((target("avx2,fma"))) void run_avx2(A... a) {
    K::template run<8>(a...);
}
#endif

template <typename K, typename... A>
static inline void run_widest(A... a) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
        run_avx512<K>(a...);
        return;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        run_avx2<K>(a...);
        return;
    }
#endif
    run_baseline<K>(a...);
}

#define TAILOR_SEGMENT_ATTENTION(suffix, T)                                                                               \
    inline void segment_attention_forward_##suffix(int64_t q, int64_t qRow, int64_t qHead, int64_t qPos, int64_t k,        \
            int64_t kRow, int64_t kHead, int64_t kPos, int64_t v, int64_t vRow, int64_t vHead, int64_t vPos,               \
            int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d, int64_t first, float scale,          \
            int64_t out, int64_t lse, int64_t begin, int64_t end) {                                                       \
        run_widest<ForwardKernel<T>>(reinterpret_cast<const T*>(q), Strided{qRow, qHead, qPos}, reinterpret_cast<const T*>(k), \
                Strided{kRow, kHead, kPos}, reinterpret_cast<const T*>(v), Strided{vRow, vHead, vPos}, batch, length,     \
                heads, kvHeads, d, reinterpret_cast<const int32_t*>(first), scale, reinterpret_cast<T*>(out),            \
                reinterpret_cast<float*>(lse), begin, end);                                                               \
    }                                                                                                                     \
    inline void segment_attention_backward_##suffix(int64_t q, int64_t qRow, int64_t qHead, int64_t qPos, int64_t k,       \
            int64_t kRow, int64_t kHead, int64_t kPos, int64_t v, int64_t vRow, int64_t vHead, int64_t vPos,               \
            int64_t batch, int64_t length, int64_t heads, int64_t kvHeads, int64_t d, int64_t first, int64_t last,         \
            float scale, int64_t out, int64_t dout, int64_t lse, int64_t dq, int64_t dk, int64_t dv, int64_t begin,        \
            int64_t end) {                                                                                                \
        run_widest<BackwardKernel<T>>(reinterpret_cast<const T*>(q), Strided{qRow, qHead, qPos},                          \
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
