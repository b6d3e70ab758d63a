// bf16 matrix-vector kernels for decoding: y[r, o] = sum_k x[r, k] * w[o, k] (+ bias[o]),
// x [rows, in], w [out, in], y [rows, out], all bf16 row-major, fp32 accumulation.
// Two paths, each compiled per function (target attribute), so the library loads on any x86-64:
// AVX-512 BF16 (rows <= 8; callers check available()) and AMX tiles (any rows, in a multiple of
// 32; callers check amx_available()). No OpenMP: the Java side splits rows across threads.
#pragma once
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
// GCC 12's AVX-512 headers self-initialize "undefined" vectors (__Y = __Y), which -Wall reports once
// the intrinsics are inlined here
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include "tailor_bf16.h"

namespace tailor {

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

#define TAILOR_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))

// Tile registers: 0 holds a weight block A [16 weight rows, 32 k] loaded as it lies in W, 1 a block
// of x B [16 k pairs, 16 rows of x], 2..7 the sums C [16 weight rows, 16 rows of x] in fp32 of up to
// six groups of 16 rows of x: each weight block is loaded once per six groups.
struct TileConfig {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

const int64_t AMX_GROUPS_PER_PASS = 6;

// Tile register numbers are immediates: one case per group of a pass
#define TAILOR_AMX_EACH_GROUP(g, STATEMENT) \
    switch (g) { \
        case 0: STATEMENT(2); break; \
        case 1: STATEMENT(3); break; \
        case 2: STATEMENT(4); break; \
        case 3: STATEMENT(5); break; \
        case 4: STATEMENT(6); break; \
        default: STATEMENT(7); break; \
    }
#define TAILOR_AMX_ZERO(t) _tile_zero(t)
#define TAILOR_AMX_DP(t) _tile_dpbf16ps(t, 0, 1)
#define TAILOR_AMX_STORE(t) _tile_stored(t, sums, 64)

// Output rows [begin, end), end - begin a multiple of 16, for rows of x packed by pack_pairs into
// groups of 16 (padded with zero rows): no copy of the weights.
TAILOR_AMX_TARGET static void amx_rows(const uint32_t* pairs, int64_t rows, int64_t in, const uint16_t* w,
        int64_t begin, int64_t end, const uint16_t* bias, uint16_t* y, int64_t out) {
    int64_t padded = (rows + 15) / 16 * 16;
    TileConfig config = {};
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.colsb[t] = 64;
    }
    _tile_loadconfig(&config);
    alignas(64) float sums[16][16];
    const __m512i column = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(16));
    for (int64_t o = begin; o < end; o += 16) {
        const uint16_t* wo = w + o * in;
        __m512 b = bias != nullptr
                ? bf16x16_to_f32(bias + o)
                : _mm512_setzero_ps();
        for (int64_t first = 0; first < padded; first += 16 * AMX_GROUPS_PER_PASS) {
            int64_t groups = (padded - first) / 16 < AMX_GROUPS_PER_PASS ? (padded - first) / 16 : AMX_GROUPS_PER_PASS;
            for (int64_t g = 0; g < groups; g++) {
                TAILOR_AMX_EACH_GROUP(g, TAILOR_AMX_ZERO)
            }
            for (int64_t k = 0; k < in; k += 32) {
                _tile_loadd(0, wo + k, in * 2);
                const uint32_t* block = pairs + k / 2 * padded + first;
                for (int64_t g = 0; g < groups; g++) {
                    _tile_loadd(1, block + g * 16, padded * 4);
                    TAILOR_AMX_EACH_GROUP(g, TAILOR_AMX_DP)
                }
            }
            for (int64_t g = 0; g < groups; g++) {
                TAILOR_AMX_EACH_GROUP(g, TAILOR_AMX_STORE)
                int64_t r0 = first + g * 16;
                for (int64_t r = r0; r < rows && r < r0 + 16; r++) {  // column r - r0 of the sums is y[r, o .. o+15]
                    __m512i index = _mm512_add_epi32(column, _mm512_set1_epi32((int) (r - r0)));
                    __m512 v = _mm512_add_ps(_mm512_i32gather_ps(index, &sums[0][0], 4), b);
                    _mm256_storeu_si256((__m256i*) (y + r * out + o), f32x16_to_bf16(v));
                }
            }
        }
    }
    _tile_release();
}

/**
 * True where the CPU has AMX tiles with bf16 and Linux lets this process use them (the permission
 * is asked once per process; libtorch's oneDNN asks for the same).
 */
inline bool amx_available() {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16") || !__builtin_cpu_supports("amx-tile")
            || !__builtin_cpu_supports("amx-bf16")) {
        return false;
    }
    const long ARCH_REQ_XCOMP_PERM = 0x1023;
    const long XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/**
 * x [rows, in] as the AMX B operand: pairs[k / 2, r] = (x[r, k], x[r, k + 1]) for r < rows, zero
 * for the padding rows up to the next multiple of 16; in even. Done once per product by the calling
 * thread, before the chunks start.
 */
inline void pack_pairs(int64_t xAddress, int64_t rows, int64_t in, int64_t pairsAddress) {
    const uint32_t* x = reinterpret_cast<const uint32_t*>(xAddress);
    uint32_t* pairs = reinterpret_cast<uint32_t*>(pairsAddress);
    int64_t half = in / 2;
    int64_t padded = (rows + 15) / 16 * 16;
    for (int64_t kk = 0; kk < half; kk++) {
        uint32_t* to = pairs + kk * padded;
        for (int64_t r = 0; r < rows; r++) {
            to[r] = x[r * half + kk];
        }
        for (int64_t r = rows; r < padded; r++) {
            to[r] = 0;
        }
    }
}

/**
 * Output rows [begin, end) on AMX tiles for all rows of x (in a multiple of 32), from pack_pairs'
 * layout; the last end - begin mod 16 output rows go through the AVX-512 path.
 */
inline void gemv_amx(int64_t xAddress, int64_t pairsAddress, int64_t rows, int64_t in, int64_t wAddress,
        int64_t begin, int64_t end, int64_t biasAddress, int64_t yAddress, int64_t out) {
    int64_t tiled = end - (end - begin) % 16;
    amx_rows(reinterpret_cast<const uint32_t*>(pairsAddress), rows, in, reinterpret_cast<const uint16_t*>(wAddress),
            begin, tiled, reinterpret_cast<const uint16_t*>(biasAddress), reinterpret_cast<uint16_t*>(yAddress), out);
    for (int64_t r = 0; r < rows && tiled < end; r += 8) {  // the AVX-512 path takes at most 8 rows at a time
        int64_t n = rows - r < 8 ? rows - r : 8;
        gemv(xAddress + r * in * 2, n, in, wAddress, tiled, end, biasAddress, yAddress + r * out * 2, out);
    }
}

}  // namespace tailor

#pragma GCC diagnostic pop
