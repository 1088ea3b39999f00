/* appliance/smdp/template, batch and mnokey against PostgreSQL and a SoftHSM2 token: the five public
 * TS.48 profiles import as templates and a malformed one is refused with nothing stored; an MNO
 * transport key becomes a sensitive, non-extractable token key and is never replaced; an order imports
 * into stock in one transaction with its batch row, and its MNO output file verifies (CMAC) and
 * carries, encrypted under the transport key, exactly the Ki/OPc sealed into each stored profile; a
 * bad line at the end of an order, a failure in the middle of the run (an ICCID already in stock) or
 * an order for another MNO store nothing at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "appliance/keyring.h"
#include "appliance/smdp/batch.h"
#include "appliance/smdp/dp_stock.h"
#include "appliance/smdp/mnofile.h"
#include "appliance/smdp/mnokey.h"
#include "appliance/smdp/order.h"
#include "appliance/smdp/simenc.h"
#include "appliance/smdp/stock.h"
#include "appliance/smdp/template.h"
#include "db/profile_repo.h"
#include "lib/hex.h"
#include "lib/log.h"
#include "tests/smdp/smdp_test.h"
#include "tests/support/testpg.h"

#define MNO "1.3.6.1.4.1.99999.7"
#define PREFIX "tst"

static testenv_hsm T;
static hsm_ctx *CTX;
static hsm_sess *S;
static testpg PG;
static char CI[512];
static db_pool *POOL;
static db_conn *C;
static const uint8_t TKV[16] = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
static const uint8_t OP[16] = {0xcd, 0xc2, 0x02, 0xd5, 0x12, 0x3e, 0x20, 0xf6,
                               0x2b, 0x6d, 0x67, 0x6a, 0xc7, 0x2c, 0xb3, 0x18};
static char OPENC[33];

static void ossl_ecb(const uint8_t *key, const uint8_t in[16], uint8_t out[16], int enc)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_true(EVP_CipherInit_ex(x, EVP_aes_128_ecb(), NULL, key, NULL, enc));
    EVP_CIPHER_CTX_set_padding(x, 0);
    assert_true(EVP_CipherUpdate(x, out, &l, in, 16));
    EVP_CIPHER_CTX_free(x);
}

static int setup(void **state)
{
    sm_log_init("test", SM_LOG_WARN, 2);
    if (testenv_hsm_setup(&T) != 0 || testpg_start(&PG) != 0 || testpg_schema_db(&PG, "stock", CI, sizeof CI) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 1);
    POOL = testpg_pool(CI, 2);
    sm_err err = {0};
    if (hsm_session_get(CTX, &S, &err) != SM_OK || sm_keyring_ceremony(S, PREFIX, NULL, NULL, &err) != SM_OK ||
        db_pool_take(POOL, &C, &err) != SM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    uint8_t enc[16];
    ossl_ecb(TKV, OP, enc, 1);
    sm_hex_encode(enc, 16, OPENC);
    return 0;
}

static int teardown(void **state)
{
    db_pool_give(C);
    db_pool_close(POOL);
    hsm_session_put(S);
    hsm_close(CTX);
    testpg_stop(&PG);
    testenv_hsm_teardown(&T);
    return 0;
}

static long count(const char *sql_text)
{
    db_stmt st = {sql_text, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(C, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

/* ---- templates ----------------------------------------------------------------------------- */

static void test_import_ts48_templates(void **state)
{
    long before = count("SELECT count(*) FROM profile_type WHERE template IS NOT NULL");
    for (size_t i = 0; i < NTS48; i++) {
        size_t len;
        uint8_t *der = smdp_test_load(TS48[i].file, &len);
        char name[65];
        smdp_template_name_from_path(TS48[i].file, name, sizeof name);
        smdp_template_info in;
        sm_err err = {0};
        if (smdp_template_import(C, "test", der, len, name, NULL, &in, &err) != SM_OK)
            fail_msg("%s: %s", TS48[i].file, err.msg);
        assert_int_equal(in.npes, TS48[i].npes);
        assert_int_equal(in.major, TS48[i].major);
        assert_int_equal(in.minor, TS48[i].minor);
        assert_string_equal(in.iccid, TS48_ICCID);
        assert_true(in.required_memory >= (int64_t)len);
        /* stored byte for byte, loadable */
        uint8_t *back = NULL;
        size_t bl = 0;
        saip_pkg *p = NULL;
        assert_int_equal(smdp_template_load(C, name, &back, &bl, &p, &err), SM_OK);
        assert_int_equal(bl, len);
        assert_memory_equal(back, der, len);
        assert_int_equal(p->npes, TS48[i].npes);
        saip_free(p);
        free(back);
        free(der);
    }
    assert_int_equal(count("SELECT count(*) FROM profile_type WHERE template IS NOT NULL"), before + (long)NTS48);
}

static void test_malformed_template_refused(void **state)
{
    size_t len;
    uint8_t *der = smdp_test_load(TS48[3].file, &len);
    long before = count("SELECT count(*) FROM profile_type");
    long audit0 = count("SELECT count(*) FROM audit_log");
    sm_err err = {0};
    /* truncated: the last PE runs past the end */
    assert_int_not_equal(smdp_template_import(C, "test", der, len - 7, "broken-1", NULL, NULL, &err), SM_OK);
    assert_non_null(strstr(err.msg, "refused"));
    /* a length byte of the header PE changed */
    uint8_t *bad = malloc(len);
    memcpy(bad, der, len);
    bad[1] ^= 0x01;
    sm_err_clear(&err);
    assert_int_not_equal(smdp_template_import(C, "test", bad, len, "broken-2", NULL, NULL, &err), SM_OK);
    /* not a package at all */
    sm_err_clear(&err);
    assert_int_not_equal(smdp_template_import(C, "test", (const uint8_t *)"hello", 5, "broken-3", NULL, NULL, &err),
                         SM_OK);
    /* a name that cannot be a template id */
    sm_err_clear(&err);
    assert_int_equal(smdp_template_import(C, "test", der, len, "bad name", NULL, NULL, &err), SM_EINVAL);
    assert_int_equal(count("SELECT count(*) FROM profile_type"), before);
    assert_int_equal(count("SELECT count(*) FROM audit_log"), audit0);
    free(bad);
    free(der);
}

/* ---- transport key ------------------------------------------------------------------------------ */

static void test_transport_key_import(void **state)
{
    uint8_t key[32];
    size_t kl = 0;
    sm_err err = {0};
    const char *file = "# MNO transport key, test value\n10213243 54657687\n98a9bacb dcedfe0f\n";
    assert_int_equal(smdp_mnokey_parse(file, strlen(file), key, &kl, &err), SM_OK);
    assert_int_equal(kl, 16);
    assert_memory_equal(key, TKV, 16);
    assert_int_equal(smdp_mnokey_parse("1234zz", 6, key, &kl, &err), SM_EPARSE);
    assert_null(strstr(err.msg, "zz")); /* key file content is never echoed */
    char label[HSM_LABEL_MAX + 1];
    uint8_t kcv[3], ref[16], ones[16];
    memset(ones, 1, 16);
    assert_int_equal(smdp_mnokey_import(S, PREFIX, MNO, TKV, 16, label, kcv, &err), SM_OK);
    assert_string_equal(label, PREFIX "-mno-" MNO);
    ossl_ecb(TKV, ones, ref, 1);
    assert_memory_equal(kcv, ref, 3);
    /* a token key, sensitive: its value cannot be read */
    hsm_key k;
    assert_int_equal(hsm_key_find(S, label, HSM_KT_AES, &k, &err), SM_OK);
    uint8_t v[32];
    size_t vl = 0;
    assert_int_not_equal(hsm_key_try_read_value(S, &k, v, sizeof v, &vl, &err), SM_OK);
    /* never replaced */
    sm_err_clear(&err);
    uint8_t other[16] = {1};
    assert_int_equal(smdp_mnokey_import(S, PREFIX, MNO, other, 16, label, kcv, &err), SM_EEXIST);
}

/* ---- orders -------------------------------------------------------------------------------------- */

static char *order_text(const char *type, const char *iccid, unsigned qty, const char *tail)
{
    static char b[4096];
    snprintf(b, sizeof b,
             "smbox-order 1\n"
             "profile-type %s\n"
             "template TS48v7_SAIP2.3_NoBERTLV\n"
             "mno " MNO "\n"
             "iccid-start %s\n"
             "imsi-start 001010000000001\n"
             "mnc-digits 2\n"
             "quantity %u\n"
             "op-enc %s\n"
             "pin1 1234\n"
             "%s"
             "end\n",
             type, iccid, qty, OPENC, tail);
    return b;
}

typedef struct chk {
    hsm_key tk, pk;
    int n;
} chk;

/* each MNO file record: its Ki/OPc (decrypted with the known key) are the ones sealed in stock */
static int check_rec(const smdp_mnorec *r, void *arg)
{
    chk *k = arg;
    uint8_t ki[16], opc[16];
    ossl_ecb(TKV, r->ki_enc, ki, 0);
    ossl_ecb(TKV, r->opc_enc, opc, 0);
    db_stock st;
    sm_err err = {0};
    assert_int_equal(db_stock_get(C, r->iccid, &st, &err), SM_OK);
    assert_string_equal(st.state, "available");
    assert_string_equal(st.imsi, r->imsi);
    dp_stock_info in;
    assert_int_equal(dp_stock_info_get(C, r->iccid, &in, &err), SM_OK);
    assert_string_equal(in.mno_id, MNO);
    assert_string_equal(in.template_id, "TS48v7_SAIP2.3_NoBERTLV");
    smdp_sealed sd = {.ct = st.ciphertext, .ctlen = st.len};
    memcpy(sd.iv, st.iv, 12);
    uint8_t aad[128];
    assert_int_equal(smdp_seal_aad(r->iccid, in.template_id, aad, sizeof aad, &sd.aadlen, &err), SM_OK);
    sd.aad = aad;
    smdp_secbuf pkg;
    assert_int_equal(smdp_unseal(S, &k->pk, &sd, &pkg, &err), SM_OK);
    saip_pkg *p = NULL;
    assert_int_equal(saip_decode(pkg.p, pkg.len, &p, &err), SM_OK);
    assert_string_equal(p->hdr.iccid, r->iccid);
    assert_string_equal(p->imsi, r->imsi);
    size_t l;
    assert_true(p->naka > 0);
    assert_memory_equal(saip_value(p, p->aka[0].key, &l), ki, 16);
    assert_memory_equal(saip_value(p, p->aka[0].opc, &l), opc, 16);
    saip_free(p);
    smdp_secbuf_free(&pkg);
    db_stock_clear(&st);
    assert_true(simenc_luhn_ok(r->iccid));
    k->n++;
    return 0;
}

static void test_order_import(void **state)
{
    const char *text = order_text("M2M-TEST", "89000123456789012341", 6, "");
    smdp_batch_req req = {.text = text, .len = strlen(text), .key_prefix = PREFIX, .actor = "test", .requester = MNO};
    smdp_batch_result res;
    sm_err err = {0};
    if (smdp_batch_import(C, S, &req, &res, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_true(res.batch_id > 0);
    assert_int_equal(res.quantity, 6);
    assert_string_equal(res.first_iccid, "89000123456789012341");
    dp_stock_counts n;
    assert_int_equal(dp_stock_count(C, "M2M-TEST", MNO, &n, &err), SM_OK);
    assert_int_equal(n.available, 6);
    /* the MNO file: CMAC and count verify, every record matches its sealed profile */
    chk k = {0};
    assert_int_equal(hsm_key_find(S, PREFIX "-mno-" MNO, HSM_KT_AES, &k.tk, &err), SM_OK);
    assert_int_equal(smdp_stock_key(S, PREFIX, &k.pk, &err), SM_OK);
    uint64_t nrec = 0;
    assert_int_equal(smdp_mnofile_verify(S, &k.tk, (const char *)res.mno_file.data, res.mno_file.len, check_rec, &k,
                                         &nrec, &err),
                     SM_OK);
    assert_int_equal(nrec, 6);
    assert_int_equal(k.n, 6);
    /* kept in the database as well */
    uint8_t *f = NULL;
    size_t fl = 0;
    assert_int_equal(dp_batch_file(C, res.batch_id, &f, &fl, &err), SM_OK);
    assert_int_equal(fl, res.mno_file.len);
    assert_memory_equal(f, res.mno_file.data, fl);
    free(f);
    /* no Ki in clear anywhere in the file: tampering it breaks the CMAC */
    res.mno_file.data[res.mno_file.len / 2] ^= 1;
    assert_int_equal(smdp_mnofile_verify(S, &k.tk, (const char *)res.mno_file.data, res.mno_file.len, NULL, NULL,
                                         &nrec, &err),
                     SM_EVERIFY);
    smdp_batch_result_free(&res);
}

static void expect_nothing_stored(const char *text, const char *require_mno, const char *why)
{
    long st0 = count("SELECT count(*) FROM profile_stock"), b0 = count("SELECT count(*) FROM dp_batch");
    smdp_batch_req req = {.text = text, .len = strlen(text), .key_prefix = PREFIX, .actor = "test",
                          .require_mno = require_mno};
    smdp_batch_result res;
    sm_err err = {0};
    assert_int_not_equal(smdp_batch_import(C, S, &req, &res, &err), SM_OK);
    if (!strstr(err.msg, why))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, why);
    assert_int_equal(res.batch_id, 0);
    assert_int_equal(res.mno_file.len, 0);
    assert_int_equal(count("SELECT count(*) FROM profile_stock"), st0);
    assert_int_equal(count("SELECT count(*) FROM dp_batch"), b0);
    assert_false(db_in_tx(C));
}

static void test_order_all_or_nothing(void **state)
{
    /* a bad line at the very end */
    expect_nothing_stored(order_text("M2M-TEST2", "89000123456789022340", 5, "override 89000123456789022399 imsi=1\n"),
                          NULL, "order line");
    /* the 4th profile's ICCID is already in stock (the batch above): the run fails in the middle, after
     * three profiles were inserted; they go with the rest */
    expect_nothing_stored(order_text("M2M-TEST", "89000123456789012317", 5, ""), NULL, "already in stock");
    /* an MNO ordering for another one */
    expect_nothing_stored(order_text("M2M-TEST", "89000123456789032349", 2, ""), "1.3.6.1.4.1.99999.10", "not for");
    /* a template that was never imported */
    char *t = order_text("M2M-TEST", "89000123456789032349", 2, "");
    char *at = strstr(t, "TS48v7_SAIP2.3_NoBERTLV");
    memcpy(at, "TS48v9", 6);
    expect_nothing_stored(t, NULL, "no profile type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_ts48_templates),
        cmocka_unit_test(test_malformed_template_refused),
        cmocka_unit_test(test_transport_key_import),
        cmocka_unit_test(test_order_import),
        cmocka_unit_test(test_order_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
