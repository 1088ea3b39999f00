/* GP Amendment E certificates (7F21): strict parser, encoder, HSM issuing, X.509 CI/EUM chains. */
#include "crypto/gpcert.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ecpub.h"
#include "crypto/tlv.h"

/* ---- dates --------------------------------------------------------------------------------- */

static int bcd2(uint8_t b)
{
    if ((b >> 4) > 9 || (b & 15) > 9)
        return -1;
    return (b >> 4) * 10 + (b & 15);
}

static bool days_ok(unsigned y, unsigned m, unsigned d)
{
    static const uint8_t md[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > md[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    return true;
}

static sm_rc parse_date(const tlv *t, const char *what, gpcert_date *out, sm_err *err)
{
    int v[4];
    if (t->len != 3 && t->len != 4)
        return sm_errf(err, SM_EPARSE, "gpcert: %s (offset %zu) is %zu bytes, not BCD YYYYMMDD or YYMMDD", what,
                       t->off, t->len);
    for (size_t i = 0; i < t->len; i++)
        if ((v[i] = bcd2(t->val[i])) < 0)
            return sm_errf(err, SM_EPARSE, "gpcert: %s (offset %zu) is not BCD", what, t->off);
    unsigned y, m, d;
    if (t->len == 4) {
        y = (unsigned)(v[0] * 100 + v[1]);
        m = (unsigned)v[2];
        d = (unsigned)v[3];
    } else {
        y = 2000u + (unsigned)v[0];
        m = (unsigned)v[1];
        d = (unsigned)v[2];
    }
    if (y < 1950 || !days_ok(y, m, d))
        return sm_errf(err, SM_EPARSE, "gpcert: %s (offset %zu) is not a valid date", what, t->off);
    out->y = (uint16_t)y;
    out->m = (uint8_t)m;
    out->d = (uint8_t)d;
    return SM_OK;
}

int gpcert_date_cmp(const gpcert_date *a, const gpcert_date *b)
{
    long x = (long)a->y * 10000 + a->m * 100 + a->d, y = (long)b->y * 10000 + b->m * 100 + b->d;
    return x < y ? -1 : x > y;
}

void gpcert_date_from_time(time_t t, gpcert_date *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    out->y = (uint16_t)(tm.tm_year + 1900);
    out->m = (uint8_t)(tm.tm_mon + 1);
    out->d = (uint8_t)tm.tm_mday;
}

static void put_date(const gpcert_date *d, uint8_t out[4])
{
    unsigned c = d->y / 100, y = d->y % 100;
    out[0] = (uint8_t)((c / 10) << 4 | c % 10);
    out[1] = (uint8_t)((y / 10) << 4 | y % 10);
    out[2] = (uint8_t)((d->m / 10) << 4 | d->m % 10);
    out[3] = (uint8_t)((d->d / 10) << 4 | d->d % 10);
}

uint8_t gpcert_curve_ref(hsm_curve c)
{
    return c == HSM_CURVE_BP256R1 ? GPCERT_CURVE_BP256R1 : GPCERT_CURVE_P256;
}

const char *gpcert_curve_name(hsm_curve c)
{
    return ecpub_group_name(c);
}

/* ---- parsing --------------------------------------------------------------------------------- */

static sm_rc len_range(const tlv *t, const char *what, size_t lo, size_t hi, sm_err *err)
{
    if (t->len < lo || t->len > hi)
        return sm_errf(err, SM_EPARSE, "gpcert: %s (offset %zu) has %zu bytes, expected %zu..%zu", what, t->off,
                       t->len, lo, hi);
    return SM_OK;
}

static sm_rc parse_disc(gpcert *c, const tlv_rd *parent, const tlv *d, sm_err *err)
{
    tlv_rd r;
    sm_rc rc = tlv_rd_child(parent, d, &r, err);
    if (rc != SM_OK)
        return rc;
    c->has_disc = true;
    c->disc_tag = d->tag;
    c->disc = d->val;
    c->disc_len = d->len;
    tlv t;
    bool present;
    rc = tlv_optional(&r, 0xC8, &t, &present, err);
    if (rc == SM_OK && present) {
        if ((rc = len_range(&t, "certificate type (C8)", 1, 1, err)) != SM_OK)
            return rc;
        c->cert_type = t.val[0];
    }
    if (rc == SM_OK)
        rc = tlv_optional(&r, 0xC9, &t, &present, err);
    if (rc == SM_OK && present) {
        if ((rc = len_range(&t, "authority key identifier (C9)", 1, 64, err)) != SM_OK)
            return rc;
        c->aki = t.val;
        c->aki_len = t.len;
    }
    /* further discretionary TLVs (e.g. 45 on ECASD certificates) must be well-formed */
    while (rc == SM_OK) {
        rc = tlv_next(&r, &t, err);
        if (rc == SM_ENOTFOUND)
            return SM_OK;
        if (rc == SM_OK && (t.tag == 0xC8 || t.tag == 0xC9))
            return sm_errf(err, SM_EPARSE, "gpcert: offset %zu: tag %02X repeated or out of order in the "
                           "discretionary data", t.off, (unsigned)t.tag);
    }
    return rc;
}

static sm_rc parse_pubkey(gpcert *c, const tlv_rd *parent, const tlv *k, sm_err *err)
{
    tlv_rd r;
    tlv b0, f0;
    sm_rc rc = tlv_rd_child(parent, k, &r, err);
    if (rc == SM_OK)
        rc = tlv_expect(&r, 0xB0, &b0, "public key point", err);
    if (rc == SM_OK)
        rc = tlv_expect(&r, 0xF0, &f0, "curve parameter reference", err);
    if (rc == SM_OK)
        rc = tlv_rd_end(&r, "public key (7F49)", err);
    if (rc != SM_OK)
        return rc;
    if (b0.len != 65 || b0.val[0] != 0x04)
        return sm_errf(err, SM_EPARSE, "gpcert: public key (offset %zu) is not a 65-byte uncompressed point",
                       b0.off);
    if (f0.len != 1)
        return sm_errf(err, SM_EPARSE, "gpcert: curve reference (offset %zu) is %zu bytes, not 1", f0.off, f0.len);
    c->pubkey = b0.val;
    c->pubkey_len = b0.len;
    c->curve_ref = f0.val[0];
    if (c->curve_ref == GPCERT_CURVE_P256)
        c->curve = HSM_CURVE_P256;
    else if (c->curve_ref == GPCERT_CURVE_BP256R1)
        c->curve = HSM_CURVE_BP256R1;
    else
        return sm_errf(err, SM_EPARSE, "gpcert: curve reference %02X (offset %zu) is not P-256 (00) or "
                       "brainpoolP256r1 (03)", c->curve_ref, f0.off);
    return SM_OK;
}

sm_rc gpcert_parse(const uint8_t *p, size_t len, gpcert *c, sm_err *err)
{
    memset(c, 0, sizeof *c);
    c->cert_type = -1;
    tlv top, t;
    tlv_rd outer, r;
    tlv_rd_init(&outer, p, len, TLV_F_MINLEN);
    sm_rc rc = tlv_expect(&outer, 0x7F21, &top, "certificate", err);
    if (rc == SM_OK)
        rc = tlv_rd_end(&outer, "the certificate input", err);
    if (rc == SM_OK)
        rc = tlv_rd_child(&outer, &top, &r, err);
    if (rc != SM_OK)
        goto out;
    c->raw = top.raw;
    c->rawlen = top.rawlen;
    c->tbs = top.val;

    if ((rc = tlv_expect(&r, 0x93, &t, "serial number", err)) != SM_OK ||
        (rc = len_range(&t, "serial number (93)", 1, 20, err)) != SM_OK)
        goto out;
    c->serial = t.val;
    c->serial_len = t.len;
    if ((rc = tlv_expect(&r, 0x42, &t, "CA identifier", err)) != SM_OK ||
        (rc = len_range(&t, "CA identifier (42)", 1, 64, err)) != SM_OK)
        goto out;
    c->ca_id = t.val;
    c->ca_id_len = t.len;
    if ((rc = tlv_expect(&r, 0x5F20, &t, "subject identifier", err)) != SM_OK ||
        (rc = len_range(&t, "subject identifier (5F20)", 1, 64, err)) != SM_OK)
        goto out;
    c->subject_id = t.val;
    c->subject_id_len = t.len;
    if ((rc = tlv_expect(&r, 0x95, &t, "key usage", err)) != SM_OK ||
        (rc = len_range(&t, "key usage (95)", 1, 2, err)) != SM_OK)
        goto out;
    c->key_usage_len = (uint8_t)t.len;
    c->key_usage = t.len == 1 ? t.val[0] : (uint16_t)(t.val[0] << 8 | t.val[1]);
    bool present;
    if ((rc = tlv_optional(&r, 0x5F25, &t, &present, err)) != SM_OK)
        goto out;
    if (present) {
        if ((rc = parse_date(&t, "effective date (5F25)", &c->effective, err)) != SM_OK)
            goto out;
        c->has_effective = true;
    }
    if ((rc = tlv_expect(&r, 0x5F24, &t, "expiration date", err)) != SM_OK ||
        (rc = parse_date(&t, "expiration date (5F24)", &c->expiry, err)) != SM_OK)
        goto out;
    if (c->has_effective && gpcert_date_cmp(&c->effective, &c->expiry) > 0) {
        rc = sm_errf(err, SM_EPARSE, "gpcert: effective date after the expiration date");
        goto out;
    }
    if ((rc = tlv_next(&r, &t, err)) != SM_OK) {
        if (rc == SM_ENOTFOUND)
            rc = sm_errf(err, SM_EPARSE, "gpcert: certificate ends before the public key (7F49)");
        goto out;
    }
    if (t.tag == 0x45) {
        /* Security Domain image number (GP Amd A, CASD certificates; an ECASD's may carry it): kept as
         * signed, nothing checked beyond its length */
        if ((rc = len_range(&t, "SD image number (45)", 1, 16, err)) != SM_OK)
            goto out;
        c->image_number = t.val;
        c->image_number_len = t.len;
        if ((rc = tlv_next(&r, &t, err)) != SM_OK) {
            if (rc == SM_ENOTFOUND)
                rc = sm_errf(err, SM_EPARSE, "gpcert: certificate ends before the public key (7F49)");
            goto out;
        }
    }
    if (t.tag == 0x73 || t.tag == 0x53) {
        if ((rc = parse_disc(c, &r, &t, err)) != SM_OK)
            goto out;
        if ((rc = tlv_next(&r, &t, err)) != SM_OK) {
            if (rc == SM_ENOTFOUND)
                rc = sm_errf(err, SM_EPARSE, "gpcert: certificate ends before the public key (7F49)");
            goto out;
        }
    }
    if (t.tag != 0x7F49) {
        rc = sm_errf(err, SM_EPARSE, "gpcert: offset %zu: expected the public key (tag 7F49), found tag %X", t.off,
                     (unsigned)t.tag);
        goto out;
    }
    if ((rc = parse_pubkey(c, &r, &t, err)) != SM_OK)
        goto out;
    size_t sigoff = r.pos;
    if ((rc = tlv_expect(&r, 0x5F37, &t, "signature", err)) != SM_OK)
        goto out;
    if (t.len != 64) {
        rc = sm_errf(err, SM_EPARSE, "gpcert: signature (offset %zu) is %zu bytes, not 64 (r||s)", t.off, t.len);
        goto out;
    }
    c->sig = t.val;
    c->sig_len = t.len;
    c->tbslen = sigoff;
    rc = tlv_rd_end(&r, "the certificate (after 5F37)", err);
out:
    if (rc != SM_OK)
        sm_err_prefix(err, "parsing a 7F21 certificate");
    return rc;
}

/* ---- encoding ---------------------------------------------------------------------------- */

sm_rc gpcert_encode_tbs(const gpcert_tbs *t, sm_buf *out, sm_err *err)
{
    if (!t->serial_len || t->serial_len > 20 || !t->ca_id_len || t->ca_id_len > 64 || !t->subject_id_len ||
        t->subject_id_len > 64 || (t->key_usage_len != 1 && t->key_usage_len != 2) || t->pubkey_len != 65 ||
        t->pubkey[0] != 0x04 || t->aki_len > 64)
        return sm_errf(err, SM_EINVAL, "gpcert: certificate fields out of range (serial 1..20, ids 1..64, key "
                       "usage 1..2 bytes, 65-byte point)");
    if (!days_ok(t->expiry.y, t->expiry.m, t->expiry.d) ||
        (t->has_effective && !days_ok(t->effective.y, t->effective.m, t->effective.d)))
        return sm_errf(err, SM_EINVAL, "gpcert: invalid certificate date");
    uint8_t d[4], ku[2] = {(uint8_t)(t->key_usage >> 8), (uint8_t)t->key_usage};
    int bad = tlv_put(out, 0x93, t->serial, t->serial_len) || tlv_put(out, 0x42, t->ca_id, t->ca_id_len) ||
              tlv_put(out, 0x5F20, t->subject_id, t->subject_id_len) ||
              tlv_put(out, 0x95, ku + 2 - t->key_usage_len, t->key_usage_len);
    if (!bad && t->has_effective) {
        put_date(&t->effective, d);
        bad = tlv_put(out, 0x5F25, d, 4);
    }
    put_date(&t->expiry, d);
    bad = bad || tlv_put(out, 0x5F24, d, 4);
    if (!bad && t->has_disc) {
        size_t m = tlv_open(out, 0x73);
        if (t->cert_type >= 0)
            bad = tlv_put_u8(out, 0xC8, (uint8_t)t->cert_type);
        if (!bad && t->aki_len)
            bad = tlv_put(out, 0xC9, t->aki, t->aki_len);
        if (!bad && t->disc_extra_len)
            bad = sm_buf_append(out, t->disc_extra, t->disc_extra_len);
        bad = bad || tlv_close(out, m);
    }
    if (!bad) {
        size_t m = tlv_open(out, 0x7F49);
        bad = tlv_put(out, 0xB0, t->pubkey, 65) || tlv_put_u8(out, 0xF0, gpcert_curve_ref(t->curve)) ||
              tlv_close(out, m);
    }
    if (bad)
        return sm_errf(err, SM_ENOMEM, "gpcert: building the certificate failed (out of memory)");
    return SM_OK;
}

sm_rc gpcert_assemble(const uint8_t *tbs, size_t tbslen, const uint8_t *sig, size_t siglen, sm_buf *out,
                      sm_err *err)
{
    if (siglen != 64)
        return sm_errf(err, SM_EINVAL, "gpcert: signature must be 64 bytes r||s (got %zu)", siglen);
    size_t m = tlv_open(out, 0x7F21);
    if (sm_buf_append(out, tbs, tbslen) || tlv_put(out, 0x5F37, sig, 64) || tlv_close(out, m))
        return sm_errf(err, SM_ENOMEM, "gpcert: building the certificate failed (out of memory)");
    return SM_OK;
}

sm_rc gpcert_issue(hsm_sess *s, const hsm_key *ca_priv, const gpcert_tbs *t, sm_buf *out, sm_err *err)
{
    sm_buf tbs;
    sm_buf_init(&tbs);
    uint8_t sig[72];
    size_t sl = 0;
    sm_rc rc = gpcert_encode_tbs(t, &tbs, err);
    if (rc == SM_OK)
        rc = hsm_ecdsa_sign_msg(s, ca_priv, tbs.data, tbs.len, sig, sizeof sig, &sl, err);
    if (rc == SM_OK)
        rc = gpcert_assemble(tbs.data, tbs.len, sig, sl, out, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "issuing a 7F21 certificate");
    sm_buf_free(&tbs);
    return rc;
}

void gpcert_to_tbs(const gpcert *c, gpcert_tbs *t)
{
    memset(t, 0, sizeof *t);
    t->serial = c->serial;
    t->serial_len = c->serial_len;
    t->ca_id = c->ca_id;
    t->ca_id_len = c->ca_id_len;
    t->subject_id = c->subject_id;
    t->subject_id_len = c->subject_id_len;
    t->key_usage = c->key_usage;
    t->key_usage_len = c->key_usage_len;
    t->has_effective = c->has_effective;
    t->effective = c->effective;
    t->expiry = c->expiry;
    t->has_disc = c->has_disc;
    t->cert_type = c->cert_type;
    t->aki = c->aki;
    t->aki_len = c->aki_len;
    if (c->has_disc) {
        /* what follows C8/C9 inside the discretionary data */
        size_t used = (c->cert_type >= 0 ? 3 : 0) + (c->aki ? 1 + tlv_len_size(c->aki_len) + c->aki_len : 0);
        t->disc_extra = c->disc + used;
        t->disc_extra_len = c->disc_len - used;
    }
    t->pubkey = c->pubkey;
    t->pubkey_len = c->pubkey_len;
    t->curve = c->curve;
}

/* ---- verification ------------------------------------------------------------------------ */

sm_rc gpcert_verify_sig(const gpcert *c, const gpcert_issuer *issuer, sm_err *err)
{
    return ecpub_verify_raw(issuer->curve, issuer->pub, sizeof issuer->pub, c->tbs, c->tbslen, c->sig, c->sig_len,
                            err);
}

sm_rc gpcert_check(const gpcert *c, const gpcert_issuer *issuer, gpcert_purpose purpose, time_t now, sm_err *err)
{
    sm_rc rc = gpcert_verify_sig(c, issuer, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "checking the 7F21 certificate signature");
        return rc;
    }
    rc = ecpub_check_point(c->curve, c->pubkey, c->pubkey_len, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "checking the 7F21 certificate public key");
        return rc;
    }
    gpcert_date today;
    gpcert_date_from_time(now, &today);
    if (gpcert_date_cmp(&today, &c->expiry) > 0)
        return sm_errf(err, SM_EVERIFY, "gpcert: certificate expired on %04u-%02u-%02u", c->expiry.y, c->expiry.m,
                       c->expiry.d);
    if (c->has_effective && gpcert_date_cmp(&today, &c->effective) < 0)
        return sm_errf(err, SM_EVERIFY, "gpcert: certificate not valid before %04u-%02u-%02u", c->effective.y,
                       c->effective.m, c->effective.d);
    if (c->aki && issuer->key_id_len &&
        (c->aki_len != issuer->key_id_len || memcmp(c->aki, issuer->key_id, c->aki_len) != 0))
        return sm_errf(err, SM_EVERIFY, "gpcert: authority key identifier (C9) does not match the issuer's key id");
    switch (purpose) {
    case GPCERT_P_ANY:
        break;
    case GPCERT_P_SMDP:
    case GPCERT_P_SMSR: {
        int want = purpose == GPCERT_P_SMDP ? GPCERT_TYPE_SMDP : GPCERT_TYPE_SMSR;
        if (c->cert_type != want)
            return sm_errf(err, SM_EVERIFY, "gpcert: certificate type (C8) is %d, expected %d (%s)", c->cert_type, want,
                           want == GPCERT_TYPE_SMDP ? "SM-DP" : "SM-SR");
        if (c->key_usage_len != 1 || !(c->key_usage & 0x80))
            return sm_errf(err, SM_EVERIFY, "gpcert: key usage %0*X is not a signature key usage",
                           2 * c->key_usage_len, c->key_usage);
        break;
    }
    case GPCERT_P_ECASD:
        if (c->key_usage_len != 2 || !(c->key_usage & GPCERT_KU_KEY_AGREEMENT))
            return sm_errf(err, SM_EVERIFY, "gpcert: key usage %0*X is not key agreement (0080)",
                           2 * c->key_usage_len, c->key_usage);
        break;
    }
    return SM_OK;
}

static time_t asn1_time(const ASN1_TIME *a)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
        return (time_t)-1;
    return timegm(&tm);
}

/* Everything gpcert_x509_issuer checks but the validity at a given time. */
static sm_rc x509_issuer_verify(const uint8_t *der, size_t len, const gpcert_issuer *parent, gpcert_issuer *out,
                                sm_err *err)
{
    const char *role = parent ? "intermediate (EUM) X.509 certificate" : "CI X.509 certificate";
    const unsigned char *p = der;
    X509 *x = len > 0 && len < 65536 ? d2i_X509(NULL, &p, (long)len) : NULL;
    sm_rc rc = SM_OK;
    EVP_PKEY *ppk = NULL;
    memset(out, 0, sizeof *out);
    if (!x || p != der + len) {
        rc = sm_errf(err, SM_EPARSE, "gpcert: %s is not one DER certificate", role);
        goto done;
    }
    if (X509_get_signature_nid(x) != NID_ecdsa_with_SHA256) {
        rc = sm_errf(err, SM_EVERIFY, "gpcert: %s is not signed with ecdsa-with-SHA256", role);
        goto done;
    }
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (!pk || (rc = ecpub_from_pkey(pk, out->pub, &out->curve, err)) != SM_OK) {
        if (rc == SM_OK)
            rc = sm_errf(err, SM_EVERIFY, "gpcert: %s has no usable public key", role);
        sm_err_prefix(err, "%s", role);
        goto done;
    }
    /* signature: by the parent, or self-signed for the trust anchor */
    if (parent) {
        if ((rc = ecpub_pkey(parent->curve, parent->pub, sizeof parent->pub, &ppk, err)) != SM_OK)
            goto done;
    } else {
        ppk = pk;
        EVP_PKEY_up_ref(ppk);
    }
    if (X509_verify(x, ppk) != 1) {
        rc = sm_errf(err, SM_EVERIFY, "gpcert: %s signature does not verify", role);
        goto done;
    }
    const X509_NAME *iss = X509_get_issuer_name(x), *sub = X509_get_subject_name(x);
    unsigned char *nb = NULL;
    int nl = i2d_X509_NAME(sub, &nb);
    if (nl <= 0 || (size_t)nl > sizeof out->name) {
        OPENSSL_free(nb);
        rc = sm_errf(err, SM_EPARSE, "gpcert: %s subject name unusable", role);
        goto done;
    }
    memcpy(out->name, nb, (size_t)nl);
    out->name_len = (size_t)nl;
    OPENSSL_free(nb);
    if (parent) {
        nb = NULL;
        nl = i2d_X509_NAME(iss, &nb);
        bool same = nl > 0 && (size_t)nl == parent->name_len && memcmp(nb, parent->name, (size_t)nl) == 0;
        OPENSSL_free(nb);
        if (!same) {
            rc = sm_errf(err, SM_EVERIFY, "gpcert: %s issuer name is not the parent's subject", role);
            goto done;
        }
    } else if (X509_NAME_cmp(iss, sub) != 0) {
        rc = sm_errf(err, SM_EVERIFY, "gpcert: %s is not self-signed (issuer differs from subject)", role);
        goto done;
    }
    uint32_t ku = X509_get_key_usage(x);
    if (ku != UINT32_MAX && !(ku & KU_KEY_CERT_SIGN)) {
        rc = sm_errf(err, SM_EVERIFY, "gpcert: %s key usage lacks keyCertSign", role);
        goto done;
    }
    if (X509_check_ca(x) < 1) {
        rc = sm_errf(err, SM_EVERIFY, "gpcert: %s is not a CA certificate", role);
        goto done;
    }
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    if (!ski || ASN1_STRING_length(ski) <= 0 || (size_t)ASN1_STRING_length(ski) > sizeof out->key_id) {
        rc = sm_errf(err, SM_EVERIFY, "gpcert: %s has no SubjectKeyIdentifier", role);
        goto done;
    }
    out->key_id_len = (size_t)ASN1_STRING_length(ski);
    memcpy(out->key_id, ASN1_STRING_get0_data(ski), out->key_id_len);
    if (parent) {
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
        if (aki && parent->key_id_len &&
            ((size_t)ASN1_STRING_length(aki) != parent->key_id_len ||
             memcmp(ASN1_STRING_get0_data(aki), parent->key_id, parent->key_id_len) != 0)) {
            rc = sm_errf(err, SM_EVERIFY, "gpcert: %s AuthorityKeyIdentifier does not match the issuer", role);
            goto done;
        }
    }
    out->not_before = asn1_time(X509_get0_notBefore(x));
    out->not_after = asn1_time(X509_get0_notAfter(x));
    if (out->not_before == (time_t)-1 || out->not_after == (time_t)-1)
        rc = sm_errf(err, SM_EPARSE, "gpcert: %s validity unreadable", role);
done:
    EVP_PKEY_free(ppk);
    X509_free(x);
    return rc;
}

/* ---- verified issuers, remembered (gpcert_issuer_cache_stats) ---------------------------------- */

#define ISSUER_CACHE 64
static struct {
    pthread_mutex_t mu;
    struct {
        uint8_t key[32];
        gpcert_issuer is;
        bool used;
    } e[ISSUER_CACHE];
    unsigned next;
    unsigned long hits, misses;
} g_ic = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int issuer_key(const uint8_t *der, size_t len, const gpcert_issuer *parent, uint8_t key[32])
{
    sm_buf b;
    sm_buf_init(&b);
    sm_buf_append(&b, "smbox-gpcert-x509-issuer-v1", 28);
    sm_buf_append_byte(&b, parent != NULL);
    if (parent) {
        /* the whole parent: a child verified under one issuer says nothing under another */
        sm_buf_append(&b, parent->pub, sizeof parent->pub);
        sm_buf_append_byte(&b, (uint8_t)parent->curve);
        sm_buf_append_byte(&b, (uint8_t)parent->key_id_len);
        sm_buf_append(&b, parent->key_id, parent->key_id_len);
        sm_buf_append_byte(&b, (uint8_t)(parent->name_len >> 8));
        sm_buf_append_byte(&b, (uint8_t)parent->name_len);
        sm_buf_append(&b, parent->name, parent->name_len);
    }
    sm_buf_append_byte(&b, (uint8_t)(len >> 8));
    sm_buf_append_byte(&b, (uint8_t)len);
    sm_buf_append(&b, der, len);
    int ok = !b.failed;
    if (ok)
        SHA256(b.data, b.len, key);
    sm_buf_free(&b);
    return ok ? 0 : -1;
}

void gpcert_issuer_cache_stats(unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&g_ic.mu);
    if (hits)
        *hits = g_ic.hits;
    if (misses)
        *misses = g_ic.misses;
    pthread_mutex_unlock(&g_ic.mu);
}

sm_rc gpcert_x509_issuer(const uint8_t *der, size_t len, const gpcert_issuer *parent, time_t now,
                         gpcert_issuer *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    uint8_t key[32];
    bool keyed = der && len > 0 && len < 65536 && issuer_key(der, len, parent, key) == 0;
    bool hit = false;
    pthread_mutex_lock(&g_ic.mu);
    for (unsigned i = 0; keyed && i < ISSUER_CACHE && !hit; i++)
        if (g_ic.e[i].used && !memcmp(g_ic.e[i].key, key, sizeof key)) {
            *out = g_ic.e[i].is;
            hit = true;
        }
    if (hit)
        g_ic.hits++;
    else
        g_ic.misses++;
    pthread_mutex_unlock(&g_ic.mu);
    if (!hit) {
        sm_rc rc = x509_issuer_verify(der, len, parent, out, err);
        if (rc != SM_OK) {
            memset(out, 0, sizeof *out);
            return rc;
        }
        if (keyed) {
            pthread_mutex_lock(&g_ic.mu);
            unsigned i = g_ic.next++ % ISSUER_CACHE;
            memcpy(g_ic.e[i].key, key, sizeof key);
            g_ic.e[i].is = *out;
            g_ic.e[i].used = true;
            pthread_mutex_unlock(&g_ic.mu);
        }
    }
    const char *role = parent ? "intermediate (EUM) X.509 certificate" : "CI X.509 certificate";
    if (now < out->not_before)
        return sm_errf(err, SM_EVERIFY, "gpcert: %s is not yet valid", role);
    if (now > out->not_after)
        return sm_errf(err, SM_EVERIFY, "gpcert: %s has expired", role);
    return SM_OK;
}

sm_rc gpcert_verify_chain(const uint8_t *const *certs, const size_t *lens, size_t n, gpcert_purpose purpose,
                          time_t now, gpcert *leaf, sm_err *err)
{
    if (n < 2)
        return sm_errf(err, SM_EINVAL, "gpcert: a chain needs the CI certificate and a leaf");
    gpcert_issuer cur, next;
    sm_rc rc = gpcert_x509_issuer(certs[0], lens[0], NULL, now, &cur, err);
    for (size_t i = 1; rc == SM_OK && i + 1 < n; i++) {
        rc = gpcert_x509_issuer(certs[i], lens[i], &cur, now, &next, err);
        if (rc == SM_OK)
            cur = next;
        else
            sm_err_prefix(err, "chain element %zu", i);
    }
    if (rc == SM_OK)
        rc = gpcert_parse(certs[n - 1], lens[n - 1], leaf, err);
    if (rc == SM_OK)
        rc = gpcert_check(leaf, &cur, purpose, now, err);
    if (rc != SM_OK)
        sm_err_prefix(err, "verifying a certificate chain of %zu", n);
    return rc;
}
