// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and NVMe.
#include "ckernels.h"
#include <pthread.h>
#include <string.h>

static uint32_t crc_table[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][n] = c;
        }
    }
}

uint32_t si_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    pthread_once(&tables_once, build_tables);
    const unsigned char *p = (const unsigned char *)data;
    uint32_t c = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= c;
        c = crc_table[7][word & 0xff] ^ crc_table[6][(word >> 8) & 0xff] ^
            crc_table[5][(word >> 16) & 0xff] ^ crc_table[4][(word >> 24) & 0xff] ^
            crc_table[3][(word >> 32) & 0xff] ^ crc_table[2][(word >> 40) & 0xff] ^
            crc_table[1][(word >> 48) & 0xff] ^ crc_table[0][word >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__)
// One crc32 instruction has a latency of 3 cycles but a throughput of 1 per cycle, so a single
// dependency chain runs at a third of the unit's speed. Long buffers are therefore checksummed as
// three interleaved streams over consecutive blocks of STREAM_BLOCK bytes, and the three CRC
// registers joined afterwards: for the register r0 after block 0 and r1, r2 after blocks 1 and 2
// (each of those two started from 0), the register after all three is
// shift(shift(r0) ^ r1) ^ r2, where shift(x) is the register after feeding STREAM_BLOCK zero
// bytes to x. CRC is linear over GF(2), so shift is a fixed 32-bit linear map: four 256-entry
// tables, one per byte of x.
#define STREAM_BLOCK 8192

static uint32_t shift_table[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2")))
static uint32_t crc32c_zeros(uint32_t reg, size_t length) {
    uint64_t c = reg;
    for (size_t i = 0; i < length / 8; i++) c = __builtin_ia32_crc32di(c, 0);
    return (uint32_t)c;
}

static void build_shift_tables(void) {
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) shift_table[k][v] = crc32c_zeros(v << (8 * k), STREAM_BLOCK);
}

static inline uint32_t shift_block(uint32_t x) {
    return shift_table[0][x & 0xff] ^ shift_table[1][(x >> 8) & 0xff] ^ shift_table[2][(x >> 16) & 0xff] ^
           shift_table[3][x >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t c = (uint32_t)~crc;

    if (length >= 3 * STREAM_BLOCK) {
        pthread_once(&shift_once, build_shift_tables);
        while (length >= 3 * STREAM_BLOCK) {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < STREAM_BLOCK; i += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p + i, 8);
                memcpy(&w1, p + STREAM_BLOCK + i, 8);
                memcpy(&w2, p + 2 * STREAM_BLOCK + i, 8);
                c = __builtin_ia32_crc32di(c, w0);
                c1 = __builtin_ia32_crc32di(c1, w1);
                c2 = __builtin_ia32_crc32di(c2, w2);
            }
            c = shift_block(shift_block((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
            p += 3 * STREAM_BLOCK;
            length -= 3 * STREAM_BLOCK;
        }
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

int si_crc32c_is_hardware(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t si_crc32c(uint32_t crc, const void *data, size_t length) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return crc32c_sse42(crc, data, length);
#endif
    return si_crc32c_portable(crc, data, length);
}
