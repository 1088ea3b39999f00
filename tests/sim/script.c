/* script: remote command script execution (TS 102 226 expanded and compact formats). */
#include "tests/sim/script.h"

#include <string.h>

#include "tests/sim/isdp.h"
#include "tests/sim/isdr.h"
#include "tests/sim/tlv.h"

static int sw_ok(uint16_t sw)
{
    uint8_t s1 = (uint8_t)(sw >> 8);
    return s1 == 0x90 || s1 == 0x61 || s1 == 0x62 || s1 == 0x63;
}

sim_rc sim_script_run(sim_euicc *e, const uint8_t *target, size_t tlen, const uint8_t *s, size_t n, sim_buf *out,
                      int *power_lost, sim_err *err)
{
    *power_lost = 0;
    sim_profile *p = NULL;
    if (target && tlen && !sim_aid_eq(&SIM_AID_ISDR, target, tlen)) {
        p = sim_euicc_find(e, target, tlen);
        if (!p)
            return sim_errf(err, SIM_ENOTFOUND, "script: target application not on the card");
    }
    const uint8_t *body;
    size_t blen;
    int indef = 0;
    if (n >= 4 && s[0] == 0xAE && s[1] == 0x80) {
        if (s[n - 2] != 0 || s[n - 1] != 0)
            return sim_errf(err, SIM_EPARSE, "script: indefinite AE template not closed by 00 00");
        body = s + 2;
        blen = n - 4;
        indef = 1;
    } else {
        size_t off = 0;
        sim_tlv t;
        if (sim_tlv_read(s, n, &off, &t, err) || t.tag != 0xAA || off != n)
            return sim_errf(err, SIM_EPARSE, "script: neither AA nor AE 80 command scripting template");
        body = t.v;
        blen = t.len;
    }
    sim_buf r;
    sim_buf_init(&r);
    unsigned count = 0;
    size_t off = 0;
    sim_rc rc = SIM_OK;
    int bad = 0;
    while (off < blen) {
        sim_tlv t;
        sim_err e2 = {0};
        if (sim_tlv_read(body, blen, &off, &t, &e2)) {
            bad = 1;
            break;
        }
        if (t.tag == 0x81 || t.tag == 0x82 || t.tag == 0x83)
            continue; /* immediate action, error action, script chaining: accepted, no effect */
        if (t.tag == 0x22) {
            sim_buf rd;
            sim_buf_init(&rd);
            uint16_t sw = 0x6F00;
            sim_err ea = {0};
            rc = p ? sim_isdp_apdu(e, p, t.v, t.len, &rd, &sw, &ea) : sim_isdr_apdu(e, t.v, t.len, &rd, &sw, &ea);
            if (rc == SIM_EPARSE) {
                sw = 0x6700;
                rc = SIM_OK;
            }
            count++;
            size_t m = sim_tlv_begin(&r, 0x23);
            sim_buf_put(&r, rd.p, rd.len);
            sim_buf_u16(&r, sw);
            sim_tlv_end(&r, m);
            sim_buf_free_secure(&rd);
            if (rc) {
                sim_errf(err, rc, "%s", ea.msg);
                break;
            }
            if (!sw_ok(sw))
                break;
            if (!p && e->refresh)
                break; /* REFRESH follows a switch: the rest of the script is not executed */
            continue;
        }
        if (t.tag == 0x84 || t.tag == 0x85 || t.tag == 0x86) {
            if (!p) {
                bad = 1;
                break;
            }
            size_t before = r.len;
            sim_err ea = {0};
            sim_rc trc = sim_isdp_tlv(e, p, t.raw, t.rawlen, &r, power_lost, &ea);
            count++;
            if (*power_lost)
                break;
            if (trc != SIM_OK || (r.len > before && r.p[before] == 0x9F))
                break;
            continue;
        }
        bad = 1;
        break;
    }
    if (*power_lost) {
        sim_buf_free(&r);
        return SIM_OK;
    }
    size_t start = out->len;
    if (indef) {
        sim_buf_u8(out, 0xAF);
        sim_buf_u8(out, 0x80);
    }
    size_t m = indef ? 0 : sim_tlv_begin(out, 0xAB);
    uint8_t cnt = count > 255 ? 255 : (uint8_t)count;
    sim_tlv_put_u8(out, 0x80, cnt);
    sim_buf_put(out, r.p, r.len);
    if (bad) {
        uint8_t bf[3] = {0x90, 0x01, 0x00};
        sim_buf_put(out, bf, 3);
    }
    if (indef) {
        sim_buf_u8(out, 0);
        sim_buf_u8(out, 0);
    } else {
        sim_tlv_end(out, m);
    }
    (void)start;
    sim_buf_free(&r);
    if (rc)
        return rc;
    return sim_buf_check(out, err);
}

sim_rc sim_script_compact(sim_euicc *e, sim_profile *isdp, const uint8_t *s, size_t n, sim_buf *out, sim_err *err)
{
    size_t off = 0;
    uint8_t count = 0;
    uint16_t sw = 0x9000;
    sim_buf rd;
    sim_buf_init(&rd);
    while (off + 4 <= n) {
        size_t len = n - off == 4 ? 4 : n - off == 5 ? 5 : 5 + (size_t)s[off + 4];
        if (len > n - off) {
            sim_buf_free(&rd);
            return sim_errf(err, SIM_EPARSE, "compact script: APDU at offset %zu runs past the end", off);
        }
        if (n - off == len + 1)
            len++; /* trailing Le of the last command */
        sim_buf_reset(&rd);
        sim_err ea = {0};
        sim_rc rc = isdp ? sim_isdp_apdu(e, isdp, s + off, len, &rd, &sw, &ea)
                         : sim_isdr_apdu(e, s + off, len, &rd, &sw, &ea);
        if (rc) {
            sim_buf_free(&rd);
            return sim_errf(err, rc, "%s", ea.msg);
        }
        count++;
        off += len;
        if (!sw_ok(sw) || e->refresh)
            break;
    }
    sim_buf_u8(out, count);
    sim_buf_u16(out, sw);
    sim_buf_put(out, rd.p, rd.len);
    sim_buf_free(&rd);
    return sim_buf_check(out, err);
}
