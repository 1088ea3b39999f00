/* End to end on the card: a test-only off-card entity ("OCE", the SM-DP side written here with plain
 * OpenSSL: EVP_PKEY ECDH, EVP_KDF X963KDF, EVP_MAC CMAC, EVP AES) creates an ISD-P through the ISD-R,
 * runs Scenario #3 key establishment, opens SCP03t and downloads the TS.48 v7 profile; then enable,
 * notification, confirmation; power loss between segments; a tampered segment. The same again by SMS:
 * every script as SCP80 command packets to the ISD-R's or the ISD-P's TAR (ISD-R keys), cut at TLV
 * boundaries into several packets, each answered by its PoR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "tests/sim/fleet.h"
#include "tests/sim/isdr.h"
#include "tests/sim/pki.h"
#include "tests/sim/script.h"
#include "tests/sim/testutil.h"
#include "tests/sim/tlv.h"

/* ---- the OCE: plain OpenSSL only ------------------------------------------------------------- */

static void oce_cmac(const uint8_t *key, const uint8_t *m, size_t n, uint8_t out[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0),
                      OSSL_PARAM_construct_end()};
    size_t ol = 0;
    assert_true(c && EVP_MAC_init(c, key, 16, p) && EVP_MAC_update(c, m, n) && EVP_MAC_final(c, out, &ol, 16));
    assert_int_equal(ol, 16);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
}

static void oce_cbc(int enc, const uint8_t *key, const uint8_t iv[16], uint8_t *io, size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_true(EVP_CipherInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv, enc));
    EVP_CIPHER_CTX_set_padding(c, 0);
    assert_true(EVP_CipherUpdate(c, io, &l, io, (int)n));
    assert_int_equal(l, (int)n);
    EVP_CIPHER_CTX_free(c);
}

static void oce_ecb(const uint8_t *key, const uint8_t in[16], uint8_t out[16])
{
    uint8_t iv[16] = {0};
    memcpy(out, in, 16);
    oce_cbc(1, key, iv, out, 16);
}

/* SCP03 KDF built by hand from the spec text: CMAC(K, 11x00 | dc | 00 | L | 01 | ctx) */
static void oce_kdf(const uint8_t *key, uint8_t dc, const uint8_t *ctx, size_t cl, unsigned bits, uint8_t *out)
{
    uint8_t m[64] = {0};
    m[11] = dc;
    m[13] = (uint8_t)(bits >> 8);
    m[14] = (uint8_t)bits;
    m[15] = 1;
    memcpy(m + 16, ctx, cl);
    uint8_t t[16];
    oce_cmac(key, m, 16 + cl, t);
    memcpy(out, t, bits / 8);
}

typedef struct oce {
    EVP_PKEY *sk_dp;
    sim_buf cert_dp;
    uint8_t kenc[16], kmac[16], kdek[16];
    uint8_t senc[16], smac[16], srmac[16], mcv[16];
    uint32_t ctr;
} oce;

static void apdu(sim_buf *s, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *d, size_t n)
{
    assert_true(n <= 255);
    size_t m = sim_tlv_begin(s, 0x22);
    uint8_t h[5] = {cla, ins, p1, p2, (uint8_t)n};
    sim_buf_put(s, h, 5);
    sim_buf_put(s, d, n);
    sim_tlv_end(s, m);
}

/* ---- the transport: HTTPS-style scripts, or SMS (SCP80 command packets to the ISD-R or ISD-P TAR) ---- */

static int g_sms;                /* run() carries the scripts by SMS */
static size_t g_sms_max = 1300;  /* script bytes per command packet: cut at TLV boundaries, as es5 does */
static uint64_t g_cntr;          /* the SM-SR's SCP80 counter */
static size_t g_packets;         /* command packets sent by SMS */

static int resp_has_error(const uint8_t *p, size_t n)
{
    size_t off = 0;
    sim_tlv t;
    while (off < n && sim_tlv_read(p, n, &off, &t, NULL) == SIM_OK) {
        if (t.tag == 0x9F44 || t.tag == 0x9F45 || t.tag == 0x9F46 || t.tag == 0x90)
            return 1;
        if (t.tag == 0x23 && t.len >= 2) {
            uint8_t s1 = t.v[t.len - 2];
            if (s1 != 0x90 && s1 != 0x61 && s1 != 0x62 && s1 != 0x63)
                return 1;
        }
    }
    return 0;
}

/* The body goes as AA scripts in as many packets as g_sms_max needs, each answered by its PoR; resp gets
 * the contents of the AB answers one after the other; the next packet is not sent after an error. */
static void run_sms(sim_euicc *e, const uint8_t *target, size_t tl, const sim_buf *body, sim_buf *resp, int *lost)
{
    static const uint8_t spi[2] = {0x16, 0x39};
    uint8_t tar[3];
    if (target && tl == 16)
        memcpy(tar, target + 12, 3); /* the ISD-P TAR: bytes 13..15 of its AID */
    else
        memcpy(tar, e->isdr_tar, 3);
    sim_buf_reset(resp);
    if (lost)
        *lost = 0;
    size_t off = 0;
    while (off < body->len) {
        size_t end = off;
        while (end < body->len) {
            size_t o = end;
            sim_tlv t;
            assert_int_equal(sim_tlv_read(body->p, body->len, &o, &t, NULL), SIM_OK);
            if (o - off > g_sms_max && end > off)
                break;
            end = o;
        }
        sim_buf sc, ud, por;
        sim_buf_init(&sc); sim_buf_init(&ud); sim_buf_init(&por);
        sim_tlv_put(&sc, 0xAA, body->p + off, end - off);
        const uint8_t udh[3] = {0x02, 0x70, 0x00};
        sim_buf_put(&ud, udh, 3);
        sim_scp80_keyset ks = e->scp80[0];
        uint8_t k = (uint8_t)(ks.kvn << 4 | 2);
        assert_int_equal(sim_scp80_wrap(&ks, spi, k, k, tar, ++g_cntr, sc.p, sc.len, &ud, NULL), SIM_OK);
        g_packets++;
        sim_push push;
        int pl = 0;
        sim_err err = {0};
        sim_rc rc = sim_isdr_sms(e, ud.p, ud.len, &por, &push, &pl, &err);
        if (pl) {
            assert_int_equal(por.len, 0); /* no PoR from a card that lost power */
            if (lost)
                *lost = 1;
            sim_buf_free(&sc); sim_buf_free(&ud); sim_buf_free(&por);
            return;
        }
        if (rc)
            fail_msg("SMS to TAR %02x%02x%02x: %s", tar[0], tar[1], tar[2], err.msg);
        sim_scp80_por p;
        assert_int_equal(sim_scp80_por_parse(&e->scp80[0], spi, por.p, por.len, &p, NULL), SIM_OK);
        assert_int_equal(p.status, SIM_POR_OK);
        assert_memory_equal(p.tar, tar, 3);
        sim_tlv ab;
        size_t o = 0;
        assert_int_equal(sim_tlv_read(p.data.p, p.data.len, &o, &ab, NULL), SIM_OK);
        assert_int_equal(ab.tag, 0xAB);
        sim_buf_put(resp, ab.v, ab.len);
        int bad = resp_has_error(ab.v, ab.len);
        sim_buf_free(&p.data);
        sim_buf_free(&sc); sim_buf_free(&ud); sim_buf_free(&por);
        if (bad)
            break;
        off = end;
    }
}

/* runs an AE 80 .. 00 00 script on the card; returns the body of the AF response (without AF 80/00 00) */
static void run(sim_euicc *e, const uint8_t *target, size_t tl, const sim_buf *body, sim_buf *resp, int *lost)
{
    if (g_sms) {
        run_sms(e, target, tl, body, resp, lost);
        return;
    }
    sim_buf s;
    sim_buf_init(&s);
    sim_buf_u8(&s, 0xAE);
    sim_buf_u8(&s, 0x80);
    sim_buf_put(&s, body->p, body->len);
    sim_buf_u16(&s, 0x0000);
    sim_buf out;
    sim_buf_init(&out);
    int pl = 0;
    sim_err err = {0};
    sim_rc rc = sim_script_run(e, target, tl, s.p, s.len, &out, &pl, &err);
    if (rc)
        fail_msg("script failed: %s", err.msg);
    if (lost)
        *lost = pl;
    sim_buf_reset(resp);
    if (!pl) {
        assert_true(out.len >= 4 && out.p[0] == 0xAF && out.p[1] == 0x80);
        sim_buf_put(resp, out.p + 2, out.len - 4);
    }
    sim_buf_free(&s);
    sim_buf_free(&out);
}

/* n-th R-APDU (23) of a response body: data, sw */
static uint16_t rapdu(const sim_buf *r, int idx, const uint8_t **d, size_t *dl)
{
    size_t off = 0;
    int k = 0;
    sim_tlv t;
    while (off < r->len && sim_tlv_read(r->p, r->len, &off, &t, NULL) == SIM_OK) {
        if (t.tag == 0x23 && k++ == idx) {
            assert_true(t.len >= 2);
            if (d) *d = t.v;
            if (dl) *dl = t.len - 2;
            return sim_be16(t.v + t.len - 2);
        }
    }
    fail_msg("no R-APDU %d in the response", idx);
    return 0;
}

static const uint8_t ISDP_AID[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x11, 0x00};

static void create_isdp(sim_euicc *e, uint32_t quota, uint16_t expect_sw)
{
    sim_buf d, s, r;
    sim_buf_init(&d); sim_buf_init(&s); sim_buf_init(&r);
    sim_buf_u8(&d, 16); sim_buf_put(&d, SIM_AID_ELF.b, 16);
    sim_buf_u8(&d, 16); sim_buf_put(&d, SIM_AID_MODULE.b, 16);
    sim_buf_u8(&d, 16); sim_buf_put(&d, ISDP_AID, 16);
    const uint8_t priv[4] = {0x03, 0x80, 0xC0, 0x00};
    sim_buf_put(&d, priv, 4);
    uint8_t params[14] = {12, 0xC9, 0x04, 0x81, 0x02, 0x03, 0x70, 0xEF, 0x04, 0x83, 0x02,
                          (uint8_t)(quota >> 8), (uint8_t)quota, 0x00};
    sim_buf_put(&d, params, sizeof params);
    apdu(&s, 0x80, 0xE6, 0x0C, 0x00, d.p, d.len);
    run(e, NULL, 0, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, NULL, NULL), expect_sw);
    sim_buf_free(&d); sim_buf_free(&s); sim_buf_free(&r);
}

static void oce_load(oce *o, const char *pkidir)
{
    memset(o, 0, sizeof *o);
    char path[1024];
    snprintf(path, sizeof path, "%s/smdp-gp.key", pkidir);
    assert_int_equal(sim_pem_key(path, &o->sk_dp, NULL), SIM_OK);
    snprintf(path, sizeof path, "%s/smdp-gp.cert", pkidir);
    sim_buf_init(&o->cert_dp);
    assert_int_equal(sim_read_file(path, &o->cert_dp, NULL), SIM_OK);
}

static void oce_free(oce *o)
{
    EVP_PKEY_free(o->sk_dp);
    sim_buf_free(&o->cert_dp);
}

static void sign_plain(EVP_PKEY *k, const uint8_t *m, size_t n, uint8_t sig[64])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dl = sizeof der;
    assert_true(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k) == 1 && EVP_DigestSign(c, der, &dl, m, n) == 1);
    EVP_MD_CTX_free(c);
    const uint8_t *q = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)dl);
    assert_non_null(s);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
    ECDSA_SIG_free(s);
}

/* ECASD public key from the card's certificate (7F21 / 7F49 / B0), found with TLV framing only */
static EVP_PKEY *ecasd_pub(const sim_euicc *e)
{
    sim_tlv c, k, b0;
    assert_int_equal(sim_tlv_find(e->cert, e->certlen, 0x7F21, &c), 1);
    assert_int_equal(sim_tlv_find(c.v, c.len, 0x7F49, &k), 1);
    assert_int_equal(sim_tlv_find(k.v, k.len, 0xB0, &b0), 1);
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
                      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)b0.v, b0.len),
                      OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    assert_true(EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, p) == 1);
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

/* Scenario #3, OCE side; returns 0 when the card's receipt verifies */
static int key_establishment(oce *o, sim_euicc *e, int tamper_sig)
{
    sim_buf s, r;
    sim_buf_init(&s); sim_buf_init(&r);
    uint8_t perso[22] = {0x00, 0x00, 16};
    memcpy(perso + 3, ISDP_AID, 16);
    apdu(&s, 0x80, 0xE6, 0x20, 0x00, perso, 22);
    sim_buf dgi;
    sim_buf_init(&dgi);
    sim_dgi_put(&dgi, 0x3A01, o->cert_dp.p, o->cert_dp.len);
    apdu(&s, 0x80, 0xE2, 0x09, 0x00, dgi.p, dgi.len);
    run(e, ISDP_AID, 16, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, NULL, NULL), 0x9000);
    const uint8_t *rd;
    size_t rl;
    assert_int_equal(rapdu(&r, 1, &rd, &rl), 0x9000);
    assert_int_equal(rl, 18);
    assert_int_equal(rd[0], 0x85);
    uint8_t rc[16];
    memcpy(rc, rd + 2, 16);
    /* ephemeral key, CRT, signature */
    EVP_PKEY *esk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    uint8_t epk[65];
    size_t epl = 0;
    assert_true(EVP_PKEY_get_octet_string_param(esk, OSSL_PKEY_PARAM_PUB_KEY, epk, 65, &epl) && epl == 65);
    static const uint8_t crt[] = {0xA6, 0x15, 0x90, 0x02, 0x03, 0x09, 0x95, 0x01, 0x10, 0x80, 0x01, 0x88,
                                  0x81, 0x01, 0x10, 0x82, 0x01, 0x01, 0x83, 0x01, 0x30, 0x91, 0x00};
    sim_buf data;
    sim_buf_init(&data);
    sim_dgi_put(&data, 0x3A02, crt, sizeof crt);
    size_t m = sim_tlv_begin(&data, 0x7F49);
    sim_tlv_put(&data, 0xB0, epk, 65);
    sim_tlv_put_u8(&data, 0xF0, 0x00);
    sim_tlv_end(&data, m);
    sim_buf signed_data;
    sim_buf_init(&signed_data);
    sim_buf_put(&signed_data, data.p, data.len);
    const uint8_t t85[3] = {0x00, 0x85, 0x10};
    sim_buf_put(&signed_data, t85, 3);
    sim_buf_put(&signed_data, rc, 16);
    uint8_t sig[64];
    sign_plain(o->sk_dp, signed_data.p, signed_data.len, sig);
    if (tamper_sig)
        sig[5] ^= 0x40;
    sim_tlv_put(&data, 0x5F37, sig, 64);
    sim_buf_reset(&s);
    apdu(&s, 0x80, 0xE2, 0x89, 0x01, data.p, data.len);
    run(e, ISDP_AID, 16, &s, &r, NULL);
    uint16_t sw = rapdu(&r, 0, &rd, &rl);
    int result = -1;
    if (sw == 0x9000) {
        assert_int_equal(rl, 18);
        assert_int_equal(rd[0], 0x86);
        /* OCE: ShS, X9.63 (OpenSSL's KDF), receipt */
        EVP_PKEY *pk = ecasd_pub(e);
        EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(esk, NULL);
        uint8_t z[32];
        size_t zl = 32;
        assert_true(EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, pk) == 1 &&
                    EVP_PKEY_derive(dc, z, &zl) == 1);
        EVP_PKEY_CTX_free(dc);
        EVP_PKEY_free(pk);
        EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
        EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
        uint8_t info[3] = {0x10, 0x88, 0x10}, kd[64];
        OSSL_PARAM kp[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, 32),
                           OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 3), OSSL_PARAM_construct_end()};
        assert_int_equal(EVP_KDF_derive(kc, kd, 64, kp), 1);
        EVP_KDF_CTX_free(kc);
        EVP_KDF_free(kdf);
        uint8_t receipt[16];
        oce_cmac(kd, crt, sizeof crt, receipt);
        if (!memcmp(receipt, rd + 2, 16)) {
            memcpy(o->kenc, kd + 16, 16);
            memcpy(o->kmac, kd + 32, 16);
            memcpy(o->kdek, kd + 48, 16);
            result = 0;
        }
    }
    EVP_PKEY_free(esk);
    sim_buf_free(&s); sim_buf_free(&r); sim_buf_free(&dgi); sim_buf_free(&data); sim_buf_free(&signed_data);
    return result;
}

/* SCP03t: 84 with a precomputed pseudo-random card challenge (sequence counter seq), 85 */
static void oce_open(oce *o, uint32_t seq, sim_buf *out)
{
    uint8_t hc[8], ctx[19 + 16], cc[8];
    RAND_bytes(hc, 8);
    ctx[0] = (uint8_t)(seq >> 16); ctx[1] = (uint8_t)(seq >> 8); ctx[2] = (uint8_t)seq;
    memcpy(ctx + 3, ISDP_AID, 16);
    oce_kdf(o->kenc, 0x02, ctx, 19, 64, cc);
    memcpy(ctx, hc, 8);
    memcpy(ctx + 8, cc, 8);
    oce_kdf(o->kenc, 0x04, ctx, 16, 128, o->senc);
    oce_kdf(o->kmac, 0x06, ctx, 16, 128, o->smac);
    oce_kdf(o->kmac, 0x07, ctx, 16, 128, o->srmac);
    uint8_t hcr[8];
    oce_kdf(o->smac, 0x01, ctx, 16, 64, hcr);
    uint8_t v84[10] = {0x30, 0x00};
    memcpy(v84 + 2, hc, 8);
    sim_tlv_put(out, 0x84, v84, 10);
    uint8_t m[16 + 11] = {0};
    m[16] = 0x85; m[17] = 0x11; m[18] = 0x33;
    memcpy(m + 19, hcr, 8);
    uint8_t full[16];
    oce_cmac(o->smac, m, sizeof m, full);
    uint8_t v85[17] = {0x33};
    memcpy(v85 + 1, hcr, 8);
    memcpy(v85 + 9, full, 8);
    sim_tlv_put(out, 0x85, v85, 17);
    memcpy(o->mcv, full, 16);
    o->ctr = 0;
}

static void oce_segment(oce *o, const uint8_t *p, size_t n, sim_buf *out)
{
    size_t cl = (n / 16 + 1) * 16;
    uint8_t *c = calloc(1, cl + 64);
    memcpy(c, p, n);
    c[n] = 0x80;
    o->ctr++;
    uint8_t blk[16] = {0}, icv[16];
    blk[12] = (uint8_t)(o->ctr >> 24); blk[13] = (uint8_t)(o->ctr >> 16);
    blk[14] = (uint8_t)(o->ctr >> 8); blk[15] = (uint8_t)o->ctr;
    oce_ecb(o->senc, blk, icv);
    oce_cbc(1, o->senc, icv, c, cl);
    sim_buf mi;
    sim_buf_init(&mi);
    sim_buf_put(&mi, o->mcv, 16);
    sim_buf_u8(&mi, 0x86);
    sim_tlv_put_len(&mi, cl + 8);
    sim_buf_put(&mi, c, cl);
    uint8_t full[16];
    oce_cmac(o->smac, mi.p, mi.len, full);
    memcpy(o->mcv, full, 16);
    sim_buf_u8(out, 0x86);
    sim_tlv_put_len(out, cl + 8);
    sim_buf_put(out, c, cl);
    sim_buf_put(out, full, 8);
    sim_buf_free(&mi);
    free(c);
}

/* decrypts and checks a card 86 response carrying data (R-ENC, R-MAC) */
static void oce_response(oce *o, const uint8_t *tlv, size_t n, sim_buf *plain)
{
    size_t off = 0;
    sim_tlv t;
    assert_int_equal(sim_tlv_read(tlv, n, &off, &t, NULL), SIM_OK);
    assert_int_equal(t.tag, 0x86);
    assert_true(t.len >= 24);
    size_t cl = t.len - 8;
    sim_buf mi;
    sim_buf_init(&mi);
    sim_buf_put(&mi, o->mcv, 16);
    sim_buf_put(&mi, tlv, off - t.len);
    sim_buf_put(&mi, t.v, cl);
    uint8_t full[16];
    oce_cmac(o->srmac, mi.p, mi.len, full);
    assert_memory_equal(full, t.v + cl, 8);
    uint8_t blk[16] = {0x80}, icv[16];
    blk[12] = (uint8_t)(o->ctr >> 24); blk[13] = (uint8_t)(o->ctr >> 16);
    blk[14] = (uint8_t)(o->ctr >> 8); blk[15] = (uint8_t)o->ctr;
    oce_ecb(o->senc, blk, icv);
    uint8_t *c = malloc(cl);
    memcpy(c, t.v, cl);
    oce_cbc(0, o->senc, icv, c, cl);
    size_t l = cl;
    while (l > 0 && c[l - 1] == 0)
        l--;
    assert_true(l > 0 && c[l - 1] == 0x80);
    sim_buf_reset(plain);
    sim_buf_put(plain, c, l - 1);
    free(c);
    sim_buf_free(&mi);
}

/* ---- fixture ------------------------------------------------------------------------------- */

typedef struct fx {
    char dir[64];
    sim_pki pki;
    sim_euicc *e;
    oce o;
    sim_buf pkg;
} fx;

static int setup(void **st)
{
    g_sms = 0;
    g_cntr = 0;
    g_packets = 0;
    fx *f = calloc(1, sizeof *f);
    assert_non_null(tu_tmpdir(f->dir, sizeof f->dir));
    sim_err e = {0};
    if (sim_pki_generate(f->dir, &e) || sim_pki_load(f->dir, &f->pki, &e))
        fail_msg("pki: %s", e.msg);
    sim_fleet_opts fo = {.count = 1, .first_serial = 7};
    assert_int_equal(sim_fleet_make_card(&f->pki, &fo, 7, &f->e, &e), SIM_OK);
    f->e->ci = f->pki.ci_pub;
    oce_load(&f->o, f->dir);
    char path[512];
    sim_buf_init(&f->pkg);
    assert_int_equal(sim_read_file(tu_src("tests/profiles/TS48v7_SAIP2.3_NoBERTLV.der", path, sizeof path), &f->pkg, NULL),
                     SIM_OK);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fx *f = *st;
    sim_euicc_free(f->e);
    oce_free(&f->o);
    sim_pki_free(&f->pki);
    sim_buf_free(&f->pkg);
    tu_rmrf(f->dir);
    free(f);
    return 0;
}

static void download(fx *f, size_t seg, uint32_t seq, int *lost, sim_buf *euicc_response)
{
    sim_buf body, r;
    sim_buf_init(&body); sim_buf_init(&r);
    oce_open(&f->o, seq, &body);
    for (size_t off = 0; off < f->pkg.len; off += seg)
        oce_segment(&f->o, f->pkg.p + off, f->pkg.len - off < seg ? f->pkg.len - off : seg, &body);
    run(f->e, ISDP_AID, 16, &body, &r, lost);
    if (*lost) {
        sim_buf_free(&body); sim_buf_free(&r);
        return;
    }
    /* 80 01 n, 84 20 <32>, 85 00, 86 00 ..., last 86 with the EUICCResponse */
    size_t off = 0, n86 = 0;
    sim_tlv t, last = {0};
    while (off < r.len) {
        assert_int_equal(sim_tlv_read(r.p, r.len, &off, &t, NULL), SIM_OK);
        assert_int_not_equal(t.tag, 0x9F46);
        assert_int_not_equal(t.tag, 0x9F45);
        if (t.tag == 0x84) {
            assert_int_equal(t.len, 32);
            assert_int_equal(t.v[12], 0x70);
        }
        if (t.tag == 0x86) {
            n86++;
            last = t;
        }
    }
    assert_int_equal(n86, (f->pkg.len + seg - 1) / seg);
    oce_response(&f->o, last.raw, last.rawlen, euicc_response);
    sim_buf_free(&body); sim_buf_free(&r);
}

static void check_ok_response(const sim_buf *resp)
{
    sim_tlv top, a0;
    assert_int_equal(sim_tlv_find(resp->p, resp->len, 0x30, &top), 1);
    assert_int_equal(sim_tlv_find(top.v, top.len, 0xA0, &a0), 1);
    assert_int_equal(sim_tlv_find(top.v, top.len, 0x81, NULL), 0); /* not aborted */
    size_t off = 0, n = 0;
    sim_tlv s, st;
    while (off < a0.len) {
        assert_int_equal(sim_tlv_read(a0.v, a0.len, &off, &s, NULL), SIM_OK);
        assert_int_equal(sim_tlv_find(s.v, s.len, 0x80, &st), 1);
        assert_int_equal(st.v[0], 0);
        n++;
    }
    assert_int_equal(n, 30); /* TS.48 v7 NoBERTLV has 30 PEs */
}

static void test_full_download(void **st)
{
    fx *f = *st;
    create_isdp(f->e, 40000, 0x9000);
    create_isdp(f->e, 40000, 0x6A80); /* same AID twice */
    sim_profile *p = sim_euicc_find(f->e, ISDP_AID, 16);
    assert_non_null(p);
    assert_int_equal(p->lcs, SIM_LCS_SELECTABLE);
    assert_int_equal(key_establishment(&f->o, f->e, 0), 0);
    assert_int_equal(p->lcs, SIM_LCS_PERSONALIZED);
    sim_buf resp;
    sim_buf_init(&resp);
    int lost = 0;
    download(f, 1000, 1, &lost, &resp);
    assert_false(lost);
    check_ok_response(&resp);
    assert_int_equal(p->lcs, SIM_LCS_DISABLED);
    assert_string_equal(p->iccid, "89000123456789012341");
    assert_string_equal(p->imsi, "001010123456789");
    static const uint8_t k[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assert_int_equal(p->klen, 16);
    assert_memory_equal(p->k, k, 16);
    assert_int_equal(p->algo, 3);
    assert_int_equal(p->n_pes, 30);
    assert_true(p->n_files > 20);
    sim_buf_free(&resp);

    /* enable it through the ISD-R: 9000, then REFRESH -> attach -> notification 02 */
    sim_buf s, r;
    sim_buf_init(&s); sim_buf_init(&r);
    sim_buf d;
    sim_buf_init(&d);
    uint8_t dg[3 + 18] = {0x3A, 0x03, 18, 0x4F, 16};
    memcpy(dg + 5, ISDP_AID, 16);
    apdu(&s, 0x80, 0xE2, 0x88, 0x00, dg, sizeof dg);
    run(f->e, NULL, 0, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, NULL, NULL), 0x9000);
    assert_int_equal(sim_euicc_refresh(f->e), SIM_NOTIF_CHANGE_OK);
    assert_ptr_equal(sim_euicc_enabled(f->e), p);
    sim_notif *nt = NULL;
    for (int i = 0; i < f->e->npend; i++)
        if (f->e->pend[i].type == SIM_NOTIF_CHANGE_OK)
            nt = &f->e->pend[i];
    assert_non_null(nt);
    uint16_t seq = nt->seq;
    /* confirmation 3A08 */
    uint8_t cf[3 + 4] = {0x3A, 0x08, 4, 0x4E, 2, (uint8_t)(seq >> 8), (uint8_t)seq};
    sim_buf_reset(&s);
    apdu(&s, 0x80, 0xE2, 0x89, 0x00, cf, sizeof cf);
    run(f->e, NULL, 0, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, NULL, NULL), 0x9000);
    for (int i = 0; i < f->e->npend; i++)
        assert_int_not_equal(f->e->pend[i].type, SIM_NOTIF_CHANGE_OK);
    /* GET STATUS shows ENABLED */
    sim_buf_reset(&s);
    uint8_t gs[18] = {0x4F, 16};
    memcpy(gs + 2, ISDP_AID, 16);
    apdu(&s, 0x80, 0xF2, 0x40, 0x02, gs, sizeof gs);
    run(f->e, NULL, 0, &s, &r, NULL);
    const uint8_t *rd;
    size_t rl;
    assert_int_equal(rapdu(&r, 0, &rd, &rl), 0x9000);
    sim_tlv e3, lcs;
    assert_int_equal(sim_tlv_find(rd, rl, 0xE3, &e3), 1);
    assert_int_equal(sim_tlv_find(e3.v, e3.len, 0x9F70, &lcs), 1);
    assert_int_equal(lcs.v[0], SIM_LCS_ENABLED);

    /* ES8.UpdateConnectivityParameters: SCP03 APDU mode (SL 33) to the ISD-P, STORE DATA 3A07 */
    uint8_t hc[8] = {9, 8, 7, 6, 5, 4, 3, 2};
    sim_buf_reset(&s);
    apdu(&s, 0x80, 0x50, 0x30, 0x00, hc, 8);
    run(f->e, ISDP_AID, 16, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, &rd, &rl), 0x9000);
    assert_int_equal(rl, 32);
    uint8_t ctx[16], cc[8], hcr[8];
    memcpy(ctx, hc, 8);
    memcpy(ctx + 8, rd + 13, 8);
    oce_kdf(f->o.kenc, 0x04, ctx, 16, 128, f->o.senc);
    oce_kdf(f->o.kmac, 0x06, ctx, 16, 128, f->o.smac);
    oce_kdf(f->o.smac, 0x00, ctx, 16, 64, cc);
    assert_memory_equal(cc, rd + 21, 8); /* card cryptogram */
    oce_kdf(f->o.smac, 0x01, ctx, 16, 64, hcr);
    uint8_t ea[16 + 13] = {0}, full[16];
    const uint8_t eh[5] = {0x84, 0x82, 0x33, 0x00, 0x10};
    memcpy(ea + 16, eh, 5);
    memcpy(ea + 21, hcr, 8);
    oce_cmac(f->o.smac, ea, sizeof ea, full);
    uint8_t ead[16];
    memcpy(ead, hcr, 8);
    memcpy(ead + 8, full, 8);
    sim_buf_reset(&s);
    apdu(&s, 0x84, 0x82, 0x33, 0x00, ead, 16);
    /* 3A07 { 81 03 123456 } ciphered with ctr 1, MAC chained from EXTERNAL AUTHENTICATE */
    uint8_t plain[16] = {0x3A, 0x07, 0x05, 0x81, 0x03, 0x12, 0x34, 0x56, 0x80};
    uint8_t blk[16] = {0}, icv[16];
    blk[15] = 1;
    oce_ecb(f->o.senc, blk, icv);
    oce_cbc(1, f->o.senc, icv, plain, 16);
    uint8_t mi[16 + 5 + 16];
    memcpy(mi, full, 16);
    const uint8_t sh[5] = {0x84, 0xE2, 0x88, 0x00, 16 + 8};
    memcpy(mi + 16, sh, 5);
    memcpy(mi + 21, plain, 16);
    uint8_t cmac2[16], sd[24];
    oce_cmac(f->o.smac, mi, sizeof mi, cmac2);
    memcpy(sd, plain, 16);
    memcpy(sd + 16, cmac2, 8);
    apdu(&s, 0x84, 0xE2, 0x88, 0x00, sd, 24);
    run(f->e, ISDP_AID, 16, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, NULL, NULL), 0x9000);
    assert_int_equal(rapdu(&r, 1, &rd, &rl), 0x9000);
    assert_int_equal(rl, 8); /* R-MAC */
    assert_int_equal(p->connlen, 5);
    const uint8_t conn[5] = {0x81, 0x03, 0x12, 0x34, 0x56};
    assert_memory_equal(p->conn, conn, 5);
    /* replaying the protected command fails (MAC chain moved on) */
    sim_buf_reset(&s);
    apdu(&s, 0x84, 0xE2, 0x88, 0x00, sd, 24);
    run(f->e, ISDP_AID, 16, &s, &r, NULL);
    assert_int_equal(rapdu(&r, 0, NULL, NULL), 0x6982);
    sim_buf_free(&s); sim_buf_free(&r); sim_buf_free(&d);
}

static void test_bad_signature_refused(void **st)
{
    fx *f = *st;
    create_isdp(f->e, 40000, 0x9000);
    assert_int_equal(key_establishment(&f->o, f->e, 1), -1);
    sim_profile *p = sim_euicc_find(f->e, ISDP_AID, 16);
    assert_int_equal(p->lcs, SIM_LCS_SELECTABLE);
    assert_false(p->has_scp03);
}

static void test_power_loss_mid_download(void **st)
{
    fx *f = *st;
    create_isdp(f->e, 40000, 0x9000);
    assert_int_equal(key_establishment(&f->o, f->e, 0), 0);
    f->e->fault.power_loss_after = 3;
    sim_buf resp;
    sim_buf_init(&resp);
    int lost = 0;
    download(f, 1000, 1, &lost, &resp);
    assert_true(lost);
    sim_profile *p = sim_euicc_find(f->e, ISDP_AID, 16);
    assert_int_equal(p->lcs, SIM_LCS_PERSONALIZED);
    assert_null(p->rt);
    /* after power comes back a new session (sequence counter 2) downloads the whole package */
    f->e->fault.power_loss_after = 0;
    download(f, 1000, 2, &lost, &resp);
    assert_false(lost);
    check_ok_response(&resp);
    assert_int_equal(p->lcs, SIM_LCS_DISABLED);
    sim_buf_free(&resp);
}

static void test_quota_too_small(void **st)
{
    fx *f = *st;
    create_isdp(f->e, 4000, 0x9000); /* the package is ~12 kB */
    assert_int_equal(key_establishment(&f->o, f->e, 0), 0);
    sim_buf body, r, plain;
    sim_buf_init(&body); sim_buf_init(&r); sim_buf_init(&plain);
    oce_open(&f->o, 1, &body);
    for (size_t i = 0; i < 5; i++) /* the 5th segment crosses the 4000-byte quota */
        oce_segment(&f->o, f->pkg.p + i * 1000, 1000, &body);
    run(f->e, ISDP_AID, 16, &body, &r, NULL);
    size_t off = 0, n86 = 0;
    sim_tlv t, last = {0};
    while (off < r.len) {
        assert_int_equal(sim_tlv_read(r.p, r.len, &off, &t, NULL), SIM_OK);
        if (t.tag == 0x86) {
            n86++;
            last = t;
        }
    }
    assert_int_equal(n86, 5);
    oce_response(&f->o, last.raw, last.rawlen, &plain);
    sim_tlv top, a0, ps, stt;
    assert_int_equal(sim_tlv_find(plain.p, plain.len, 0x30, &top), 1);
    assert_int_equal(sim_tlv_find(top.v, top.len, 0x81, NULL), 1); /* profileInstallationAborted */
    assert_int_equal(sim_tlv_find(top.v, top.len, 0xA0, &a0), 1);
    off = 0;
    while (off < a0.len)
        assert_int_equal(sim_tlv_read(a0.v, a0.len, &off, &ps, NULL), SIM_OK);
    assert_int_equal(sim_tlv_find(ps.v, ps.len, 0x80, &stt), 1);
    assert_int_equal(stt.v[0], 4); /* not-enough-memory */
    sim_profile *p = sim_euicc_find(f->e, ISDP_AID, 16);
    assert_int_equal(p->lcs, SIM_LCS_PERSONALIZED);
    /* the SM deletes the failed ISD-P */
    assert_int_equal(sim_euicc_delete(f->e, ISDP_AID, 16, 0), 0x9000);
    assert_null(sim_euicc_find(f->e, ISDP_AID, 16));
    sim_buf_free(&body); sim_buf_free(&r); sim_buf_free(&plain);
}

static void test_tampered_segment(void **st)
{
    fx *f = *st;
    create_isdp(f->e, 40000, 0x9000);
    assert_int_equal(key_establishment(&f->o, f->e, 0), 0);
    sim_buf body, r;
    sim_buf_init(&body); sim_buf_init(&r);
    oce_open(&f->o, 1, &body);
    size_t before = body.len;
    oce_segment(&f->o, f->pkg.p, 1000, &body);
    body.p[before + 20] ^= 0x01;
    oce_segment(&f->o, f->pkg.p + 1000, 1000, &body);
    run(f->e, ISDP_AID, 16, &body, &r, NULL);
    sim_tlv t;
    int saw_err = 0;
    size_t off = 0;
    while (off < r.len && sim_tlv_read(r.p, r.len, &off, &t, NULL) == SIM_OK)
        if (t.tag == 0x9F46)
            saw_err = 1;
    assert_true(saw_err);
    sim_buf_free(&body); sim_buf_free(&r);
}

/* ---- the same by SMS ----------------------------------------------------------------------------- */

static void test_full_download_by_sms(void **st)
{
    g_sms = 1;
    test_full_download(st);
    /* the download took one packet per segment (and the session opening), not one script */
    fx *f = *st;
    assert_true(g_packets > f->pkg.len / 1000);
    g_sms = 0;
}

static void test_power_loss_by_sms(void **st)
{
    g_sms = 1;
    test_power_loss_mid_download(st);
    g_sms = 0;
}

static void test_tampered_segment_by_sms(void **st)
{
    g_sms = 1;
    test_tampered_segment(st);
    g_sms = 0;
}

/* one packet, raw: its PoR status */
static uint8_t sms_status(sim_euicc *e, const uint8_t spi[2], const uint8_t tar[3], uint64_t cntr, const uint8_t *d,
                          size_t n, sim_buf *data)
{
    sim_buf ud, por;
    sim_buf_init(&ud); sim_buf_init(&por);
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    sim_buf_put(&ud, udh, 3);
    sim_scp80_keyset ks = e->scp80[0];
    uint8_t k = (uint8_t)(ks.kvn << 4 | 2);
    assert_int_equal(sim_scp80_wrap(&ks, spi, k, k, tar, cntr, d, n, &ud, NULL), SIM_OK);
    sim_push push;
    sim_isdr_sms(e, ud.p, ud.len, &por, &push, NULL, NULL);
    assert_false(push.present);
    assert_true(por.len >= 16);
    uint8_t st = 0xFF;
    sim_scp80_por p;
    if (sim_scp80_por_parse(&e->scp80[0], spi, por.p, por.len, &p, NULL) == SIM_OK) {
        st = p.status;
        if (data)
            sim_buf_put(data, p.data.p, p.data.len);
        sim_buf_free(&p.data);
    } else {
        st = por.p[3 + 3 + 3 + 5 + 1]; /* unsecured: RPL RHL TAR CNTR PCNTR status */
    }
    sim_buf_free(&ud); sim_buf_free(&por);
    return st;
}

static void test_isdp_tar_rules(void **st)
{
    fx *f = *st;
    sim_euicc *e = f->e;
    static const uint8_t spi[2] = {0x16, 0x39}, weak[2] = {0x06, 0x21}, tar[3] = {0x00, 0x00, 0x11};
    /* AA { 22 INSTALL [for personalization] } */
    uint8_t sc[2 + 2 + 5 + 19] = {0xAA, 26, 0x22, 24, 0x80, 0xE6, 0x20, 0x00, 19, 0x00, 0x00, 16};
    memcpy(sc + 12, ISDP_AID, 16);
    /* no such ISD-P yet: TAR unknown (09) */
    assert_int_equal(sms_status(e, spi, tar, 1, sc, sizeof sc, NULL), SIM_POR_TAR_UNKNOWN);
    create_isdp(e, 40000, 0x9000);
    /* below the ISD-R's minimum security level: 0A, as at the ISD-R's TAR */
    assert_int_equal(sms_status(e, weak, tar, 5, sc, sizeof sc, NULL), SIM_POR_INSUFFICIENT_SECURITY);
    /* the ISD-P runs it; the counter is the ISD-R key set's, shared with the ISD-R's TAR */
    sim_buf d;
    sim_buf_init(&d);
    assert_int_equal(sms_status(e, spi, tar, 10, sc, sizeof sc, &d), SIM_POR_OK);
    sim_tlv ab, r23;
    assert_int_equal(sim_tlv_find(d.p, d.len, 0xAB, &ab), 1);
    assert_int_equal(sim_tlv_find(ab.v, ab.len, 0x23, &r23), 1);
    assert_int_equal(sim_be16(r23.v + r23.len - 2), 0x9000);
    assert_int_equal(e->scp80[0].cntr, 10);
    static const uint8_t getdata[] = {0xAA, 0x07, 0x22, 0x05, 0x80, 0xCA, 0xFF, 0x21, 0x00};
    assert_int_equal(sms_status(e, spi, e->isdr_tar, 10, getdata, sizeof getdata, NULL), SIM_POR_CNTR_LOW);
    assert_int_equal(sms_status(e, spi, tar, 10, sc, sizeof sc, NULL), SIM_POR_CNTR_LOW);
    /* a push is the ISD-R's: at an ISD-P's TAR it opens no session (sms_status checks) */
    static const uint8_t trig[] = {0x81, 0x00};
    sim_buf_reset(&d);
    assert_int_equal(sms_status(e, spi, tar, 11, trig, sizeof trig, &d), SIM_POR_OK);
    sim_buf_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_download_by_sms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_loss_by_sms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_segment_by_sms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isdp_tar_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_loss_mid_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_too_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_segment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
