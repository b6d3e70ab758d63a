// exp of values minus their maximum, shared by the kernels that normalise (attention, logits).
#pragma once
#include <stdint.h>
#include <string.h>

namespace tailor {

// exp(x) for x <= 0 (values minus their maximum): 2^n * 2^f with n the nearest integer to x log2(e)
// and 2^f, |f| <= 1/2, from its Taylor series to degree 7 (relative error below 4e-6 down to
// exp(-80), most of it from rounding x log2(e) in fp32); plain float and integer operations so that
// the loop around it vectorizes (libm's expf does not)
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f;
    const float magic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
    float n = (t + magic) - magic;
    float y = (t - n) * 0.693147180559945309f;
    float p = 1.0f + y * (1.0f + y * (0.5f + y * (1.0f / 6 + y * (1.0f / 24 + y * (1.0f / 120 + y * (1.0f / 720 + y * (1.0f / 5040)))))));
    int32_t bits = ((int32_t) n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

// exp(x) for any x: the series above holds up to x = 88 (2^127, fp32's largest power of two);
// beyond, exp(88) times the rest, which overflows to +inf where exp does
static inline float exp_any(float x) {
    const float exp88 = 1.6516363e38f;
    // one call of the series on selected values (selects between two calls kept the loop from vectorizing)
    bool above = x > 88.0f;
    float y = above ? (x > 89.0f ? 1.0f : x - 88.0f) : x;  // kept small: the series' integer part must not overflow
    float e = exp_nonpositive(y) * (above ? exp88 : 1.0f);
    return x > 89.0f ? __builtin_inff() : e;
}

}  // namespace tailor
