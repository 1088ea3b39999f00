/* libFuzzer target: what the SM-SR reads from eUICCs and keeps for its procedures — response scripts
 * (R-APDU TLVs, AB/AF templates), GET STATUS (E3) and GET DATA (FF21) answers (appliance/smsr/apdu.c),
 * and the procedure context record (appliance/smsr/opctx.c): bounded, no read outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/apdu.h"
#include "appliance/smsr/opctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smsr_rscript s;
    sm_err err = {0};
    if (smsr_script_response(data, size, &s, &err) == SM_OK) {
        if (s.n > SMSR_RAPDU_MAX)
            abort();
        for (size_t i = 0; i < s.n; i++) {
            if (s.r[i].data < data || s.r[i].data + s.r[i].len > data + size)
                abort();
            smsr_isdp_status st[8];
            size_t n = 0;
            sm_err e2 = {0};
            if (smsr_parse_get_status(s.r[i].data, s.r[i].len, st, 8, &n, &e2) == SM_OK && n > 8)
                abort();
            int64_t free_nvm;
            sm_err e3 = {0};
            if (smsr_parse_ff21(s.r[i].data, s.r[i].len, &free_nvm, &e3) == SM_OK && free_nvm < -1)
                abort();
        }
        (void)smsr_last_sw(&s);
    }
    smsr_opctx o;
    sm_err e4 = {0};
    if (smsr_opctx_decode(data, size, &o, &e4) == SM_OK) {
        if (o.aid.len > sizeof o.aid.b || strlen(o.iccid) >= sizeof o.iccid || strlen(o.iccids) >= sizeof o.iccids)
            abort();
        /* what was decoded encodes again */
        sm_buf b;
        sm_buf_init(&b);
        if (smsr_opctx_encode(&o, &b, &e4) != SM_OK)
            abort();
        sm_buf_free(&b);
    }
    return 0;
}
