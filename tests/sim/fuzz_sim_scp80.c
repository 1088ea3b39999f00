/* libFuzzer: SCP80 command packets at the card. Input byte 0 selects: even = the raw packet goes to
 * sim_scp80_unwrap / the SMS entry point; odd = the rest is wrapped with the card's keys first, so
 * the script, APDU, TLV and push parsers behind a valid packet are reached (bit 1: addressed to the
 * ISD-P's TAR, its APDU and SCP03t parsers). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/sim/euicc.h"
#include "tests/sim/isdr.h"
#include "tests/sim/scp80.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sim_euicc *card(void)
{
    static const uint8_t aid[16] = {0xA0, 0, 0, 5, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x10, 0};
    sim_euicc *e = sim_euicc_new();
    e->n_scp80 = 1;
    e->scp80[0].kvn = 1;
    memset(e->scp80[0].kic, 0x11, 16);
    memset(e->scp80[0].kid, 0x22, 16);
    e->mem_total = 1u << 20;
    sim_profile *p = NULL;
    if (sim_euicc_add_profile(e, aid, 16, 32768, &p, NULL) == SIM_OK) {
        p->lcs = SIM_LCS_ENABLED;
        p->fallback = 1;
        p->klen = 16;
        strcpy(p->imsi, "001010000000001");
    }
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    sim_euicc *e = card();
    sim_buf ud, por, plain;
    sim_buf_init(&ud);
    sim_buf_init(&por);
    sim_buf_init(&plain);
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    sim_buf_put(&ud, udh, 3);
    if (data[0] & 1) {
        /* bit 1: to the ISD-P's TAR (bytes 13..15 of its AID) instead of the ISD-R's */
        static const uint8_t spi[2] = {0x16, 0x39}, isdr[3] = {0, 0, 1}, isdp[3] = {0, 0, 0x10};
        sim_scp80_wrap(&e->scp80[0], spi, 0x12, 0x12, data[0] & 2 ? isdp : isdr, 1, data + 1, size - 1, &ud, NULL);
    } else {
        sim_buf_put(&ud, data + 1, size - 1);
        sim_scp80_cmd c;
        uint8_t st;
        int sec;
        sim_scp80_unwrap(data + 1, size - 1, e->scp80, e->n_scp80, &c, &plain, &st, &sec, NULL);
    }
    sim_push push;
    int lost = 0;
    sim_isdr_sms(e, ud.p, ud.len, &por, &push, &lost, NULL);
    sim_euicc_refresh(e);
    sim_buf_free(&ud);
    sim_buf_free(&por);
    sim_buf_free(&plain);
    sim_euicc_free(e);
    return 0;
}
