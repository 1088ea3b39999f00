/* cert: GP 7F21 certificate codec. */
#include "tests/sim/cert.h"

#include <string.h>

#include "tests/sim/ec.h"
#include "tests/sim/tlv.h"

static void bcd_date(const uint8_t *v, size_t n, char out[9])
{
    out[0] = 0;
    if (n != 4 && n != 3)
        return;
    char tmp[9];
    size_t k = 0;
    if (n == 3) {
        tmp[k++] = '2';
        tmp[k++] = '0';
    }
    for (size_t i = 0; i < n; i++) {
        tmp[k++] = (char)('0' + (v[i] >> 4));
        tmp[k++] = (char)('0' + (v[i] & 15));
    }
    tmp[k] = 0;
    memcpy(out, tmp, 9);
}

sim_rc sim_gp_pubkey_parse(const uint8_t *v, size_t n, uint8_t pt[65], uint8_t *curve, sim_err *err)
{
    sim_tlv b0, f0;
    if (sim_tlv_find(v, n, 0xB0, &b0) != 1 || b0.len != 65 || b0.v[0] != 0x04)
        return sim_errf(err, SIM_EPARSE, "7F49: no 65-byte uncompressed point in B0");
    int r = sim_tlv_find(v, n, 0xF0, &f0);
    if (r < 0 || (r == 1 && f0.len != 1))
        return sim_errf(err, SIM_EPARSE, "7F49: malformed curve reference F0");
    memcpy(pt, b0.v, 65);
    *curve = r == 1 ? f0.v[0] : SIM_CURVE_P256;
    return SIM_OK;
}

sim_rc sim_gpcert_parse(const uint8_t *p, size_t n, sim_gpcert *c, sim_err *err)
{
    memset(c, 0, sizeof *c);
    size_t off = 0;
    sim_tlv outer;
    sim_rc rc = sim_tlv_read(p, n, &off, &outer, err);
    if (rc)
        return rc;
    if (outer.tag != 0x7F21)
        return sim_errf(err, SIM_EPARSE, "certificate: tag %x is not 7F21", outer.tag);
    c->total = off;
    int have_pk = 0, have_sig = 0;
    size_t o = 0;
    while (o < outer.len) {
        size_t before = o;
        sim_tlv t;
        if ((rc = sim_tlv_read(outer.v, outer.len, &o, &t, err)))
            return rc;
        if (have_sig)
            return sim_errf(err, SIM_EPARSE, "certificate: data after the signature 5F37");
        switch (t.tag) {
        case 0x93: c->serial = t.v; c->serial_len = t.len; break;
        case 0x42: c->caid = t.v; c->caid_len = t.len; break;
        case 0x5F20: c->subject = t.v; c->subject_len = t.len; break;
        case 0x95: c->usage = t.v; c->usage_len = t.len; break;
        case 0x5F25: bcd_date(t.v, t.len, c->effective); break;
        case 0x5F24: bcd_date(t.v, t.len, c->expiry); break;
        case 0x73:
        case 0x53: {
            sim_tlv x;
            int r = sim_tlv_find(t.v, t.len, 0xC8, &x);
            if (r < 0 || (r == 1 && x.len != 1))
                return sim_errf(err, SIM_EPARSE, "certificate: malformed discretionary data");
            if (r == 1)
                c->cert_type = x.v[0];
            if (sim_tlv_find(t.v, t.len, 0xC9, &x) == 1) {
                c->aki = x.v;
                c->aki_len = x.len;
            }
            break;
        }
        case 0x7F49:
            if ((rc = sim_gp_pubkey_parse(t.v, t.len, c->pub, &c->curve, err)))
                return rc;
            have_pk = 1;
            break;
        case 0x5F37:
            if (t.len != 64)
                return sim_errf(err, SIM_EPARSE, "certificate: signature is %zu bytes, expected 64", t.len);
            memcpy(c->sig, t.v, 64);
            c->signed_data = outer.v;
            c->signed_len = before;
            have_sig = 1;
            break;
        default:
            break; /* unknown TLVs are signed data too */
        }
    }
    if (!have_pk || !have_sig)
        return sim_errf(err, SIM_EPARSE, "certificate: %s missing", have_pk ? "signature 5F37" : "public key 7F49");
    return SIM_OK;
}

sim_rc sim_gpcert_verify(const sim_gpcert *c, EVP_PKEY *issuer, sim_err *err)
{
    sim_rc rc = sim_ecdsa_verify(issuer, c->signed_data, c->signed_len, c->sig, 64, err);
    if (rc)
        sim_err_prefix(err, "certificate signature");
    return rc;
}

sim_rc sim_gp_pubkey_tlv(EVP_PKEY *k, sim_buf *out, sim_err *err)
{
    uint8_t pt[65];
    int ref = sim_ec_curve_ref(k);
    if (ref < 0)
        return sim_errf(err, SIM_EINVAL, "7F49: key is not on a supported curve");
    sim_rc rc = sim_ec_pub_point(k, pt, err);
    if (rc)
        return rc;
    size_t m = sim_tlv_begin(out, 0x7F49);
    sim_tlv_put(out, 0xB0, pt, 65);
    sim_tlv_put_u8(out, 0xF0, (uint8_t)ref);
    sim_tlv_end(out, m);
    return sim_buf_check(out, err);
}

static void put_date(sim_buf *b, uint32_t tag, const char *d)
{
    if (!d || strlen(d) != 8)
        return;
    uint8_t v[4];
    for (int i = 0; i < 4; i++)
        v[i] = (uint8_t)((d[2 * i] - '0') << 4 | (d[2 * i + 1] - '0'));
    sim_tlv_put(b, tag, v, 4);
}

sim_rc sim_gpcert_build(const sim_gpcert_tmpl *t, EVP_PKEY *issuer, sim_buf *out, sim_err *err)
{
    sim_buf body;
    sim_buf_init(&body);
    sim_tlv_put(&body, 0x93, t->serial, t->serial_len);
    sim_tlv_put(&body, 0x42, t->caid, t->caid_len);
    sim_tlv_put(&body, 0x5F20, t->subject, t->subject_len);
    sim_tlv_put(&body, 0x95, t->usage, t->usage_len);
    put_date(&body, 0x5F25, t->effective);
    put_date(&body, 0x5F24, t->expiry);
    if (t->cert_type || t->aki) {
        size_t m = sim_tlv_begin(&body, 0x73);
        if (t->cert_type)
            sim_tlv_put_u8(&body, 0xC8, t->cert_type);
        if (t->aki)
            sim_tlv_put(&body, 0xC9, t->aki, t->aki_len);
        sim_tlv_end(&body, m);
    }
    sim_rc rc = sim_gp_pubkey_tlv(t->subject_key, &body, err);
    uint8_t sig[64];
    if (!rc && !(rc = sim_buf_check(&body, err)) && !(rc = sim_ecdsa_sign(issuer, body.p, body.len, sig, err))) {
        sim_tlv_put(&body, 0x5F37, sig, 64);
        sim_tlv_put(out, 0x7F21, body.p, body.len);
        rc = sim_buf_check(out, err);
    }
    sim_buf_free(&body);
    return rc;
}
