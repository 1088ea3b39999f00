/* appliance/smdp/stock on a SoftHSM2 token: a personalised TS.48 package sealed under the
 * appliance's profile-protection key (made by the key ceremony) unseals to the same bytes; a
 * changed ciphertext, tag, IV or AAD (another ICCID or template) and another key give
 * SM_EVERIFY; the format (ciphertext || tag, AAD = ICCID || 00 || template id) is checked with
 * OpenSSL's AES-256-GCM under an imported key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "appliance/keyring.h"
#include "appliance/smdp/personalise.h"
#include "appliance/smdp/stock.h"
#include "tests/smdp/smdp_test.h"

static testenv_hsm T;
static hsm_ctx *CTX;
static hsm_sess *S;
static hsm_key PK;
static uint8_t *DER;
static size_t DLEN;

static int setup(void **state)
{
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 1);
    sm_err err = {0};
    if (hsm_session_get(CTX, &S, &err) != SM_OK || sm_keyring_ceremony(S, "tst", NULL, NULL, &err) != SM_OK ||
        smdp_stock_key(S, "tst", &PK, &err) != SM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    DER = smdp_test_load(TS48[2].file, &DLEN);
    return 0;
}

static int teardown(void **state)
{
    free(DER);
    hsm_session_put(S);
    hsm_close(CTX);
    testenv_hsm_teardown(&T);
    return 0;
}

static void personalised(smdp_secbuf *out)
{
    saip_pkg *t = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(DER, DLEN, &t, &err), SM_OK);
    static const uint8_t ki[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    smdp_perso v;
    memset(&v, 0, sizeof v);
    v.iccid = "89000123456789012358";
    v.ki = ki;
    v.ki_len = 16;
    v.opc = ki;
    v.opc_len = 16;
    assert_int_equal(smdp_personalise(t, &v, out, &err), SM_OK);
    saip_free(t);
}

static void test_seal_roundtrip(void **state)
{
    smdp_secbuf pkg, back;
    personalised(&pkg);
    smdp_sealed a, b;
    sm_err err = {0};
    assert_int_equal(smdp_seal(S, &PK, "89000123456789012358", "TS48v7-SUCI", pkg.p, pkg.len, &a, &err), SM_OK);
    assert_int_equal(a.ctlen, pkg.len + SMDP_SEAL_TAG);
    assert_int_equal(a.aadlen, 20 + 1 + 11);
    assert_memory_equal(a.aad, "89000123456789012358\0TS48v7-SUCI", a.aadlen);
    assert_null(memmem(a.ct, a.ctlen, pkg.p + 100, 32)); /* not plaintext */
    assert_int_equal(smdp_unseal(S, &PK, &a, &back, &err), SM_OK);
    assert_int_equal(back.len, pkg.len);
    assert_memory_equal(back.p, pkg.p, pkg.len);
    smdp_secbuf_free(&back);
    /* a second seal of the same package: another IV, another ciphertext */
    assert_int_equal(smdp_seal(S, &PK, "89000123456789012358", "TS48v7-SUCI", pkg.p, pkg.len, &b, &err), SM_OK);
    assert_memory_not_equal(a.iv, b.iv, SMDP_SEAL_IV);
    assert_memory_not_equal(a.ct, b.ct, 32);
    smdp_sealed_free(&a);
    smdp_sealed_free(&b);
    smdp_secbuf_free(&pkg);
}

static void expect_verify_fail(const smdp_sealed *s, const hsm_key *k)
{
    smdp_secbuf out;
    sm_err err = {0};
    assert_int_equal(smdp_unseal(S, k, s, &out, &err), SM_EVERIFY);
    assert_null(out.p);
    assert_non_null(strstr(err.msg, "unsealing"));
}

static void test_tamper(void **state)
{
    smdp_secbuf pkg;
    personalised(&pkg);
    smdp_sealed s;
    sm_err err = {0};
    assert_int_equal(smdp_seal(S, &PK, "89000123456789012358", "TS48v7-SUCI", pkg.p, pkg.len, &s, &err), SM_OK);
    /* ciphertext byte, then tag byte */
    s.ct[1000] ^= 0x01;
    expect_verify_fail(&s, &PK);
    s.ct[1000] ^= 0x01;
    s.ct[s.ctlen - 1] ^= 0x80;
    expect_verify_fail(&s, &PK);
    s.ct[s.ctlen - 1] ^= 0x80;
    /* IV */
    s.iv[0] ^= 0x01;
    expect_verify_fail(&s, &PK);
    s.iv[0] ^= 0x01;
    /* AAD of another ICCID, another template */
    uint8_t aad[128], *keep = s.aad;
    size_t keeplen = s.aadlen;
    assert_int_equal(smdp_seal_aad("89000123456789012341", "TS48v7-SUCI", aad, sizeof aad, &s.aadlen, &err), SM_OK);
    s.aad = aad;
    expect_verify_fail(&s, &PK);
    assert_int_equal(smdp_seal_aad("89000123456789012358", "TS48v7-SUCJ", aad, sizeof aad, &s.aadlen, &err), SM_OK);
    expect_verify_fail(&s, &PK);
    s.aad = keep;
    s.aadlen = keeplen;
    /* truncated ciphertext, and another key */
    size_t cl = s.ctlen;
    s.ctlen = 10;
    expect_verify_fail(&s, &PK);
    s.ctlen = cl;
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_key other;
    assert_int_equal(hsm_key_generate(S, &sp, &other, &err), SM_OK);
    expect_verify_fail(&s, &other);
    /* untouched, it still unseals */
    smdp_secbuf back;
    assert_int_equal(smdp_unseal(S, &PK, &s, &back, &err), SM_OK);
    smdp_secbuf_free(&back);
    assert_int_equal(hsm_key_destroy(S, &other, &err), SM_OK);
    smdp_sealed_free(&s);
    smdp_secbuf_free(&pkg);
}

static void test_format_openssl(void **state)
{
    uint8_t kv[32];
    for (int i = 0; i < 32; i++)
        kv[i] = (uint8_t)(0xA0 + i);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_key k;
    sm_err err = {0};
    assert_int_equal(hsm_secret_import(S, &sp, kv, 32, &k, &err), SM_OK);
    smdp_sealed s;
    assert_int_equal(smdp_seal(S, &k, "8944500102030405062", "T1", DER, DLEN, &s, &err), SM_OK);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    uint8_t *pt = malloc(DLEN);
    int l = 0, l2 = 0;
    assert_true(EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL));
    assert_true(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, 12, NULL));
    assert_true(EVP_DecryptInit_ex(x, NULL, NULL, kv, s.iv));
    assert_true(EVP_DecryptUpdate(x, NULL, &l, (const uint8_t *)"8944500102030405062\0T1", 22));
    assert_true(EVP_DecryptUpdate(x, pt, &l, s.ct, (int)(s.ctlen - 16)));
    assert_true(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, s.ct + s.ctlen - 16));
    assert_int_equal(EVP_DecryptFinal_ex(x, pt + l, &l2), 1);
    assert_int_equal((size_t)(l + l2), DLEN);
    assert_memory_equal(pt, DER, DLEN);
    EVP_CIPHER_CTX_free(x);
    free(pt);
    smdp_sealed_free(&s);
    /* bad AAD inputs */
    uint8_t aad[128];
    size_t al;
    assert_int_equal(smdp_seal_aad("8944", "T1", aad, sizeof aad, &al, &err), SM_EINVAL);
    assert_int_equal(smdp_seal_aad("8944500102030405062", "a b", aad, sizeof aad, &al, &err), SM_EINVAL);
    assert_int_equal(smdp_seal_aad("8944500102030405062", "", aad, sizeof aad, &al, &err), SM_EINVAL);
    assert_int_equal(hsm_key_destroy(S, &k, &err), SM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_roundtrip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_format_openssl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
