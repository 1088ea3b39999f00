/* tlv: bounds-checked BER-TLV reader/writer (1-3 byte tags, definite lengths up to 3 bytes) and
 * GP DGI records (2-byte tag, 1-byte length or FF + 2 bytes). No protocol semantics here. */
#ifndef SIM_TLV_H
#define SIM_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/buf.h"

typedef struct sim_tlv {
    uint32_t tag;          /* e.g. 0x4F, 0x7F21, 0xBF25 */
    const uint8_t *v;      /* value */
    size_t len;            /* value length */
    const uint8_t *raw;    /* whole TLV (tag..end) */
    size_t rawlen;
} sim_tlv;

/* Reads one TLV at p[*off..n) and advances *off. Fails on truncation, indefinite length or
 * lengths longer than 3 bytes. */
sim_rc sim_tlv_read(const uint8_t *p, size_t n, size_t *off, sim_tlv *t, sim_err *err);
/* Finds the first sibling with tag in p[0..n). Returns 1 found, 0 absent, -1 malformed. */
int sim_tlv_find(const uint8_t *p, size_t n, uint32_t tag, sim_tlv *t);
/* Checks that p[0..n) is exactly a sequence of well-formed TLVs. */
int sim_tlv_wellformed(const uint8_t *p, size_t n);

void sim_tlv_put_tag(sim_buf *b, uint32_t tag);
void sim_tlv_put_len(sim_buf *b, size_t len);
void sim_tlv_put(sim_buf *b, uint32_t tag, const void *v, size_t len);
void sim_tlv_put_u8(sim_buf *b, uint32_t tag, uint8_t v);
/* Nested writer: begin writes the tag and returns a mark; end inserts the minimal length. */
size_t sim_tlv_begin(sim_buf *b, uint32_t tag);
void sim_tlv_end(sim_buf *b, size_t mark);
/* Number of bytes the BER length of len takes. */
size_t sim_tlv_lenlen(size_t len);

/* DGI: 2-byte tag; length 1 byte (0..FE) or FF + 2 bytes. If the GP form does not exactly fill
 * the given bytes but the BER form (81 xx / 82 xxxx) does, the BER form is accepted. */
sim_rc sim_dgi_read(const uint8_t *p, size_t n, size_t *off, uint16_t *tag, const uint8_t **v, size_t *len,
                    sim_err *err);
void sim_dgi_put(sim_buf *b, uint16_t tag, const void *v, size_t len);

#endif
