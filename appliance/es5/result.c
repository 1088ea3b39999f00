/* es5 results as procedure step data: a versioned, bounded binary record. */
#include <stdlib.h>
#include <string.h>

#include "appliance/es5/es5.h"

#define RESULT_VERSION 2 /* 2 added the flags byte; 1 is still read (flags: maybe ran) */
#define RESPONSE_MAX (1u << 24)

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* version(1) status(1) channel(1) req_id(8) detail_len(1) detail response_len(4) response flags(1)
 * (version 2; flags bit 0 = maybe_ran) */
sm_rc es5_result_encode(const es5_result *r, uint8_t **out, size_t *len, sm_err *err)
{
    size_t dl = strnlen(r->detail, sizeof r->detail - 1);
    if (r->response_len > RESPONSE_MAX)
        return sm_errf(err, SM_ELIMIT, "es5: response of %zu bytes is too large", r->response_len);
    size_t n = 3 + 8 + 1 + dl + 4 + r->response_len + 1;
    uint8_t *b = malloc(n);
    if (!b)
        return sm_errf(err, SM_ENOMEM, "es5: out of memory");
    size_t o = 0;
    b[o++] = RESULT_VERSION;
    b[o++] = (uint8_t)r->status;
    b[o++] = (uint8_t)r->channel;
    uint64_t id = (uint64_t)r->req_id;
    put_u32(b + o, (uint32_t)(id >> 32));
    put_u32(b + o + 4, (uint32_t)id);
    o += 8;
    b[o++] = (uint8_t)dl;
    memcpy(b + o, r->detail, dl);
    o += dl;
    put_u32(b + o, (uint32_t)r->response_len);
    o += 4;
    if (r->response_len)
        memcpy(b + o, r->response, r->response_len);
    o += r->response_len;
    b[o] = r->maybe_ran ? 1 : 0;
    *out = b;
    *len = n;
    return SM_OK;
}

sm_rc es5_result_decode(const uint8_t *d, size_t len, es5_result *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    if (len < 16 || (d[0] != RESULT_VERSION && d[0] != 1))
        return sm_errf(err, SM_EPARSE, "es5: not an ES5 result record (%zu bytes, version %u)", len,
                       len ? d[0] : 0);
    if (d[1] > ES5_CANCELLED || d[2] > ES5_CH_HTTPS)
        return sm_errf(err, SM_EPARSE, "es5: result record with unknown status %u or channel %u", d[1], d[2]);
    size_t o = 3;
    uint64_t id = (uint64_t)get_u32(d + o) << 32 | get_u32(d + o + 4);
    o += 8;
    size_t dl = d[o++];
    if (dl >= sizeof out->detail || o + dl + 4 > len)
        return sm_errf(err, SM_EPARSE, "es5: result record truncated in its detail");
    memcpy(out->detail, d + o, dl);
    out->detail[dl] = '\0';
    o += dl;
    uint32_t rl = get_u32(d + o);
    o += 4;
    size_t tail = d[0] == 1 ? 0 : 1;
    if (rl > RESPONSE_MAX || o + rl + tail != len || (tail && d[len - 1] > 1))
        return sm_errf(err, SM_EPARSE, "es5: result record response length %u does not match", rl);
    if (rl) {
        out->response = malloc(rl);
        if (!out->response)
            return sm_errf(err, SM_ENOMEM, "es5: out of memory");
        memcpy(out->response, d + o, rl);
    }
    out->response_len = rl;
    out->req_id = (int64_t)id;
    out->status = (es5_status)d[1];
    out->channel = (es5_channel)d[2];
    out->maybe_ran = tail ? d[len - 1] == 1 : true; /* version 1 did not say: assume it may have */
    return SM_OK;
}

void es5_result_clear(es5_result *r)
{
    free(r->response);
    r->response = NULL;
    r->response_len = 0;
}
