// Attention of decoding steps: one query per row over a range of that row's KV cache, grouped-query
// heads, fp32 math (as Tailor's prompt attention), one rounding of the output to the cache's dtype.
//   out[r, h, :] = softmax_i(scale * q[r, h] . k[r, h / group, i]) v[r, h / group, i],  from[r] <= i < to[r]
// libtorch needed about a dozen small ops per layer for this (0.4 ms per layer for one row, 1 ms for
// eight); here it is one call. Plain loops over 16-lane blocks, compiled for AVX-512, AVX2 and
// baseline x86-64 (target_clones); the caller splits rows across threads.
#pragma once
#include <stdint.h>
#include <string.h>
#include <vector>
#include "tailor_bf16.h"
#include "tailor_exp.h"

namespace tailor {

template <typename T>
static inline __attribute__((always_inline)) void attention_rows(const T* q, int64_t qRow, int64_t qHead, const T* k,
        const T* v, int64_t kvRow, int64_t kvHead, int64_t kvPos, int64_t heads, int64_t kvHeads, int64_t d,
        const int32_t* from, const int32_t* to, float scale, T* out, int64_t begin, int64_t end) {
    int64_t group = heads / kvHeads;
    std::vector<float> qs(d);
    std::vector<float> acc(d);
    std::vector<float> scores;
    for (int64_t r = begin; r < end; r++) {
        int64_t length = to[r] - from[r];
        scores.resize(length);
        for (int64_t h = 0; h < heads; h++) {
            const T* keys = k + r * kvRow + (h / group) * kvHead + from[r] * kvPos;
            const T* values = v + r * kvRow + (h / group) * kvHead + from[r] * kvPos;
            for (int64_t j = 0; j < d; j++) {
                qs[j] = load_f32(q, r * qRow + h * qHead + j) * scale;
            }
            float max = -3.4e38f;
            for (int64_t i = 0; i < length; i++) {
                float s[16] = {0};
                int64_t j = 0;
                for (; j + 16 <= d; j += 16) {
                    for (int l = 0; l < 16; l++) {
                        s[l] += qs[j + l] * load_f32(keys, i * kvPos + j + l);
                    }
                }
                float sum = 0.0f;
                for (; j < d; j++) {
                    sum += qs[j] * load_f32(keys, i * kvPos + j);
                }
                for (int l = 0; l < 16; l++) {
                    sum += s[l];
                }
                scores[i] = sum;
                max = sum > max ? sum : max;
            }
            float total = 0.0f;
            for (int64_t i = 0; i < length; i++) {
                scores[i] = exp_nonpositive(scores[i] - max);
                total += scores[i];
            }
            for (int64_t j = 0; j < d; j++) {
                acc[j] = 0.0f;
            }
            for (int64_t i = 0; i < length; i++) {
                float p = scores[i];
                for (int64_t j = 0; j < d; j++) {
                    acc[j] += p * load_f32(values, i * kvPos + j);
                }
            }
            for (int64_t j = 0; j < d; j++) {
                store_f32(out, (r * heads + h) * d + j, acc[j] / total);
            }
        }
    }
}

/**
 * Rows [begin, end) of a decoding step. q [rows, heads, d] and k, v [rows, kv_heads, positions, d] by
 * their strides in elements (the last dimension contiguous), out [rows, heads, d] contiguous; row r
 * attends to positions [from[r], to[r]), 0 <= from[r] < to[r] <= positions.
 */
TAILOR_CLONES
inline void decode_attention_bf16(int64_t q, int64_t qRow, int64_t qHead, int64_t k, int64_t v, int64_t kvRow,
        int64_t kvHead, int64_t kvPos, int64_t heads, int64_t kvHeads, int64_t d, int32_t* from, int32_t* to, float scale,
        int64_t out, int64_t begin, int64_t end) {
    attention_rows(reinterpret_cast<const uint16_t*>(q), qRow, qHead, reinterpret_cast<const uint16_t*>(k),
            reinterpret_cast<const uint16_t*>(v), kvRow, kvHead, kvPos, heads, kvHeads, d, from, to, scale,
            reinterpret_cast<uint16_t*>(out), begin, end);
}

TAILOR_CLONES
inline void decode_attention_f32(int64_t q, int64_t qRow, int64_t qHead, int64_t k, int64_t v, int64_t kvRow,
        int64_t kvHead, int64_t kvPos, int64_t heads, int64_t kvHeads, int64_t d, int32_t* from, int32_t* to, float scale,
        int64_t out, int64_t begin, int64_t end) {
    attention_rows(reinterpret_cast<const float*>(q), qRow, qHead, reinterpret_cast<const float*>(k),
            reinterpret_cast<const float*>(v), kvRow, kvHead, kvPos, heads, kvHeads, d, from, to, scale,
            reinterpret_cast<float*>(out), begin, end);
}

}  // namespace tailor
