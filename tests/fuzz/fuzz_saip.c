/* libFuzzer target: appliance/smdp/saip decoding and checking, and two encoder properties: a
 * decoded package re-encodes to the same bytes, and an edited one (a value replaced by one of a
 * different length, an element appended) re-encodes to a package that decodes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/saip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    saip_pkg *p = NULL;
    sm_err err = {0};
    if (saip_decode(data, size, &p, &err) != SM_OK)
        return 0;
    sm_err cerr = {0};
    (void)saip_check(p, &cerr);
    size_t sz = 0, olen = 0;
    if (saip_encoded_size(p, NULL, 0, &sz, &err) != SM_OK || sz != size)
        abort();
    uint8_t *out = malloc(size ? size : 1);
    if (!out || saip_encode(p, NULL, 0, out, size, &olen, &err) != SM_OK || olen != size ||
        memcmp(out, data, size) != 0)
        abort();
    free(out);

    /* edit: the first primitive node gets a value one byte longer; the first constructed node
     * gets an appended empty NULL-like element */
    int32_t prim = -1, cons = -1;
    for (size_t i = 0; i < p->tree.count && (prim < 0 || cons < 0); i++) {
        if (p->tree.n[i].cons && cons < 0)
            cons = (int32_t)i;
        if (!p->tree.n[i].cons && prim < 0)
            prim = (int32_t)i;
    }
    uint8_t val[300];
    memset(val, 0x5A, sizeof val);
    static const uint8_t app[] = {0x9F, 0x7F, 0x00};
    saip_edit e[2];
    size_t ne = 0;
    if (prim >= 0 && p->tree.n[prim].len + 1 <= sizeof val)
        e[ne++] = (saip_edit){SAIP_EDIT_VALUE, prim, val, p->tree.n[prim].len + 1};
    if (cons >= 0)
        e[ne++] = (saip_edit){SAIP_EDIT_APPEND, cons, app, sizeof app};
    if (saip_encoded_size(p, e, ne, &sz, &err) == SM_OK) {
        out = malloc(sz);
        if (!out || saip_encode(p, e, ne, out, sz, &olen, &err) != SM_OK || olen != sz)
            abort();
        saip_pkg *q = NULL;
        sm_err qerr = {0};
        /* the result is valid DER; it may only fail on SAIP-level rules (e.g. the edited node
         * was an identification) or the node limit */
        if (saip_decode(out, olen, &q, &qerr) == SM_OK)
            saip_free(q);
        else if (strstr(qerr.msg, "DER error") && !strstr(qerr.msg, "more than") && !strstr(qerr.msg, "nesting"))
            abort();
        free(out);
    }
    saip_free(p);
    return 0;
}
