/* buf: growable byte buffer, hex conversion and big-endian helpers for the simulator.
 * Owns no protocol knowledge; every protocol module builds its output with these. */
#ifndef SIM_BUF_H
#define SIM_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/err.h"

typedef struct sim_buf {
    uint8_t *p;
    size_t len, cap;
    int oom; /* sticky: an append failed; checked once by the producer */
} sim_buf;

void sim_buf_init(sim_buf *b);
void sim_buf_free(sim_buf *b);
/* Wipes the content before freeing (key material). */
void sim_buf_free_secure(sim_buf *b);
void sim_buf_reset(sim_buf *b);
int sim_buf_reserve(sim_buf *b, size_t extra);
void sim_buf_put(sim_buf *b, const void *p, size_t n);
void sim_buf_u8(sim_buf *b, uint8_t v);
void sim_buf_u16(sim_buf *b, uint16_t v);
void sim_buf_u32(sim_buf *b, uint32_t v);
void sim_buf_str(sim_buf *b, const char *s);
void sim_buf_printf(sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends lowercase hex of p. */
void sim_buf_hex(sim_buf *b, const uint8_t *p, size_t n);
/* Returns SIM_ENOMEM (recorded in err) if any append failed. */
sim_rc sim_buf_check(const sim_buf *b, sim_err *err);

/* Lowercase hex into out (needs 2n+1 bytes). */
void sim_hex(char *out, const uint8_t *p, size_t n);
/* Parses hex (even length, [0-9a-fA-F], no separators) into out (max cap bytes). */
sim_rc sim_unhex(const char *s, uint8_t *out, size_t cap, size_t *outlen, sim_err *err);
/* Parses hex into a buffer (appended). */
sim_rc sim_unhex_buf(const char *s, size_t slen, sim_buf *out, sim_err *err);

static inline uint16_t sim_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sim_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void sim_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sim_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
/* 5-byte SCP80 counter */
uint64_t sim_be40(const uint8_t *p);
void sim_put_be40(uint8_t *p, uint64_t v);

/* Reads a whole file (max 64 MiB). */
sim_rc sim_read_file(const char *path, sim_buf *out, sim_err *err);
/* Writes a file atomically (tmp + rename) with the given mode. */
sim_rc sim_write_file(const char *path, const void *p, size_t n, int mode, sim_err *err);

#endif
