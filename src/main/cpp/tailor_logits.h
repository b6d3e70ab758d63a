// Next-token logits, one row per sequence or trained position: the greedy token (first index of the
// maximum, as torch.argmax) and the log-normaliser log(sum_i exp(x_i)) that turns a logit into a
// log-probability; for training, the cross-entropy against a target and its gradient.
// libtorch took 0.2 ms per row for argmax and 2.4 ms for log_softmax over 8 rows of a 150k vocabulary
// (5 ms of an 80 ms decoding step); here a row is read twice. Training's loss went through an fp32
// copy of the bf16 logits, their log_softmax, a zero-filled gradient and log_softmax's backward: four
// fresh 155 MB tensors per 256 rows, whose page faults alone took a fifth of a LoRA step; here the
// gradient overwrites the logits. Plain loops over 16-lane blocks, compiled for AVX-512, AVX2 and
// baseline x86-64 (target_clones); the caller splits rows across threads.
#pragma once
#include <stdint.h>
#include "tailor_bf16.h"
#include "tailor_exp.h"

namespace tailor {

// The first index of the row's maximum, as torch.argmax: the first NaN where the row has one (it
// ranks NaN above every number). Each of 16 lanes keeps its maximum and where it first saw it.
template <typename T>
static inline __attribute__((always_inline)) int64_t logits_argmax(const T* x, int64_t n) {
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
            float v = load_f32(x, i + l);
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
        float v = load_f32(x, i);
        nan |= v != v;
        if (v > max) {
            max = v;
            best = i;
        }
    }
    if (nan) {
        for (i = 0; i < n; i++) {
            if (load_f32(x, i) != load_f32(x, i)) {
                return i;
            }
        }
    }
    return best < 0 ? 0 : best; // no number above -inf: torch.argmax gives 0 too
}

// log(sum_i exp(x_i - max)): float lanes over blocks of 1024 entries, blocks summed in double (a
// float sum of 150k terms would lose digits a log-probability shows). Each block goes through an fp32
// buffer first: with bf16 loads in the loop of the exp, GCC vectorized none of it.
template <typename T>
static inline __attribute__((always_inline)) double logits_log_sum_exp(const T* x, int64_t n, float max) {
    double sum = 0;
    float block[1024];
    for (int64_t i = 0; i < n; i += 1024) {
        int64_t m = n - i < 1024 ? n - i : 1024;
        for (int64_t j = 0; j < m; j++) {
            block[j] = load_f32(x, i + j) - max;
        }
        float lanes[16] = {0};
        int64_t j = 0;
        for (; j + 16 <= m; j += 16) {
            for (int l = 0; l < 16; l++) {
                lanes[l] += exp_nonpositive(block[j + l]);
            }
        }
        for (; j < m; j++) {
            lanes[0] += exp_nonpositive(block[j]);
        }
        for (int l = 0; l < 16; l++) {
            sum += lanes[l];
        }
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

// Cross-entropy of rows [begin, end) of logits (row r at logits + r * stride, n entries) against
// int64 targets[r] (each in [0, n), checked by the caller): fp64 loss[r] = log(sum_i exp(x_i)) - x[target]
// and int32 argmax[r] as above. With gradScale != 0 the row is then overwritten by the gradient of
// gradScale * loss[r]: gradScale * (softmax(x)_i - [i == target]), in the row's dtype, as autograd
// computes it through an fp32 log_softmax (softmax from exp(x_i - max - log(sum))).
template <typename T>
static inline __attribute__((always_inline)) void cross_entropy_rows(T* all, int64_t stride, int64_t n, const int64_t* targets,
        double* loss, int32_t* argmax, float gradScale, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
        T* x = all + r * stride;
        int64_t best = logits_argmax(x, n);
        float max = load_f32(x, best);
        double logSum = logits_log_sum_exp(x, n, max);
        int64_t target = targets[r];
        argmax[r] = (int32_t) best;
        loss[r] = (double) max + logSum - (double) load_f32(x, target);
        if (gradScale != 0.0f) {
            float shift = (float) (max + logSum);
            float targetProbability = exp_nonpositive(load_f32(x, target) - shift);
            float block[1024];  // through an fp32 buffer, as in logits_log_sum_exp
            for (int64_t i = 0; i < n; i += 1024) {
                int64_t m = n - i < 1024 ? n - i : 1024;
                for (int64_t j = 0; j < m; j++) {
                    block[j] = load_f32(x, i + j) - shift;
                }
                for (int64_t j = 0; j < m; j++) {
                    block[j] = gradScale * exp_nonpositive(block[j]);
                }
                for (int64_t j = 0; j < m; j++) {
                    store_f32(x, i + j, block[j]);
                }
            }
            store_f32(x, target, gradScale * (targetProbability - 1.0f));
        }
    }
}

TAILOR_CLONES
inline void cross_entropy_bf16(int64_t logits, int64_t stride, int64_t n, int64_t targets, int64_t loss, int64_t argmax,
        float gradScale, int64_t begin, int64_t end) {
    cross_entropy_rows(reinterpret_cast<uint16_t*>(logits), stride, n, reinterpret_cast<const int64_t*>(targets),
            reinterpret_cast<double*>(loss), reinterpret_cast<int32_t*>(argmax), gradScale, begin, end);
}

TAILOR_CLONES
inline void cross_entropy_f32(int64_t logits, int64_t stride, int64_t n, int64_t targets, int64_t loss, int64_t argmax,
        float gradScale, int64_t begin, int64_t end) {
    cross_entropy_rows(reinterpret_cast<float*>(logits), stride, n, reinterpret_cast<const int64_t*>(targets),
            reinterpret_cast<double*>(loss), reinterpret_cast<int32_t*>(argmax), gradScale, begin, end);
}

}  // namespace tailor
