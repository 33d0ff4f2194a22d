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

// Blockwise dynamic 8-bit codes (quantize8.c). A ratio's bucket is its sign, its exponent row and
// its top mantissa bits, which are also the top 16 bits of its fp32 pattern (row 0 gathers every
// ratio too small for any threshold, and holds none). Optim's DynamicMap builds the table and
// checks that no bucket holds two of the 255 thresholds (the midpoints between neighbouring map
// values, rounded toward -inf): an entry is the lowest code in its bucket << 16 | the low 16 bits
// of the bucket's threshold (0xFFFF for none in a positive bucket, 0 in a negative one), and a
// ratio is one code higher when its own low 16 bits lie beyond the threshold's.

/// Ratios below 2^(SI_Q8_FIRST_EXPONENT - 127) in magnitude share row 0 (every threshold lies above).
#define SI_Q8_FIRST_EXPONENT 102u
/// Row 0 (tiny), then one row per exponent 102...127 (magnitudes up to 2): 27 rows per sign.
#define SI_Q8_EXPONENT_ROWS 27u
/// Top mantissa bits that pick a bucket within a row.
#define SI_Q8_MANTISSA_BITS 7u

/// A block's scale: the value of largest magnitude (signed maps; the positive one on a tie) or
/// the largest magnitude (unsigned maps); 0 for a block of zeros; NaN when a value is not finite.
float si_q8_scale(const float *values, size_t count, int is_signed);

/// codes[i] = the code of values[i] / scale: the number of thresholds below the ratio, and at
/// least `positive_floor` for a positive ratio. A scale of 0 or NaN gives every element `zero_code`.
void si_q8_encode(const float *values, size_t count, float scale, const uint32_t *buckets, uint8_t zero_code,
                  uint8_t positive_floor, uint8_t *codes);

/// out[i] = values[codes[i]] * scale.
void si_q8_decode(const uint8_t *codes, size_t count, float scale, const float *values, float *out);

#endif
