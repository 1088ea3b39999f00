/* buf: a growable byte buffer for building messages (TLV, SOAP, SQL parameters).
 * Owns its storage; a failed append leaves the buffer marked failed so callers check once. */
#ifndef SM_BUF_H
#define SM_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sm_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed; /* set when an allocation failed; all later appends are no-ops */
} sm_buf;

void sm_buf_init(sm_buf *b);
void sm_buf_free(sm_buf *b);
/* Wipes content (explicit_bzero) before freeing: for buffers that held key material. */
void sm_buf_free_wipe(sm_buf *b);
void sm_buf_reset(sm_buf *b);
int sm_buf_reserve(sm_buf *b, size_t extra);
int sm_buf_append(sm_buf *b, const void *p, size_t n);
int sm_buf_append_byte(sm_buf *b, uint8_t c);
int sm_buf_append_str(sm_buf *b, const char *s);
int sm_buf_printf(sm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Detaches the storage (NUL-terminated for convenience); the buffer becomes empty. */
uint8_t *sm_buf_steal(sm_buf *b, size_t *len);

#endif
