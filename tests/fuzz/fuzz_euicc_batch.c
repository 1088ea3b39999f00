/* libFuzzer target: appliance/smsr/batch.c, the EUM batch file parser (docs/euicc-batch-format.md):
 * any input is either refused as a whole or walked record by record, every record it accepts being
 * consistent (checked EID, signed part inside the line, bounded lists). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smsr_batch b;
    sm_err err = {0};
    if (smsr_batch_open((const char *)data, size, &b, &err) != SM_OK) {
        if (err.code == SM_OK)
            abort();
        return 0;
    }
    static smsr_brec r;
    size_t n = 0;
    for (;;) {
        sm_err re = {0};
        sm_rc rc = smsr_batch_next(&b, &r, &re);
        if (rc == SM_ENOTFOUND)
            break;
        if (r.line < 2 || r.text < (const char *)data || r.text + r.len > (const char *)data + size)
            abort();
        n++;
        if (rc != SM_OK) {
            if (re.code == SM_OK)
                abort();
            continue;
        }
        if (!smsr_eid_ok(r.eid) || r.signed_len >= r.len || memcmp(r.text + r.signed_len, ";sig=", 5) ||
            r.nprof > SMSR_BATCH_MAX_PROFILES || r.mem_free > r.mem_total || r.kic.wrapped_len % 8 ||
            r.ecasd_cert_len > SMSR_CERT_MAX || !smsr_oid_ok(r.eum_id))
            abort();
    }
    if (n > b.count + size)
        abort();
    return 0;
}
