/* libFuzzer target: SMPP 3.4 PDUs as the SMSC sends them (net/smpp.c): framing, strict decoding,
 * and re-encoding whatever decoded (it must encode, and decode again to the same fields). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/smpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sm_err err = {0};
    size_t len = 0;
    if (smpp_frame_len(data, size, &len, &err) != SM_OK || len == 0 || len > size)
        return 0;
    smpp_pdu p;
    if (smpp_decode(data, len, &p, &err) != SM_OK)
        return 0;
    if (p.sm_len && (p.sm < data || p.sm + p.sm_len > data + len))
        abort();
    sm_buf b;
    sm_buf_init(&b);
    sm_err e2 = {0};
    if (smpp_encode(&p, &b, &e2) == SM_OK) {
        smpp_pdu q;
        sm_err e3 = {0};
        if (smpp_decode(b.data, b.len, &q, &e3) != SM_OK || q.id != p.id || q.seq != p.seq ||
            q.sm_len != p.sm_len || (p.sm_len && memcmp(q.sm, p.sm, p.sm_len)) || strcmp(q.src, p.src) ||
            strcmp(q.dst, p.dst) || strcmp(q.message_id, p.message_id))
            abort();
    }
    sm_buf_free(&b);
    char id[65], stat[16];
    if (p.sm_len)
        smpp_receipt_parse(p.sm, p.sm_len, id, sizeof id, stat, sizeof stat);
    return 0;
}
