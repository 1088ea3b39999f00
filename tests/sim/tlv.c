/* tlv: BER-TLV and DGI codec with bounds checks on every read. */
#include "tests/sim/tlv.h"

#include <string.h>

sim_rc sim_tlv_read(const uint8_t *p, size_t n, size_t *off, sim_tlv *t, sim_err *err)
{
    size_t o = *off, start = o;
    if (o >= n)
        return sim_errf(err, SIM_EPARSE, "tlv: no tag at offset %zu", o);
    uint32_t tag = p[o++];
    if ((tag & 0x1F) == 0x1F) {
        int k = 0;
        do {
            if (o >= n)
                return sim_errf(err, SIM_EPARSE, "tlv: tag at offset %zu runs past the end", start);
            if (++k > 2)
                return sim_errf(err, SIM_EPARSE, "tlv: tag at offset %zu longer than 3 bytes", start);
            tag = tag << 8 | p[o];
        } while (p[o++] & 0x80);
    }
    if (o >= n)
        return sim_errf(err, SIM_EPARSE, "tlv: tag %x at offset %zu has no length", tag, start);
    size_t len = p[o++];
    if (len == 0x80)
        return sim_errf(err, SIM_EPARSE, "tlv: indefinite length at offset %zu not allowed here", start);
    if (len > 0x80) {
        size_t k = len & 0x7F;
        if (k > 3)
            return sim_errf(err, SIM_EPARSE, "tlv: %zu-byte length at offset %zu", k, start);
        if (n - o < k)
            return sim_errf(err, SIM_EPARSE, "tlv: length at offset %zu runs past the end", start);
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | p[o++];
    }
    if (len > n - o)
        return sim_errf(err, SIM_EPARSE, "tlv: tag %x at offset %zu: value of %zu bytes runs past the end (%zu left)",
                        tag, start, len, n - o);
    t->tag = tag;
    t->v = p + o;
    t->len = len;
    t->raw = p + start;
    t->rawlen = o + len - start;
    *off = o + len;
    return SIM_OK;
}

int sim_tlv_find(const uint8_t *p, size_t n, uint32_t tag, sim_tlv *t)
{
    size_t off = 0;
    while (off < n) {
        sim_tlv x;
        if (sim_tlv_read(p, n, &off, &x, NULL) != SIM_OK)
            return -1;
        if (x.tag == tag) {
            if (t)
                *t = x;
            return 1;
        }
    }
    return 0;
}

int sim_tlv_wellformed(const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        sim_tlv x;
        if (sim_tlv_read(p, n, &off, &x, NULL) != SIM_OK)
            return 0;
    }
    return 1;
}

void sim_tlv_put_tag(sim_buf *b, uint32_t tag)
{
    if (tag > 0xFFFF)
        sim_buf_u8(b, (uint8_t)(tag >> 16));
    if (tag > 0xFF)
        sim_buf_u8(b, (uint8_t)(tag >> 8));
    sim_buf_u8(b, (uint8_t)tag);
}

size_t sim_tlv_lenlen(size_t len)
{
    return len < 0x80 ? 1 : len <= 0xFF ? 2 : len <= 0xFFFF ? 3 : 4;
}

void sim_tlv_put_len(sim_buf *b, size_t len)
{
    if (len < 0x80) {
        sim_buf_u8(b, (uint8_t)len);
    } else if (len <= 0xFF) {
        sim_buf_u8(b, 0x81);
        sim_buf_u8(b, (uint8_t)len);
    } else if (len <= 0xFFFF) {
        sim_buf_u8(b, 0x82);
        sim_buf_u16(b, (uint16_t)len);
    } else {
        sim_buf_u8(b, 0x83);
        sim_buf_u8(b, (uint8_t)(len >> 16));
        sim_buf_u16(b, (uint16_t)len);
    }
}

void sim_tlv_put(sim_buf *b, uint32_t tag, const void *v, size_t len)
{
    sim_tlv_put_tag(b, tag);
    sim_tlv_put_len(b, len);
    sim_buf_put(b, v, len);
}

void sim_tlv_put_u8(sim_buf *b, uint32_t tag, uint8_t v) { sim_tlv_put(b, tag, &v, 1); }

size_t sim_tlv_begin(sim_buf *b, uint32_t tag)
{
    sim_tlv_put_tag(b, tag);
    return b->len;
}

void sim_tlv_end(sim_buf *b, size_t mark)
{
    if (b->oom || mark > b->len)
        return;
    size_t len = b->len - mark, ll = sim_tlv_lenlen(len);
    if (sim_buf_reserve(b, ll) != 0)
        return;
    memmove(b->p + mark + ll, b->p + mark, len);
    size_t save = b->len;
    b->len = mark;
    sim_tlv_put_len(b, len);
    b->len = save + ll;
}

sim_rc sim_dgi_read(const uint8_t *p, size_t n, size_t *off, uint16_t *tag, const uint8_t **v, size_t *len,
                    sim_err *err)
{
    size_t o = *off;
    if (n - o < 3 || o > n)
        return sim_errf(err, SIM_EPARSE, "dgi: header at offset %zu truncated", o);
    uint16_t t = sim_be16(p + o);
    size_t l = p[o + 2], h = 3;
    if (l == 0xFF) {
        if (n - o < 5)
            return sim_errf(err, SIM_EPARSE, "dgi %04x: long length truncated", t);
        l = sim_be16(p + o + 3);
        h = 5;
    } else if ((l == 0x81 || l == 0x82) && o + h + l != n) {
        /* BER-style length as some implementations emit it; accept when it fills the data exactly */
        size_t k = l & 0x7F, bl = 0;
        if (n - o >= 3 + k) {
            for (size_t i = 0; i < k; i++)
                bl = bl << 8 | p[o + 3 + i];
            if (o + 3 + k + bl == n) {
                l = bl;
                h = 3 + k;
            }
        }
    }
    if (l > n - o - h)
        return sim_errf(err, SIM_EPARSE, "dgi %04x: %zu-byte value runs past the end", t, l);
    *tag = t;
    *v = p + o + h;
    *len = l;
    *off = o + h + l;
    return SIM_OK;
}

void sim_dgi_put(sim_buf *b, uint16_t tag, const void *v, size_t len)
{
    sim_buf_u16(b, tag);
    if (len < 0xFF) {
        sim_buf_u8(b, (uint8_t)len);
    } else {
        sim_buf_u8(b, 0xFF);
        sim_buf_u16(b, (uint16_t)len);
    }
    sim_buf_put(b, v, len);
}
