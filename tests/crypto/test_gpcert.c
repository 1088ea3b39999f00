/* crypto/gpcert and crypto/ecpub: 7F21 certificates issued from HSM-held CA keys, strict parsing,
 * one link and whole chains (X.509 CI -> X.509 EUM -> 7F21 eUICC; CI -> 7F21 SM-DP / SM-SR),
 * and the negative cases: wrong tag order, truncated / over-long input, bad signatures, expired
 * and not-yet-valid certificates, wrong curve, mismatched key identifiers.
 * Known answers: Wycheproof ECDSA P-256/SHA-256 (P1363, r||s) through crypto/ecpub's verifier
 * (tests/vectors/wycheproof_ecdsa_secp256r1_sha256_p1363_subset.json, see SOURCES.md).
 * Independent check: every signature crypto/ produces is verified with tests/crypto/ref_crypto.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/ecpub.h"
#include "crypto/gpcert.h"
#include "crypto/tlv.h"
#include "tests/crypto/ctest.h"
#include "tests/crypto/ref_crypto.c"

/* The test PKI, made once per program. */
static EVP_PKEY *ci_key, *eum_key, *ecasd_key, *ecasd_bp_key, *other_ci_key;
static uint8_t *ci_der, *eum_der, *eum_other_der;
static size_t ci_len, eum_len, eum_other_len;
static uint8_t ci_ski[20], eum_ski[20];

static int setup(void **state)
{
    if (ct_group_setup(state))
        return -1;
    ref_x509_opts ca = {.days_from = -1, .days_to = 3650, .ca = true, .key_cert_sign = true, .ski = true};
    ci_key = ref_ec_gen("P-256");
    eum_key = ref_ec_gen("P-256");
    ecasd_key = ref_ec_gen("P-256");
    ecasd_bp_key = ref_ec_gen("brainpoolP256r1");
    other_ci_key = ref_ec_gen("P-256");
    ref_x509_make(ci_key, "Test CI", ci_key, NULL, 0, &ca, &ci_der, &ci_len);
    ref_x509_make(eum_key, "Test EUM", ci_key, ci_der, ci_len, &ca, &eum_der, &eum_len);
    /* an EUM certificate with the same names but signed by another key */
    ref_x509_make(eum_key, "Test EUM", other_ci_key, ci_der, ci_len, &ca, &eum_other_der, &eum_other_len);
    ref_x509_ski(ci_der, ci_len, ci_ski);
    ref_x509_ski(eum_der, eum_len, eum_ski);
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(ci_key);
    EVP_PKEY_free(eum_key);
    EVP_PKEY_free(ecasd_key);
    EVP_PKEY_free(ecasd_bp_key);
    EVP_PKEY_free(other_ci_key);
    free(ci_der);
    free(eum_der);
    free(eum_other_der);
    return ct_group_teardown(state);
}

/* Imports an OpenSSL test key into the HSM as a signing key. */
static hsm_key hsm_signer(hsm_sess *s, EVP_PKEY *k, hsm_curve c)
{
    uint8_t d[32];
    ref_ec_priv(k, d);
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = c, .usage = HSM_U_SIGN};
    hsm_key out;
    sm_err err = {0};
    if (hsm_ec_import_private(s, &sp, d, 32, &out, &err) != SM_OK)
        fail_msg("%s", err.msg);
    return out;
}

static const uint8_t SERIAL[] = {0x01, 0x02, 0x03, 0x04};
static const uint8_t CAID[] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xE9, 0x3B}; /* OID value bytes, test */
static const uint8_t SUBJ_DP[] = "smbox-test-smdp";

/* A DP / SR / ECASD certificate template. */
static gpcert_tbs tbs_for(const uint8_t *pub, hsm_curve curve, int type, const uint8_t *aki)
{
    gpcert_tbs t = {.serial = SERIAL, .serial_len = sizeof SERIAL, .ca_id = CAID, .ca_id_len = sizeof CAID,
                    .subject_id = SUBJ_DP, .subject_id_len = sizeof SUBJ_DP - 1,
                    .key_usage = type > 0 ? GPCERT_KU_SIGN : GPCERT_KU_KEY_AGREEMENT,
                    .key_usage_len = type > 0 ? 1 : 2, .has_effective = true,
                    .effective = {2020, 1, 1}, .expiry = {2099, 12, 31}, .has_disc = true, .cert_type = type,
                    .aki = aki, .aki_len = aki ? 20 : 0, .pubkey = pub, .pubkey_len = 65, .curve = curve};
    return t;
}

static gpcert_issuer issuer_of(const uint8_t *der, size_t len, const gpcert_issuer *parent)
{
    gpcert_issuer is;
    sm_err err = {0};
    if (gpcert_x509_issuer(der, len, parent, time(NULL), &is, &err) != SM_OK)
        fail_msg("%s", err.msg);
    return is;
}

static void test_issue_dp_and_parse(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_key ci = hsm_signer(s, ci_key, HSM_CURVE_P256);
    /* the SM-DP's own key lives in the HSM */
    hsm_keyspec dsp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key dpriv, dpub;
    assert_int_equal(hsm_ec_generate(s, &dsp, &dpriv, &dpub, &err), SM_OK);
    uint8_t pub[65];
    size_t pl;
    assert_int_equal(hsm_ec_public(s, &dpub, pub, sizeof pub, &pl, NULL, &err), SM_OK);
    gpcert_tbs t = tbs_for(pub, HSM_CURVE_P256, GPCERT_TYPE_SMDP, ci_ski);
    sm_buf b;
    sm_buf_init(&b);
    assert_int_equal(gpcert_issue(s, &ci, &t, &b, &err), SM_OK);
    assert_int_equal(b.data[0], 0x7F);
    assert_int_equal(b.data[1], 0x21);

    gpcert c;
    if (gpcert_parse(b.data, b.len, &c, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(c.serial_len, 4);
    assert_memory_equal(c.serial, SERIAL, 4);
    assert_int_equal(c.key_usage, 0x88);
    assert_int_equal(c.cert_type, GPCERT_TYPE_SMDP);
    assert_int_equal(c.aki_len, 20);
    assert_memory_equal(c.pubkey, pub, 65);
    assert_int_equal(c.curve_ref, GPCERT_CURVE_P256);
    assert_int_equal(c.expiry.y, 2099);
    /* signed data = every TLV before 5F37; independently verified with OpenSSL */
    assert_ptr_equal(c.tbs, b.data + 3 + (b.data[2] == 0x81 ? 1 : 0));
    uint8_t cipub[65];
    ref_ec_pub(ci_key, cipub);
    assert_true(ref_ecdsa_verify_raw("prime256v1", cipub, c.tbs, c.tbslen, c.sig));
    /* encoding the parsed fields gives the same signed data */
    gpcert_tbs t2;
    gpcert_to_tbs(&c, &t2);
    sm_buf b2;
    sm_buf_init(&b2);
    assert_int_equal(gpcert_encode_tbs(&t2, &b2, &err), SM_OK);
    assert_int_equal(b2.len, c.tbslen);
    assert_memory_equal(b2.data, c.tbs, c.tbslen);

    gpcert_issuer ci_is = issuer_of(ci_der, ci_len, NULL);
    assert_int_equal(gpcert_check(&c, &ci_is, GPCERT_P_SMDP, time(NULL), &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &ci_is, GPCERT_P_SMSR, time(NULL), &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "certificate type"));
    sm_err_clear(&err);
    assert_int_equal(gpcert_check(&c, &ci_is, GPCERT_P_ECASD, time(NULL), &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "key agreement"));
    sm_err_clear(&err);
    /* the whole chain CI -> SM-DP */
    const uint8_t *chain[] = {ci_der, b.data};
    size_t lens[] = {ci_len, b.len};
    gpcert leaf;
    assert_int_equal(gpcert_verify_chain(chain, lens, 2, GPCERT_P_SMDP, time(NULL), &leaf, &err), SM_OK);
    /* signed by the wrong CA */
    gpcert_issuer eum_is = issuer_of(eum_der, eum_len, &ci_is);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ANY, time(NULL), &err), SM_EVERIFY);
    sm_buf_free(&b);
    sm_buf_free(&b2);
}

/* CI -> EUM (X.509) -> eUICC ECASD (7F21) on either curve. */
static void euicc_chain(EVP_PKEY *ecasd, hsm_curve curve)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_key eum = hsm_signer(s, eum_key, HSM_CURVE_P256);
    uint8_t pub[65];
    ref_ec_pub(ecasd, pub);
    gpcert_tbs t = tbs_for(pub, curve, -1, eum_ski);
    uint8_t eid_tlv[] = {0x45, 0x10, 0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x51, 0x23, 0x45, 0x12,
                         0x34, 0x56, 0x78, 0x90, 0x13, 0x35};
    t.disc_extra = eid_tlv;
    t.disc_extra_len = sizeof eid_tlv;
    sm_buf b;
    sm_buf_init(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    const uint8_t *chain[] = {ci_der, eum_der, b.data};
    size_t lens[] = {ci_len, eum_len, b.len};
    gpcert leaf;
    if (gpcert_verify_chain(chain, lens, 3, GPCERT_P_ECASD, time(NULL), &leaf, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(leaf.curve, curve);
    assert_int_equal(leaf.cert_type, -1);
    assert_int_equal(leaf.key_usage, 0x0080);
    assert_memory_equal(leaf.pubkey, pub, 65);
    /* the EUM certificate signed by someone else breaks the chain */
    chain[1] = eum_other_der;
    lens[1] = eum_other_len;
    assert_int_equal(gpcert_verify_chain(chain, lens, 3, GPCERT_P_ECASD, time(NULL), &leaf, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "signature does not verify"));
    sm_err_clear(&err);
    /* the leaf checked directly against the CI (skipping the EUM) fails */
    chain[1] = b.data;
    lens[1] = b.len;
    assert_int_equal(gpcert_verify_chain(chain, lens, 2, GPCERT_P_ECASD, time(NULL), &leaf, &err), SM_EVERIFY);
    sm_buf_free(&b);
}

static void test_chain_euicc_p256(void **state) { euicc_chain(ecasd_key, HSM_CURVE_P256); }
static void test_chain_euicc_brainpool(void **state) { euicc_chain(ecasd_bp_key, HSM_CURVE_BP256R1); }

/* Builds a certificate from raw TLV text with a fresh EUM signature. */
static size_t build_raw(const char *tbs_hex, uint8_t *out, size_t cap)
{
    size_t tl;
    uint8_t *tbs = ct_unhex(tbs_hex, &tl);
    uint8_t sig[64];
    ref_ecdsa_sign_raw(eum_key, tbs, tl, sig);
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    assert_int_equal(gpcert_assemble(tbs, tl, sig, 64, &b, &err), SM_OK);
    assert_true(b.len <= cap);
    memcpy(out, b.data, b.len);
    size_t n = b.len;
    sm_buf_free(&b);
    free(tbs);
    return n;
}

static char pubhex[131];

/* Template expansion: {h} = common head, {p} = the point, {x} = its x coordinate. */
static void expand(char *out, size_t cap, const char *fmt, const char *head)
{
    size_t o = 0;
    for (const char *f = fmt; *f && o + 140 < cap;) {
        if (strncmp(f, "{h}", 3) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", head);
            f += 3;
        } else if (strncmp(f, "{p}", 3) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", pubhex);
            f += 3;
        } else if (strncmp(f, "{x}", 3) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%.64s", pubhex + 2);
            f += 3;
        } else {
            out[o++] = *f++;
        }
    }
    out[o] = 0;
}

static void test_parse_strict(void **state)
{
    uint8_t pub[65];
    ref_ec_pub(ecasd_key, pub);
    sm_hex_encode(pub, 65, pubhex);
    char tbs[1024];
    uint8_t c[600];
    gpcert g;
    sm_err err = {0};
    const char *head = "930101" "420101" "5f200101" "95020080";
    /* the reference layout parses */
    snprintf(tbs, sizeof tbs, "%s5f240420991231" "7f4946b041%sf00100", head, pubhex);
    size_t n = build_raw(tbs, c, sizeof c);
    assert_int_equal(gpcert_parse(c, n, &g, &err), SM_OK);
    assert_false(g.has_disc);
    /* YYMMDD accepted */
    snprintf(tbs, sizeof tbs, "%s5f2403991231" "7f4946b041%sf00100", head, pubhex);
    n = build_raw(tbs, c, sizeof c);
    assert_int_equal(gpcert_parse(c, n, &g, &err), SM_OK);
    assert_int_equal(g.expiry.y, 2099);
    /* an SD image number (45, GP Amd A CASD certificates) between 5F24 and the discretionary data */
    snprintf(tbs, sizeof tbs, "%s5f240420991231" "4503010203" "5303c80103" "7f4946b041%sf00100", head, pubhex);
    n = build_raw(tbs, c, sizeof c);
    assert_int_equal(gpcert_parse(c, n, &g, &err), SM_OK);
    assert_int_equal(g.image_number_len, 3);
    assert_int_equal(g.image_number[2], 0x03);
    assert_true(g.has_disc);

    const struct {
        const char *what, *fmt, *msg;
    } bad[] = {
        {"tag order", "420101930101" "5f200101" "95020080" "5f240420991231" "7f4946b041{p}f00100", "expected serial"},
        {"missing subject", "930101420101" "95020080" "5f240420991231" "7f4946b041{p}f00100", "expected subject"},
        {"unknown tag", "{h}" "5f240420991231" "99020000" "7f4946b041{p}f00100", "expected the public key"},
        {"dates swapped", "{h}" "5f240420991231" "5f250420200101" "7f4946b041{p}f00100", "expected the public key"},
        {"bad BCD", "{h}" "5f2404209912a1" "7f4946b041{p}f00100", "not BCD"},
        {"bad day", "{h}" "5f240420990230" "7f4946b041{p}f00100", "not a valid date"},
        {"curve P-384", "{h}" "5f240420991231" "7f4946b041{p}f00101", "not P-256"},
        {"curve ref long", "{h}" "5f240420991231" "7f4947b041{p}f0020003", "curve reference"},
        {"F0 before B0", "{h}" "5f240420991231" "7f4946f00100b041{p}", "expected public key point"},
        {"compressed point", "{h}" "5f240420991231" "7f4926b02103{x}f00100", "65-byte"},
        {"extra in 7F49", "{h}" "5f240420991231" "7f4949b041{p}f00100900100", "unexpected bytes"},
        {"non-minimal length", "{h}" "5f240420991231" "7f498146b041{p}f00100", "invalid length"},
        {"C8 twice", "{h}" "5f240420991231" "7306c80101c80101" "7f4946b041{p}f00100", "repeated"},
        {"key usage 3 bytes", "930101420101" "5f200101" "9503000080" "5f240420991231" "7f4946b041{p}f00100",
         "key usage"},
        {"45 after 73", "{h}" "5f240420991231" "7303c80101" "450101" "7f4946b041{p}f00100", "expected the public key"},
        {"45 twice", "{h}" "5f240420991231" "450101" "450101" "7f4946b041{p}f00100", "expected the public key"},
        {"empty serial", "9300420101" "5f200101" "95020080" "5f240420991231" "7f4946b041{p}f00100", "serial"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expand(tbs, sizeof tbs, bad[i].fmt, head);
        n = build_raw(tbs, c, sizeof c);
        sm_err_clear(&err);
        sm_rc rc = gpcert_parse(c, n, &g, &err);
        if (rc != SM_EPARSE || !strstr(err.msg, bad[i].msg))
            fail_msg("%s: rc %s, %s", bad[i].what, sm_rc_name(rc), err.msg);
    }

    /* truncation at every length and trailing bytes */
    snprintf(tbs, sizeof tbs, "%s5f240420991231" "7f4946b041%sf00100", head, pubhex);
    n = build_raw(tbs, c, sizeof c);
    for (size_t l = 0; l < n; l++) {
        sm_err_clear(&err);
        assert_int_equal(gpcert_parse(c, l, &g, &err), SM_EPARSE);
    }
    c[n] = 0x00;
    sm_err_clear(&err);
    assert_int_equal(gpcert_parse(c, n + 1, &g, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "unexpected bytes"));
    /* signature of 63 bytes */
    uint8_t d[600];
    memcpy(d, c, n);
    d[n - 65] = 0x3F; /* 5F37 40 -> 5F37 3F */
    assert_int_equal(d[2], 0x81);
    d[3]--;
    sm_err_clear(&err);
    assert_int_equal(gpcert_parse(d, n - 1, &g, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "not 64"));
}

static void test_check_negative(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_key eum = hsm_signer(s, eum_key, HSM_CURVE_P256);
    gpcert_issuer ci_is = issuer_of(ci_der, ci_len, NULL);
    gpcert_issuer eum_is = issuer_of(eum_der, eum_len, &ci_is);
    uint8_t pub[65], bppub[65];
    ref_ec_pub(ecasd_key, pub);
    ref_ec_pub(ecasd_bp_key, bppub);
    time_t now = time(NULL);
    sm_buf b;
    sm_buf_init(&b);
    gpcert c;

    /* bad signature: one bit of the signed data flipped after signing */
    gpcert_tbs t = tbs_for(pub, HSM_CURVE_P256, -1, eum_ski);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_OK);
    b.data[6] ^= 0x01; /* inside the serial */
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "does not verify"));
    sm_err_clear(&err);
    b.data[6] ^= 0x01;
    b.data[b.len - 1] ^= 0x40; /* inside s */
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    sm_err_clear(&err);

    /* expired yesterday, valid today (expiry day inclusive), not yet valid */
    gpcert_date today;
    gpcert_date_from_time(now, &today);
    gpcert_date_from_time(now - 86400, &t.expiry);
    t.effective = (gpcert_date){2020, 1, 1};
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "expired"));
    sm_err_clear(&err);
    t.expiry = today;
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_OK);
    gpcert_date_from_time(now + 86400, &t.effective);
    t.expiry = (gpcert_date){2099, 1, 1};
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "not valid before"));
    sm_err_clear(&err);

    /* wrong curve: a brainpool point declared as P-256 (and the reverse) is not on the curve */
    t = tbs_for(bppub, HSM_CURVE_P256, -1, eum_ski);
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "not on prime256v1"));
    sm_err_clear(&err);
    t = tbs_for(pub, HSM_CURVE_BP256R1, -1, eum_ski);
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    sm_err_clear(&err);

    /* C9 naming another key */
    t = tbs_for(pub, HSM_CURVE_P256, -1, ci_ski);
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "C9"));
    sm_err_clear(&err);
    /* a signing key usage on an ECASD certificate */
    t = tbs_for(pub, HSM_CURVE_P256, GPCERT_TYPE_SMDP, eum_ski);
    sm_buf_reset(&b);
    assert_int_equal(gpcert_issue(s, &eum, &t, &b, &err), SM_OK);
    assert_int_equal(gpcert_parse(b.data, b.len, &c, &err), SM_OK);
    assert_int_equal(gpcert_check(&c, &eum_is, GPCERT_P_ECASD, now, &err), SM_EVERIFY);
    sm_buf_free(&b);
}

static void test_x509_negative(void **state)
{
    sm_err err = {0};
    gpcert_issuer ci_is = issuer_of(ci_der, ci_len, NULL), out;
    time_t now = time(NULL);
    uint8_t *d;
    size_t l;
    const struct {
        const char *what;
        ref_x509_opts o;
        const char *md;
        const char *msg;
    } bad[] = {
        {"expired", {.days_from = -30, .days_to = -1, .ca = true, .key_cert_sign = true, .ski = true}, NULL, "expired"},
        {"future", {.days_from = 2, .days_to = 30, .ca = true, .key_cert_sign = true, .ski = true}, NULL, "not yet"},
        {"not a CA", {.days_from = -1, .days_to = 30, .ca = false, .key_cert_sign = true, .ski = true}, NULL,
         "not a CA"},
        {"no keyCertSign", {.days_from = -1, .days_to = 30, .ca = true, .key_cert_sign = false, .ski = true}, NULL,
         "keyCertSign"},
        {"no SKI", {.days_from = -1, .days_to = 30, .ca = true, .key_cert_sign = true, .ski = false}, NULL,
         "SubjectKeyIdentifier"},
        {"SHA-384", {.days_from = -1, .days_to = 30, .ca = true, .key_cert_sign = true, .ski = true}, "SHA384",
         "ecdsa-with-SHA256"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ref_x509_opts o = bad[i].o;
        o.md = bad[i].md;
        ref_x509_make(eum_key, "Test EUM", ci_key, ci_der, ci_len, &o, &d, &l);
        sm_err_clear(&err);
        sm_rc rc = gpcert_x509_issuer(d, l, &ci_is, now, &out, &err);
        if (rc != SM_EVERIFY || !strstr(err.msg, bad[i].msg))
            fail_msg("%s: %s %s", bad[i].what, sm_rc_name(rc), err.msg);
        free(d);
    }
    /* a brainpool CI works; a P-384 one is refused */
    EVP_PKEY *bp = ref_ec_gen("brainpoolP256r1"), *p384 = ref_ec_gen("P-384");
    ref_x509_opts ca = {.days_from = -1, .days_to = 30, .ca = true, .key_cert_sign = true, .ski = true};
    ref_x509_make(bp, "BP CI", bp, NULL, 0, &ca, &d, &l);
    assert_int_equal(gpcert_x509_issuer(d, l, NULL, now, &out, &err), SM_OK);
    assert_int_equal(out.curve, HSM_CURVE_BP256R1);
    free(d);
    ref_x509_make(p384, "P384 CI", p384, NULL, 0, &ca, &d, &l);
    sm_err_clear(&err);
    assert_int_equal(gpcert_x509_issuer(d, l, NULL, now, &out, &err), SM_EVERIFY);
    if (!strstr(err.msg, "not P-256"))
        fail_msg("%s", err.msg);
    free(d);
    EVP_PKEY_free(bp);
    EVP_PKEY_free(p384);
    /* trailing bytes, truncation, garbage */
    uint8_t *x = malloc(ci_len + 1);
    memcpy(x, ci_der, ci_len);
    x[ci_len] = 0;
    sm_err_clear(&err);
    assert_int_equal(gpcert_x509_issuer(x, ci_len + 1, NULL, now, &out, &err), SM_EPARSE);
    sm_err_clear(&err);
    assert_int_equal(gpcert_x509_issuer(x, ci_len - 1, NULL, now, &out, &err), SM_EPARSE);
    free(x);
    /* a CI certificate that is not self-signed */
    sm_err_clear(&err);
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, NULL, now, &out, &err), SM_EVERIFY);
}

/* Verified CI and EUM certificates are remembered: the same answer again without the work, the
 * validity still checked at each call, and nothing served for another certificate or another parent. */
static void test_x509_issuer_cache(void **state)
{
    sm_err err = {0};
    time_t now = time(NULL);
    gpcert_issuer a, b, out;
    unsigned long h0, m0, h1, m1;
    gpcert_issuer_cache_stats(&h0, &m0);
    assert_int_equal(gpcert_x509_issuer(ci_der, ci_len, NULL, now, &a, &err), SM_OK);
    assert_int_equal(gpcert_x509_issuer(ci_der, ci_len, NULL, now, &b, &err), SM_OK);
    assert_memory_equal(&a, &b, sizeof a);
    gpcert_issuer_cache_stats(&h1, &m1);
    assert_true(h1 >= h0 + 1);
    /* the validity at `now`, cached or not */
    assert_int_equal(gpcert_x509_issuer(ci_der, ci_len, NULL, a.not_after + 86400, &out, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "expired"));
    sm_err_clear(&err);
    assert_int_equal(gpcert_x509_issuer(ci_der, ci_len, NULL, a.not_before - 86400, &out, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "not yet valid"));
    sm_err_clear(&err);
    /* the EUM under the CI: verified once, then remembered */
    gpcert_issuer e1, e2;
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, &a, now, &e1, &err), SM_OK);
    gpcert_issuer_cache_stats(&h0, &m0);
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, &a, now, &e2, &err), SM_OK);
    gpcert_issuer_cache_stats(&h1, &m1);
    assert_true(h1 == h0 + 1 && m1 == m0);
    assert_memory_equal(&e1, &e2, sizeof e1);
    /* ... but not under another parent (another key, or another name) */
    gpcert_issuer other = a;
    other.pub[40] ^= 1;
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, &other, now, &out, &err), SM_EVERIFY);
    sm_err_clear(&err);
    other = a;
    other.name[other.name_len - 1] ^= 1;
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, &other, now, &out, &err), SM_EVERIFY);
    sm_err_clear(&err);
    /* ... nor for a changed certificate (its signature's last byte) */
    uint8_t *x = malloc(eum_len);
    memcpy(x, eum_der, eum_len);
    x[eum_len - 1] ^= 1;
    assert_int_not_equal(gpcert_x509_issuer(x, eum_len, &a, now, &out, &err), SM_OK);
    sm_err_clear(&err);
    free(x);
    /* refusals are not remembered: the same refusal again */
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, NULL, now, &out, &err), SM_EVERIFY);
    sm_err_clear(&err);
    gpcert_issuer_cache_stats(&h0, &m0);
    assert_int_equal(gpcert_x509_issuer(eum_der, eum_len, NULL, now, &out, &err), SM_EVERIFY);
    gpcert_issuer_cache_stats(&h1, &m1);
    assert_true(h1 == h0 && m1 == m0 + 1);
}

/* Wycheproof ECDSA P-256 SHA-256 P1363 through crypto/ecpub (the certificate verifier). */
static void test_wycheproof_ecdsa(void **state)
{
    tj *v = ct_vectors("tests/vectors/wycheproof_ecdsa_secp256r1_sha256_p1363_subset.json");
    const tj *groups = tj_get(v, "testGroups");
    int n = 0;
    for (size_t g = 0; g < groups->n; g++) {
        size_t pl;
        uint8_t *pt = tj_hex(tj_get(groups->items[g], "publicKey"), "uncompressed", &pl);
        const tj *tests = tj_get(groups->items[g], "tests");
        for (size_t i = 0; i < tests->n; i++) {
            size_t ml, sl;
            uint8_t *m = tj_hex(tests->items[i], "msg", &ml), *sig = tj_hex(tests->items[i], "sig", &sl);
            sm_err err = {0};
            sm_rc rc = ecpub_verify_raw(HSM_CURVE_P256, pt, pl, m, ml, sig, sl, &err);
            bool valid = strcmp(tj_str(tests->items[i], "result"), "valid") == 0;
            if (valid != (rc == SM_OK))
                fail_msg("tcId %d: %s (%s)", (int)tj_get(tests->items[i], "tcId")->num, sm_rc_name(rc), err.msg);
            n++;
            free(m);
            free(sig);
        }
        free(pt);
    }
    assert_int_equal(n, 12);
    tj_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_issue_dp_and_parse, return_sessions),
        cmocka_unit_test_teardown(test_chain_euicc_p256, return_sessions),
        cmocka_unit_test_teardown(test_chain_euicc_brainpool, return_sessions),
        cmocka_unit_test_teardown(test_parse_strict, return_sessions),
        cmocka_unit_test_teardown(test_check_negative, return_sessions),
        cmocka_unit_test_teardown(test_x509_negative, return_sessions),
        cmocka_unit_test_teardown(test_x509_issuer_cache, return_sessions),
        cmocka_unit_test_teardown(test_wycheproof_ecdsa, return_sessions),
    };
    return cmocka_run_group_tests_name("crypto_gpcert", tests, setup, teardown);
}
