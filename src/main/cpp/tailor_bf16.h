// bf16 <-> fp32 conversions shared by the native kernels, rounding as libtorch does.
#pragma once
#include <stdint.h>
#include <string.h>

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

}  // namespace tailor
