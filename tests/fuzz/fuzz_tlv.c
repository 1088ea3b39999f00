/* libFuzzer target: crypto/tlv decoding under every flag combination, the depth-limited walk,
 * and the encoder round trip (a TLV decoded with TLV_F_MINLEN re-encodes to the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int visit(const tlv *t, unsigned depth, void *arg)
{
    size_t *n = arg;
    /* views must lie inside the input */
    (*n) += t->len + depth;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 0x0F;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    sm_err err = {0};
    size_t acc = 0;
    tlv_walk(p, n, flags, data[0] >> 4, visit, &acc, &err);

    tlv_rd r;
    tlv_rd_init(&r, p, n, flags);
    tlv t;
    sm_buf b;
    sm_buf_init(&b);
    while (tlv_next(&r, &t, &err) == SM_OK) {
        if (t.val < p || t.val + t.len > p + n || t.raw < p || t.raw + t.rawlen > p + n)
            abort();
        if ((flags & TLV_F_MINLEN) && !t.indefinite) {
            sm_buf_reset(&b);
            if (flags & TLV_F_DGI) {
                if (tlv_put_dgi(&b, (uint16_t)t.tag, t.val, t.len) == 0 &&
                    (b.len != t.rawlen || memcmp(b.data, t.raw, b.len) != 0))
                    abort();
            } else if (tlv_put(&b, t.tag, t.val, t.len) != 0 || b.len != t.rawlen ||
                       memcmp(b.data, t.raw, b.len) != 0) {
                abort();
            }
        }
        if (t.constructed) {
            tlv_rd c;
            tlv u;
            sm_err e2 = {0};
            if (tlv_rd_child(&r, &t, &c, &e2) == SM_OK)
                while (tlv_next(&c, &u, &e2) == SM_OK)
                    if (u.val < t.val || u.val + u.len > t.val + t.len)
                        abort();
        }
    }
    sm_buf_free(&b);
    return 0;
}
