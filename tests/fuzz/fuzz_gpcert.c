/* libFuzzer target: crypto/gpcert parsing of 7F21 certificates (and X.509 CI certificates when the
 * input starts with a DER SEQUENCE). Invariant: a parsed certificate with 4-byte dates and a 73
 * discretionary template re-encodes to exactly its input. No HSM calls. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/gpcert.h"
#include "crypto/tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int canonical(const gpcert *c)
{
    if (c->has_disc && c->disc_tag != 0x73)
        return 0;
    tlv_rd r;
    tlv t;
    sm_err err = {0};
    tlv_rd_init(&r, c->tbs, c->tbslen, 0);
    while (tlv_next(&r, &t, &err) == SM_OK)
        if ((t.tag == 0x5F24 || t.tag == 0x5F25) && t.len != 4)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sm_err err = {0};
    if (size > 0 && data[0] == 0x30) {
        gpcert_issuer is;
        gpcert_x509_issuer(data, size, NULL, (time_t)1700000000, &is, &err);
        return 0;
    }
    gpcert c;
    if (gpcert_parse(data, size, &c, &err) != SM_OK)
        return 0;
    if (c.tbs < data || c.tbs + c.tbslen > data + size || c.pubkey_len != 65 || c.sig_len != 64)
        abort();
    if (!canonical(&c))
        return 0;
    gpcert_tbs t;
    gpcert_to_tbs(&c, &t);
    sm_buf b, full;
    sm_buf_init(&b);
    sm_buf_init(&full);
    if (gpcert_encode_tbs(&t, &b, &err) != SM_OK || b.len != c.tbslen || memcmp(b.data, c.tbs, b.len) != 0)
        abort();
    if (gpcert_assemble(b.data, b.len, c.sig, c.sig_len, &full, &err) != SM_OK || full.len != size ||
        memcmp(full.data, data, size) != 0)
        abort();
    sm_buf_free(&b);
    sm_buf_free(&full);
    return 0;
}
