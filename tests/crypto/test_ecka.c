/* crypto/ecka: GP Amd E Scenario #3 key establishment, off-card side, against an eUICC simulated
 * here with plain OpenSSL (tests/crypto/ref_crypto.c): the card parses 3A01/3A02 itself, checks
 * the signature, derives with ECDH + X9.63 and returns the receipt.
 * Known answers: NIST CAVP X9.63 KDF SHA-256 through the HSM path the key establishment uses
 * (tests/vectors/x963_kdf_sha256_cavp.json); the ECKA step (ECDH in the HSM, then the KDF) on
 * RFC 7027 brainpoolP256r1 and Wycheproof P-256 / brainpoolP256r1 ECDH cases, whose invalid points
 * the ECASD key check refuses (tests/vectors/ecdh_*.json, wycheproof_ecdh_*.json); regression only: crypto.md §2.3's self-computed
 * KeyData and receipt (WHTY CRT). Negative: a receipt that does not verify, DR mismatches,
 * malformed answers, wrong order, an invalid ECASD point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "crypto/ecka.h"
#include "crypto/ecpub.h"
#include "crypto/gpcert.h"
#include "crypto/scp03.h"
#include "crypto/tlv.h"
#include "tests/crypto/ctest.h"
#include "tests/crypto/ref_crypto.c"

static EVP_PKEY *ci_key;
static uint8_t ci_pub[65];

static int setup(void **state)
{
    if (ct_group_setup(state))
        return -1;
    ci_key = ref_ec_gen("P-256");
    ref_ec_pub(ci_key, ci_pub);
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(ci_key);
    return ct_group_teardown(state);
}

/* ---- the simulated card (OpenSSL only) ----------------------------------------------------- */

typedef struct card {
    EVP_PKEY *ecasd;
    const char *group;
    uint8_t pk_dp[65];
    uint8_t rc[16];
    uint8_t dr[16];
    bool send_dr;
    bool corrupt_receipt;
    uint8_t keydata[16 * 4];
    size_t kdlen;
} card;

/* Reads a DGI at *p (2-byte tag, 1-byte length). */
static const uint8_t *dgi(const uint8_t *p, size_t len, uint16_t want, size_t *vl)
{
    assert_true(len >= 3);
    assert_int_equal((p[0] << 8) | p[1], want);
    assert_true(p[2] < 0xFF && (size_t)p[2] + 3 <= len);
    *vl = p[2];
    return p + 3;
}

static size_t card_3a01(card *c, const uint8_t *d, size_t len, uint8_t *rsp)
{
    size_t vl;
    const uint8_t *cert = dgi(d, len, 0x3A01, &vl);
    assert_int_equal(vl + 3, len);
    /* the card checks CERT.DP.ECDSA with PK.CI and keeps PK.DP.ECDSA */
    gpcert g;
    sm_err err = {0};
    assert_int_equal(gpcert_parse(cert, vl, &g, &err), SM_OK);
    assert_true(ref_ecdsa_verify_raw("prime256v1", ci_pub, g.tbs, g.tbslen, g.sig));
    assert_int_equal(g.cert_type, GPCERT_TYPE_SMDP);
    memcpy(c->pk_dp, g.pubkey, 65);
    for (int i = 0; i < 16; i++)
        c->rc[i] = (uint8_t)(0xA0 + i);
    rsp[0] = 0x85;
    rsp[1] = 16;
    memcpy(rsp + 2, c->rc, 16);
    return 18;
}

static size_t card_3a02(card *c, const uint8_t *d, size_t len, uint8_t *rsp)
{
    size_t crtl;
    const uint8_t *crt = dgi(d, len, 0x3A02, &crtl);
    const uint8_t *epk_tlv = crt + crtl;
    assert_int_equal(epk_tlv[0], 0x7F);
    assert_int_equal(epk_tlv[1], 0x49);
    size_t epk_tlv_len = 3 + epk_tlv[2];
    const uint8_t *sig_tlv = epk_tlv + epk_tlv_len;
    assert_int_equal(sig_tlv[0], 0x5F);
    assert_int_equal(sig_tlv[1], 0x37);
    assert_int_equal(sig_tlv[2], 64);
    assert_int_equal((size_t)(sig_tlv + 67 - d), len);
    /* signature over 3A02 L A6.. || 7F49 L .. || 0085 L RC */
    uint8_t sd[400];
    size_t sdl = (size_t)(sig_tlv - d);
    memcpy(sd, d, sdl);
    sd[sdl++] = 0x00;
    sd[sdl++] = 0x85;
    sd[sdl++] = 16;
    memcpy(sd + sdl, c->rc, 16);
    sdl += 16;
    assert_true(ref_ecdsa_verify_raw("prime256v1", c->pk_dp, sd, sdl, sig_tlv + 3));
    /* ePK */
    assert_int_equal(epk_tlv[3], 0xB0);
    assert_int_equal(epk_tlv[4], 65);
    const uint8_t *epk = epk_tlv + 5;
    assert_int_equal(epk_tlv[70], 0xF0);
    assert_int_equal(epk_tlv[72], strcmp(c->group, "brainpoolP256r1") == 0 ? 0x03 : 0x00);
    /* CRT: 95, 80, 81 and the scenario */
    assert_int_equal(crt[0], 0xA6);
    uint8_t ku = 0, kt = 0, kl = 0, sc = 0;
    for (size_t i = 2; i < crtl; i += 2 + crt[i + 1]) {
        if (crt[i] == 0x95)
            ku = crt[i + 2];
        if (crt[i] == 0x80)
            kt = crt[i + 2];
        if (crt[i] == 0x81)
            kl = crt[i + 2];
        if (crt[i] == 0x90)
            sc = crt[i + 3];
    }
    uint8_t si[64];
    size_t sil = 0;
    si[sil++] = ku;
    si[sil++] = kt;
    si[sil++] = kl;
    if (sc & 0x02) {
        memcpy(si + sil, c->dr, 16);
        sil += 16;
    }
    uint8_t z[32];
    assert_int_equal(ref_ecdh(c->ecasd, c->group, epk, z), 0);
    c->kdlen = ku == 0x5C ? 32 : 64;
    ref_x963(z, 32, si, sil, c->keydata, c->kdlen);
    uint8_t m[200];
    size_t ml = crtl;
    memcpy(m, crt, crtl);
    size_t n = 0;
    if (c->send_dr) {
        rsp[n++] = 0x85;
        rsp[n++] = 16;
        memcpy(rsp + n, c->dr, 16);
        memcpy(m + ml, rsp, 18);
        ml += 18;
        n += 16;
    }
    rsp[n++] = 0x86;
    rsp[n++] = 16;
    ref_aes_cmac(c->keydata, 16, m, ml, rsp + n);
    if (c->corrupt_receipt)
        rsp[n + 15] ^= 0x01;
    return n + 16;
}

/* ---- the off-card side ---------------------------------------------------------------------- */

typedef struct offcard {
    hsm_key sk, kek;
    sm_buf cert;
} offcard;

static void offcard_init(hsm_sess *s, offcard *o)
{
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key pub, ci;
    assert_int_equal(hsm_ec_generate(s, &sp, &o->sk, &pub, &err), SM_OK);
    uint8_t pt[65], d[32];
    size_t pl;
    assert_int_equal(hsm_ec_public(s, &pub, pt, sizeof pt, &pl, NULL, &err), SM_OK);
    ref_ec_priv(ci_key, d);
    hsm_keyspec cisp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    assert_int_equal(hsm_ec_import_private(s, &cisp, d, 32, &ci, &err), SM_OK);
    gpcert_tbs t = {.serial = (const uint8_t *)"\x01", .serial_len = 1, .ca_id = (const uint8_t *)"CI", .ca_id_len = 2,
                    .subject_id = (const uint8_t *)"SMDP", .subject_id_len = 4, .key_usage = 0x88,
                    .key_usage_len = 1, .expiry = {2099, 12, 31}, .has_disc = true,
                    .cert_type = GPCERT_TYPE_SMDP, .pubkey = pt, .pubkey_len = 65, .curve = HSM_CURVE_P256};
    sm_buf_init(&o->cert);
    assert_int_equal(gpcert_issue(s, &ci, &t, &o->cert, &err), SM_OK);
    hsm_keyspec ksp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    assert_int_equal(hsm_key_generate(s, &ksp, &o->kek, &err), SM_OK);
}

static void ecasd_cert(hsm_sess *s, EVP_PKEY *k, hsm_curve curve, sm_buf *out, gpcert *g)
{
    /* the EUM signature does not matter here (chains are test_gpcert's); any HSM key signs */
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key eum;
    assert_int_equal(hsm_ec_generate(s, &sp, &eum, NULL, &err), SM_OK);
    uint8_t pt[65];
    ref_ec_pub(k, pt);
    gpcert_tbs t = {.serial = (const uint8_t *)"\x02", .serial_len = 1, .ca_id = (const uint8_t *)"EUM",
                    .ca_id_len = 3, .subject_id = (const uint8_t *)"EID", .subject_id_len = 3, .key_usage = 0x0080,
                    .key_usage_len = 2, .expiry = {2099, 12, 31}, .cert_type = -1, .pubkey = pt, .pubkey_len = 65,
                    .curve = curve};
    sm_buf_init(out);
    assert_int_equal(gpcert_issue(s, &eum, &t, out, &err), SM_OK);
    assert_int_equal(gpcert_parse(out->data, out->len, g, &err), SM_OK);
}

/* One full establishment; returns the result for further checks. */
static sm_rc run(hsm_sess *s, offcard *o, card *c, const ecka_params *p, hsm_curve curve, ecka_result *res,
                 ecka_session *es, sm_err *err)
{
    sm_buf ec, d1, d2;
    gpcert g;
    ecasd_cert(s, c->ecasd, curve, &ec, &g);
    sm_buf_init(&d1);
    sm_buf_init(&d2);
    uint8_t rsp[64];
    assert_int_equal(ecka_begin(p, &g, es, err), SM_OK);
    assert_int_equal(ecka_dgi_3a01(o->cert.data, o->cert.len, &d1, err), SM_OK);
    size_t rl = card_3a01(c, d1.data, d1.len, rsp);
    assert_int_equal(ecka_parse_3a01_response(es, rsp, rl, err), SM_OK);
    assert_int_equal(ecka_dgi_3a02(s, es, &o->sk, &d2, err), SM_OK);
    rl = card_3a02(c, d2.data, d2.len, rsp);
    sm_rc rc = ecka_finish(s, es, rsp, rl, &o->kek, res, err);
    sm_buf_free(&ec);
    sm_buf_free(&d1);
    sm_buf_free(&d2);
    return rc;
}

static void check_keys(hsm_sess *s, offcard *o, card *c, const ecka_result *res, unsigned nkeys)
{
    sm_err err = {0};
    assert_int_equal(res->nkeys, nkeys);
    for (unsigned i = 0; i < nkeys; i++) {
        const uint8_t *kv = c->keydata + 16 * (i + 1);
        uint8_t kcv[3];
        ref_kcv(kv, 16, kcv);
        assert_memory_equal(res->kcv[i], kcv, 3);
        assert_int_equal(res->key_id[i], i + 1);
        /* the session key, and the wrapped copy unwrapped again, are the card's key */
        uint8_t one[16], a[16], b[16];
        memset(one, 1, 16);
        assert_int_equal(hsm_aes_ecb_encrypt(s, &res->keys[i], one, 16, a, &err), SM_OK);
        assert_memory_equal(a, kcv, 3);
        assert_int_equal(res->wrapped_len[i], 24);
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
        hsm_key back;
        assert_int_equal(hsm_unwrap(s, &o->kek, res->wrapped[i], res->wrapped_len[i], &sp, &back, &err), SM_OK);
        assert_int_equal(hsm_aes_ecb_encrypt(s, &back, one, 16, b, &err), SM_OK);
        assert_memory_equal(a, b, 16);
        hsm_key_destroy(s, &back, NULL);
        /* and it never reads out */
        uint8_t v[64];
        size_t vl;
        assert_int_not_equal(hsm_key_try_read_value(s, &res->keys[i], v, sizeof v, &vl, &err), SM_OK);
        sm_err_clear(&err);
    }
}

static void isdp(hsm_curve curve, const char *group)
{
    hsm_sess *s = sess();
    offcard o;
    offcard_init(s, &o);
    card c = {.ecasd = ref_ec_gen(group), .group = group};
    ecka_params p;
    ecka_params_isdp(0x30, &p);
    ecka_result res;
    ecka_session es;
    sm_err err = {0};
    if (run(s, &o, &c, &p, curve, &res, &es, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_hex_equal(es.crt, es.crt_len, "A615900203099501108001888101108201018301309100");
    assert_false(es.has_esk);
    check_keys(s, &o, &c, &res, 3);
    /* the new K-ENC / K-MAC work as SCP03 static keys straight away */
    uint8_t seq[3] = {0, 0, 1}, aid[16] = {0xA0, 0, 0, 5, 0x59, 0x10, 0x10}, cc[8], ref[8], ctx[19];
    assert_int_equal(scp03_card_challenge(s, &res.keys[0], seq, aid, 16, cc, &err), SM_OK);
    memcpy(ctx, seq, 3);
    memcpy(ctx + 3, aid, 16);
    ref_scp03_kdf(c.keydata + 16, 16, 0x02, ctx, 19, 64, ref);
    assert_memory_equal(cc, ref, 8);
    ecka_result_release(s, &res);
    sm_buf_free(&o.cert);
    EVP_PKEY_free(c.ecasd);
}

static void test_isdp_p256(void **state) { isdp(HSM_CURVE_P256, "prime256v1"); }
static void test_isdp_brainpool(void **state) { isdp(HSM_CURVE_BP256R1, "brainpoolP256r1"); }

static void test_isdr_scp80_and_scp81(void **state)
{
    hsm_sess *s = sess();
    offcard o;
    offcard_init(s, &o);
    sm_err err = {0};
    card c = {.ecasd = ref_ec_gen("prime256v1"), .group = "prime256v1"};
    ecka_params p;
    ecka_params_isdr_scp80(0x02, 0x0000000105, &p);
    ecka_result res;
    ecka_session es;
    if (run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_hex_equal(es.crt, es.crt_len, "A61D9002030995011096010080018881011082010183010291050000000105");
    check_keys(s, &o, &c, &res, 3);
    ecka_result_release(s, &res);

    ecka_params_isdr_scp81(0x40, &p);
    if (run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_hex_equal(es.crt, es.crt_len, "A6189002030995015C960100800188810110820101830140" "9100");
    check_keys(s, &o, &c, &res, 1);
    ecka_result_release(s, &res);
    sm_buf_free(&o.cert);
    EVP_PKEY_free(c.ecasd);
}

static void test_derivation_random_and_hostid(void **state)
{
    hsm_sess *s = sess();
    offcard o;
    offcard_init(s, &o);
    sm_err err = {0};
    card c = {.ecasd = ref_ec_gen("prime256v1"), .group = "prime256v1", .send_dr = true};
    for (int i = 0; i < 16; i++)
        c.dr[i] = (uint8_t)(0x30 + i);
    ecka_params p;
    ecka_params_isdp(0x31, &p);
    p.scenario |= ECKA_SC_DR;
    ecka_result res;
    ecka_session es;
    if (run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_true(res.has_dr);
    assert_memory_equal(res.dr, c.dr, 16);
    check_keys(s, &o, &c, &res, 3);
    ecka_result_release(s, &res);
    /* DR required but absent / present but not requested */
    c.send_dr = false;
    assert_int_equal(run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err), SM_EPROTO);
    assert_non_null(strstr(err.msg, "Derivation Random"));
    assert_false(es.has_esk);
    sm_err_clear(&err);
    c.send_dr = true;
    p.scenario &= (uint8_t)~ECKA_SC_DR;
    assert_int_equal(run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err), SM_EPROTO);
    sm_err_clear(&err);
    /* HostID / SIN / SDIN in the CRT and the SharedInfo */
    const uint8_t host[16] = "host-id-01234567", sin[] = {0x01, 0x02}, sdin[] = {0x0A, 0x0B, 0x0C};
    ecka_params_isdp(0x32, &p);
    p.scenario |= ECKA_SC_HOSTID;
    p.host_id = host;
    p.host_id_len = 16;
    p.sin = sin;
    p.sin_len = 2;
    p.sdin = sdin;
    p.sdin_len = 3;
    uint8_t si[64];
    size_t sil;
    assert_int_equal(ecka_shared_info(&p, NULL, 0, si, sizeof si, &sil, &err), SM_OK);
    assert_hex_equal(si, sil, "108810" "10686f73742d69642d3031323334353637" "020102" "030a0b0c");
    p.sin_len = 0; /* the simulated card reads only 95/80/81: without HostID bits its SharedInfo differs */
    c.send_dr = false;
    assert_int_equal(run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err), SM_EVERIFY);
    sm_err_clear(&err);
    ecka_params_isdp(0x32, &p);
    p.host_id = host;
    p.host_id_len = 16; /* HostID without the scenario bit */
    gpcert g;
    assert_int_equal(ecka_begin(&p, &g, &es, &err), SM_EINVAL);
    sm_buf_free(&o.cert);
    EVP_PKEY_free(c.ecasd);
}

static int count_objects(const hsm_objinfo *oi, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void test_bad_receipt_and_order(void **state)
{
    hsm_sess *s = sess();
    offcard o;
    offcard_init(s, &o);
    sm_err err = {0};
    card c = {.ecasd = ref_ec_gen("prime256v1"), .group = "prime256v1", .corrupt_receipt = true};
    ecka_params p;
    ecka_params_isdp(0x30, &p);
    ecka_result res;
    ecka_session es;
    int before = 0, after = 0;
    assert_int_equal(hsm_objects_list(s, count_objects, &before, &err), SM_OK);
    assert_int_equal(run(s, &o, &c, &p, HSM_CURVE_P256, &res, &es, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "receipt does not verify"));
    sm_err_clear(&err);
    assert_false(es.has_esk);
    assert_int_equal(res.nkeys, 0);
    /* nothing is left behind in the token: no keys, no ephemeral key (2 objects: the ECASD issuer
     * key run() generated) */
    assert_int_equal(hsm_objects_list(s, count_objects, &after, &err), SM_OK);
    assert_int_equal(after, before + 2);

    /* out of order, malformed answers */
    sm_buf ec;
    gpcert g;
    ecasd_cert(s, c.ecasd, HSM_CURVE_P256, &ec, &g);
    sm_buf d;
    sm_buf_init(&d);
    assert_int_equal(ecka_begin(&p, &g, &es, &err), SM_OK);
    assert_int_equal(ecka_dgi_3a02(s, &es, &o.sk, &d, &err), SM_ESTATE);
    sm_err_clear(&err);
    uint8_t r1[] = {0x85, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(ecka_parse_3a01_response(&es, r1, sizeof r1, &err), SM_EPROTO);
    sm_err_clear(&err);
    uint8_t r2[18] = {0x86, 0x10};
    assert_int_equal(ecka_parse_3a01_response(&es, r2, sizeof r2, &err), SM_EPROTO);
    sm_err_clear(&err);
    r2[0] = 0x85;
    assert_int_equal(ecka_parse_3a01_response(&es, r2, 17, &err), SM_EPROTO); /* truncated */
    sm_err_clear(&err);
    assert_int_equal(ecka_parse_3a01_response(&es, r2, 18, &err), SM_OK);
    assert_int_equal(ecka_finish(s, &es, r2, 18, NULL, &res, &err), SM_ESTATE);
    sm_err_clear(&err);
    es.state = 1;
    assert_int_equal(ecka_dgi_3a02(s, &es, &o.sk, &d, &err), SM_OK);
    assert_true(es.has_esk);
    const char *bad[] = {"8610" "00112233445566778899aabbccddeeff" "00",  /* trailing byte */
                         "8608" "0011223344556677",                        /* short receipt */
                         "8510" "00112233445566778899aabbccddeeff",       /* DR only */
                         "86100011"};                                      /* truncated */
    for (int i = 0; i < 4; i++) {
        ecka_session copy = es;
        uint8_t b[64];
        size_t bl = testenv_unhex(bad[i], b, sizeof b);
        sm_err_clear(&err);
        sm_rc rc = ecka_finish(s, &copy, b, bl, NULL, &res, &err);
        if (rc != SM_EPROTO)
            fail_msg("%s: %s %s", bad[i], sm_rc_name(rc), err.msg);
        assert_false(copy.has_esk);
        if (i < 3) { /* the copy shares the key: make a fresh one for the next case */
            es.state = 1;
            sm_buf_reset(&d);
            assert_int_equal(ecka_dgi_3a02(s, &es, &o.sk, &d, &err), SM_OK);
        }
    }
    /* an ECASD key that is not on its curve */
    gpcert bogus = g;
    uint8_t pt[65];
    memcpy(pt, g.pubkey, 65);
    pt[64] ^= 1;
    bogus.pubkey = pt;
    sm_err_clear(&err);
    assert_int_equal(ecka_begin(&p, &bogus, &es, &err), SM_EVERIFY);
    /* bad parameters */
    ecka_params q;
    ecka_params_isdp(0x20, &q);
    assert_int_equal(ecka_begin(&q, &g, &es, &err), SM_EINVAL);
    ecka_params_isdr_scp81(0x30, &q);
    assert_int_equal(ecka_begin(&q, &g, &es, &err), SM_EINVAL);
    ecka_params_isdp(0x30, &q);
    q.nkeys = 1;
    assert_int_equal(ecka_begin(&q, &g, &es, &err), SM_EINVAL);
    sm_buf_free(&d);
    sm_buf_free(&ec);
    sm_buf_free(&o.cert);
    EVP_PKEY_free(c.ecasd);
}

/* crypto.md §2.3 (self-computed, regression only) and NIST CAVP X9.63 through hsm_x963_from_value. */
static void test_kdf_vectors(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t z[32], si[3] = {0x10, 0x88, 0x10};
    for (int i = 0; i < 32; i++)
        z[i] = (uint8_t)(i + 1);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_SIGN};
    hsm_keyspec specs[4] = {sp, sp, sp, sp};
    hsm_key k[4];
    assert_int_equal(hsm_x963_from_value(s, z, 32, si, 3, specs, 4, k, &err), SM_OK);
    const char *expect[] = {"d53c188441eead3bb1d7cba7f4fe8f25", "bf66899bb9ba7b6d6f44102d25fd3cff",
                            "79e1d42d345e284800b797644f90efb1", "5f232eff1b5c65f421f875401d4c4b46"};
    for (int i = 0; i < 4; i++) {
        uint8_t kv[16], a[3], b[3];
        testenv_unhex(expect[i], kv, 16);
        assert_int_equal(scp03_kcv(s, &k[i], a, &err), SM_OK);
        ref_kcv(kv, 16, b);
        assert_memory_equal(a, b, 3);
    }
    uint8_t crt[23], mac[16];
    testenv_unhex("A615900203099501108001888101108201018301309100", crt, sizeof crt);
    assert_int_equal(hsm_aes_cmac(s, &k[0], crt, sizeof crt, mac, &err), SM_OK);
    assert_hex_equal(mac, 16, "85db753d30cccab9a3ac506fb805f663");

    tj *v = ct_vectors("tests/vectors/x963_kdf_sha256_cavp.json");
    const tj *groups = tj_get(v, "testGroups");
    int n = 0;
    /* each case: Z, SharedInfo, key_data; checked through the same HSM path via KCVs */
    for (size_t g = 0; g < groups->n; g++) {
        const tj *cases = tj_get(groups->items[g], "tests");
        for (size_t i = 0; i < cases->n; i++) {
            const tj *tc = cases->items[i];
            size_t zl, sil2, kl;
            uint8_t *zz = tj_hex(tc, "Z", &zl), *ss = tj_hex(tc, "SharedInfo", &sil2);
            uint8_t *kd = tj_hex(tc, "key_data", &kl);
            unsigned nk = (unsigned)(kl / 16);
            hsm_keyspec cs[8];
            hsm_key ck[8];
            for (unsigned j = 0; j < nk; j++)
                cs[j] = sp;
            assert_int_equal(hsm_x963_from_value(s, zz, zl, ss, sil2, cs, nk, ck, &err), SM_OK);
            for (unsigned j = 0; j < nk; j++) {
                uint8_t a[3], b[3];
                assert_int_equal(scp03_kcv(s, &ck[j], a, &err), SM_OK);
                ref_kcv(kd + 16 * j, 16, b);
                assert_memory_equal(a, b, 3);
                hsm_key_destroy(s, &ck[j], NULL);
            }
            /* and the OpenSSL reference agrees byte for byte */
            uint8_t r[128];
            ref_x963(zz, zl, ss, sil2, r, kl);
            assert_memory_equal(r, kd, kl);
            n++;
            free(zz);
            free(ss);
            free(kd);
        }
    }
    assert_int_equal(n, 20);
    tj_free(v);
}

/* ECDH in the HSM with an imported test private key, then the SGP.02 KDF: the KCVs must match the
 * X9.63 output of the expected shared secret computed with OpenSSL. */
static void ecdh_kat(hsm_sess *s, hsm_curve curve, const uint8_t *d, size_t dl, const uint8_t *peer,
                     const uint8_t *z)
{
    sm_err err = {0};
    hsm_keyspec esp = {.type = HSM_KT_EC_PRIV, .curve = curve, .usage = HSM_U_DERIVE};
    hsm_key priv;
    while (dl > 32 && d[0] == 0) { /* Wycheproof may carry a sign byte */
        d++;
        dl--;
    }
    uint8_t d32[32] = {0};
    memcpy(d32 + 32 - dl, d, dl);
    assert_int_equal(hsm_ec_import_private(s, &esp, d32, 32, &priv, &err), SM_OK);
    const uint8_t si[3] = {0x10, 0x88, 0x10};
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    hsm_keyspec specs[4] = {sp, sp, sp, sp};
    hsm_key k[4];
    if (hsm_ecdh_x963(s, &priv, peer, 65, si, 3, specs, 4, k, &err) != SM_OK)
        fail_msg("%s", err.msg);
    uint8_t kd[64];
    ref_x963(z, 32, si, 3, kd, 64);
    for (int i = 0; i < 4; i++) {
        uint8_t a[3], b[3];
        assert_int_equal(scp03_kcv(s, &k[i], a, &err), SM_OK);
        ref_kcv(kd + 16 * i, 16, b);
        assert_memory_equal(a, b, 3);
        hsm_key_destroy(s, &k[i], NULL);
    }
    hsm_key_destroy(s, &priv, NULL);
}

static void test_ecdh_kats(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    /* RFC 7027 A.1: dA * QB on brainpoolP256r1 */
    tj *v = ct_vectors("tests/vectors/ecdh_brainpoolP256r1_rfc7027.json");
    size_t l;
    uint8_t *d = tj_hex(v, "dA", &l), *x = tj_hex(v, "x_qB", &l), *y = tj_hex(v, "y_qB", &l), *z = tj_hex(v, "x_Z", &l);
    uint8_t qb[65] = {0x04};
    memcpy(qb + 1, x, 32);
    memcpy(qb + 33, y, 32);
    assert_int_equal(ecpub_check_point(HSM_CURVE_BP256R1, qb, 65, &err), SM_OK);
    assert_int_equal(ecpub_check_point(HSM_CURVE_P256, qb, 65, &err), SM_EVERIFY); /* wrong curve */
    sm_err_clear(&err);
    ecdh_kat(s, HSM_CURVE_BP256R1, d, 32, qb, z);
    free(d);
    free(x);
    free(y);
    free(z);
    tj_free(v);

    /* Wycheproof P-256 with raw points: valid ones derive the expected secret; every invalid or
     * compressed point is refused by the ECASD key check before any HSM work */
    v = ct_vectors("tests/vectors/wycheproof_ecdh_secp256r1_ecpoint_subset.json");
    const tj *tests = tj_get(tj_get(v, "testGroups")->items[0], "tests");
    int valid = 0, refused = 0;
    for (size_t i = 0; i < tests->n; i++) {
        const tj *tc = tests->items[i];
        size_t pl, dl2, zl;
        uint8_t *pub = tj_hex(tc, "public", &pl), *priv = tj_hex(tc, "private", &dl2), *sh = tj_hex(tc, "shared", &zl);
        sm_err_clear(&err);
        sm_rc rc = ecpub_check_point(HSM_CURVE_P256, pub, pl, &err);
        if (strcmp(tj_str(tc, "result"), "valid") == 0 && pl == 65) {
            assert_int_equal(rc, SM_OK);
            ecdh_kat(s, HSM_CURVE_P256, priv, dl2, pub, sh);
            valid++;
        } else if (strcmp(tj_str(tc, "result"), "invalid") == 0 || pl != 65) {
            if (rc == SM_OK)
                fail_msg("tcId %d accepted", (int)tj_get(tc, "tcId")->num);
            refused++;
        }
        free(pub);
        free(priv);
        free(sh);
    }
    assert_true(valid >= 5);
    assert_true(refused >= 4);
    tj_free(v);

    /* Wycheproof brainpoolP256r1 (SPKI-encoded keys, decoded here with OpenSSL): the valid cases */
    v = ct_vectors("tests/vectors/wycheproof_ecdh_brainpoolP256r1_subset.json");
    tests = tj_get(tj_get(v, "testGroups")->items[0], "tests");
    valid = 0;
    for (size_t i = 0; i < tests->n; i++) {
        const tj *tc = tests->items[i];
        if (strcmp(tj_str(tc, "result"), "valid") != 0)
            continue;
        size_t pl, dl2, zl;
        uint8_t *spki = tj_hex(tc, "public", &pl), *priv = tj_hex(tc, "private", &dl2), *sh = tj_hex(tc, "shared", &zl);
        const unsigned char *pp = spki;
        EVP_PKEY *pk = d2i_PUBKEY(NULL, &pp, (long)pl);
        assert_non_null(pk);
        uint8_t pt[65];
        size_t ptl = 0;
        assert_int_equal(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &ptl), 1);
        if (ptl == 65) {
            assert_int_equal(ecpub_check_point(HSM_CURVE_BP256R1, pt, 65, &err), SM_OK);
            ecdh_kat(s, HSM_CURVE_BP256R1, priv, dl2, pt, sh);
            valid++;
        }
        EVP_PKEY_free(pk);
        free(spki);
        free(priv);
        free(sh);
    }
    assert_true(valid >= 5);
    tj_free(v);
}

static void test_apdus(void **state)
{
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    uint8_t aid[16];
    testenv_unhex("A0000005591010FFFFFFFF8900001000", aid, 16);
    assert_int_equal(ecka_install_perso(aid, 16, &b, &err), SM_OK);
    assert_hex_equal(b.data, b.len, "221b" "80e6200016" "000010a0000005591010ffffffff8900001000000000");
    sm_buf_reset(&b);
    uint8_t data[600];
    memset(data, 0x5A, sizeof data);
    unsigned block = 0;
    assert_int_equal(ecka_store_data(data, 300, false, &block, &b, &err), SM_OK);
    assert_int_equal(block, 2);
    assert_int_equal(ecka_store_data(data, 10, true, &block, &b, &err), SM_OK);
    assert_int_equal(block, 3);
    tlv_rd r;
    tlv_rd_init(&r, b.data, b.len, 0);
    tlv t;
    const char *hdr[] = {"80e20900ff", "80e209012d", "80e289020a"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tlv_next(&r, &t, &err), SM_OK);
        assert_int_equal(t.tag, 0x22);
        assert_hex_equal(t.val, 5, hdr[i]);
    }
    assert_true(tlv_rd_done(&r));
    sm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_isdp_p256, return_sessions),
        cmocka_unit_test_teardown(test_isdp_brainpool, return_sessions),
        cmocka_unit_test_teardown(test_isdr_scp80_and_scp81, return_sessions),
        cmocka_unit_test_teardown(test_derivation_random_and_hostid, return_sessions),
        cmocka_unit_test_teardown(test_bad_receipt_and_order, return_sessions),
        cmocka_unit_test_teardown(test_kdf_vectors, return_sessions),
        cmocka_unit_test_teardown(test_ecdh_kats, return_sessions),
        cmocka_unit_test_teardown(test_apdus, return_sessions),
    };
    return cmocka_run_group_tests_name("crypto_ecka", tests, setup, teardown);
}
