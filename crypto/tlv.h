/* tlv: BER-TLV as GlobalPlatform and ETSI use it (1- to 3-byte tags, short and long lengths up
 * to 4 bytes, optional indefinite form, GP DGIs), decoded as zero-copy views and encoded into sm_buf.
 *
 * Decoding never reads outside the given buffer, limits nesting depth, and reports the absolute
 * offset and a reason on the first malformed byte. Tags are held as their raw bytes, big-endian
 * (0x7F21, 0x5F37, 0xBF3E, 0x86). */
#ifndef SM_CRYPTO_TLV_H
#define SM_CRYPTO_TLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define TLV_MAX_DEPTH 32 /* hard ceiling for nested readers and tlv_walk */

/* Reader flags */
enum {
    TLV_F_INDEF = 1 << 0,  /* accept the indefinite length form (80 ... 00 00), constructed tags only */
    TLV_F_MINLEN = 1 << 1, /* reject non-minimal length encodings (81 05, 82 00 10): DER-like strictness */
    TLV_F_PAD = 1 << 2,    /* accept trailing 00 (and FF) padding bytes after the last TLV */
    TLV_F_DGI = 1 << 3,    /* GP DGI form: 2-byte tag (any value), length 1 byte or FF LL LL */
};

/* Why decoding failed (also named in the sm_err message). */
typedef enum tlv_reason {
    TLV_R_NONE = 0,
    TLV_R_TRUNC_TAG,      /* input ends inside a tag */
    TLV_R_TAG_TOO_LONG,   /* tag of more than 3 bytes */
    TLV_R_BAD_TAG,        /* tag 00/FF where a TLV is required, or subsequent tag byte 80 */
    TLV_R_TRUNC_LEN,      /* input ends inside the length field */
    TLV_R_BAD_LEN,        /* length form 85..FF or not minimal (TLV_F_MINLEN) */
    TLV_R_INDEF,          /* indefinite length where not allowed, or unterminated */
    TLV_R_OVERRUN,        /* value runs past the end of the enclosing data */
    TLV_R_DEPTH,          /* nesting deeper than the limit */
    TLV_R_TRAILING,       /* bytes after the expected TLV(s) */
    TLV_R_UNEXPECTED,     /* well-formed, but not the tag the caller required */
} tlv_reason;

const char *tlv_reason_name(tlv_reason r);

/* One decoded TLV: a view into the caller's buffer. */
typedef struct tlv {
    uint32_t tag;         /* raw tag bytes, big-endian */
    uint8_t taglen;       /* 1..3 (2 for DGIs) */
    bool constructed;     /* bit 6 of the first tag byte (always false for DGIs) */
    bool indefinite;      /* encoded with length 80; len excludes the 00 00 end-of-contents */
    const uint8_t *val;
    size_t len;
    const uint8_t *raw;   /* the whole TLV (tag, length, value[, 00 00]) */
    size_t rawlen;
    size_t off;           /* absolute offset of the tag (relative to the outermost input) */
} tlv;

/* A cursor over a sequence of TLVs. */
typedef struct tlv_rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
    size_t base;          /* absolute offset of p[0] */
    unsigned depth;
    unsigned maxdepth;
    unsigned flags;
    tlv_reason reason;    /* set on the first error */
    size_t err_off;       /* absolute offset of the offending byte */
} tlv_rd;

/* Starts a reader over p[0..len); base is the absolute offset used in errors (0 for top level). */
void tlv_rd_init(tlv_rd *r, const uint8_t *p, size_t len, unsigned flags);
/* True when nothing (or, with TLV_F_PAD, only padding) is left. */
bool tlv_rd_done(const tlv_rd *r);
/* Reads the next TLV. SM_EPARSE on malformed input; SM_ENOTFOUND when the reader is done. */
sm_rc tlv_next(tlv_rd *r, tlv *out, sm_err *err);
/* Like tlv_next but the TLV must exist and carry `tag`; `what` names it in errors. */
sm_rc tlv_expect(tlv_rd *r, uint32_t tag, tlv *out, const char *what, sm_err *err);
/* If the next TLV carries `tag`, reads it and sets *present; otherwise leaves the reader alone. */
sm_rc tlv_optional(tlv_rd *r, uint32_t tag, tlv *out, bool *present, sm_err *err);
/* SM_EPARSE (TLV_R_TRAILING) unless the reader is done; `what` names the container. */
sm_rc tlv_rd_end(tlv_rd *r, const char *what, sm_err *err);
/* A reader over the value of t, one level deeper (same flags); SM_EPARSE past the depth limit. */
sm_rc tlv_rd_child(const tlv_rd *parent, const tlv *t, tlv_rd *child, sm_err *err);

/* Decodes exactly one TLV spanning all of p[0..len). */
sm_rc tlv_parse_one(const uint8_t *p, size_t len, unsigned flags, tlv *out, sm_err *err);

/* Visits every TLV depth-first, descending into constructed ones (not into DGIs). Returning
 * non-zero from the callback stops the walk (tlv_walk then returns SM_OK). */
typedef int (*tlv_visit_fn)(const tlv *t, unsigned depth, void *arg);
sm_rc tlv_walk(const uint8_t *p, size_t len, unsigned flags, unsigned maxdepth, tlv_visit_fn fn, void *arg,
               sm_err *err);

/* ---- encoding --------------------------------------------------------------------------- */

/* Bytes needed for a tag / a definite length. */
size_t tlv_tag_size(uint32_t tag);
size_t tlv_len_size(size_t len);
/* Valid BER tag of 1..3 bytes (continuation bits consistent). */
bool tlv_tag_valid(uint32_t tag);

/* Appends the tag / a definite length / a whole TLV. Return 0 on success, -1 if the buffer failed
 * or the tag is invalid or the length exceeds 0xFFFFFFFF. */
int tlv_put_tag(sm_buf *b, uint32_t tag);
int tlv_put_len(sm_buf *b, size_t len);
int tlv_put(sm_buf *b, uint32_t tag, const void *val, size_t len);
int tlv_put_u8(sm_buf *b, uint32_t tag, uint8_t v);

/* Nested encoding: tlv_open appends the tag and reserves a 1-byte length; tlv_close fixes the
 * length (moving the value when the length needs more bytes). Returns the mark, or (size_t)-1. */
size_t tlv_open(sm_buf *b, uint32_t tag);
int tlv_close(sm_buf *b, size_t mark);

/* Indefinite form: tag 80 ... 00 00 (for AE/AF scripts). */
int tlv_open_indef(sm_buf *b, uint32_t tag);
int tlv_close_indef(sm_buf *b);

/* GP DGI: 2-byte tag, length 1 byte (< 255) or FF LL LL. */
int tlv_put_dgi(sm_buf *b, uint16_t dgi, const void *val, size_t len);

#endif
