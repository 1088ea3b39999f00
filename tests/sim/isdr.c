/* isdr: ISD-R platform commands, SMS entry point, push trigger, MO notification packets. */
#include "tests/sim/isdr.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tests/sim/cert.h"
#include "tests/sim/ecka.h"
#include "tests/sim/prim.h"
#include "tests/sim/scp80.h"
#include "tests/sim/script.h"
#include "tests/sim/tlv.h"

#define DEFAULT_QUOTA 65536u

/* INSTALL [for install and make selectable]: L ELF, L module, L AID, L privileges, L params, L token */
static uint16_t install(sim_euicc *e, const uint8_t *d, size_t n)
{
    const uint8_t *f[6];
    size_t fl[6] = {0}, off = 0;
    for (int i = 0; i < 6; i++) {
        f[i] = d + off;
        if (off >= n) {
            if (i < 5)
                return 0x6A80; /* the install token (last field) may be omitted */
            break;
        }
        fl[i] = d[off++];
        if (fl[i] > n - off)
            return 0x6A80;
        f[i] = d + off;
        off += fl[i];
    }
    if (!sim_aid_eq(&SIM_AID_ELF, f[0], fl[0]) || !sim_aid_eq(&SIM_AID_MODULE, f[1], fl[1]))
        return 0x6A88;
    if (fl[2] < 5 || fl[2] > 16)
        return 0x6A80;
    uint32_t quota = DEFAULT_QUOTA;
    sim_tlv c9, ef, q;
    const uint8_t *pp = f[4];
    size_t pl = fl[4];
    if (pl && (pp[0] == 0xC9 || pp[0] == 0xEF)) {
        if (!sim_tlv_wellformed(pp, pl))
            return 0x6A80;
        if (sim_tlv_find(pp, pl, 0xEF, &ef) == 1 &&
            (sim_tlv_find(ef.v, ef.len, 0x83, &q) == 1 || sim_tlv_find(ef.v, ef.len, 0xC6, &q) == 1)) {
            if (q.len < 1 || q.len > 4)
                return 0x6A80;
            quota = 0;
            for (size_t i = 0; i < q.len; i++)
                quota = quota << 8 | q.v[i];
        }
        (void)c9;
    }
    sim_err er = {0};
    sim_rc rc = sim_euicc_add_profile(e, f[2], fl[2], quota, NULL, &er);
    return rc == SIM_OK ? 0x9000 : rc == SIM_ELIMIT ? 0x6A84 : rc == SIM_EEXIST ? 0x6A80 : 0x6F00;
}

static int aid_in(const uint8_t *v, size_t n, const uint8_t **aid, size_t *al)
{
    sim_tlv t;
    if (sim_tlv_find(v, n, 0x4F, &t) != 1 || t.len < 5 || t.len > 16)
        return -1;
    *aid = t.v;
    *al = t.len;
    return 0;
}

/* SM-SR change: 3A01 (CERT.SR.ECDSA) then 3A02 create an additional SCP80 key set in the ISD-R */
static uint16_t isdr_key_establishment(sim_euicc *e, uint16_t dgi, const uint8_t *all, size_t alln,
                                       const uint8_t *v, size_t vl, sim_buf *rdata, sim_err *err)
{
    if (!e->isdr_ecka && !(e->isdr_ecka = calloc(1, sizeof *e->isdr_ecka)))
        return 0x6A84;
    if (dgi == 0x3A01) {
        sim_rc rc = sim_ecka_certificate(e->isdr_ecka, e->ci, SIM_CERT_TYPE_SMSR, v, vl, rdata, err);
        return rc == SIM_OK ? 0x9000 : rc == SIM_EVERIFY ? 0x6982 : rc == SIM_EPERM ? 0x6985 : 0x6A80;
    }
    EVP_PKEY *k = sim_euicc_ecasd(e, err);
    if (!k)
        return 0x6F00;
    sim_ecka_result r;
    sim_rc rc = sim_ecka_establish(e->isdr_ecka, k, 0x10, all, alln, e->eid + 8, 8, SIM_AID_ISDR.b, 16, &r, rdata, err);
    sim_ecka_reset(e->isdr_ecka);
    if (rc)
        return rc == SIM_EVERIFY ? 0x6982 : rc == SIM_ESTATE ? 0x6985 : 0x6A80;
    sim_scp80_keyset *ks = NULL;
    for (uint8_t i = 0; i < e->n_scp80; i++)
        if (e->scp80[i].kvn == r.kvn)
            ks = &e->scp80[i];
    if (!ks && e->n_scp80 < 2)
        ks = &e->scp80[e->n_scp80++];
    if (!ks || r.kvn < 1 || r.kvn > 15) {
        OPENSSL_cleanse(&r, sizeof r);
        return 0x6A84;
    }
    memset(ks, 0, sizeof *ks);
    ks->kvn = r.kvn;
    memcpy(ks->kic, r.keys[0], 16);
    memcpy(ks->kid, r.keys[1], 16);
    memcpy(ks->dek, r.keys[2], 16);
    for (size_t i = 0; i < r.counterlen; i++)
        ks->cntr = ks->cntr << 8 | r.counter[i];
    OPENSSL_cleanse(&r, sizeof r);
    return 0x9000;
}

static uint16_t store_data(sim_euicc *e, const uint8_t *d, size_t n, sim_buf *rdata, sim_err *err)
{
    size_t off = 0;
    uint16_t dgi;
    const uint8_t *v;
    size_t vl;
    if (sim_dgi_read(d, n, &off, &dgi, &v, &vl, NULL) != SIM_OK)
        return 0x6A80;
    const uint8_t *aid;
    size_t al;
    switch (dgi) {
    case 0x3A01:
    case 0x3A02:
        return isdr_key_establishment(e, dgi, d, n, v, vl, rdata, err);
    case 0x3A03:
        return aid_in(v, vl, &aid, &al) ? 0x6A80 : sim_euicc_enable(e, aid, al);
    case 0x3A04:
        return aid_in(v, vl, &aid, &al) ? 0x6A80 : sim_euicc_disable(e, aid, al);
    case 0x3A05:
        return aid_in(v, vl, &aid, &al) ? 0x6A80 : sim_euicc_set_fallback(e, aid, al);
    case 0x3A06: { /* simulator-defined POL1 update: 4F AID, 84 POL1 (ES6 in real life) */
        sim_tlv pt;
        if (aid_in(v, vl, &aid, &al) || sim_tlv_find(v, vl, 0x84, &pt) != 1 || pt.len != 1)
            return 0x6A80;
        sim_profile *p = sim_euicc_find(e, aid, al);
        if (!p)
            return 0x6A88;
        p->pol1 = pt.v[0];
        return 0x9000;
    }
    case 0x3A07: { /* SM-SR addressing parameters: 81 SM-SR SMS address (ASCII digits), others kept opaque */
        sim_tlv a;
        if (!sim_tlv_wellformed(v, vl))
            return 0x6A80;
        if (sim_tlv_find(v, vl, 0x81, &a) == 1) {
            if (a.len == 0 || a.len >= sizeof e->sr_sms)
                return 0x6A80;
            memcpy(e->sr_sms, a.v, a.len);
            e->sr_sms[a.len] = 0;
        }
        return 0x9000;
    }
    case 0x3A08: {
        sim_tlv s;
        if (sim_tlv_find(v, vl, 0x4E, &s) != 1 || s.len != 2)
            return 0x6A80;
        return sim_euicc_confirm(e, sim_be16(s.v), rdata);
    }
    default:
        return 0x6A88;
    }
}

/* master delete token (simulator definition, see docs/simulator.md): 16-byte AES-CMAC under the
 * ISD-P's SCP03 K-DEK over 4F L AID || EID */
static int token_ok(sim_euicc *e, const sim_profile *p, const uint8_t *tok, size_t tl)
{
    if (!p->has_scp03 || tl != 16)
        return 0;
    sim_buf m;
    sim_buf_init(&m);
    sim_tlv_put(&m, 0x4F, p->aid.b, p->aid.len);
    sim_buf_put(&m, e->eid, 16);
    uint8_t mac[16];
    int ok = !m.oom && sim_cmac1(p->scp03.dek, p->scp03.klen, m.p, m.len, mac, NULL) == SIM_OK &&
             !sim_memneq(mac, tok, 16);
    sim_buf_free(&m);
    return ok;
}

static uint16_t delete(sim_euicc *e, uint8_t p2, const uint8_t *d, size_t n)
{
    if (!sim_tlv_wellformed(d, n))
        return 0x6A80;
    if (p2 == 0x00) { /* key deletion (FinaliseISDRhandover): D2 01 KVN of the SCP80 set to remove */
        sim_tlv k;
        if (sim_tlv_find(d, n, 0xD2, &k) != 1 || k.len != 1)
            return 0x6A80;
        for (uint8_t i = 0; i < e->n_scp80; i++)
            if (e->scp80[i].kvn == k.v[0]) {
                if (e->n_scp80 == 1)
                    return 0x6985;
                memmove(&e->scp80[i], &e->scp80[i + 1], sizeof e->scp80[0] * (e->n_scp80 - i - 1u));
                e->n_scp80--;
                return 0x9000;
            }
        return 0x6A88;
    }
    const uint8_t *aid;
    size_t al;
    if (aid_in(d, n, &aid, &al))
        return 0x6A80;
    sim_tlv tok;
    if (sim_tlv_find(d, n, 0x9E, &tok) == 1) {
        sim_profile *p = sim_euicc_find(e, aid, al);
        if (!p)
            return 0x6A88;
        if (!token_ok(e, p, tok.v, tok.len))
            return 0x6982;
        return sim_euicc_delete(e, aid, al, 1);
    }
    return sim_euicc_delete(e, aid, al, 0);
}

static void status_entry(sim_buf *out, const sim_profile *p)
{
    size_t m = sim_tlv_begin(out, 0xE3);
    sim_tlv_put(out, 0x4F, p->aid.b, p->aid.len);
    sim_tlv_put_u8(out, 0x9F70, p->lcs);
    sim_tlv_put_u8(out, 0x53, p->fallback ? 0x01 : 0x00);
    uint8_t v[4];
    sim_put_be32(v, p->quota);
    sim_tlv_put(out, 0x8F, v, 4);
    sim_put_be32(v, p->quota > p->used ? p->quota - p->used : 0);
    sim_tlv_put(out, 0x91, v, 4);
    sim_tlv_end(out, m);
}

sim_rc sim_isdr_apdu(sim_euicc *e, const uint8_t *a, size_t n, sim_buf *rdata, uint16_t *sw, sim_err *err)
{
    *sw = 0x6F00;
    if (n < 4)
        return sim_errf(err, SIM_EPARSE, "ISD-R: APDU of %zu bytes", n);
    size_t lc = n > 5 ? a[4] : 0;
    if (n > 5 && 5 + lc > n)
        return (*sw = 0x6700, SIM_OK);
    const uint8_t *d = a + 5;
    if (a[0] != 0x80 && a[0] != 0x00)
        return (*sw = 0x6E00, SIM_OK);
    switch (a[1]) {
    case 0xE6:
        *sw = a[2] == 0x0C ? install(e, d, lc) : 0x6A86;
        return SIM_OK;
    case 0xE2:
        *sw = store_data(e, d, lc, rdata, err);
        return sim_buf_check(rdata, err);
    case 0xE4:
        *sw = delete(e, a[3], d, lc);
        return SIM_OK;
    case 0xF2: {
        if (a[2] != 0x40)
            return (*sw = 0x6A86, SIM_OK);
        sim_tlv t;
        int r = sim_tlv_find(d, lc, 0x4F, &t);
        if (r < 0)
            return (*sw = 0x6A80, SIM_OK);
        int found = 0;
        for (uint8_t i = 0; i < e->nprof; i++)
            if (r == 0 || t.len == 0 || sim_aid_eq(&e->prof[i].aid, t.v, t.len)) {
                status_entry(rdata, &e->prof[i]);
                found = 1;
            }
        *sw = found ? 0x9000 : 0x6A88;
        return sim_buf_check(rdata, err);
    }
    case 0xCA: {
        uint16_t tag = (uint16_t)(a[2] << 8 | a[3]);
        if (tag == 0xFF21) {
            size_t m = sim_tlv_begin(rdata, 0xFF21);
            uint8_t v[4];
            sim_tlv_put_u8(rdata, 0x81, e->nprof);
            sim_put_be32(v, sim_euicc_free_mem(e));
            sim_tlv_put(rdata, 0x82, v, 4);
            sim_put_be32(v, 8192);
            sim_tlv_put(rdata, 0x83, v, 4);
            sim_tlv_end(rdata, m);
        } else if (tag == 0x005A) {
            sim_tlv_put(rdata, 0x5A, e->eid, 16);
        } else if (tag == 0x7F21) {
            sim_buf_put(rdata, e->cert, e->certlen);
        } else {
            return (*sw = 0x6A88, SIM_OK);
        }
        *sw = 0x9000;
        return sim_buf_check(rdata, err);
    }
    default:
        *sw = 0x6D00;
        return SIM_OK;
    }
}

static void put_str(char *dst, size_t cap, const sim_tlv *t)
{
    size_t l = t->len < cap - 1 ? t->len : cap - 1;
    memcpy(dst, t->v, l);
    dst[l] = 0;
}

sim_rc sim_push_parse(const uint8_t *v, size_t n, sim_push *p, sim_err *err)
{
    memset(p, 0, sizeof *p);
    sim_tlv t81, t83, t, u;
    size_t off = 0;
    if (sim_tlv_read(v, n, &off, &t81, err) || t81.tag != 0x81)
        return sim_errf(err, SIM_EPARSE, "push: no 81 administration session triggering parameters");
    p->present = 1;
    if (t81.len == 0)
        return SIM_OK; /* card defaults */
    if (!sim_tlv_wellformed(t81.v, t81.len) || sim_tlv_find(t81.v, t81.len, 0x83, &t83) != 1 ||
        !sim_tlv_wellformed(t83.v, t83.len))
        return sim_errf(err, SIM_EPARSE, "push: malformed 83 admin session parameters");
    if (sim_tlv_find(t83.v, t83.len, 0x89, &t) == 1) {
        if (!sim_tlv_wellformed(t.v, t.len))
            return sim_errf(err, SIM_EPARSE, "push: malformed 89 HTTP POST parameters");
        if (sim_tlv_find(t.v, t.len, 0x8A, &u) == 1) put_str(p->host, sizeof p->host, &u);
        if (sim_tlv_find(t.v, t.len, 0x8B, &u) == 1) put_str(p->agent, sizeof p->agent, &u);
        if (sim_tlv_find(t.v, t.len, 0x8C, &u) == 1) put_str(p->uri, sizeof p->uri, &u);
    }
    if (sim_tlv_find(t83.v, t83.len, 0x84, &t) == 1) {
        /* TS 102 223 OPEN CHANNEL TLVs: transport level 3C/BC: protocol (1) + port (2) */
        size_t o = 0;
        while (o < t.len) {
            sim_tlv x;
            if (sim_tlv_read(t.v, t.len, &o, &x, NULL))
                break;
            if ((x.tag & 0x7F) == 0x3C && x.len == 3)
                p->port = sim_be16(x.v + 1);
        }
    }
    if (sim_tlv_find(t83.v, t83.len, 0x85, &t) == 1 && t.len >= 1) {
        size_t il = t.v[0];
        if (il + 1 > t.len || il > sizeof p->psk_id)
            return sim_errf(err, SIM_EPARSE, "push: malformed 85 security parameters");
        memcpy(p->psk_id, t.v + 1, il);
        p->psk_id_len = il;
        if (t.len >= il + 4) {
            p->kvn = t.v[il + 2];
            p->key_id = t.v[il + 3];
        }
    }
    return SIM_OK;
}

#define SPI2_POR_MODE(s) ((s)[1] & 0x03)

/* The ISD-P an SMS is addressed to: its TAR is bytes 13..15 of its AID (TS 102 226 / SGP.02). */
static sim_profile *isdp_by_tar(sim_euicc *e, const uint8_t tar[3])
{
    for (uint8_t i = 0; i < e->nprof; i++) {
        const sim_aid *a = &e->prof[i].aid;
        if (a->len >= 15 && !memcmp(a->b + 12, tar, 3))
            return &e->prof[i];
    }
    return NULL;
}

sim_rc sim_isdr_sms(sim_euicc *e, const uint8_t *ud, size_t n, sim_buf *por, sim_push *push, int *power_lost,
                    sim_err *err)
{
    memset(push, 0, sizeof *push);
    if (power_lost)
        *power_lost = 0;
    if (n < 1 || (size_t)ud[0] + 1 > n)
        return sim_errf(err, SIM_EPARSE, "sms: UDH length runs past the user data");
    size_t udhl = ud[0], o = 1;
    int cmd = 0;
    while (o + 2 <= 1 + udhl) {
        uint8_t iei = ud[o], iel = ud[o + 1];
        if (o + 2 + iel > 1 + udhl)
            return sim_errf(err, SIM_EPARSE, "sms: UDH information element runs past the UDH");
        if (iei == 0x70)
            cmd = 1;
        o += 2u + iel;
    }
    if (!cmd)
        return sim_errf(err, SIM_EPROTO, "sms: no command packet identifier (IEI 70) in the UDH");
    const uint8_t *pkt = ud + 1 + udhl;
    size_t pl = n - 1 - udhl;
    if (pl < 16)
        return sim_errf(err, SIM_EPARSE, "sms: command packet of %zu bytes", pl);
    uint8_t spi[2] = {pkt[3], pkt[4]}, tar[3] = {pkt[7], pkt[8], pkt[9]};
    int por_mode = SPI2_POR_MODE(spi); /* 0 none, 1 always, 2 on error */
    /* the ISD-R's TAR, or an ISD-P's (ES8 by SMS): either way secured with the ISD-R's SCP80 keys and
     * at the ISD-R's minimum security level (the SMS transport is the ISD-R's; ES8 stays end to end) */
    sim_profile *isdp = NULL;
    if (memcmp(tar, e->isdr_tar, 3) != 0 && !(isdp = isdp_by_tar(e, tar))) {
        if (por_mode)
            sim_scp80_por_build(NULL, spi, tar, 0, SIM_POR_TAR_UNKNOWN, NULL, 0, 0, por, NULL);
        return sim_errf(err, SIM_ENOTFOUND, "sms: TAR %02x%02x%02x unknown", tar[0], tar[1], tar[2]);
    }
    if ((spi[0] & 0x07) < (e->msl & 0x07) || ((spi[0] >> 3) & 3) < ((e->msl >> 3) & 3) ||
        ((e->msl & 0x03) == 0x02 && (spi[0] & 0x03) != 0x02) || ((e->msl & 0x04) && !(spi[0] & 0x04))) {
        if (por_mode)
            sim_scp80_por_build(NULL, spi, tar, 0, SIM_POR_INSUFFICIENT_SECURITY, NULL, 0, 0, por, NULL);
        return sim_errf(err, SIM_EPERM, "sms: SPI %02x%02x below the ISD-R minimum security level", spi[0], spi[1]);
    }
    sim_buf plain;
    sim_buf_init(&plain);
    sim_scp80_cmd c;
    uint8_t status;
    int secure;
    sim_rc rc = sim_scp80_unwrap(pkt, pl, e->scp80, e->n_scp80, &c, &plain, &status, &secure, err);
    if (rc) {
        if (por_mode)
            sim_scp80_por_build(secure ? c.ks : NULL, spi, tar, c.cntr, status, NULL, 0, secure, por, NULL);
        sim_buf_free_secure(&plain);
        return rc;
    }
    const uint8_t *s = plain.p + c.data_off;
    size_t sl = c.data_len;
    sim_buf resp;
    sim_buf_init(&resp);
    int lost = 0;
    if (isdp) {
        /* ES8 to the ISD-P: the same script execution as over HTTPS (APDUs, SCP03t TLVs); the ISD-P's
         * state (key establishment, SCP03t session) lives on between packets as between scripts */
        if (sl && (s[0] == 0xAA || s[0] == 0xAE))
            rc = sim_script_run(e, isdp->aid.b, isdp->aid.len, s, sl, &resp, &lost, err);
        else
            rc = sim_script_compact(e, isdp, s, sl, &resp, err);
    } else if (sl && s[0] == 0x81) {
        rc = sim_push_parse(s, sl, push, err);
    } else if (sl && (s[0] == 0xAA || s[0] == 0xAE)) {
        rc = sim_script_run(e, NULL, 0, s, sl, &resp, &lost, err);
    } else {
        rc = sim_script_compact(e, NULL, s, sl, &resp, err);
    }
    if (lost) { /* power lost while running it: no PoR */
        if (power_lost)
            *power_lost = 1;
    } else if (por_mode == 1 || (por_mode == 2 && rc != SIM_OK)) {
        rc = sim_scp80_por_build(c.ks, spi, tar, c.cntr, SIM_POR_OK, resp.p, resp.len, 1, por, rc ? NULL : err) ? rc
                                                                                                            : rc;
    }
    sim_buf_free_secure(&plain);
    sim_buf_free_secure(&resp);
    return rc;
}

sim_rc sim_isdr_mo_notification(sim_euicc *e, const sim_notif *nt, sim_buf *ud, sim_err *err)
{
    if (!e->n_scp80)
        return sim_errf(err, SIM_ESTATE, "notification: no SCP80 key set");
    sim_buf tlv;
    sim_buf_init(&tlv);
    sim_rc rc = sim_notif_tlv(e, nt, &tlv, err);
    static const uint8_t spi[2] = {0x06, 0x00};
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    uint8_t k = (uint8_t)(e->scp80[0].kvn << 4 | 0x02);
    if (!rc) {
        sim_buf_put(ud, udh, 3);
        rc = sim_scp80_wrap(&e->scp80[0], spi, k, k, e->isdr_tar, 0, tlv.p, tlv.len, ud, err);
    }
    sim_buf_free(&tlv);
    return rc;
}
