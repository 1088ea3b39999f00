/* Strict DER reader: a bounded, depth-limited parse into a flat node tree. */
#include "appliance/smdp/der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void der_tree_init(der_tree *t, const uint8_t *p, size_t len, unsigned maxdepth, size_t maxnodes)
{
    memset(t, 0, sizeof *t);
    t->p = p;
    t->len = len > UINT32_MAX ? 0 : len;
    t->maxdepth = maxdepth > 64 ? 64 : maxdepth;
    t->maxnodes = maxnodes;
}

void der_tree_free(der_tree *t)
{
    free(t->n);
    t->n = NULL;
    t->count = t->cap = 0;
}

unsigned der_tag_class(uint32_t tag)
{
    return (unsigned)(tag >> (8 * (der_tag_size(tag) - 1))) >> 6;
}

uint32_t der_tag_number(uint32_t tag)
{
    switch (der_tag_size(tag)) {
    case 1:
        return tag & 0x1F;
    case 2:
        return tag & 0x7F;
    default:
        return ((tag >> 8) & 0x7F) << 7 | (tag & 0x7F);
    }
}

size_t der_tag_size(uint32_t tag)
{
    return tag <= 0xFF ? 1 : tag <= 0xFFFF ? 2 : 3;
}

size_t der_len_size(size_t len)
{
    return len < 0x80 ? 1 : len <= 0xFF ? 2 : len <= 0xFFFF ? 3 : len <= 0xFFFFFF ? 4 : 5;
}

size_t der_put_len(uint8_t *out, size_t len)
{
    size_t n = der_len_size(len);
    if (n == 1) {
        out[0] = (uint8_t)len;
        return 1;
    }
    out[0] = (uint8_t)(0x80 | (n - 1));
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    return n;
}

static sm_rc bad(sm_err *err, size_t off, const char *reason)
{
    return sm_errf(err, SM_EPARSE, "DER error at offset %zu: %s", off, reason);
}

/* Reads the tag and length at off (bounded by end). */
static sm_rc header(const der_tree *t, size_t off, size_t end, uint32_t *tag, uint8_t *hlen, size_t *len,
                    sm_err *err)
{
    const uint8_t *p = t->p;
    size_t i = off;
    if (i >= end)
        return bad(err, i, "truncated: tag expected");
    uint8_t b0 = p[i++];
    if (b0 == 0x00)
        return bad(err, off, "tag 00 (end-of-contents) is not allowed in DER");
    uint32_t tg = b0;
    if ((b0 & 0x1F) == 0x1F) {
        if (i >= end)
            return bad(err, i, "truncated inside a tag");
        uint8_t b1 = p[i++];
        if (b1 == 0x80)
            return bad(err, i - 1, "tag number with a leading zero byte (not minimal)");
        tg = tg << 8 | b1;
        if (!(b1 & 0x80)) {
            if (b1 < 0x1F)
                return bad(err, i - 1, "high tag number form for a number below 31 (not minimal)");
        } else {
            if (i >= end)
                return bad(err, i, "truncated inside a tag");
            uint8_t b2 = p[i++];
            if (b2 & 0x80)
                return bad(err, i - 1, "tag longer than 3 bytes");
            tg = tg << 8 | b2;
        }
    }
    if (i >= end)
        return bad(err, i, "truncated: length expected");
    size_t lpos = i;
    uint8_t l0 = p[i++];
    size_t l;
    if (l0 < 0x80) {
        l = l0;
    } else if (l0 == 0x80) {
        return bad(err, lpos, "indefinite length (not allowed in DER)");
    } else {
        unsigned nb = l0 & 0x7F;
        if (nb > 4)
            return bad(err, lpos, "length field longer than 4 bytes");
        if (end - i < nb)
            return bad(err, i, "truncated inside a length field");
        if (p[i] == 0)
            return bad(err, lpos, "length with a leading zero byte (not minimal)");
        l = 0;
        for (unsigned k = 0; k < nb; k++)
            l = l << 8 | p[i + k];
        if (l < 0x80)
            return bad(err, lpos, "long length form for a length below 128 (not minimal)");
        i += nb;
    }
    if (l > end - i) {
        char m[128];
        snprintf(m, sizeof m, "length %zu runs past the end of the enclosing data (%zu bytes left)", l, end - i);
        return bad(err, lpos, m);
    }
    *tag = tg;
    *hlen = (uint8_t)(i - off);
    *len = l;
    return SM_OK;
}

/* DER forms of the universal types (X.690 §10, §11). */
static sm_rc universal(const der_tree *t, uint32_t tag, bool cons, size_t off, const uint8_t *v, size_t l,
                       sm_err *err)
{
    uint32_t num = der_tag_number(tag);
    bool want_cons = num == 8 || num == 11 || num == 16 || num == 17 || num == 29;
    if (cons != want_cons)
        return bad(err, off, want_cons ? "universal SEQUENCE/SET encoded primitive"
                                       : "universal type encoded constructed (DER requires primitive)");
    switch (num) {
    case 1:
        if (l != 1 || (v[0] != 0x00 && v[0] != 0xFF))
            return bad(err, off, "BOOLEAN not 1 byte of 00 or FF");
        break;
    case 2:
        if (l == 0)
            return bad(err, off, "empty INTEGER");
        if (l > 1 && ((v[0] == 0x00 && !(v[1] & 0x80)) || (v[0] == 0xFF && (v[1] & 0x80))))
            return bad(err, off, "INTEGER not minimally encoded");
        break;
    case 3:
        if (l == 0 || v[0] > 7 || (l == 1 && v[0] != 0) || (l > 1 && (v[l - 1] & ((1u << v[0]) - 1))))
            return bad(err, off, "BIT STRING unused-bits octet or padding invalid");
        break;
    case 5:
        if (l != 0)
            return bad(err, off, "NULL with content");
        break;
    case 6: {
        if (l == 0 || (v[l - 1] & 0x80))
            return bad(err, off, "OBJECT IDENTIFIER empty or its last sub-identifier unterminated");
        bool start = true;
        for (size_t k = 0; k < l; k++) {
            if (start && v[k] == 0x80)
                return bad(err, off, "OBJECT IDENTIFIER sub-identifier not minimal");
            start = !(v[k] & 0x80);
        }
        break;
    }
    default:
        break;
    }
    (void)t;
    return SM_OK;
}

static sm_rc parse(der_tree *t, size_t off, size_t end, unsigned depth, int32_t *node, sm_err *err)
{
    uint32_t tag = 0;
    uint8_t hlen = 0;
    size_t l = 0;
    sm_rc rc = header(t, off, end, &tag, &hlen, &l, err);
    if (rc != SM_OK)
        return rc;
    if (depth >= t->maxdepth) {
        char m[64];
        snprintf(m, sizeof m, "nesting deeper than %u levels", t->maxdepth);
        return bad(err, off, m);
    }
    if (t->count >= t->maxnodes) {
        char m[64];
        snprintf(m, sizeof m, "more than %zu elements", t->maxnodes);
        return bad(err, off, m);
    }
    if (t->count == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        if (nc > t->maxnodes)
            nc = t->maxnodes;
        der_node *nn = realloc(t->n, nc * sizeof *nn);
        if (!nn)
            return sm_errf(err, SM_ENOMEM, "DER: out of memory for %zu nodes", nc);
        t->n = nn;
        t->cap = nc;
    }
    bool cons = (t->p[off] & 0x20) != 0;
    if (der_tag_class(tag) == 0) {
        rc = universal(t, tag, cons, off, t->p + off + hlen, l, err);
        if (rc != SM_OK)
            return rc;
    }
    int32_t me = (int32_t)t->count++;
    der_node *n = &t->n[me];
    n->tag = tag;
    n->off = (uint32_t)off;
    n->len = (uint32_t)l;
    n->hlen = hlen;
    n->depth = (uint8_t)depth;
    n->cons = cons;
    n->parent = DER_NONE;
    n->child = DER_NONE;
    n->next = DER_NONE;
    if (cons) {
        size_t pos = off + hlen, vend = off + hlen + l;
        int32_t prev = DER_NONE;
        while (pos < vend) {
            int32_t ch;
            rc = parse(t, pos, vend, depth + 1, &ch, err);
            if (rc != SM_OK)
                return rc;
            t->n[ch].parent = me;
            if (prev == DER_NONE)
                t->n[me].child = ch;
            else
                t->n[prev].next = ch;
            prev = ch;
            pos = t->n[ch].off + t->n[ch].hlen + t->n[ch].len;
        }
    }
    *node = me;
    return SM_OK;
}

sm_rc der_parse_one(der_tree *t, size_t off, size_t end, int32_t parent, int32_t *node, sm_err *err)
{
    if (end > t->len || off > end)
        return sm_errf(err, SM_EINVAL, "DER: range %zu..%zu outside the input", off, end);
    unsigned depth = parent == DER_NONE ? 0 : (unsigned)t->n[parent].depth + 1;
    sm_rc rc = parse(t, off, end, depth, node, err);
    if (rc != SM_OK || parent == DER_NONE)
        return rc;
    t->n[*node].parent = parent;
    int32_t c = t->n[parent].child;
    if (c == DER_NONE) {
        t->n[parent].child = *node;
    } else {
        while (t->n[c].next != DER_NONE)
            c = t->n[c].next;
        t->n[c].next = *node;
    }
    return SM_OK;
}

sm_rc der_parse_all_one(der_tree *t, const uint8_t *p, size_t len, unsigned maxdepth, size_t maxnodes,
                        sm_err *err)
{
    der_tree_init(t, p, len, maxdepth, maxnodes);
    if (len == 0 || len > UINT32_MAX)
        return sm_errf(err, SM_EPARSE, "DER: empty or oversized input");
    int32_t n;
    sm_rc rc = der_parse_one(t, 0, len, DER_NONE, &n, err);
    if (rc != SM_OK)
        return rc;
    size_t end = t->n[n].off + t->n[n].hlen + t->n[n].len;
    if (end != len)
        return bad(err, end, "trailing bytes after the element");
    return SM_OK;
}

int32_t der_child(const der_tree *t, int32_t i, uint32_t tag)
{
    for (int32_t c = t->n[i].child; c != DER_NONE; c = t->n[c].next)
        if (t->n[c].tag == tag)
            return c;
    return DER_NONE;
}

sm_rc der_uint(const der_tree *t, int32_t i, uint32_t max, uint32_t *v, const char *what, sm_err *err)
{
    const der_node *n = &t->n[i];
    const uint8_t *p = der_val(t, i);
    if (n->cons || n->len == 0 || n->len > 5)
        return sm_errf(err, SM_EPARSE, "%s at offset %u: not an INTEGER of 1 to 5 bytes", what, n->off);
    if (n->len > 1 && p[0] == 0x00 && !(p[1] & 0x80))
        return sm_errf(err, SM_EPARSE, "%s at offset %u: INTEGER not minimally encoded", what, n->off);
    if (p[0] & 0x80)
        return sm_errf(err, SM_EPARSE, "%s at offset %u: negative INTEGER", what, n->off);
    uint64_t x = 0;
    for (uint32_t k = 0; k < n->len; k++)
        x = x << 8 | p[k];
    if (x > max)
        return sm_errf(err, SM_EPARSE, "%s at offset %u: %llu exceeds %u", what, n->off, (unsigned long long)x, max);
    *v = (uint32_t)x;
    return SM_OK;
}

bool der_oid_text(const uint8_t *v, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return false;
    out[0] = 0;
    size_t o = 0;
    uint64_t x = 0;
    bool first = true;
    for (size_t k = 0; k < len; k++) {
        if (x > (UINT64_MAX >> 7))
            return false;
        x = x << 7 | (v[k] & 0x7F);
        if (v[k] & 0x80)
            continue;
        int w;
        if (first) {
            unsigned a = x < 40 ? 0 : x < 80 ? 1 : 2;
            w = snprintf(out + o, cap - o, "%u.%llu", a, (unsigned long long)(x - 40u * a));
            first = false;
        } else {
            w = snprintf(out + o, cap - o, ".%llu", (unsigned long long)x);
        }
        if (w < 0 || (size_t)w >= cap - o)
            return false;
        o += (size_t)w;
        x = 0;
    }
    return !first && !(len && (v[len - 1] & 0x80));
}
