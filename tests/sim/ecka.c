/* ecka: card side of Scenario #3 key establishment. */
#include "tests/sim/ecka.h"

#include <string.h>

#include <openssl/crypto.h>

#include "tests/sim/cert.h"
#include "tests/sim/ec.h"
#include "tests/sim/prim.h"
#include "tests/sim/tlv.h"

void sim_ecka_reset(sim_ecka_state *st)
{
    EVP_PKEY_free(st->oce_pub);
    st->oce_pub = NULL;
    st->have_rc = 0;
    st->cert_type = 0;
}

sim_rc sim_ecka_certificate(sim_ecka_state *st, EVP_PKEY *ci, uint8_t expected_type, const uint8_t *cert,
                            size_t n, sim_buf *resp, sim_err *err)
{
    sim_ecka_reset(st);
    sim_gpcert c;
    sim_rc rc = sim_gpcert_parse(cert, n, &c, err);
    if (rc)
        return rc;
    if (c.total != n)
        return sim_errf(err, SIM_EPARSE, "key establishment: %zu bytes after the certificate", n - c.total);
    if (c.cert_type != expected_type)
        return sim_errf(err, SIM_EPERM, "key establishment: certificate type %02x, expected %02x", c.cert_type,
                        expected_type);
    if ((rc = sim_gpcert_verify(&c, ci, err)))
        return rc;
    if ((rc = sim_ec_pub_from_point(c.curve, c.pub, 65, &st->oce_pub, err)))
        return rc;
    st->cert_type = c.cert_type;
    if (st->use_fixed_rc)
        memcpy(st->rc, st->fixed_rc, 16);
    else if ((rc = sim_random(st->rc, 16, err)))
        return rc;
    st->have_rc = 1;
    sim_tlv_put(resp, 0x85, st->rc, 16);
    return sim_buf_check(resp, err);
}

sim_rc sim_ecka_establish(sim_ecka_state *st, EVP_PKEY *ecasd, uint8_t expected_qualifier, const uint8_t *data,
                          size_t n, const uint8_t *sin, size_t sinlen, const uint8_t *sdin, size_t sdinlen,
                          sim_ecka_result *r, sim_buf *resp, sim_err *err)
{
    memset(r, 0, sizeof *r);
    if (!st->have_rc || !st->oce_pub)
        return sim_errf(err, SIM_ESTATE, "key establishment: DGI 3A02 without a verified certificate (3A01)");
    st->have_rc = 0;
    size_t off = 0;
    uint16_t dgi;
    const uint8_t *crt;
    size_t crtlen;
    sim_rc rc = sim_dgi_read(data, n, &off, &dgi, &crt, &crtlen, err);
    if (rc)
        return rc;
    if (dgi != 0x3A02)
        return sim_errf(err, SIM_EPARSE, "key establishment: DGI %04x, expected 3A02", dgi);
    size_t dgi_end = off;
    sim_tlv a6, epk, sig;
    size_t co = 0;
    if ((rc = sim_tlv_read(crt, crtlen, &co, &a6, err)))
        return rc;
    if (a6.tag != 0xA6 || co != crtlen)
        return sim_errf(err, SIM_EPARSE, "key establishment: DGI 3A02 must hold exactly one A6 CRT");
    if ((rc = sim_tlv_read(data, n, &off, &epk, err)))
        return rc;
    size_t signed_end = off;
    if ((rc = sim_tlv_read(data, n, &off, &sig, err)))
        return rc;
    if (epk.tag != 0x7F49 || sig.tag != 0x5F37 || off != n)
        return sim_errf(err, SIM_EPARSE, "key establishment: expected 3A02 DGI, 7F49, 5F37 and nothing else");
    (void)dgi_end;
    /* CRT */
    sim_tlv t;
    if (sim_tlv_find(a6.v, a6.len, 0x90, &t) != 1 || t.len != 2 || t.v[0] != 0x03)
        return sim_errf(err, SIM_EPROTO, "key establishment: CRT 90 is not scenario #3");
    r->scenario_param = t.v[1];
    struct { uint32_t tag; uint8_t *dst; } one[] = {
        {0x95, &r->qualifier}, {0x80, &r->key_type}, {0x81, &r->key_len}, {0x82, &r->key_id}, {0x83, &r->kvn}};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        if (sim_tlv_find(a6.v, a6.len, one[i].tag, &t) != 1 || t.len != 1)
            return sim_errf(err, SIM_EPROTO, "key establishment: CRT tag %02x missing or not 1 byte", one[i].tag);
        *one[i].dst = t.v[0];
    }
    if (r->qualifier != expected_qualifier)
        return sim_errf(err, SIM_EPROTO, "key establishment: key usage qualifier %02x, expected %02x", r->qualifier,
                        expected_qualifier);
    if (r->key_type != 0x88 || r->key_len != 16)
        return sim_errf(err, SIM_EPROTO, "key establishment: only AES-128 keys (80 88, 81 10) are supported");
    if (sim_tlv_find(a6.v, a6.len, 0x91, &t) == 1) {
        if (t.len > sizeof r->counter)
            return sim_errf(err, SIM_EPROTO, "key establishment: initial counter 91 too long");
        memcpy(r->counter, t.v, t.len);
        r->counterlen = t.len;
    }
    r->nkeys = r->qualifier == 0x10 ? 3 : 1;
    /* ePK and signature */
    uint8_t pt[65], curve;
    if ((rc = sim_gp_pubkey_parse(epk.v, epk.len, pt, &curve, err)))
        return rc;
    if ((int)curve != sim_ec_curve_ref(ecasd))
        return sim_errf(err, SIM_EPROTO, "key establishment: ephemeral key on curve %02x, ECASD on another", curve);
    sim_buf sd;
    sim_buf_init(&sd);
    sim_buf_put(&sd, data, signed_end);
    uint8_t rctag[3] = {0x00, 0x85, 0x10};
    sim_buf_put(&sd, rctag, 3);
    sim_buf_put(&sd, st->rc, 16);
    rc = sim_buf_check(&sd, err);
    if (!rc)
        rc = sim_ecdsa_verify(st->oce_pub, sd.p, sd.len, sig.v, sig.len, err);
    sim_buf_free(&sd);
    if (rc) {
        sim_err_prefix(err, "key establishment: signature of the off-card entity");
        return rc;
    }
    EVP_PKEY *eph = NULL;
    if ((rc = sim_ec_pub_from_point(curve, pt, 65, &eph, err)))
        return rc;
    rc = sim_ecdh(ecasd, eph, r->shs, err);
    EVP_PKEY_free(eph);
    if (rc)
        return rc;
    /* SharedInfo */
    sim_buf si;
    sim_buf_init(&si);
    sim_buf_u8(&si, r->qualifier);
    sim_buf_u8(&si, r->key_type);
    sim_buf_u8(&si, r->key_len);
    if (r->scenario_param & 0x02) {
        r->drlen = 16;
        if (st->use_fixed_dr)
            memcpy(r->dr, st->fixed_dr, 16);
        else if ((rc = sim_random(r->dr, 16, err))) {
            sim_buf_free(&si);
            return rc;
        }
        sim_buf_put(&si, r->dr, 16);
    }
    if (r->scenario_param & 0x04) {
        sim_tlv hid, sdn;
        if (sim_tlv_find(a6.v, a6.len, 0x84, &hid) != 1) {
            sim_buf_free(&si);
            return sim_errf(err, SIM_EPROTO, "key establishment: scenario bit 04 without HostID (84)");
        }
        if (sim_tlv_find(a6.v, a6.len, 0x45, &sdn) == 1) {
            sdin = sdn.v;
            sdinlen = sdn.len;
        }
        sim_tlv_put_len(&si, hid.len);
        sim_buf_put(&si, hid.v, hid.len);
        sim_tlv_put_len(&si, sinlen);
        sim_buf_put(&si, sin, sinlen);
        sim_tlv_put_len(&si, sdinlen);
        sim_buf_put(&si, sdin, sdinlen);
    }
    uint8_t kd[64];
    size_t kdlen = 16 * (1 + (size_t)r->nkeys);
    if (!(rc = sim_buf_check(&si, err)))
        rc = sim_x963_kdf(r->shs, 32, si.p, si.len, kd, kdlen, err);
    sim_buf_free(&si);
    if (rc)
        return rc;
    memcpy(r->receipt_key, kd, 16);
    for (uint8_t i = 0; i < r->nkeys; i++)
        memcpy(r->keys[i], kd + 16 * (i + 1), 16);
    OPENSSL_cleanse(kd, sizeof kd);
    /* receipt = CMAC(receipt key, A6 CRT as sent || [85 L DR]) */
    sim_cmac m;
    if ((rc = sim_cmac_init(&m, r->receipt_key, 16, err)))
        return rc;
    rc = sim_cmac_update(&m, a6.raw, a6.rawlen, err);
    if (!rc && r->drlen) {
        uint8_t h[2] = {0x85, (uint8_t)r->drlen};
        rc = sim_cmac_update(&m, h, 2, err);
        if (!rc)
            rc = sim_cmac_update(&m, r->dr, r->drlen, err);
    }
    if (rc) {
        sim_cmac_abort(&m);
        return rc;
    }
    if ((rc = sim_cmac_final(&m, r->receipt, err)))
        return rc;
    if (r->drlen)
        sim_tlv_put(resp, 0x85, r->dr, r->drlen);
    sim_tlv_put(resp, 0x86, r->receipt, 16);
    return sim_buf_check(resp, err);
}
