#ifndef SMARTINF_CKERNELS_H
#define SMARTINF_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

// Vector helpers that Swift's SIMD types do not lower to single instructions on their own.
// They are static inline so that they compile with the importing Swift module's target CPU
// (-target-cpu native gives vsqrtps / vcvtps2ph / vcvtph2ps on 16 lanes).

typedef float si_float16v __attribute__((ext_vector_type(16)));
typedef _Float16 si_half16v __attribute__((ext_vector_type(16)));

/// Lane-wise IEEE square root (correctly rounded, like sqrtf).
static inline __attribute__((always_inline)) si_float16v si_sqrt16(si_float16v x) {
    return __builtin_elementwise_sqrt(x);
}

/// fp32 -> fp16, round to nearest even, overflow to +-inf, NaN stays NaN.
static inline __attribute__((always_inline)) si_half16v si_f32_to_f16_x16(si_float16v x) {
    return __builtin_convertvector(x, si_half16v);
}

/// fp16 -> fp32 (exact).
static inline __attribute__((always_inline)) si_float16v si_f16_to_f32_x16(si_half16v x) {
    return __builtin_convertvector(x, si_float16v);
}

/// CRC32C (Castagnoli) of `length` bytes, continuing from `crc` (pass 0 to start). Uses the
/// SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
uint32_t si_crc32c(uint32_t crc, const void *data, size_t length);

/// The same, forced onto the portable table path (for tests that compare the two).
uint32_t si_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// 1 when si_crc32c uses the hardware instruction.
int si_crc32c_is_hardware(void);

#endif
