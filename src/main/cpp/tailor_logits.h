// Next-token logits, one fp32 row per sequence: the greedy token (first index of the maximum, as
// torch.argmax) and the log-normaliser log(sum_i exp(x_i)) that turns a logit into a log-probability.
// libtorch took 0.2 ms per row for argmax and 2.4 ms for log_softmax over 8 rows of a 150k vocabulary
// (5 ms of an 80 ms decoding step); here a row is read twice. Plain loops over 16-lane
// blocks, compiled for AVX-512, AVX2 and baseline x86-64 (target_clones); the caller splits rows
// across threads.
#pragma once
#include <stdint.h>
#include "tailor_bf16.h"
#include "tailor_exp.h"

namespace tailor {

// The first index of the row's maximum, as torch.argmax: the first NaN where the row has one (it
// ranks NaN above every number). Each of 16 lanes keeps its maximum and where it first saw it.
static inline __attribute__((always_inline)) int64_t logits_argmax(const float* x, int64_t n) {
    float lanes[16];
    int32_t where[16];
    int32_t nans[16];
    for (int l = 0; l < 16; l++) {
        lanes[l] = -__builtin_inff();
        where[l] = -1;
        nans[l] = 0;
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int l = 0; l < 16; l++) {
            float v = x[i + l];
            bool greater = v > lanes[l];
            lanes[l] = greater ? v : lanes[l];
            where[l] = greater ? (int32_t) (i + l) : where[l];
            nans[l] |= v != v;
        }
    }
    float max = -__builtin_inff();
    int64_t best = -1;
    int32_t nan = 0;
    for (int l = 0; l < 16; l++) {
        nan |= nans[l];
        if (where[l] >= 0 && (lanes[l] > max || (lanes[l] == max && where[l] < best))) {
            max = lanes[l];
            best = where[l];
        }
    }
    for (; i < n; i++) {
        nan |= x[i] != x[i];
        if (x[i] > max) {
            max = x[i];
            best = i;
        }
    }
    if (nan) {
        for (i = 0; i < n; i++) {
            if (x[i] != x[i]) {
                return i;
            }
        }
    }
    return best < 0 ? 0 : best; // no number above -inf: torch.argmax gives 0 too
}

// log(sum_i exp(x_i - max)): float lanes over blocks of 1024 entries, blocks summed in double (a
// float sum of 150k terms would lose digits a log-probability shows)
static inline __attribute__((always_inline)) double logits_log_sum_exp(const float* x, int64_t n, float max) {
    double sum = 0;
    int64_t i = 0;
    for (; i + 1024 <= n; i += 1024) {
        float lanes[16] = {0};
        for (int64_t j = 0; j < 1024; j += 16) {
            for (int l = 0; l < 16; l++) {
                lanes[l] += exp_nonpositive(x[i + j + l] - max);
            }
        }
        for (int l = 0; l < 16; l++) {
            sum += lanes[l];
        }
    }
    for (; i < n; i++) {
        sum += exp_nonpositive(x[i] - max);
    }
    return __builtin_log(sum);
}

/**
 * Rows [begin, end) of fp32 logits (row r at logits + r * stride, n entries each); results by address
 * into int32 argmax[rows] and fp64 logNormalizer[rows] (0: not wanted):
 * argmax[r] = the first index of the row's maximum (its first NaN where it has one);
 * logNormalizer[r] = log(sum_i exp(x_i)) = max + log(sum_i exp(x_i - max)), in double so that
 * x_i - logNormalizer[r] keeps fp32's precision (NaN where the row has a NaN or no finite maximum).
 */
TAILOR_CLONES
inline void logits_rows_f32(int64_t logits, int64_t stride, int64_t n, int64_t begin, int64_t end, int64_t argmaxOut,
        int64_t logNormalizerOut) {
    const float* all = reinterpret_cast<const float*>(logits);
    int32_t* argmax = reinterpret_cast<int32_t*>(argmaxOut);
    double* logNormalizer = reinterpret_cast<double*>(logNormalizerOut);
    for (int64_t r = begin; r < end; r++) {
        const float* x = all + r * stride;
        int64_t best = logits_argmax(x, n);
        argmax[r] = (int32_t) best;
        if (logNormalizer != nullptr) {
            float max = x[best];  // NaN where the row has one: the result is NaN, as it should be
            logNormalizer[r] = (double) max + logits_log_sum_exp(x, n, max);
        }
    }
}

}  // namespace tailor
