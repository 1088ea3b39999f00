/* What a card's answer means for a request: response scripts (TS 102 226 expanded format, the
 * simulator's conventions in docs/simulator.md) and PoR status codes (TS 102 225). */
#include <stdio.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "crypto/scp81.h"

static bool sw_ok(uint16_t sw)
{
    uint8_t hi = (uint8_t)(sw >> 8);
    return hi == 0x90 || hi == 0x61 || hi == 0x62 || hi == 0x63;
}

sm_rc es5_outcome_script(const uint8_t *resp, size_t len, es5_status *st, char *detail, size_t cap,
                         const uint8_t **content, size_t *clen, sm_err *err)
{
    *st = ES5_OK;
    detail[0] = 0;
    *content = NULL;
    *clen = 0;
    if (len == 0) {
        snprintf(detail, cap, "no response data");
        return SM_OK;
    }
    scp81_parsed ps;
    sm_rc rc = scp81_script_parse(resp, len, true, &ps, err);
    if (rc != SM_OK)
        return rc;
    if (ps.n) {
        *content = ps.items[0].raw;
        const scp81_item *last = &ps.items[ps.n - 1];
        *clen = (size_t)(last->raw + last->rawlen - ps.items[0].raw);
    }
    size_t k = 0;
    for (size_t i = 0; i < ps.n && *st == ES5_OK; i++) {
        const scp81_item *it = &ps.items[i];
        if (it->tag == 0x23) {
            k++;
            const uint8_t *d;
            size_t dl;
            uint16_t sw;
            if (scp81_rapdu(it, &d, &dl, &sw, NULL) != SM_OK) {
                *st = ES5_CARD_ERROR;
                snprintf(detail, cap, "R-APDU %zu is malformed", k);
            } else if (!sw_ok(sw)) {
                *st = ES5_CARD_ERROR;
                snprintf(detail, cap, "command %zu ended with SW %04X", k, sw);
            }
        } else if (it->tag == 0x9F44 || it->tag == 0x9F45 || it->tag == 0x9F46) {
            *st = ES5_CARD_ERROR;
            /* 9F4x 01 rr: rr = 01 MAC or cryptogram, 02 state or format (docs/simulator.md) */
            snprintf(detail, cap, "SCP03t error %04X (reason %02X)", (unsigned)it->tag,
                     it->len ? it->val[it->len - 1] : 0);
        } else if (it->tag == 0x90) {
            *st = ES5_CARD_ERROR;
            snprintf(detail, cap, "the card found the script malformed (90)");
        }
    }
    if (*st == ES5_OK)
        snprintf(detail, cap, "%d command(s) executed", ps.executed >= 0 ? ps.executed : (int)k);
    scp81_parsed_free(&ps);
    return SM_OK;
}

es5_status es5_outcome_por(uint8_t status, char *detail, size_t cap)
{
    es5_status st;
    switch (status) {
    case SCP80_POR_CC_FAILED:
    case SCP80_POR_CNTR_LOW:
    case SCP80_POR_CNTR_HIGH:
    case SCP80_POR_CNTR_BLOCKED:
    case SCP80_POR_CIPHER_ERROR:
    case SCP80_POR_UNDEFINED:
    case SCP80_POR_LOW_SECURITY:
        st = ES5_SECURITY;
        break;
    default: /* no memory, TAR unknown, ... */
        st = ES5_CARD_ERROR;
        break;
    }
    snprintf(detail, cap, "PoR %02X: %s", status, scp80_por_status_name(status));
    return st;
}
