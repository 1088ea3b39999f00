/* BER-TLV decoding (bounded, depth-limited, zero-copy) and encoding. */
#include "crypto/tlv.h"

#include <string.h>

const char *tlv_reason_name(tlv_reason r)
{
    switch (r) {
    case TLV_R_NONE:
        return "no error";
    case TLV_R_TRUNC_TAG:
        return "input ends inside a tag";
    case TLV_R_TAG_TOO_LONG:
        return "tag longer than 3 bytes";
    case TLV_R_BAD_TAG:
        return "invalid tag byte";
    case TLV_R_TRUNC_LEN:
        return "input ends inside a length field";
    case TLV_R_BAD_LEN:
        return "invalid length encoding";
    case TLV_R_INDEF:
        return "indefinite length not allowed or not terminated";
    case TLV_R_OVERRUN:
        return "value runs past the end of the enclosing data";
    case TLV_R_DEPTH:
        return "nesting too deep";
    case TLV_R_TRAILING:
        return "unexpected bytes after the last TLV";
    case TLV_R_UNEXPECTED:
        return "unexpected tag";
    }
    return "?";
}

/* Parser state for one header: fills out or sets reason/eoff. */
typedef struct hdr_ctx {
    const uint8_t *p;
    size_t len;   /* bytes available from p[0] */
    size_t base;  /* absolute offset of p[0] */
    unsigned flags;
    unsigned depth;
    unsigned maxdepth;
    tlv_reason reason;
    size_t eoff;
} hdr_ctx;

static bool fail(hdr_ctx *c, tlv_reason r, size_t pos)
{
    c->reason = r;
    c->eoff = c->base + pos;
    return false;
}

static bool find_eoc(hdr_ctx *c, size_t pos, unsigned depth, size_t *end);

/* Parses the TLV starting at pos (relative to c->p) at nesting depth `depth`. */
static bool parse_at(hdr_ctx *c, size_t pos, unsigned depth, tlv *t)
{
    const uint8_t *p = c->p;
    size_t n = c->len, i = pos;
    memset(t, 0, sizeof *t);
    t->off = c->base + pos;
    if (c->flags & TLV_F_DGI) {
        if (n - i < 2)
            return fail(c, TLV_R_TRUNC_TAG, i);
        t->tag = (uint32_t)p[i] << 8 | p[i + 1];
        t->taglen = 2;
        i += 2;
        if (i >= n)
            return fail(c, TLV_R_TRUNC_LEN, i);
        size_t l = p[i++];
        if (l == 0xFF) {
            if (n - i < 2)
                return fail(c, TLV_R_TRUNC_LEN, i);
            l = (size_t)p[i] << 8 | p[i + 1];
            if ((c->flags & TLV_F_MINLEN) && l < 0xFF)
                return fail(c, TLV_R_BAD_LEN, i - 1);
            i += 2;
        }
        if (l > n - i)
            return fail(c, TLV_R_OVERRUN, i);
        t->val = p + i;
        t->len = l;
        t->raw = p + pos;
        t->rawlen = i + l - pos;
        return true;
    }
    if (i >= n)
        return fail(c, TLV_R_TRUNC_TAG, i);
    uint8_t b0 = p[i++];
    if (b0 == 0x00 || b0 == 0xFF)
        return fail(c, TLV_R_BAD_TAG, pos);
    uint32_t tag = b0;
    unsigned tl = 1;
    if ((b0 & 0x1F) == 0x1F) {
        if (i >= n)
            return fail(c, TLV_R_TRUNC_TAG, i);
        uint8_t b1 = p[i++];
        if (b1 == 0x80)
            return fail(c, TLV_R_BAD_TAG, i - 1);
        tag = tag << 8 | b1;
        tl = 2;
        if (b1 & 0x80) {
            if (i >= n)
                return fail(c, TLV_R_TRUNC_TAG, i);
            uint8_t b2 = p[i++];
            if (b2 & 0x80)
                return fail(c, TLV_R_TAG_TOO_LONG, i - 1);
            tag = tag << 8 | b2;
            tl = 3;
        }
    }
    t->tag = tag;
    t->taglen = (uint8_t)tl;
    t->constructed = (b0 & 0x20) != 0;
    if (i >= n)
        return fail(c, TLV_R_TRUNC_LEN, i);
    size_t lpos = i;
    uint8_t l0 = p[i++];
    size_t l;
    if (l0 < 0x80) {
        l = l0;
    } else if (l0 == 0x80) {
        if (!(c->flags & TLV_F_INDEF) || !t->constructed)
            return fail(c, TLV_R_INDEF, lpos);
        if (depth + 1 > c->maxdepth)
            return fail(c, TLV_R_DEPTH, pos);
        size_t end;
        if (!find_eoc(c, i, depth + 1, &end))
            return false;
        t->indefinite = true;
        t->val = p + i;
        t->len = end - i;
        t->raw = p + pos;
        t->rawlen = end + 2 - pos;
        return true;
    } else if (l0 <= 0x84) {
        unsigned nb = l0 & 0x7F;
        if (n - i < nb)
            return fail(c, TLV_R_TRUNC_LEN, i);
        l = 0;
        for (unsigned k = 0; k < nb; k++)
            l = l << 8 | p[i + k];
        if ((c->flags & TLV_F_MINLEN) && (p[i] == 0 || (nb == 1 && l < 0x80)))
            return fail(c, TLV_R_BAD_LEN, lpos);
        i += nb;
    } else {
        return fail(c, TLV_R_BAD_LEN, lpos);
    }
    if (l > n - i)
        return fail(c, TLV_R_OVERRUN, lpos);
    t->val = p + i;
    t->len = l;
    t->raw = p + pos;
    t->rawlen = i + l - pos;
    return true;
}

/* Scans the content of an indefinite-length TLV starting at pos for its 00 00 terminator. */
static bool find_eoc(hdr_ctx *c, size_t pos, unsigned depth, size_t *end)
{
    size_t i = pos;
    for (;;) {
        if (c->len - i < 2)
            return fail(c, TLV_R_INDEF, i);
        if (c->p[i] == 0x00 && c->p[i + 1] == 0x00) {
            *end = i;
            return true;
        }
        tlv t;
        if (!parse_at(c, i, depth, &t))
            return false;
        i += t.rawlen;
    }
}

void tlv_rd_init(tlv_rd *r, const uint8_t *p, size_t len, unsigned flags)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->len = p ? len : 0;
    r->flags = flags;
    r->maxdepth = 16;
}

static bool only_padding(const tlv_rd *r)
{
    for (size_t i = r->pos; i < r->len; i++)
        if (r->p[i] != 0x00 && r->p[i] != 0xFF)
            return false;
    return true;
}

bool tlv_rd_done(const tlv_rd *r)
{
    if (r->pos >= r->len)
        return true;
    return (r->flags & TLV_F_PAD) && !(r->flags & TLV_F_DGI) && only_padding(r);
}

static sm_rc rd_fail(tlv_rd *r, tlv_reason reason, size_t eoff, sm_err *err)
{
    if (r->reason == TLV_R_NONE) {
        r->reason = reason;
        r->err_off = eoff;
    }
    return sm_errf(err, SM_EPARSE, "tlv: offset %zu: %s", eoff, tlv_reason_name(reason));
}

sm_rc tlv_next(tlv_rd *r, tlv *out, sm_err *err)
{
    if (r->reason != TLV_R_NONE)
        return sm_errf(err, SM_EPARSE, "tlv: reader already failed at offset %zu", r->err_off);
    if (tlv_rd_done(r)) {
        r->pos = r->len;
        return SM_ENOTFOUND;
    }
    hdr_ctx c = {.p = r->p, .len = r->len, .base = r->base, .flags = r->flags, .depth = r->depth,
                 .maxdepth = r->maxdepth > TLV_MAX_DEPTH ? TLV_MAX_DEPTH : r->maxdepth};
    if (!parse_at(&c, r->pos, r->depth, out))
        return rd_fail(r, c.reason, c.eoff, err);
    r->pos += out->rawlen;
    return SM_OK;
}

static void tag_hex(uint32_t tag, char out[8])
{
    static const char hx[] = "0123456789ABCDEF";
    size_t n = tlv_tag_size(tag), k = 0;
    for (size_t i = n; i-- > 0;) {
        uint8_t b = (uint8_t)(tag >> (8 * i));
        out[k++] = hx[b >> 4];
        out[k++] = hx[b & 15];
    }
    out[k] = 0;
}

sm_rc tlv_expect(tlv_rd *r, uint32_t tag, tlv *out, const char *what, sm_err *err)
{
    char want[8], got[8];
    tag_hex(tag, want);
    size_t at = r->base + r->pos;
    sm_rc rc = tlv_next(r, out, err);
    if (rc == SM_ENOTFOUND) {
        r->reason = TLV_R_TRUNC_TAG;
        r->err_off = at;
        return sm_errf(err, SM_EPARSE, "tlv: offset %zu: %s (tag %s) missing: data ends", at, what, want);
    }
    if (rc != SM_OK) {
        sm_err_prefix(err, "reading %s (tag %s)", what, want);
        return rc;
    }
    if (out->tag != tag) {
        tag_hex(out->tag, got);
        r->reason = TLV_R_UNEXPECTED;
        r->err_off = out->off;
        return sm_errf(err, SM_EPARSE, "tlv: offset %zu: expected %s (tag %s), found tag %s", out->off, what, want,
                       got);
    }
    return SM_OK;
}

sm_rc tlv_optional(tlv_rd *r, uint32_t tag, tlv *out, bool *present, sm_err *err)
{
    *present = false;
    if (tlv_rd_done(r))
        return SM_OK;
    tlv_rd save = *r;
    tlv t;
    sm_rc rc = tlv_next(r, &t, err);
    if (rc != SM_OK)
        return rc;
    if (t.tag != tag) {
        *r = save;
        return SM_OK;
    }
    *out = t;
    *present = true;
    return SM_OK;
}

sm_rc tlv_rd_end(tlv_rd *r, const char *what, sm_err *err)
{
    if (tlv_rd_done(r))
        return SM_OK;
    size_t at = r->base + r->pos;
    r->reason = TLV_R_TRAILING;
    r->err_off = at;
    return sm_errf(err, SM_EPARSE, "tlv: offset %zu: %zu unexpected bytes at the end of %s", at, r->len - r->pos, what);
}

sm_rc tlv_rd_child(const tlv_rd *parent, const tlv *t, tlv_rd *child, sm_err *err)
{
    unsigned maxd = parent->maxdepth > TLV_MAX_DEPTH ? TLV_MAX_DEPTH : parent->maxdepth;
    if (parent->depth + 1 > maxd)
        return sm_errf(err, SM_EPARSE, "tlv: offset %zu: %s", t->off, tlv_reason_name(TLV_R_DEPTH));
    tlv_rd_init(child, t->val, t->len, parent->flags & ~(unsigned)TLV_F_DGI);
    child->base = parent->base + (size_t)(t->val - parent->p);
    child->depth = parent->depth + 1;
    child->maxdepth = parent->maxdepth;
    return SM_OK;
}

sm_rc tlv_parse_one(const uint8_t *p, size_t len, unsigned flags, tlv *out, sm_err *err)
{
    tlv_rd r;
    tlv_rd_init(&r, p, len, flags & ~(unsigned)TLV_F_PAD);
    sm_rc rc = tlv_next(&r, out, err);
    if (rc == SM_ENOTFOUND)
        return sm_errf(err, SM_EPARSE, "tlv: offset 0: empty input where one TLV was expected");
    if (rc != SM_OK)
        return rc;
    if (r.pos != len)
        return sm_errf(err, SM_EPARSE, "tlv: offset %zu: %zu unexpected bytes after the TLV", r.pos, len - r.pos);
    return SM_OK;
}

static sm_rc walk(tlv_rd *r, unsigned maxdepth, tlv_visit_fn fn, void *arg, int *stop, sm_err *err)
{
    tlv t;
    sm_rc rc;
    while ((rc = tlv_next(r, &t, err)) == SM_OK) {
        if (fn(&t, r->depth, arg)) {
            *stop = 1;
            return SM_OK;
        }
        if (t.constructed && !(r->flags & TLV_F_DGI)) {
            if (r->depth + 1 > maxdepth)
                return sm_errf(err, SM_EPARSE, "tlv: offset %zu: %s", t.off, tlv_reason_name(TLV_R_DEPTH));
            tlv_rd c;
            rc = tlv_rd_child(r, &t, &c, err);
            if (rc == SM_OK)
                rc = walk(&c, maxdepth, fn, arg, stop, err);
            if (rc != SM_OK || *stop)
                return rc;
        }
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

sm_rc tlv_walk(const uint8_t *p, size_t len, unsigned flags, unsigned maxdepth, tlv_visit_fn fn, void *arg,
               sm_err *err)
{
    if (maxdepth == 0 || maxdepth > TLV_MAX_DEPTH)
        maxdepth = TLV_MAX_DEPTH;
    tlv_rd r;
    tlv_rd_init(&r, p, len, flags);
    r.maxdepth = maxdepth;
    int stop = 0;
    return walk(&r, maxdepth, fn, arg, &stop, err);
}

/* ---- encoding ------------------------------------------------------------------------------ */

size_t tlv_tag_size(uint32_t tag)
{
    return tag <= 0xFF ? 1 : tag <= 0xFFFF ? 2 : 3;
}

size_t tlv_len_size(size_t len)
{
    return len < 0x80 ? 1 : len <= 0xFF ? 2 : len <= 0xFFFF ? 3 : len <= 0xFFFFFF ? 4 : 5;
}

bool tlv_tag_valid(uint32_t tag)
{
    if (tag == 0 || tag > 0xFFFFFF)
        return false;
    uint8_t b0 = (uint8_t)(tag >> (8 * (tlv_tag_size(tag) - 1)));
    if (b0 == 0xFF)
        return false;
    switch (tlv_tag_size(tag)) {
    case 1:
        return (b0 & 0x1F) != 0x1F;
    case 2:
        return (b0 & 0x1F) == 0x1F && !(tag & 0x80);
    default: {
        uint8_t b1 = (uint8_t)(tag >> 8);
        return (b0 & 0x1F) == 0x1F && (b1 & 0x80) && b1 != 0x80 && !(tag & 0x80);
    }
    }
}

int tlv_put_tag(sm_buf *b, uint32_t tag)
{
    if (!tlv_tag_valid(tag))
        return -1;
    uint8_t t[3];
    size_t n = tlv_tag_size(tag);
    for (size_t i = 0; i < n; i++)
        t[i] = (uint8_t)(tag >> (8 * (n - 1 - i)));
    return sm_buf_append(b, t, n);
}

static void len_bytes(size_t len, uint8_t *out, size_t n)
{
    if (n == 1) {
        out[0] = (uint8_t)len;
        return;
    }
    out[0] = (uint8_t)(0x80 | (n - 1));
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
}

int tlv_put_len(sm_buf *b, size_t len)
{
    if (len > 0xFFFFFFFFu)
        return -1;
    uint8_t l[5];
    size_t n = tlv_len_size(len);
    len_bytes(len, l, n);
    return sm_buf_append(b, l, n);
}

int tlv_put(sm_buf *b, uint32_t tag, const void *val, size_t len)
{
    if (tlv_put_tag(b, tag) || tlv_put_len(b, len))
        return -1;
    return len ? sm_buf_append(b, val, len) : (b->failed ? -1 : 0);
}

int tlv_put_u8(sm_buf *b, uint32_t tag, uint8_t v)
{
    return tlv_put(b, tag, &v, 1);
}

size_t tlv_open(sm_buf *b, uint32_t tag)
{
    if (tlv_put_tag(b, tag) || sm_buf_append_byte(b, 0))
        return (size_t)-1;
    return b->len - 1;
}

int tlv_close(sm_buf *b, size_t mark)
{
    if (b->failed || mark == (size_t)-1 || mark >= b->len)
        return -1;
    size_t vlen = b->len - mark - 1;
    if (vlen > 0xFFFFFFFFu)
        return -1;
    size_t n = tlv_len_size(vlen);
    if (n > 1) {
        if (sm_buf_reserve(b, n - 1))
            return -1;
        memmove(b->data + mark + n, b->data + mark + 1, vlen);
        b->len += n - 1;
    }
    len_bytes(vlen, b->data + mark, n);
    return 0;
}

int tlv_open_indef(sm_buf *b, uint32_t tag)
{
    if (tlv_put_tag(b, tag))
        return -1;
    return sm_buf_append_byte(b, 0x80);
}

int tlv_close_indef(sm_buf *b)
{
    static const uint8_t eoc[2] = {0, 0};
    return sm_buf_append(b, eoc, 2);
}

int tlv_put_dgi(sm_buf *b, uint16_t dgi, const void *val, size_t len)
{
    if (len > 0xFFFF)
        return -1;
    uint8_t h[5] = {(uint8_t)(dgi >> 8), (uint8_t)dgi};
    size_t n = 2;
    if (len < 0xFF) {
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0xFF;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    }
    if (sm_buf_append(b, h, n))
        return -1;
    return len ? sm_buf_append(b, val, len) : (b->failed ? -1 : 0);
}
