/* hsm/ against a real PKCS#11 token: a fresh SoftHSM2 token by default, or the module named by
 * SMBOX_TEST_P11_MODULE (tests/opencryptoki.sh runs this same program against openCryptoki).
 * Known-answer vectors: NIST SP 800-38B (CMAC), NIST CAVP X9.63 KDF (SHA-256), Wycheproof ECDSA
 * P-256 and ECDH, RFC 7027 (brainpoolP256r1) — all from tests/vectors/, sources in SOURCES.md. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
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
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "hsm/hsm.h"
#include "lib/hex.h"
#include "tests/support/json.h"
#include "tests/support/testenv.h"

static testenv_hsm T;
static hsm_ctx *CTX;

static int group_setup(void **state)
{
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 4);
    return 0;
}

static int group_teardown(void **state)
{
    hsm_close(CTX);
    testenv_hsm_teardown(&T);
    return 0;
}

/* Sessions borrowed by a test are returned by its teardown even when an assertion fails. */
static hsm_sess *borrowed[8];

static hsm_sess *sess(void)
{
    hsm_sess *s = NULL;
    sm_err err = {0};
    assert_int_equal(hsm_session_get(CTX, &s, &err), SM_OK);
    for (int i = 0; i < 8; i++)
        if (!borrowed[i]) {
            borrowed[i] = s;
            break;
        }
    return s;
}

static void put(hsm_sess *s)
{
    for (int i = 0; i < 8; i++)
        if (borrowed[i] == s)
            borrowed[i] = NULL;
    hsm_session_put(s);
}

static int return_sessions(void **state)
{
    for (int i = 0; i < 8; i++)
        if (borrowed[i]) {
            hsm_session_put(borrowed[i]);
            borrowed[i] = NULL;
        }
    return 0;
}

/* A test whose mechanism the module lacks is skipped; test_missing_mechanisms checks that each
 * missing one gives a clear error instead. */
#define REQUIRE(cap)                                                                                \
    do {                                                                                            \
        if (!hsm_capabilities(CTX)->cap) {                                                          \
            print_message("module lacks %s: skipped\n", #cap);                                       \
            skip();                                                                                 \
        }                                                                                           \
    } while (0)

static const hsm_keyspec AES128_ALL = {.type = HSM_KT_AES, .len = 16,
                                       .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_SIGN | HSM_U_VERIFY};

static hsm_key import_aes(hsm_sess *s, const uint8_t *k, size_t len)
{
    hsm_keyspec sp = AES128_ALL;
    sp.len = (unsigned)len;
    hsm_key key;
    sm_err err = {0};
    assert_int_equal(hsm_secret_import(s, &sp, k, len, &key, &err), SM_OK);
    return key;
}

/* AES-ECB of one block with OpenSSL (the independent side of the cross-checks). */
static void ossl_aes_ecb(const uint8_t *key, size_t klen, const uint8_t in[16], uint8_t out[16])
{
    const EVP_CIPHER *c = klen == 16 ? EVP_aes_128_ecb() : klen == 24 ? EVP_aes_192_ecb() : EVP_aes_256_ecb();
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_true(EVP_EncryptInit_ex(x, c, NULL, key, NULL));
    EVP_CIPHER_CTX_set_padding(x, 0);
    assert_true(EVP_EncryptUpdate(x, out, &l, in, 16));
    EVP_CIPHER_CTX_free(x);
}

/* ---- context and login ------------------------------------------------------------------- */

/* PKCS#11 state does not survive fork() portably (openCryptoki's does not at all), and login
 * state is per process: open attempts that must start from scratch run in a fresh exec of this
 * program (`test_hsm --probe-open LABEL PIN`), which prints the error and exits 0 on success. */
static int probe_open(const char *label, const char *pin, char *out, size_t cap)
{
    char path[512];
    testenv_mkdtemp(path, sizeof path, "smbox-probe");
    char file[600];
    snprintf(file, sizeof file, "%s/out", path);
    int rc = testenv_sh("/proc/%d/exe --probe-open '%s' '%s' >%s 2>&1", (int)getpid(), label, pin, file);
    FILE *f = fopen(file, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    testenv_rmtree(path);
    return rc;
}

static int probe_main(const char *label, const char *pin)
{
    /* SOFTHSM2_CONF (or the other module's own configuration) comes from the parent's environment */
    hsm_config cfg = {.module_path = getenv("SMBOX_PROBE_MODULE"), .token_label = label, .pin = pin,
                      .pin_len = strlen(pin), .sessions = 1};
    hsm_ctx *c = NULL;
    sm_err err = {0};
    sm_rc rc = hsm_open(&cfg, &c, &err);
    printf("%s %s\n", sm_rc_name(rc), err.msg);
    hsm_close(c);
    return rc == SM_OK ? 0 : 1;
}

static void test_open_wrong_pin(void **state)
{
    char out[1024];
    setenv("SMBOX_PROBE_MODULE", T.module, 1);
    assert_int_equal(probe_open(T.label, "wrong-99", out, sizeof out), 1);
    if (!strstr(out, "SM_EPIN") || !strstr(out, "CKR_PIN_INCORRECT") || strstr(out, "wrong-99"))
        fail_msg("wrong PIN gave: %s", out);
    /* the right PIN still works afterwards (one failure does not lock the token) */
    assert_int_equal(probe_open(T.label, T.pin, out, sizeof out), 0);
}

static void test_open_errors(void **state)
{
    hsm_ctx *c = NULL;
    sm_err err = {0};
    hsm_config bad_mod = {.module_path = "/nonexistent/libpkcs11.so", .token_label = "x", .sessions = 1};
    assert_int_equal(hsm_open(&bad_mod, &c, &err), SM_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/libpkcs11.so"));
    sm_err_clear(&err);
    hsm_config not_p11 = {.module_path = "libc.so.6", .token_label = "x", .sessions = 1};
    assert_int_equal(hsm_open(&not_p11, &c, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "not a PKCS#11 module"));

    char out[1024];
    setenv("SMBOX_PROBE_MODULE", T.module, 1);
    assert_int_equal(probe_open("no-such-token", T.pin, out, sizeof out), 1);
    if (!strstr(out, "SM_ENOTFOUND") || !strstr(out, "no-such-token"))
        fail_msg("missing token gave: %s", out);

    sm_err_clear(&err);
    hsm_config long_lbl = {.module_path = T.module, .token_label = "0123456789012345678901234567890123456789",
                           .sessions = 1};
    assert_int_equal(hsm_open(&long_lbl, &c, &err), SM_EINVAL);
}

static void test_capabilities(void **state)
{
    const hsm_caps *c = hsm_capabilities(CTX);
    hsm_log_capabilities(CTX);
    print_message("module %s: p256=%d brainpool=%d ecdh=%d kdf_in_token=%d extract=%d digest_key=%d cmac=%d "
                  "wrap_pad=%d gcm=%d ecb_data=%d des3=%d\n",
                  c->manufacturer, c->ec_p256, c->ec_brainpool, c->ecdh, c->ecdh_kdf_sha256, c->extract_key,
                  c->digest_key, c->aes_cmac, c->aes_key_wrap_pad, c->aes_gcm, c->aes_ecb_encrypt_data, c->des3);
    if (T.softhsm) {
        /* what SoftHSM2 2.6 offers, measured (shared/perf/limits.md) */
        assert_true(c->ec_p256 && c->ec_brainpool && c->ecdh && c->aes_cmac && c->aes_key_wrap_pad && c->aes_gcm &&
                    c->des3 && c->aes_ecb_encrypt_data && c->digest_key);
        assert_false(c->ecdh_kdf_sha256);
    }
}

/* Every mechanism the module lacks gives an error naming the operation and the CKR code. */
static void test_missing_mechanisms(void **state)
{
    const hsm_caps *c = hsm_capabilities(CTX);
    hsm_sess *s = sess();
    sm_err err = {0};
    int checked = 0;
    if (!c->ec_p256) {
        hsm_keyspec ec = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
        hsm_key a, b;
        assert_int_not_equal(hsm_ec_generate(s, &ec, &a, &b, &err), SM_OK);
        assert_non_null(strstr(err.msg, "P-256 key pair"));
        assert_non_null(strstr(err.msg, "CKR_"));
        sm_err_clear(&err);
        checked++;
    }
    hsm_key k;
    assert_int_equal(hsm_secret_import(s, &AES128_ALL, (const uint8_t *)"0123456789abcdef", 16, &k, &err), SM_OK);
    if (!c->aes_cmac) {
        uint8_t mac[16];
        assert_int_not_equal(hsm_aes_cmac(s, &k, (const uint8_t *)"x", 1, mac, &err), SM_OK);
        assert_non_null(strstr(err.msg, "AES-CMAC"));
        assert_non_null(strstr(err.msg, "CKR_MECHANISM_INVALID"));
        sm_err_clear(&err);
        checked++;
    }
    if (!c->aes_gcm) {
        uint8_t iv[12] = {0}, out[64];
        size_t ol;
        assert_int_not_equal(hsm_aes_gcm_encrypt(s, &k, iv, NULL, 0, iv, 12, out, sizeof out, &ol, &err), SM_OK);
        assert_non_null(strstr(err.msg, "AES-GCM"));
        sm_err_clear(&err);
        checked++;
    }
    if (!c->aes_key_wrap_pad) {
        hsm_keyspec w = AES128_ALL;
        w.wrappable = true;
        w.usage |= HSM_U_WRAP;
        hsm_key kw;
        uint8_t out[64];
        size_t ol;
        assert_int_equal(hsm_key_generate(s, &w, &kw, &err), SM_OK);
        assert_int_not_equal(hsm_wrap(s, &kw, &kw, out, sizeof out, &ol, &err), SM_OK);
        assert_non_null(strstr(err.msg, "wrapping"));
        sm_err_clear(&err);
        checked++;
    }
    print_message("%d missing mechanism(s) checked\n", checked);
    put(s);
}

/* ---- keys: generation, lookup, attributes ------------------------------------------------ */

static void test_token_key_lookup(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t id[] = {0xa1, 0xb2, 0xc3};
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP, .token = true,
                      .label = "test-kek", .id = id, .idlen = sizeof id};
    hsm_key k, f1, f2, f3;
    assert_int_equal(hsm_key_generate(s, &sp, &k, &err), SM_OK);
    assert_int_equal(hsm_key_find(s, "test-kek", HSM_KT_AES, &f1, &err), SM_OK);
    assert_int_equal(hsm_key_find(s, "test-kek", HSM_KT_AES, &f2, &err), SM_OK); /* cached */
    assert_int_equal(f1.handle, f2.handle);
    assert_int_equal(hsm_key_find_id(s, id, sizeof id, HSM_KT_AES, &f3, &err), SM_OK);
    assert_int_equal(f1.handle, f3.handle);

    assert_int_equal(hsm_key_find(s, "no-such-key", HSM_KT_AES, &f1, &err), SM_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-key"));
    sm_err_clear(&err);
    /* wrong type: the label exists as a secret key, not as an EC private key */
    assert_int_equal(hsm_key_find(s, "test-kek", HSM_KT_EC_PRIV, &f1, &err), SM_ENOTFOUND);
    sm_err_clear(&err);
    /* duplicates are refused, not silently picked */
    hsm_keyspec sp2 = sp;
    sp2.label = "test-dup";
    sp2.id = NULL;
    sp2.idlen = 0;
    assert_int_equal(hsm_key_generate(s, &sp2, &k, &err), SM_OK);
    assert_int_equal(hsm_key_generate(s, &sp2, &k, &err), SM_OK);
    assert_int_equal(hsm_key_find(s, "test-dup", HSM_KT_AES, &f1, &err), SM_EINVAL);
    put(s);
}

static int count_flagged(const hsm_objinfo *o, void *arg)
{
    int *n = arg;
    if (o->flagged) {
        (*n)++;
        print_message("flagged: %s %s label=%s token=%d sensitive=%d extractable=%d\n", o->cls, o->keytype,
                      o->label, o->token, o->sensitive, o->extractable);
    }
    return 0;
}

static void test_sensitive_keys_cannot_be_read(void **state)
{
    REQUIRE(ec_p256);
    REQUIRE(aes_key_wrap_pad);
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t buf[128];
    size_t n = 0;
    hsm_key aes, ecpriv, ecpub, imported, unwrapped, kek, wrappable;
    assert_int_equal(hsm_key_generate(s, &AES128_ALL, &aes, &err), SM_OK);
    assert_int_not_equal(hsm_key_try_read_value(s, &aes, buf, sizeof buf, &n, &err), SM_OK);
    assert_non_null(strstr(err.msg, "CKR_ATTRIBUTE_SENSITIVE"));
    sm_err_clear(&err);

    hsm_keyspec ec = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN | HSM_U_DERIVE};
    assert_int_equal(hsm_ec_generate(s, &ec, &ecpriv, &ecpub, &err), SM_OK);
    assert_int_not_equal(hsm_key_try_read_value(s, &ecpriv, buf, sizeof buf, &n, &err), SM_OK);
    sm_err_clear(&err);

    uint8_t kv[16] = {1, 2, 3};
    imported = import_aes(s, kv, 16);
    assert_int_not_equal(hsm_key_try_read_value(s, &imported, buf, sizeof buf, &n, &err), SM_OK);
    sm_err_clear(&err);

    hsm_keyspec kspec = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    assert_int_equal(hsm_key_generate(s, &kspec, &kek, &err), SM_OK);
    hsm_keyspec wspec = AES128_ALL;
    wspec.wrappable = true;
    assert_int_equal(hsm_key_generate(s, &wspec, &wrappable, &err), SM_OK);
    /* even a wrappable key is sensitive: it leaves only wrapped */
    assert_int_not_equal(hsm_key_try_read_value(s, &wrappable, buf, sizeof buf, &n, &err), SM_OK);
    sm_err_clear(&err);
    uint8_t w[64];
    size_t wl = 0;
    assert_int_equal(hsm_wrap(s, &kek, &wrappable, w, sizeof w, &wl, &err), SM_OK);
    assert_int_equal(hsm_unwrap(s, &kek, w, wl, &AES128_ALL, &unwrapped, &err), SM_OK);
    assert_int_not_equal(hsm_key_try_read_value(s, &unwrapped, buf, sizeof buf, &n, &err), SM_OK);
    sm_err_clear(&err);

    /* the listing flags exactly the wrappable key among the session keys made here */
    int flagged = 0;
    assert_int_equal(hsm_objects_list(s, count_flagged, &flagged, &err), SM_OK);
    assert_int_equal(flagged, 1);
    hsm_key_destroy(s, &wrappable, &err);
    flagged = 0;
    assert_int_equal(hsm_objects_list(s, count_flagged, &flagged, &err), SM_OK);
    assert_int_equal(flagged, 0);
    put(s);
}

/* ---- ECDSA --------------------------------------------------------------------------------- */

static EVP_PKEY *ossl_pub(const char *group, const uint8_t *pt, size_t len)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, len);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    EVP_PKEY_fromdata_init(c);
    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    return k;
}

static void sign_and_check(hsm_curve curve, const char *group, bool token)
{
    REQUIRE(ec_p256);
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = curve, .usage = HSM_U_SIGN, .token = token,
                      .label = token ? (curve == HSM_CURVE_P256 ? "test-sign-p256" : "test-sign-bp") : NULL};
    hsm_key priv, pub;
    assert_int_equal(hsm_ec_generate(s, &sp, &priv, &pub, &err), SM_OK);
    uint8_t pt[HSM_EC_POINT_MAX], pt2[HSM_EC_POINT_MAX];
    size_t ptl = 0, ptl2 = 0;
    hsm_curve c2;
    assert_int_equal(hsm_ec_public(s, &pub, pt, sizeof pt, &ptl, &c2, &err), SM_OK);
    assert_int_equal(ptl, 65);
    assert_int_equal(c2, curve);
    /* a token private key leads to its public half (by label) */
    if (token) {
        hsm_key found;
        assert_int_equal(hsm_key_find(s, sp.label, HSM_KT_EC_PRIV, &found, &err), SM_OK);
        assert_int_equal(hsm_ec_public(s, &found, pt2, sizeof pt2, &ptl2, NULL, &err), SM_OK);
        assert_memory_equal(pt, pt2, 65);
    }

    const char *msg = "smbox signs this";
    uint8_t sig[72];
    size_t sl = 0;
    assert_int_equal(hsm_ecdsa_sign_msg(s, &priv, (const uint8_t *)msg, strlen(msg), sig, sizeof sig, &sl, &err),
                     SM_OK);
    assert_int_equal(sl, 64);
    uint8_t d[32];
    SHA256((const uint8_t *)msg, strlen(msg), d);
    assert_int_equal(hsm_ecdsa_verify(s, &pub, d, 32, sig, sl, &err), SM_OK);

    /* independent check with OpenSSL */
    uint8_t der[80];
    size_t derl = 0;
    assert_int_equal(hsm_sig_raw_to_der(sig, sl, der, sizeof der, &derl, &err), SM_OK);
    EVP_PKEY *k = ossl_pub(group, pt, ptl);
    assert_non_null(k);
    EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(k, NULL);
    assert_int_equal(EVP_PKEY_verify_init(vc), 1);
    assert_int_equal(EVP_PKEY_verify(vc, der, derl, d, 32), 1);
    EVP_PKEY_CTX_free(vc);
    EVP_PKEY_free(k);

    /* a changed digest does not verify */
    d[0] ^= 1;
    assert_int_equal(hsm_ecdsa_verify(s, &pub, d, 32, sig, sl, &err), SM_EVERIFY);
    sm_err_clear(&err);
    /* wrong digest length */
    assert_int_equal(hsm_ecdsa_sign(s, &priv, d, 31, sig, sizeof sig, &sl, &err), SM_EINVAL);
    put(s);
}

static void test_ecdsa_p256_session(void **state) { sign_and_check(HSM_CURVE_P256, "prime256v1", false); }
static void test_ecdsa_p256_token(void **state) { sign_and_check(HSM_CURVE_P256, "prime256v1", true); }
static void test_ecdsa_brainpool(void **state)
{
    if (!hsm_capabilities(CTX)->ec_brainpool) {
        /* the module has no brainpool: a clear error is the required behaviour */
        hsm_sess *s = sess();
        sm_err err = {0};
        hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_BP256R1, .usage = HSM_U_SIGN};
        hsm_key priv, pub;
        assert_int_not_equal(hsm_ec_generate(s, &sp, &priv, &pub, &err), SM_OK);
        assert_non_null(strstr(err.msg, "brainpoolP256r1"));
        put(s);
        return;
    }
    sign_and_check(HSM_CURVE_BP256R1, "brainpoolP256r1", false);
    sign_and_check(HSM_CURVE_BP256R1, "brainpoolP256r1", true);
}

static void test_ecdsa_wrong_key_type(void **state)
{
    REQUIRE(ec_p256);
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_key aes;
    assert_int_equal(hsm_key_generate(s, &AES128_ALL, &aes, &err), SM_OK);
    uint8_t d[32] = {0}, sig[64];
    size_t sl;
    sm_rc rc = hsm_ecdsa_sign(s, &aes, d, 32, sig, sizeof sig, &sl, &err);
    assert_int_not_equal(rc, SM_OK);
    assert_non_null(strstr(err.msg, "ECDSA signing"));
    assert_non_null(strstr(err.msg, "CKR_"));
    put(s);
}

/* Wycheproof ECDSA P-256/SHA-256 verify, P1363 (r||s) and DER encodings. */
static void wycheproof_ecdsa(const char *file, bool der)
{
    REQUIRE(ec_p256);
    char path[1024];
    tj *v = tj_load(testenv_path(path, sizeof path, file));
    hsm_sess *s = sess();
    int checked = 0;
    const tj *groups = tj_get(v, "testGroups");
    for (size_t g = 0; g < groups->n; g++) {
        const tj *grp = groups->items[g];
        size_t ptl;
        uint8_t *pt = tj_hex(tj_get(grp, "publicKey"), "uncompressed", &ptl);
        sm_err err = {0};
        hsm_key pub;
        assert_int_equal(hsm_ec_import_public(s, HSM_CURVE_P256, pt, ptl, &pub, &err), SM_OK);
        const tj *tests = tj_get(grp, "tests");
        for (size_t i = 0; i < tests->n; i++) {
            const tj *tc = tests->items[i];
            size_t ml, sl;
            uint8_t *m = tj_hex(tc, "msg", &ml), *sig = tj_hex(tc, "sig", &sl);
            const char *result = tj_str(tc, "result");
            uint8_t d[32], raw[64];
            SHA256(m, ml, d);
            sm_err e2 = {0};
            sm_rc rc;
            if (der) {
                size_t rl;
                rc = hsm_sig_der_to_raw(sig, sl, 32, raw, sizeof raw, &rl, &e2);
                if (rc == SM_OK)
                    rc = hsm_ecdsa_verify(s, &pub, d, 32, raw, rl, &e2);
            } else {
                rc = hsm_ecdsa_verify(s, &pub, d, 32, sig, sl, &e2);
            }
            if (strcmp(result, "valid") == 0) {
                if (rc != SM_OK)
                    fail_msg("tcId %d should verify: %s", (int)tj_get(tc, "tcId")->num, e2.msg);
            } else if (strcmp(result, "invalid") == 0) {
                if (rc == SM_OK)
                    fail_msg("tcId %d should not verify", (int)tj_get(tc, "tcId")->num);
            }
            checked++;
            free(m);
            free(sig);
        }
        hsm_key_destroy(s, &pub, &err);
        free(pt);
    }
    assert_true(checked >= 12);
    put(s);
    tj_free(v);
}

static void test_wycheproof_ecdsa_p1363(void **state)
{
    wycheproof_ecdsa("tests/vectors/wycheproof_ecdsa_secp256r1_sha256_p1363_subset.json", false);
}
static void test_wycheproof_ecdsa_der(void **state)
{
    wycheproof_ecdsa("tests/vectors/wycheproof_ecdsa_secp256r1_sha256_subset.json", true);
}

static void test_sig_conversion(void **state)
{
    sm_err err = {0};
    uint8_t raw[64], der[80], back[64];
    for (int i = 0; i < 64; i++)
        raw[i] = (uint8_t)(i == 0 || i == 32 ? 0x00 : i); /* leading zero bytes in r and s */
    size_t dl, bl;
    assert_int_equal(hsm_sig_raw_to_der(raw, 64, der, sizeof der, &dl, &err), SM_OK);
    assert_int_equal(hsm_sig_der_to_raw(der, dl, 32, back, sizeof back, &bl, &err), SM_OK);
    assert_int_equal(bl, 64);
    assert_memory_equal(raw, back, 64);
    /* trailing garbage and non-minimal integers are refused */
    der[dl] = 0;
    assert_int_equal(hsm_sig_der_to_raw(der, dl + 1, 32, back, sizeof back, &bl, &err), SM_EPARSE);
    sm_err_clear(&err);
    assert_int_equal(hsm_sig_raw_to_der(raw, 63, der, sizeof der, &dl, &err), SM_EINVAL);
}

/* ---- ECDH and the X9.63 KDF ---------------------------------------------------------------- */

/* Independent side: X9.63 SHA-256 with OpenSSL. */
static void ossl_x963(const uint8_t *z, size_t zl, const uint8_t *si, size_t sil, uint8_t *out, size_t n)
{
    for (uint32_t c = 1, off = 0; off < n; c++, off += 32) {
        uint8_t ctr[4] = {0, 0, 0, (uint8_t)c}, blk[32];
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_DigestInit_ex(m, EVP_sha256(), NULL);
        EVP_DigestUpdate(m, z, zl);
        EVP_DigestUpdate(m, ctr, 4);
        EVP_DigestUpdate(m, si, sil);
        EVP_DigestFinal_ex(m, blk, NULL);
        EVP_MD_CTX_free(m);
        memcpy(out + off, blk, n - off < 32 ? n - off : 32);
    }
}

/* OpenSSL key pair and ECDH (the "card" side). */
static EVP_PKEY *ossl_gen(const char *group)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
}

static size_t ossl_point(EVP_PKEY *k, uint8_t *out, size_t cap)
{
    size_t l = 0;
    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, cap, &l);
    return l;
}

static void ossl_ecdh(EVP_PKEY *mine, const char *group, const uint8_t *peer, size_t plen, uint8_t z[32])
{
    EVP_PKEY *p = ossl_pub(group, peer, plen);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(mine, NULL);
    size_t zl = 32;
    assert_int_equal(EVP_PKEY_derive_init(c), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(c, p), 1);
    assert_int_equal(EVP_PKEY_derive(c, z, &zl), 1);
    assert_int_equal(zl, 32);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(p);
}

static void ecdh_kdf_roundtrip(hsm_curve curve, const char *group)
{
    REQUIRE(ecdh);
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = curve, .usage = HSM_U_DERIVE};
    hsm_key priv, pub;
    assert_int_equal(hsm_ec_generate(s, &sp, &priv, &pub, &err), SM_OK);
    uint8_t mypt[HSM_EC_POINT_MAX], cardpt[HSM_EC_POINT_MAX];
    size_t mpl;
    assert_int_equal(hsm_ec_public(s, &pub, mypt, sizeof mypt, &mpl, NULL, &err), SM_OK);
    EVP_PKEY *card = ossl_gen(group);
    size_t cpl = ossl_point(card, cardpt, sizeof cardpt);
    uint8_t z[32];
    ossl_ecdh(card, group, mypt, mpl, z);

    /* SGP.02 ISD-P key set: receipt key, K-ENC, K-MAC, K-DEK (4 x 16 bytes), shared info 10 88 10 */
    const uint8_t si[] = {0x10, 0x88, 0x10};
    hsm_keyspec ks[4];
    for (int i = 0; i < 4; i++)
        ks[i] = AES128_ALL;
    hsm_key out[4];
    assert_int_equal(hsm_ecdh_x963(s, &priv, cardpt, cpl, si, sizeof si, ks, 4, out, &err), SM_OK);
    uint8_t kd[64];
    ossl_x963(z, 32, si, sizeof si, kd, 64);
    for (int i = 0; i < 4; i++) {
        uint8_t blk[16] = "smbox-kcv-block", a[16], b[16];
        assert_int_equal(hsm_aes_ecb_encrypt(s, &out[i], blk, 16, a, &err), SM_OK);
        ossl_aes_ecb(kd + 16 * i, 16, blk, b);
        assert_memory_equal(a, b, 16);
        uint8_t tmp[32];
        size_t tl;
        assert_int_not_equal(hsm_key_try_read_value(s, &out[i], tmp, sizeof tmp, &tl, &err), SM_OK);
        sm_err_clear(&err);
    }

    /* plain ECDH keeps Z inside */
    hsm_key zk;
    assert_int_equal(hsm_ecdh_derive(s, &priv, cardpt, cpl, &zk, &err), SM_OK);
    uint8_t tmp[64];
    size_t tl;
    assert_int_not_equal(hsm_key_try_read_value(s, &zk, tmp, sizeof tmp, &tl, &err), SM_OK);
    sm_err_clear(&err);

    /* a point that is not on the curve is refused */
    cardpt[40] ^= 0x01;
    assert_int_not_equal(hsm_ecdh_x963(s, &priv, cardpt, cpl, si, sizeof si, ks, 4, out, &err), SM_OK);
    sm_err_clear(&err);
    /* a compressed or short point is refused before reaching the module */
    assert_int_equal(hsm_ecdh_derive(s, &priv, cardpt, 33, &zk, &err), SM_EINVAL);
    EVP_PKEY_free(card);
    put(s);
}

static void test_ecdh_x963_p256(void **state) { ecdh_kdf_roundtrip(HSM_CURVE_P256, "prime256v1"); }
static void test_ecdh_x963_brainpool(void **state)
{
    if (!hsm_capabilities(CTX)->ec_brainpool)
        skip();
    ecdh_kdf_roundtrip(HSM_CURVE_BP256R1, "brainpoolP256r1");
}

/* Wycheproof ECDH P-256 (ecpoint): invalid public points must be refused by the HSM path. */
static void test_wycheproof_ecdh_invalid_points(void **state)
{
    REQUIRE(ecdh);
    char path[1024];
    tj *v = tj_load(testenv_path(path, sizeof path, "tests/vectors/wycheproof_ecdh_secp256r1_ecpoint_subset.json"));
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_DERIVE};
    hsm_key priv, pub;
    assert_int_equal(hsm_ec_generate(s, &sp, &priv, &pub, &err), SM_OK);
    const tj *tests = tj_path(v, "testGroups.0.tests");
    int invalid = 0;
    for (size_t i = 0; i < tests->n; i++) {
        const tj *tc = tests->items[i];
        size_t pl;
        uint8_t *pt = tj_hex(tc, "public", &pl);
        hsm_key z;
        sm_err e2 = {0};
        sm_rc rc = hsm_ecdh_derive(s, &priv, pt, pl, &z, &e2);
        if (strcmp(tj_str(tc, "result"), "invalid") == 0) {
            invalid++;
            if (rc == SM_OK)
                fail_msg("tcId %d: invalid public point accepted", (int)tj_get(tc, "tcId")->num);
        } else if (strcmp(tj_str(tc, "result"), "valid") == 0 && pl == 65) {
            if (rc != SM_OK)
                fail_msg("tcId %d: valid point refused: %s", (int)tj_get(tc, "tcId")->num, e2.msg);
            hsm_key_destroy(s, &z, &e2);
        }
        free(pt);
    }
    assert_true(invalid >= 3);
    put(s);
    tj_free(v);
}

/* NIST CAVP X9.63 KDF (SHA-256), through the HSM's KDF code with Z given: each 16-byte slice of
 * key_data becomes an AES key whose ECB output is compared with OpenSSL's under the vector bytes. */
static void test_x963_cavp(void **state)
{
    char path[1024];
    tj *v = tj_load(testenv_path(path, sizeof path, "tests/vectors/x963_kdf_sha256_cavp.json"));
    const tj *groups = tj_get(v, "testGroups");
    hsm_sess *s = sess();
    int n = 0;
    for (size_t g = 0; g < groups->n; g++) {
        const tj *tests = tj_get(groups->items[g], "tests");
        for (size_t i = 0; i < tests->n; i++) {
            const tj *tc = tests->items[i];
            size_t zl, sil, kl;
            uint8_t *z = tj_hex(tc, "Z", &zl), *si = tj_hex(tc, "SharedInfo", &sil), *kd = tj_hex(tc, "key_data", &kl);
            uint8_t out[256];
            ossl_x963(z, zl, si, sil, out, kl); /* the independent implementation agrees too */
            assert_memory_equal(out, kd, kl);
            assert_int_equal(kl % 16, 0);
            size_t nk = kl / 16;
            hsm_keyspec ks[16];
            hsm_key keys[16];
            for (size_t j = 0; j < nk; j++)
                ks[j] = AES128_ALL;
            sm_err err = {0};
            assert_int_equal(hsm_x963_from_value(s, z, zl, si, sil, ks, nk, keys, &err), SM_OK);
            for (size_t j = 0; j < nk; j++) {
                uint8_t blk[16] = "cavp-x963-check", a[16], b[16];
                assert_int_equal(hsm_aes_ecb_encrypt(s, &keys[j], blk, 16, a, &err), SM_OK);
                ossl_aes_ecb(kd + 16 * j, 16, blk, b);
                if (memcmp(a, b, 16) != 0)
                    fail_msg("X9.63 vector %d, key %zu differs", n, j);
                hsm_key_destroy(s, &keys[j], &err);
            }
            n++;
            free(z);
            free(si);
            free(kd);
        }
    }
    assert_int_equal(n, 20);
    put(s);
    tj_free(v);
}

/* ---- symmetric ------------------------------------------------------------------------------ */

static void test_cmac_sp800_38b(void **state)
{
    REQUIRE(aes_cmac);
    char path[1024];
    tj *v = tj_load(testenv_path(path, sizeof path, "tests/vectors/aes128_cmac_sp800_38b.json"));
    hsm_sess *s = sess();
    size_t kl;
    uint8_t *key = tj_hex(v, "key", &kl);
    hsm_key k = import_aes(s, key, kl);
    const tj *tests = tj_get(v, "tests");
    for (size_t i = 0; i < tests->n; i++) {
        size_t ml, tl;
        uint8_t *m = tj_hex(tests->items[i], "M", &ml), *t = tj_hex(tests->items[i], "T", &tl);
        uint8_t mac[16];
        sm_err err = {0};
        assert_int_equal(hsm_aes_cmac(s, &k, m, ml, mac, &err), SM_OK);
        assert_memory_equal(mac, t, 16);
        free(m);
        free(t);
    }
    assert_int_equal(tests->n, 4);
    free(key);
    put(s);
    tj_free(v);
}

static void test_aes_modes(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t key[16], iv[16], pt[1024], ct[1024], back[1024], ref[1024];
    for (int i = 0; i < 16; i++) {
        key[i] = (uint8_t)(0x40 + i);
        iv[i] = (uint8_t)(0x80 + i);
    }
    for (int i = 0; i < 1024; i++)
        pt[i] = (uint8_t)(i * 7);
    hsm_key k = import_aes(s, key, 16);
    assert_int_equal(hsm_aes_cbc_encrypt(s, &k, iv, pt, sizeof pt, ct, &err), SM_OK);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l;
    EVP_EncryptInit_ex(x, EVP_aes_128_cbc(), NULL, key, iv);
    EVP_CIPHER_CTX_set_padding(x, 0);
    EVP_EncryptUpdate(x, ref, &l, pt, sizeof pt);
    EVP_CIPHER_CTX_free(x);
    assert_memory_equal(ct, ref, sizeof ct);
    assert_int_equal(hsm_aes_cbc_decrypt(s, &k, iv, ct, sizeof ct, back, &err), SM_OK);
    assert_memory_equal(back, pt, sizeof pt);
    /* in place */
    memcpy(back, pt, sizeof pt);
    assert_int_equal(hsm_aes_cbc_encrypt(s, &k, iv, back, sizeof back, back, &err), SM_OK);
    assert_memory_equal(back, ref, sizeof back);

    assert_int_equal(hsm_aes_ecb_encrypt(s, &k, pt, 16, ct, &err), SM_OK);
    ossl_aes_ecb(key, 16, pt, ref);
    assert_memory_equal(ct, ref, 16);
    assert_int_equal(hsm_aes_ecb_decrypt(s, &k, ct, 16, back, &err), SM_OK);
    assert_memory_equal(back, pt, 16);

    /* wrong lengths */
    assert_int_equal(hsm_aes_cbc_encrypt(s, &k, iv, pt, 15, ct, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(hsm_aes_ecb_encrypt(s, &k, pt, 0, ct, &err), SM_EINVAL);
    sm_err_clear(&err);
    hsm_keyspec bad = AES128_ALL;
    hsm_key k2;
    assert_int_equal(hsm_secret_import(s, &bad, key, 15, &k2, &err), SM_EINVAL);
    sm_err_clear(&err);
    bad.len = 20;
    assert_int_equal(hsm_key_generate(s, &bad, &k2, &err), SM_EINVAL);
    sm_err_clear(&err);

    /* a key without CKA_SIGN cannot MAC */
    hsm_keyspec encrypt_only = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    hsm_key ke;
    assert_int_equal(hsm_secret_import(s, &encrypt_only, key, 16, &ke, &err), SM_OK);
    uint8_t mac[16];
    assert_int_not_equal(hsm_aes_cmac(s, &ke, pt, 16, mac, &err), SM_OK);
    assert_non_null(strstr(err.msg, "AES-CMAC"));
    put(s);
}

static void test_des3(void **state)
{
    if (!hsm_capabilities(CTX)->des3)
        skip();
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t key[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
    uint8_t iv[8] = {0}, pt[32], ct[32], ref[32], back[32];
    for (int i = 0; i < 32; i++)
        pt[i] = (uint8_t)i;
    hsm_keyspec sp = {.type = HSM_KT_DES2, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_key k;
    assert_int_equal(hsm_secret_import(s, &sp, key, 16, &k, &err), SM_OK);
    assert_int_equal(hsm_des3_cbc_encrypt(s, &k, iv, pt, 32, ct, &err), SM_OK);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l;
    EVP_EncryptInit_ex(x, EVP_des_ede_cbc(), NULL, key, iv);
    EVP_CIPHER_CTX_set_padding(x, 0);
    EVP_EncryptUpdate(x, ref, &l, pt, 32);
    EVP_CIPHER_CTX_free(x);
    assert_memory_equal(ct, ref, 32);
    assert_int_equal(hsm_des3_cbc_decrypt(s, &k, iv, ct, 32, back, &err), SM_OK);
    assert_memory_equal(back, pt, 32);
    assert_int_equal(hsm_des3_cbc_encrypt(s, &k, iv, pt, 12, ct, &err), SM_EINVAL);
    put(s);
}

static void test_gcm(void **state)
{
    REQUIRE(aes_gcm);
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_key k;
    assert_int_equal(hsm_key_generate(s, &sp, &k, &err), SM_OK);
    uint8_t iv[12], pt[333], ct[400], back[400];
    assert_int_equal(hsm_random(s, iv, sizeof iv, &err), SM_OK);
    memset(pt, 0x5a, sizeof pt);
    const uint8_t aad[] = "profile:8900012345";
    size_t cl, bl;
    assert_int_equal(hsm_aes_gcm_encrypt(s, &k, iv, aad, sizeof aad, pt, sizeof pt, ct, sizeof ct, &cl, &err), SM_OK);
    assert_int_equal(cl, sizeof pt + 16);
    assert_int_equal(hsm_aes_gcm_decrypt(s, &k, iv, aad, sizeof aad, ct, cl, back, sizeof back, &bl, &err), SM_OK);
    assert_int_equal(bl, sizeof pt);
    assert_memory_equal(back, pt, sizeof pt);
    ct[10] ^= 1;
    sm_rc rc = hsm_aes_gcm_decrypt(s, &k, iv, aad, sizeof aad, ct, cl, back, sizeof back, &bl, &err);
    if (rc != SM_EVERIFY)
        fail_msg("tampered GCM: %s", err.msg);
    sm_err_clear(&err);
    ct[10] ^= 1;
    const uint8_t aad2[] = "profile:8900012346";
    assert_int_equal(hsm_aes_gcm_decrypt(s, &k, iv, aad2, sizeof aad2, ct, cl, back, sizeof back, &bl, &err),
                     SM_EVERIFY);
    put(s);
}

static void test_derive_aes_ecb(void **state)
{
    if (!hsm_capabilities(CTX)->aes_ecb_encrypt_data)
        skip();
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t key[16] = "0123456789abcdef", data[16] = "derivation-input", expect[16];
    hsm_keyspec bsp = AES128_ALL;
    bsp.usage |= HSM_U_DERIVE;
    hsm_key base, child;
    assert_int_equal(hsm_secret_import(s, &bsp, key, 16, &base, &err), SM_OK);
    assert_int_equal(hsm_derive_aes_ecb(s, &base, data, &AES128_ALL, &child, &err), SM_OK);
    ossl_aes_ecb(key, 16, data, expect);
    uint8_t blk[16] = {0}, a[16], b[16];
    assert_int_equal(hsm_aes_ecb_encrypt(s, &child, blk, 16, a, &err), SM_OK);
    ossl_aes_ecb(expect, 16, blk, b);
    assert_memory_equal(a, b, 16);
    put(s);
}

static void test_random(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    uint8_t a[32] = {0}, b[32] = {0}, z[32] = {0};
    assert_int_equal(hsm_random(s, a, 32, &err), SM_OK);
    assert_int_equal(hsm_random(s, b, 32, &err), SM_OK);
    assert_memory_not_equal(a, z, 32);
    assert_memory_not_equal(a, b, 32);
    put(s);
}

static void test_wrap_unwrap(void **state)
{
    REQUIRE(aes_key_wrap_pad);
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec kspec = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    hsm_key kek, kek2, key, nonwrap, back;
    assert_int_equal(hsm_key_generate(s, &kspec, &kek, &err), SM_OK);
    assert_int_equal(hsm_key_generate(s, &kspec, &kek2, &err), SM_OK);
    hsm_keyspec w = AES128_ALL;
    w.wrappable = true;
    assert_int_equal(hsm_key_generate(s, &w, &key, &err), SM_OK);
    uint8_t wrapped[64];
    size_t wl = 0;
    assert_int_equal(hsm_wrap(s, &kek, &key, wrapped, sizeof wrapped, &wl, &err), SM_OK);
    assert_int_equal(wl, 24);
    assert_int_equal(hsm_unwrap(s, &kek, wrapped, wl, &AES128_ALL, &back, &err), SM_OK);
    uint8_t blk[16] = "wrap-check-block", a[16], b[16];
    assert_int_equal(hsm_aes_ecb_encrypt(s, &key, blk, 16, a, &err), SM_OK);
    assert_int_equal(hsm_aes_ecb_encrypt(s, &back, blk, 16, b, &err), SM_OK);
    assert_memory_equal(a, b, 16);

    /* the unwrapped copy is not wrappable again */
    assert_int_not_equal(hsm_wrap(s, &kek, &back, wrapped, sizeof wrapped, &wl, &err), SM_OK);
    sm_err_clear(&err);
    /* a key created without `wrappable` cannot be wrapped */
    assert_int_equal(hsm_key_generate(s, &AES128_ALL, &nonwrap, &err), SM_OK);
    assert_int_not_equal(hsm_wrap(s, &kek, &nonwrap, wrapped, sizeof wrapped, &wl, &err), SM_OK);
    assert_non_null(strstr(err.msg, "wrapping"));
    sm_err_clear(&err);
    /* unwrap under the wrong KEK, or a tampered blob, fails cleanly */
    assert_int_equal(hsm_wrap(s, &kek, &key, wrapped, sizeof wrapped, &wl, &err), SM_OK);
    assert_int_not_equal(hsm_unwrap(s, &kek2, wrapped, wl, &AES128_ALL, &back, &err), SM_OK);
    sm_err_clear(&err);
    wrapped[5] ^= 0x80;
    assert_int_not_equal(hsm_unwrap(s, &kek, wrapped, wl, &AES128_ALL, &back, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_equal(hsm_unwrap(s, &kek, wrapped, 7, &AES128_ALL, &back, &err), SM_EINVAL);
    put(s);
}

/* ---- concurrency and recovery ------------------------------------------------------------- */

struct worker {
    hsm_key priv, pub;
    bool ec;
    int ok;
};

/* Each worker signs and verifies (or, on a module without EC, encrypts with a token AES key). */
static void *sign_worker(void *arg)
{
    struct worker *w = arg;
    hsm_sess *s = NULL;
    sm_err err = {0};
    if (hsm_session_get(CTX, &s, &err) != SM_OK)
        return NULL;
    for (int i = 0; i < 200; i++) {
        uint8_t d[32], sig[64];
        size_t sl;
        memset(d, i, sizeof d);
        if (w->ec) {
            if (hsm_ecdsa_sign(s, &w->priv, d, 32, sig, sizeof sig, &sl, &err) != SM_OK)
                break;
            if (hsm_ecdsa_verify(s, &w->pub, d, 32, sig, sl, &err) != SM_OK)
                break;
        } else if (hsm_aes_ecb_encrypt(s, &w->priv, d, 32, sig, &err) != SM_OK) {
            break;
        }
        w->ok++;
    }
    hsm_session_put(s);
    return NULL;
}

static void test_concurrent_signing(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    bool ec = hsm_capabilities(CTX)->ec_p256;
    hsm_key priv, pub = {0}, found;
    if (ec) {
        hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN, .token = true,
                          .label = "test-concurrent"};
        assert_int_equal(hsm_ec_generate(s, &sp, &priv, &pub, &err), SM_OK);
        assert_int_equal(hsm_key_find(s, "test-concurrent", HSM_KT_EC_PRIV, &found, &err), SM_OK);
    } else {
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .token = true,
                          .label = "test-concurrent"};
        assert_int_equal(hsm_key_generate(s, &sp, &priv, &err), SM_OK);
        assert_int_equal(hsm_key_find(s, "test-concurrent", HSM_KT_AES, &found, &err), SM_OK);
    }
    put(s);
    /* 6 threads over a pool of 4 sessions: some wait for a session */
    pthread_t th[6];
    struct worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){found, pub, ec, 0};
        pthread_create(&th[i], NULL, sign_worker, &w[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 200);
    }
}

static void test_recover_dropped_sessions(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_key k;
    assert_int_equal(hsm_key_find(s, "test-kek", HSM_KT_AES, &k, &err), SM_OK);
    hsm_key skey = import_aes(s, (const uint8_t *)"0123456789abcdef", 16);
    unsigned before = hsm_stat_recoveries(CTX);
    assert_int_equal(hsm_test_drop_sessions(CTX, &err), SM_OK);
    /* token key: recovered transparently (session re-opened, re-login) */
    uint8_t r[16];
    assert_int_equal(hsm_random(s, r, sizeof r, &err), SM_OK);
    hsm_key dummy;
    hsm_keyspec w = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    assert_int_equal(hsm_key_generate(s, &w, &dummy, &err), SM_OK);
    assert_true(hsm_stat_recoveries(CTX) > before);
    /* the session key died with its session: a clear error, not a crash or a wrong key */
    uint8_t blk[16] = {0}, out[16];
    assert_int_equal(hsm_aes_ecb_encrypt(s, &skey, blk, 16, out, &err), SM_ESESSION);
    assert_non_null(strstr(err.msg, "session"));
    put(s);
    /* other pooled sessions recover on their next call too */
    hsm_sess *all[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(hsm_session_get(CTX, &all[i], &err), SM_OK);
    for (int i = 0; i < 4; i++) {
        sm_err e2 = {0};
        assert_int_equal(hsm_random(all[i], r, sizeof r, &e2), SM_OK);
    }
    for (int i = 0; i < 4; i++)
        hsm_session_put(all[i]);
}

static void test_recover_module_reset(void **state)
{
    hsm_sess *s = sess();
    sm_err err = {0};
    hsm_keyspec esp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .token = true, .label = "test-enc"};
    hsm_key enc, tmp;
    assert_int_equal(hsm_key_generate(s, &esp, &tmp, &err), SM_OK);
    assert_int_equal(hsm_key_find(s, "test-enc", HSM_KT_AES, &enc, &err), SM_OK);
    uint8_t blk[16] = "reset-check-blk", before_ct[16], after_ct[16];
    assert_int_equal(hsm_aes_ecb_encrypt(s, &enc, blk, 16, before_ct, &err), SM_OK);
    bool wrap = hsm_capabilities(CTX)->aes_key_wrap_pad;
    hsm_key kek;
    uint8_t wrapped[64];
    size_t wl = 0;
    if (wrap) {
        assert_int_equal(hsm_key_find(s, "test-kek", HSM_KT_AES, &kek, &err), SM_OK);
        hsm_keyspec w = AES128_ALL;
        w.wrappable = true;
        hsm_key key;
        assert_int_equal(hsm_key_generate(s, &w, &key, &err), SM_OK);
        assert_int_equal(hsm_wrap(s, &kek, &key, wrapped, sizeof wrapped, &wl, &err), SM_OK);
    }

    unsigned before = hsm_stat_recoveries(CTX);
    assert_int_equal(hsm_test_finalize(CTX, &err), SM_OK);
    /* the token key found by label is re-resolved in the new module generation: same key */
    assert_int_equal(hsm_aes_ecb_encrypt(s, &enc, blk, 16, after_ct, &err), SM_OK);
    assert_memory_equal(before_ct, after_ct, 16);
    assert_true(hsm_stat_recoveries(CTX) > before);
    if (wrap) {
        hsm_key back;
        assert_int_equal(hsm_unwrap(s, &kek, wrapped, wl, &AES128_ALL, &back, &err), SM_OK);
        uint8_t out[16];
        assert_int_equal(hsm_aes_ecb_encrypt(s, &back, blk, 16, out, &err), SM_OK);
    }
    hsm_key again;
    assert_int_equal(hsm_key_find(s, "test-enc", HSM_KT_AES, &again, &err), SM_OK);
    put(s);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--probe-open") == 0)
        return probe_main(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_capabilities, return_sessions),
        cmocka_unit_test_teardown(test_missing_mechanisms, return_sessions),
        cmocka_unit_test_teardown(test_open_wrong_pin, return_sessions),
        cmocka_unit_test_teardown(test_open_errors, return_sessions),
        cmocka_unit_test_teardown(test_token_key_lookup, return_sessions),
        cmocka_unit_test_teardown(test_sensitive_keys_cannot_be_read, return_sessions),
        cmocka_unit_test_teardown(test_ecdsa_p256_session, return_sessions),
        cmocka_unit_test_teardown(test_ecdsa_p256_token, return_sessions),
        cmocka_unit_test_teardown(test_ecdsa_brainpool, return_sessions),
        cmocka_unit_test_teardown(test_ecdsa_wrong_key_type, return_sessions),
        cmocka_unit_test_teardown(test_wycheproof_ecdsa_p1363, return_sessions),
        cmocka_unit_test_teardown(test_wycheproof_ecdsa_der, return_sessions),
        cmocka_unit_test_teardown(test_sig_conversion, return_sessions),
        cmocka_unit_test_teardown(test_ecdh_x963_p256, return_sessions),
        cmocka_unit_test_teardown(test_ecdh_x963_brainpool, return_sessions),
        cmocka_unit_test_teardown(test_wycheproof_ecdh_invalid_points, return_sessions),
        cmocka_unit_test_teardown(test_x963_cavp, return_sessions),
        cmocka_unit_test_teardown(test_cmac_sp800_38b, return_sessions),
        cmocka_unit_test_teardown(test_aes_modes, return_sessions),
        cmocka_unit_test_teardown(test_des3, return_sessions),
        cmocka_unit_test_teardown(test_gcm, return_sessions),
        cmocka_unit_test_teardown(test_derive_aes_ecb, return_sessions),
        cmocka_unit_test_teardown(test_random, return_sessions),
        cmocka_unit_test_teardown(test_wrap_unwrap, return_sessions),
        cmocka_unit_test_teardown(test_concurrent_signing, return_sessions),
        cmocka_unit_test_teardown(test_recover_dropped_sessions, return_sessions),
        cmocka_unit_test_teardown(test_recover_module_reset, return_sessions),
    };
    return cmocka_run_group_tests_name("hsm", tests, group_setup, group_teardown);
}
