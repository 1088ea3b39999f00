/* isdp: ISD-P key establishment, SCP03t profile download and SCP03 APDU management. */
#include "tests/sim/isdp.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tests/sim/cert.h"
#include "tests/sim/tlv.h"

void sim_isdp_rt_free(sim_profile *p)
{
    sim_isdp_rt *rt = p->rt;
    if (!rt)
        return;
    sim_ecka_reset(&rt->ecka);
    sim_buf_free_secure(&rt->sd);
    if (rt->pkg_active)
        sim_pkg_free(&rt->pkg);
    OPENSSL_cleanse(rt, sizeof *rt);
    free(rt);
    p->rt = NULL;
}

static sim_isdp_rt *rt_of(sim_profile *p)
{
    if (!p->rt)
        p->rt = calloc(1, sizeof *p->rt);
    return p->rt;
}

/* 3A01 / 3A02 processing on the buffered STORE DATA bytes */
static uint16_t store_data(sim_euicc *e, sim_profile *p, sim_isdp_rt *rt, int last, sim_buf *rdata, sim_err *err)
{
    while (rt->sd.len >= 3) {
        size_t off = 0;
        uint16_t tag;
        const uint8_t *v;
        size_t vl;
        sim_err e2 = {0};
        if (sim_dgi_read(rt->sd.p, rt->sd.len, &off, &tag, &v, &vl, &e2) != SIM_OK)
            return last ? 0x6A80 : 0x9000; /* wait for the next block */
        if (tag == 0x3A01) {
            sim_rc rc = sim_ecka_certificate(&rt->ecka, e->ci, SIM_CERT_TYPE_SMDP, v, vl, rdata, err);
            memmove(rt->sd.p, rt->sd.p + off, rt->sd.len - off);
            rt->sd.len -= off;
            if (rc)
                return rc == SIM_EVERIFY ? 0x6982 : rc == SIM_EPERM ? 0x6985 : 0x6A80;
            continue;
        }
        if (tag == 0x3A02) {
            /* needs 7F49 and 5F37 after the DGI */
            size_t o = off, k = 0;
            sim_tlv t;
            while (k < 2 && sim_tlv_read(rt->sd.p, rt->sd.len, &o, &t, NULL) == SIM_OK)
                k++;
            if (k < 2 && !last)
                return 0x9000;
            EVP_PKEY *ecasd = sim_euicc_ecasd(e, err);
            if (!ecasd)
                return 0x6F00;
            sim_ecka_result r;
            sim_rc rc = sim_ecka_establish(&rt->ecka, ecasd, 0x10, rt->sd.p, k < 2 ? rt->sd.len : o, e->eid + 8, 8,
                                           p->aid.b, p->aid.len, &r, rdata, err);
            rt->sd.len = 0;
            sim_ecka_reset(&rt->ecka);
            if (rc) {
                OPENSSL_cleanse(&r, sizeof r);
                return rc == SIM_EVERIFY ? 0x6982 : rc == SIM_ESTATE ? 0x6985 : 0x6A80;
            }
            memset(&p->scp03, 0, sizeof p->scp03);
            p->scp03.kvn = r.kvn;
            p->scp03.klen = 16;
            memcpy(p->scp03.enc, r.keys[0], 16);
            memcpy(p->scp03.mac, r.keys[1], 16);
            memcpy(p->scp03.dek, r.keys[2], 16);
            p->scp03.seq = 0;
            p->has_scp03 = 1;
            if (p->lcs == SIM_LCS_SELECTABLE)
                p->lcs = SIM_LCS_PERSONALIZED;
            rt->perso = 0;
            OPENSSL_cleanse(&r, sizeof r);
            continue;
        }
        sim_errf(err, SIM_EPROTO, "ISD-P: DGI %04x not supported", tag);
        rt->sd.len = 0;
        return 0x6A88;
    }
    return 0x9000;
}

static uint16_t mgmt_store_data(sim_profile *p, const uint8_t *d, size_t n)
{
    size_t off = 0;
    uint16_t tag;
    const uint8_t *v;
    size_t vl;
    if (sim_dgi_read(d, n, &off, &tag, &v, &vl, NULL) != SIM_OK)
        return 0x6A80;
    if (tag != 0x3A07)
        return 0x6A88;
    if (vl > sizeof p->conn)
        return 0x6A84;
    memcpy(p->conn, v, vl);
    p->connlen = (uint8_t)vl;
    return 0x9000;
}

sim_rc sim_isdp_apdu(sim_euicc *e, sim_profile *p, const uint8_t *a, size_t n, sim_buf *rdata, uint16_t *sw,
                     sim_err *err)
{
    *sw = 0x6F00;
    if (n < 4)
        return sim_errf(err, SIM_EPARSE, "ISD-P: APDU of %zu bytes", n);
    sim_isdp_rt *rt = rt_of(p);
    if (!rt)
        return sim_errf(err, SIM_ENOMEM, "ISD-P: out of memory");
    size_t lc = n > 5 ? a[4] : 0;
    if (n > 5 && 5 + lc > n)
        return (*sw = 0x6700, SIM_OK);
    const uint8_t *d = a + 5;
    uint8_t cla = a[0], ins = a[1];
    if (cla == 0x80 && ins == 0xE6 && a[2] == 0x20) { /* INSTALL [for personalization] */
        if (lc < 3 || d[2] + 3u > lc || !sim_aid_eq(&p->aid, d + 3, d[2]))
            return (*sw = 0x6A80, SIM_OK);
        if (p->lcs != SIM_LCS_SELECTABLE && p->lcs != SIM_LCS_PERSONALIZED)
            return (*sw = 0x6985, SIM_OK);
        rt->perso = 1;
        rt->sd.len = 0;
        return (*sw = 0x9000, SIM_OK);
    }
    if (cla == 0x80 && ins == 0xE2) { /* STORE DATA (key establishment) */
        if (!rt->perso)
            return (*sw = 0x6985, SIM_OK);
        sim_buf_put(&rt->sd, d, lc);
        if (sim_buf_check(&rt->sd, err))
            return SIM_ENOMEM;
        *sw = store_data(e, p, rt, (a[2] & 0x80) != 0, rdata, err);
        return SIM_OK;
    }
    if (cla == 0x80 && ins == 0x50) { /* INITIALIZE UPDATE (APDU mode) */
        if (!p->has_scp03 || lc != 8)
            return (*sw = p->has_scp03 ? 0x6700 : 0x6985, SIM_OK);
        if (a[2] && a[2] != p->scp03.kvn)
            return (*sw = 0x6A88, SIM_OK);
        uint8_t resp[32];
        if (sim_scp03_init_update(&p->scp03, p->aid.b, p->aid.len, d, NULL, &rt->s03, resp, err))
            return (*sw = 0x6985, SIM_OK);
        rt->tlv_session = 0;
        sim_buf_put(rdata, resp, 32);
        return (*sw = 0x9000, sim_buf_check(rdata, err));
    }
    if (cla == 0x84 && ins == 0x82) {
        sim_err e2 = {0};
        *sw = sim_scp03_ext_auth_apdu(&rt->s03, a, n, &e2) == SIM_OK ? 0x9000 : 0x6982;
        return SIM_OK;
    }
    if ((cla & 0x04) && rt->s03.state == SIM_SCP03_OPEN && !rt->tlv_session) {
        sim_buf plain;
        sim_buf_init(&plain);
        sim_err e2 = {0};
        if (sim_scp03_unwrap_apdu(&rt->s03, a, n, &plain, &e2) != SIM_OK) {
            sim_buf_free_secure(&plain);
            rt->s03.state = SIM_SCP03_NONE;
            return (*sw = 0x6982, SIM_OK);
        }
        uint16_t s = 0x6D00;
        if (plain.p[1] == 0xE2 && plain.len > 5)
            s = mgmt_store_data(p, plain.p + 5, plain.p[4]);
        sim_buf_free_secure(&plain);
        sim_buf tmp;
        sim_buf_init(&tmp);
        sim_rc rc = sim_scp03_wrap_resp(&rt->s03, NULL, 0, s, &tmp, err);
        if (!rc && tmp.len > 2)
            sim_buf_put(rdata, tmp.p, tmp.len - 2); /* R-MAC */
        sim_buf_free(&tmp);
        *sw = s;
        return rc;
    }
    *sw = 0x6D00;
    return SIM_OK;
}

static void errtlv(sim_buf *resp, uint8_t t, uint8_t reason)
{
    uint8_t v[4] = {0x9F, t, 0x01, reason};
    sim_buf_put(resp, v, 4);
}

sim_rc sim_isdp_tlv(sim_euicc *e, sim_profile *p, const uint8_t *tlv, size_t n, sim_buf *resp, int *power_lost,
                    sim_err *err)
{
    *power_lost = 0;
    sim_isdp_rt *rt = rt_of(p);
    if (!rt)
        return sim_errf(err, SIM_ENOMEM, "ISD-P: out of memory");
    size_t off = 0;
    sim_tlv t;
    sim_rc rc = sim_tlv_read(tlv, n, &off, &t, err);
    if (rc)
        return rc;
    if (t.tag == 0x84) {
        if (!p->has_scp03 || p->lcs != SIM_LCS_PERSONALIZED || t.len != 10 || (t.v[0] && t.v[0] != p->scp03.kvn)) {
            errtlv(resp, 0x44, 0x01);
            return sim_errf(err, SIM_ESTATE, "SCP03t 84: no key set or ISD-P not PERSONALIZED");
        }
        uint8_t r32[32];
        if ((rc = sim_scp03_init_update(&p->scp03, p->aid.b, p->aid.len, t.v + 2, NULL, &rt->s03, r32, err))) {
            errtlv(resp, 0x44, 0x02);
            return rc;
        }
        rt->tlv_session = 1;
        sim_tlv_put(resp, 0x84, r32, 32);
        return sim_buf_check(resp, err);
    }
    if (t.tag == 0x85) {
        if ((rc = sim_scp03_ext_auth_tlv(&rt->s03, t.v, t.len, err))) {
            errtlv(resp, 0x45, rc == SIM_EVERIFY ? 0x01 : 0x02);
            return rc;
        }
        if ((rt->s03.sl & (SIM_SL_CMAC | SIM_SL_CDEC)) != (SIM_SL_CMAC | SIM_SL_CDEC)) {
            rt->s03.state = SIM_SCP03_NONE;
            errtlv(resp, 0x45, 0x02);
            return sim_errf(err, SIM_EPROTO, "SCP03t 85: security level %02x lacks C-MAC/C-DEC", rt->s03.sl);
        }
        if (rt->pkg_active)
            sim_pkg_free(&rt->pkg);
        sim_pkg_init(&rt->pkg, p->quota);
        rt->pkg_active = 1;
        rt->segments = 0;
        sim_buf_u8(resp, 0x85);
        sim_buf_u8(resp, 0x00);
        return sim_buf_check(resp, err);
    }
    if (t.tag != 0x86) {
        errtlv(resp, 0x46, 0x02);
        return sim_errf(err, SIM_EPROTO, "SCP03t: tag %x not supported", t.tag);
    }
    if (rt->s03.state != SIM_SCP03_OPEN || !rt->tlv_session || !rt->pkg_active || rt->pkg.done || rt->pkg.failed) {
        errtlv(resp, 0x46, 0x02);
        return sim_errf(err, SIM_ESTATE, "SCP03t 86: no open session or installation already finished");
    }
    if (e->fault.power_loss_after && rt->segments >= e->fault.power_loss_after) {
        *power_lost = 1;
        sim_isdp_rt_free(p); /* RAM state gone; what was installed stays until the SM deletes the ISD-P */
        return SIM_OK;
    }
    sim_buf plain;
    sim_buf_init(&plain);
    if ((rc = sim_scp03t_unwrap(&rt->s03.ch, tlv, n, 1, &plain, err))) {
        sim_buf_free_secure(&plain);
        rt->s03.state = SIM_SCP03_NONE; /* the chain is broken: a new 84/85 is needed */
        errtlv(resp, 0x46, 0x01);
        return rc;
    }
    rt->segments++;
    sim_err perr = {0};
    sim_rc frc = sim_pkg_feed(&rt->pkg, plain.p, plain.len, &perr);
    sim_buf_free_secure(&plain);
    p->used = (uint32_t)rt->pkg.total;
    if (frc == SIM_OK && !rt->pkg.done)
        return sim_scp03t_resp(&rt->s03.ch, NULL, 0, resp, err);
    sim_buf r;
    sim_buf_init(&r);
    rc = sim_pkg_response(&rt->pkg, &r, err);
    if (!rc)
        rc = sim_scp03t_resp(&rt->s03.ch, r.p, r.len, resp, err);
    sim_buf_free(&r);
    if (frc == SIM_OK) {
        const sim_pkg_info *in = &rt->pkg.info;
        memcpy(p->iccid, in->iccid, sizeof p->iccid);
        memcpy(p->imsi, in->imsi, sizeof p->imsi);
        {
            size_t tl = strnlen(in->profile_type, sizeof p->profile_type - 1);
            memcpy(p->profile_type, in->profile_type, tl);
            p->profile_type[tl] = 0;
        }
        p->pol1 = in->pol1;
        p->algo = in->algo;
        p->klen = in->klen;
        memcpy(p->k, in->k, sizeof p->k);
        memcpy(p->opc, in->opc, in->opclen < 16 ? in->opclen : 16);
        p->n_pes = in->n_pes;
        p->n_files = in->n_files;
        p->fs_bytes = in->content_bytes;
        if (in->connlen) {
            memcpy(p->conn, in->conn, in->connlen);
            p->connlen = in->connlen;
        }
        if (!p->msisdn[0]) /* the network's default number for a new subscription: its IMSI (ctl `msisdn` changes it) */
            memcpy(p->msisdn, p->imsi, sizeof p->msisdn);
        p->lcs = SIM_LCS_DISABLED;
        rt->s03.state = SIM_SCP03_NONE;
        sim_pkg_free(&rt->pkg);
        rt->pkg_active = 0;
    } else {
        sim_errf(err, SIM_EPROTO, "%s", perr.msg);
    }
    return rc;
}
