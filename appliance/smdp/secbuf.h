/* secbuf: a byte buffer in locked memory (lib/secmem) for values that hold secrets in clear —
 * a personalised package (Ki, OPc, PINs), an unsealed one, Ki/OP/OPc during an order run. */
#ifndef SM_SMDP_SECBUF_H
#define SM_SMDP_SECBUF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct smdp_secbuf {
    uint8_t *p;
    size_t len; /* bytes in use */
    size_t cap;
} smdp_secbuf;

/* Allocates cap zeroed bytes of locked, non-dumpable memory (SM_ENOMEM names RLIMIT_MEMLOCK). */
sm_rc smdp_secbuf_alloc(smdp_secbuf *b, size_t cap, sm_err *err);
/* Wipes and releases; safe on a zeroed or already freed buffer. */
void smdp_secbuf_free(smdp_secbuf *b);

#endif
