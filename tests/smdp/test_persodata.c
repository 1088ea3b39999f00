/* appliance/smdp/persodata on a SoftHSM2 token (testenv): ICCID ranges with Luhn check digits
 * (TS.48's 89000123456789012341 and its successors), IMSI ranges, Ki from the HSM, OPc through
 * the HSM against 3GPP TS 35.208 test set 1 (tests/vectors/milenage_opc_ts35208.json) and against
 * OpenSSL for random values, OP decryption with a transport key, no session key left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "appliance/smdp/persodata.h"
#include "appliance/smdp/secbuf.h"
#include "appliance/smdp/simenc.h"
#include "tests/support/json.h"
#include "tests/support/testenv.h"

static testenv_hsm T;
static hsm_ctx *CTX;
static hsm_sess *S;

static int setup(void **state)
{
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 1);
    sm_err err = {0};
    return hsm_session_get(CTX, &S, &err) == SM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    hsm_session_put(S);
    hsm_close(CTX);
    testenv_hsm_teardown(&T);
    return 0;
}

static void test_iccid_range(void **state)
{
    sm_err err = {0};
    char out[21];
    /* the TS.48 ICCID and the next ones: body +1, check digit recomputed */
    assert_int_equal(smdp_iccid_at("89000123456789012341", 0, out, &err), SM_OK);
    assert_string_equal(out, "89000123456789012341");
    assert_int_equal(smdp_iccid_at("89000123456789012341", 1, out, &err), SM_OK);
    assert_string_equal(out, "89000123456789012358");
    assert_int_equal(smdp_iccid_at("89000123456789012341", 5, out, &err), SM_OK);
    assert_string_equal(out, "89000123456789012390");
    assert_int_equal(smdp_iccid_at("89000123456789012341", 6, out, &err), SM_OK);
    assert_string_equal(out, "89000123456789012408"); /* carry into the tens */
    for (uint64_t i = 0; i < 2000; i += 37) {
        assert_int_equal(smdp_iccid_at("8944500102030405062", i, out, &err), SM_OK);
        assert_int_equal(strlen(out), 19);
        assert_true(simenc_luhn_ok(out));
    }
    /* the end of the digits */
    assert_int_equal(smdp_iccid_at("89999999999999999991", 1, out, &err), SM_OK);
    assert_string_equal(out, "90000000000000000001");
    assert_int_equal(smdp_iccid_at("99999999999999999999", 0, out, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_equal(smdp_iccid_at("99999999999999999999", 1, out, &err), SM_ELIMIT);
    /* a wrong check digit names the expected one */
    sm_err_clear(&err);
    assert_int_equal(smdp_iccid_at("89000123456789012342", 0, out, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "expected 1"));
    sm_err_clear(&err);
    assert_int_equal(smdp_iccid_at("8900012345678901", 0, out, &err), SM_EINVAL);
}

static void test_imsi_range(void **state)
{
    sm_err err = {0};
    char out[16];
    assert_int_equal(smdp_imsi_at("001010123456789", 2, 0, out, &err), SM_OK);
    assert_string_equal(out, "001010123456789");
    assert_int_equal(smdp_imsi_at("001010123456789", 2, 11, out, &err), SM_OK);
    assert_string_equal(out, "001010123456800");
    assert_int_equal(smdp_imsi_at("310170000000000", 3, 999999999, out, &err), SM_OK);
    assert_string_equal(out, "310170999999999");
    sm_err_clear(&err);
    assert_int_equal(smdp_imsi_at("310170000000000", 3, 1000000000, out, &err), SM_ELIMIT); /* MNC stays */
    sm_err_clear(&err);
    assert_int_equal(smdp_imsi_at("310170000000000", 4, 0, out, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(smdp_imsi_at("31017", 2, 0, out, &err), SM_EINVAL);
}

static size_t count_objects_cb_n;
static int count_cb(const hsm_objinfo *o, void *arg)
{
    (void)o;
    (void)arg;
    count_objects_cb_n++;
    return 0;
}

static size_t count_objects(void)
{
    sm_err err = {0};
    count_objects_cb_n = 0;
    assert_int_equal(hsm_objects_list(S, count_cb, NULL, &err), SM_OK);
    return count_objects_cb_n;
}

static void ossl_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16], int enc)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_true(EVP_CipherInit_ex(x, EVP_aes_128_ecb(), NULL, key, NULL, enc));
    EVP_CIPHER_CTX_set_padding(x, 0);
    assert_true(EVP_CipherUpdate(x, out, &l, in, 16));
    EVP_CIPHER_CTX_free(x);
}

static void test_opc_ts35208(void **state)
{
    char path[1024];
    tj *v = tj_load(testenv_path(path, sizeof path, "tests/vectors/milenage_opc_ts35208.json"));
    const tj *tests = tj_get(v, "tests");
    assert_true(tests && tests->n >= 1);
    smdp_secbuf sb;
    sm_err err = {0};
    assert_int_equal(smdp_secbuf_alloc(&sb, 48, &err), SM_OK);
    uint8_t *ki = sb.p, *op = sb.p + 16, *opc = sb.p + 32;
    size_t before = count_objects();
    for (size_t i = 0; i < tests->n; i++) {
        size_t kl, ol, cl;
        uint8_t *k = tj_hex(tests->items[i], "K", &kl), *o = tj_hex(tests->items[i], "OP", &ol),
                *c = tj_hex(tests->items[i], "OPc", &cl);
        assert_int_equal(kl, 16);
        memcpy(ki, k, 16);
        memcpy(op, o, 16);
        assert_int_equal(smdp_opc(S, ki, op, opc, &err), SM_OK);
        assert_memory_equal(opc, c, 16);
        free(k);
        free(o);
        free(c);
    }
    /* random Ki and OP against OpenSSL */
    for (int r = 0; r < 20; r++) {
        assert_int_equal(smdp_ki_generate(S, ki, 16, &err), SM_OK);
        assert_int_equal(hsm_random(S, op, 16, &err), SM_OK);
        assert_int_equal(smdp_opc(S, ki, op, opc, &err), SM_OK);
        uint8_t e[16];
        ossl_ecb(ki, op, e, 1);
        for (int j = 0; j < 16; j++)
            e[j] ^= op[j];
        assert_memory_equal(opc, e, 16);
    }
    /* every Ki session key was destroyed */
    assert_int_equal(count_objects(), before);
    smdp_secbuf_free(&sb);
    tj_free(v);
}

static void test_ki_random(void **state)
{
    sm_err err = {0};
    uint8_t a[16], b[16], z[16] = {0};
    assert_int_equal(smdp_ki_generate(S, a, 16, &err), SM_OK);
    assert_int_equal(smdp_ki_generate(S, b, 16, &err), SM_OK);
    assert_memory_not_equal(a, b, 16);
    assert_memory_not_equal(a, z, 16);
}

static void test_op_decrypt(void **state)
{
    sm_err err = {0};
    uint8_t tkv[16], op[16] = {0}, enc[16], got[16];
    testenv_unhex("000102030405060708090a0b0c0d0e0f", tkv, 16);
    testenv_unhex("cdc202d5123e20f62b6d676ac72cb318", op, 16);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_key tk;
    assert_int_equal(hsm_secret_import(S, &sp, tkv, 16, &tk, &err), SM_OK);
    ossl_ecb(tkv, op, enc, 1);
    assert_int_equal(smdp_op_decrypt(S, &tk, enc, got, &err), SM_OK);
    assert_memory_equal(got, op, 16);
    /* a key without the decrypt usage is refused by the HSM */
    hsm_keyspec enc_only = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    hsm_key tk2;
    assert_int_equal(hsm_secret_import(S, &enc_only, tkv, 16, &tk2, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_not_equal(smdp_op_decrypt(S, &tk2, enc, got, &err), SM_OK);
    assert_non_null(strstr(err.msg, "decrypting OP with the MNO transport key"));
    assert_int_equal(hsm_key_destroy(S, &tk, &err), SM_OK);
    assert_int_equal(hsm_key_destroy(S, &tk2, &err), SM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iccid_range), cmocka_unit_test(test_imsi_range), cmocka_unit_test(test_opc_ts35208),
        cmocka_unit_test(test_ki_random),   cmocka_unit_test(test_op_decrypt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
