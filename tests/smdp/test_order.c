/* appliance/smdp/orderfile, mnofile and order: order files parse strictly with line-numbered
 * errors and all-or-nothing results; an order run on a SoftHSM2 token against the TS.48 template
 * produces sealed profiles carrying the generated values, and an MNO file whose Ki/OPc decrypt
 * (OpenSSL, with the known transport key) to the profiles' values, OPc = AES_Ki(OP) XOR OP, and
 * whose CMAC verifies independently; a tampered file or another key fails; a failing callback
 * stops the run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "appliance/keyring.h"
#include "appliance/smdp/mnofile.h"
#include "appliance/smdp/order.h"
#include "appliance/smdp/simenc.h"
#include "lib/hex.h"
#include "lib/log.h"
#include "tests/smdp/smdp_test.h"

static testenv_hsm T;
static hsm_ctx *CTX;
static hsm_sess *S;
static smdp_order_keys K;
static const uint8_t TKV[16] = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
static const uint8_t OP[16] = {0xcd, 0xc2, 0x02, 0xd5, 0x12, 0x3e, 0x20, 0xf6,
                               0x2b, 0x6d, 0x67, 0x6a, 0xc7, 0x2c, 0xb3, 0x18};
static char ORDER[2048];

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
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 1);
    sm_err err = {0};
    hsm_keyspec tk = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_DERIVE};
    if (hsm_session_get(CTX, &S, &err) != SM_OK || sm_keyring_ceremony(S, "tst", NULL, NULL, &err) != SM_OK ||
        smdp_stock_key(S, "tst", &K.profile, &err) != SM_OK ||
        hsm_secret_import(S, &tk, TKV, 16, &K.transport, &err) != SM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    K.transport_label = "tst-mno-acme";
    uint8_t enc[16];
    ossl_ecb(TKV, OP, enc, 1);
    char hex[33];
    sm_hex_encode(enc, 16, hex);
    snprintf(ORDER, sizeof ORDER,
             "smbox-order 1\n"
             "# issue 8 test order\n"
             "profile-type M2M-TEST\n"
             "template TS48v7-SUCI\n"
             "mno acme\n"
             "iccid-start 89000123456789012341\n"
             "imsi-start 001010000000001\n"
             "mnc-digits 2\n"
             "quantity 25\n"
             "op-enc %s\n"
             "pin2 4321\n"
             "puk1  12345678\n"
             "\n"
             "override 89000123456789012358 imsi=001019999999999 msisdn=447700900123 pin1=1234\n"
             "override 89000123456789012390 msisdn=447700900999 adm1=87654321\n"
             "end\n",
             hex);
    return 0;
}

static int teardown(void **state)
{
    hsm_session_put(S);
    hsm_close(CTX);
    testenv_hsm_teardown(&T);
    return 0;
}

/* ---- order file ---------------------------------------------------------------------------- */

/* ORDER with the first occurrence of `old` replaced by `new`. */
static char *with(const char *old, const char *new)
{
    static char b[4096];
    const char *at = strstr(ORDER, old);
    assert_non_null(at);
    snprintf(b, sizeof b, "%.*s%s%s", (int)(at - ORDER), ORDER, new, at + strlen(old));
    return b;
}

static void parse_fails(const char *text, const char *msg)
{
    smdp_order *o = (smdp_order *)0x1;
    sm_err err = {0};
    sm_rc rc = smdp_order_parse(text, strlen(text), &o, &err);
    if (rc == SM_OK)
        fail_msg("parsed, expected \"%s\"", msg);
    assert_null(o);
    if (!strstr(err.msg, msg))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, msg);
}

static void test_order_parse(void **state)
{
    smdp_order *o = NULL;
    sm_err err = {0};
    assert_int_equal(smdp_order_parse(ORDER, strlen(ORDER), &o, &err), SM_OK);
    assert_string_equal(o->profile_type, "M2M-TEST");
    assert_string_equal(o->template_id, "TS48v7-SUCI");
    assert_string_equal(o->mno, "acme");
    assert_int_equal(o->quantity, 25);
    assert_int_equal(o->mnc_digits, 2);
    assert_string_equal(o->code[SMDP_PIN2], "4321");
    assert_string_equal(o->code[SMDP_PUK1], "12345678");
    assert_null(o->code[SMDP_PIN1]);
    assert_int_equal(o->nov, 2);
    const smdp_order_override *ov = smdp_order_find(o, 1);
    assert_non_null(ov);
    assert_int_equal(ov->line, 14);
    assert_string_equal(ov->imsi, "001019999999999");
    assert_string_equal(ov->msisdn, "447700900123");
    assert_string_equal(ov->code[SMDP_PIN1], "1234");
    ov = smdp_order_find(o, 5);
    assert_non_null(ov);
    assert_string_equal(ov->code[SMDP_ADM1], "87654321");
    assert_null(smdp_order_find(o, 2));
    smdp_order_free(o);
    /* without a final line end */
    assert_int_equal(smdp_order_parse(ORDER, strlen(ORDER) - 1, &o, &err), SM_OK);
    smdp_order_free(o);
    /* without overrides (found by fuzz_orderfile: qsort of an empty list) */
    char plain[2048];
    snprintf(plain, sizeof plain, "%s", ORDER);
    char *cut = strstr(plain, "override");
    strcpy(cut, "end\n");
    assert_int_equal(smdp_order_parse(plain, strlen(plain), &o, &err), SM_OK);
    assert_int_equal(o->nov, 0);
    assert_null(smdp_order_find(o, 1));
    smdp_order_free(o);
}

static void test_order_errors(void **state)
{
    parse_fails("", "order: empty file");
    parse_fails(with("smbox-order 1", "smbox-order 2"), "order line 1: order format version '2' not supported");
    parse_fails(with("smbox-order 1", "order 1"), "order line 1: not an order file");
    parse_fails(with("end\n", ""), "order line 15: the file ends without 'end' (truncated?)");
    parse_fails(with("mno acme", "mnx acme"), "order line 5: unknown key 'mnx'");
    parse_fails(with("quantity 25\n", "quantity 25\nquantity 26\n"), "order line 10: quantity given twice");
    parse_fails(with("89000123456789012341", "89000123456789012342"),
                "order line 6: iccid-start 89000123456789012342: check digit wrong (expected 1)");
    parse_fails(with("mno acme\n", "mno acme\r\n"), "order line 5: carriage return");
    parse_fails(with("mno acme", "mno\tacme"), "order line 5: tab character");
    parse_fails(with("mno acme", "mno ac/me"), "order line 5: mno may only contain");
    parse_fails(with("quantity 25", "quantity 0"), "order line 9: quantity must be 1 to 1000000");
    parse_fails(with("quantity 25", "quantity 1000001"), "order line 9: quantity must be 1 to 1000000");
    parse_fails(with("mnc-digits 2", "mnc-digits 4"), "order line 8: mnc-digits must be 2 or 3");
    parse_fails(with("op-enc ", "op-enc 0"), "order line 10: op-enc must be 32 hex digits");
    parse_fails(with("quantity 25\n", ""),
                "order line 13: override before iccid-start, imsi-start, mnc-digits and quantity");
    parse_fails(with("end\n", "end\nmno x\n"), "order line 17: content after 'end'");
    parse_fails(with("end\n", "mno other\nend\n"), "order line 16: mno after the first override line");
    parse_fails(with("imsi-start 001010000000001", "imsi-start 001019999999990"),
                "IMSI range from 001019999999990 has no entry 24");
    parse_fails(with("iccid-start 89000123456789012341", "iccid-start 899999999999999999999"),
                "order line 6: iccid-start must be 18 to 20 digits");
    /* overrides */
    parse_fails(with("override 89000123456789012390", "override 89000123456789012598"),
                "order line 15: override: ICCID 89000123456789012598 is not in this order's range");
    parse_fails(with("override 89000123456789012390", "override 89000123456789012358"),
                "order line 15: override for the same ICCID as line 14");
    parse_fails(with("adm1=87654321", "adm1=87654321 imsi=001010000000004"),
                "order line 15: override: imsi 001010000000004 is the range IMSI of profile 3");
    parse_fails(with("adm1=87654321", "adm1=87654321 imsi=001019999999999"),
                "order line 15: override: imsi 001019999999999 also given on line 14");
    parse_fails(with("adm1=87654321", "adm1=87654321 adm1=87654321"), "order line 15: override: adm1 given twice");
    parse_fails(with("adm1=87654321", "adm7=87654321"), "order line 15: override: unknown field");
    parse_fails(with("msisdn=447700900999", "msisdn=+447700900999"), "override: msisdn must be 1 to 15 digits");
    parse_fails(with("override 89000123456789012390 msisdn=447700900999 adm1=87654321",
                     "override 89000123456789012390"),
                "order line 15: override needs an ICCID and at least one field=value");
    char noop[64];
    snprintf(noop, sizeof noop, "op-enc %.32s\n", strstr(ORDER, "op-enc ") + 7);
    parse_fails(with(noop, ""), "order line 15: missing key op-enc");
    /* an own IMSI equal to the range IMSI of a profile that itself uses an override IMSI is fine */
    smdp_order *o = NULL;
    sm_err err = {0};
    const char *ok = with("adm1=87654321", "adm1=87654321 imsi=001010000000002");
    assert_int_equal(smdp_order_parse(ok, strlen(ok), &o, &err), SM_OK);
    smdp_order_free(o);
}

static void test_order_errors_hide_secrets(void **state)
{
    const char *cases[][2] = {
        {"pin2 4321", "pin2 975"},
        {"puk1  12345678", "puk1 9753197"},
        {"pin1=1234", "pin1=97a5"},
        {"pin2 4321", "97531975=4321"},
        {"pin2 4321", "pin2=9753"},
        {"adm1=87654321", "adm9=97531"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        smdp_order *o = NULL;
        sm_err err = {0};
        const char *t = with(cases[i][0], cases[i][1]);
        assert_int_not_equal(smdp_order_parse(t, strlen(t), &o, &err), SM_OK);
        assert_null(o);
        if (strstr(err.msg, "975"))
            fail_msg("error shows a secret: %s", err.msg);
    }
}

/* ---- order run ----------------------------------------------------------------------------- */

typedef struct got {
    size_t n;
    char iccid[32][21];
    char imsi[32][16];
    uint8_t ki[32][16];
    uint8_t opc[32][16];
    char msisdn[32][21];
    char pin1[32][9];
    uint64_t fail_at;
} got;

static sm_rc collect(const smdp_produced *p, void *arg, sm_err *err)
{
    got *g = arg;
    if (p->index == g->fail_at)
        return sm_errf(err, SM_EDB, "storing failed (test)");
    assert_int_equal(p->index, g->n);
    smdp_secbuf pkg;
    assert_int_equal(smdp_unseal(S, &K.profile, p->sealed, &pkg, err), SM_OK);
    assert_int_equal(pkg.len, p->package_len);
    uint8_t aad[128];
    size_t al;
    assert_int_equal(smdp_seal_aad(p->iccid, "TS48v7-SUCI", aad, sizeof aad, &al, err), SM_OK);
    assert_int_equal(p->sealed->aadlen, al);
    assert_memory_equal(p->sealed->aad, aad, al);
    saip_pkg *q = NULL;
    assert_int_equal(saip_decode(pkg.p, pkg.len, &q, err), SM_OK);
    assert_int_equal(saip_check(q, err), SM_OK);
    size_t i = g->n++;
    snprintf(g->iccid[i], 21, "%s", q->hdr.iccid);
    assert_string_equal(q->hdr.iccid, p->iccid);
    snprintf(g->imsi[i], 16, "%s", q->imsi);
    assert_string_equal(q->imsi, p->imsi);
    size_t l;
    const uint8_t *v = saip_value(q, q->aka[0].key, &l);
    assert_int_equal(l, 16);
    memcpy(g->ki[i], v, 16);
    v = saip_value(q, q->aka[1].key, &l);
    assert_memory_equal(g->ki[i], v, 16); /* ISIM too */
    memcpy(g->opc[i], saip_value(q, q->aka[0].opc, &l), 16);
    g->msisdn[i][0] = 0;
    if (q->ef_msisdn.content != SAIP_NONE)
        assert_int_equal(simenc_msisdn_record_dec(saip_value(q, q->ef_msisdn.content, &l), q->msisdn_reclen,
                                                  g->msisdn[i], err),
                         SM_OK);
    assert_string_equal(g->msisdn[i], p->msisdn);
    for (size_t k = 0; k < q->npin; k++)
        if (q->pin[k].keyref == SAIP_REF_PIN1) {
            const uint8_t *pv = saip_value(q, q->pin[k].value, &l);
            size_t d = 0;
            while (d < 8 && pv[d] != 0xFF)
                d++;
            memcpy(g->pin1[i], pv, d);
            g->pin1[i][d] = 0;
        }
    saip_free(q);
    smdp_secbuf_free(&pkg);
    return SM_OK;
}

typedef struct recs {
    size_t n;
    smdp_mnorec r[32];
} recs;

static int keep_rec(const smdp_mnorec *r, void *arg)
{
    recs *x = arg;
    x->r[x->n++] = *r;
    return 0;
}

static void test_order_run(void **state)
{
    size_t len;
    uint8_t *der = smdp_test_load(TS48[2].file, &len);
    saip_pkg *t = NULL;
    smdp_order *o = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &t, &err), SM_OK);
    assert_int_equal(smdp_order_parse(ORDER, strlen(ORDER), &o, &err), SM_OK);
    got *g = calloc(1, sizeof *g);
    g->fail_at = UINT64_MAX;
    sm_buf mno;
    /* every log line of the run goes to a file, checked below for secrets */
    FILE *logf = tmpfile();
    assert_non_null(logf);
    sm_log_init("test_order", SM_LOG_DEBUG, fileno(logf));
    if (smdp_order_run(S, o, t, &K, collect, g, &mno, &err) != SM_OK)
        fail_msg("%s", err.msg);
    sm_log_init("test_order", SM_LOG_WARN, 2);
    assert_int_equal(g->n, 25);
    assert_string_equal(g->iccid[0], "89000123456789012341");
    assert_string_equal(g->iccid[1], "89000123456789012358");
    assert_string_equal(g->iccid[24], "89000123456789012580");
    assert_string_equal(g->imsi[0], "001010000000001");
    assert_string_equal(g->imsi[1], "001019999999999"); /* override */
    assert_string_equal(g->imsi[2], "001010000000003");
    assert_string_equal(g->msisdn[1], "447700900123");
    assert_string_equal(g->msisdn[5], "447700900999");
    assert_string_equal(g->msisdn[0], "");
    assert_string_equal(g->pin1[1], "1234"); /* override */
    assert_string_equal(g->pin1[0], "0000"); /* template */
    for (size_t i = 0; i < 25; i++) {
        assert_true(simenc_luhn_ok(g->iccid[i]));
        uint8_t e[16];
        ossl_ecb(g->ki[i], OP, e, 1);
        for (int j = 0; j < 16; j++)
            e[j] ^= OP[j];
        assert_memory_equal(g->opc[i], e, 16);
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(g->ki[i], g->ki[j], 16);
    }
    /* MNO file: verifies, and decrypts with OpenSSL to the profiles' values */
    recs *rs = calloc(1, sizeof *rs);
    uint64_t count = 0;
    if (smdp_mnofile_verify(S, &K.transport, (const char *)mno.data, mno.len, keep_rec, rs, &count, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(count, 25);
    for (size_t i = 0; i < 25; i++) {
        assert_string_equal(rs->r[i].iccid, g->iccid[i]);
        assert_string_equal(rs->r[i].imsi, g->imsi[i]);
        assert_string_equal(rs->r[i].msisdn, g->msisdn[i]);
        uint8_t ki[16], opc[16];
        ossl_ecb(TKV, rs->r[i].ki_enc, ki, 0);
        ossl_ecb(TKV, rs->r[i].opc_enc, opc, 0);
        assert_memory_equal(ki, g->ki[i], 16);
        assert_memory_equal(opc, g->opc[i], 16);
    }
    /* the trailer's CMAC with OpenSSL: K_mac = AES-ECB(TK, "smbox-mno-mac-v1") */
    const char *endl = strstr((const char *)mno.data, "#end,25,");
    assert_non_null(endl);
    assert_non_null(strstr((const char *)mno.data, "#transport-key,tst-mno-acme\n"));
    uint8_t kmac[16], mac[16];
    ossl_ecb(TKV, (const uint8_t *)SMDP_MNO_MAC_LABEL, kmac, 1);
    size_t ml = sizeof mac;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *mc = EVP_MAC_CTX_new(m);
    OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", 0), OSSL_PARAM_END};
    assert_true(EVP_MAC_init(mc, kmac, 16, prm));
    assert_true(EVP_MAC_update(mc, mno.data, (size_t)(endl - (const char *)mno.data)));
    assert_true(EVP_MAC_final(mc, mac, &ml, sizeof mac));
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(m);
    char hm[33];
    sm_hex_encode(mac, 16, hm);
    assert_memory_equal(endl + 8, hm, 32);
    /* neither the file nor the log holds a clear Ki or OPc (hex, either case) */
    char logtxt[8192] = "";
    rewind(logf);
    size_t ll = fread(logtxt, 1, sizeof logtxt - 1, logf);
    logtxt[ll] = 0;
    fclose(logf);
    assert_non_null(strstr(logtxt, "event=order_run"));
    assert_non_null(strstr(logtxt, "event=order_done"));
    for (size_t i = 0; i < 25; i++)
        for (int w = 0; w < 2; w++) {
            char hk[33];
            sm_hex_encode(w ? g->opc[i] : g->ki[i], 16, hk);
            for (int up = 0; up < 2; up++) {
                for (char *c = hk; up && *c; c++)
                    if (*c >= 'a' && *c <= 'f')
                        *c = (char)(*c - 'a' + 'A');
                assert_null(strstr((const char *)mno.data, hk));
                assert_null(strstr(logtxt, hk));
                hk[12] = 0; /* nor a 6-byte piece of it */
                assert_null(strstr(logtxt, hk));
                sm_hex_encode(w ? g->opc[i] : g->ki[i], 16, hk);
            }
        }

    /* tampering and another key */
    char *bad = malloc(mno.len);
    memcpy(bad, mno.data, mno.len);
    char *rec = strstr(bad, "89000123456789012358,");
    char *digit = &rec[strlen("89000123456789012358,001019999999999,447700900123,")];
    *digit = *digit == '0' ? '1' : '0'; /* another hex digit (a bit flip of 'a' or 'f' is no hex digit at all) */
    sm_err_clear(&err);
    assert_int_equal(smdp_mnofile_verify(S, &K.transport, bad, mno.len, NULL, NULL, &count, &err), SM_EVERIFY);
    hsm_keyspec tk = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_DERIVE};
    hsm_key other;
    uint8_t ov[16] = {9};
    assert_int_equal(hsm_secret_import(S, &tk, ov, 16, &other, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_equal(smdp_mnofile_verify(S, &other, (const char *)mno.data, mno.len, NULL, NULL, &count, &err),
                     SM_EVERIFY);
    sm_err_clear(&err);
    assert_int_equal(smdp_mnofile_verify(S, &K.transport, (const char *)mno.data, mno.len - 1, NULL, NULL, &count, &err),
                     SM_EPARSE);
    assert_int_equal(hsm_key_destroy(S, &other, &err), SM_OK);
    free(bad);
    sm_buf_free(&mno);

    /* a failing callback stops the run at that profile; no MNO file */
    memset(g, 0, sizeof *g);
    g->fail_at = 3;
    sm_err_clear(&err);
    assert_int_equal(smdp_order_run(S, o, t, &K, collect, g, &mno, &err), SM_EDB);
    assert_int_equal(g->n, 3);
    assert_int_equal(mno.len, 0);
    assert_null(mno.data);
    assert_non_null(strstr(err.msg, "order for acme: profile 3 (ICCID 89000123456789012374): storing failed"));
    free(rs);
    free(g);
    smdp_order_free(o);
    saip_free(t);
    free(der);
}

static void test_order_run_rejects(void **state)
{
    size_t len;
    uint8_t *der = smdp_test_load(TS48[2].file, &len);
    saip_pkg *t = NULL;
    smdp_order *o = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &t, &err), SM_OK);
    /* a template failing the check (EF.ICCID differs from the header) */
    uint8_t *mod = malloc(len);
    memcpy(mod, der, len);
    mod[t->tree.n[t->ef_iccid.content].off + 2 + 9] = 0x24;
    saip_pkg *t2 = NULL;
    assert_int_equal(saip_decode(mod, len, &t2, &err), SM_OK);
    const char *txt = with("quantity 25", "quantity 6");
    assert_int_equal(smdp_order_parse(txt, strlen(txt), &o, &err), SM_OK);
    sm_buf mno;
    assert_int_equal(smdp_order_run(S, o, t2, &K, NULL, NULL, &mno, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "template TS48v7-SUCI: saip check"));
    /* a transport key without the decrypt usage: OP cannot be recovered */
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DERIVE};
    smdp_order_keys k2 = K;
    assert_int_equal(hsm_secret_import(S, &sp, TKV, 16, &k2.transport, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_not_equal(smdp_order_run(S, o, t, &k2, NULL, NULL, &mno, &err), SM_OK);
    assert_non_null(strstr(err.msg, "decrypting OP"));
    /* a template with no PIN2 while the order sets one */
    assert_int_equal(hsm_key_destroy(S, &k2.transport, &err), SM_OK);
    char lab[80];
    assert_int_equal(smdp_transport_label("tst", "acme", lab, sizeof lab, &err), SM_OK);
    assert_string_equal(lab, "tst-mno-acme");
    assert_int_equal(smdp_transport_label("tst", "a/b", lab, sizeof lab, &err), SM_EINVAL);
    smdp_order_free(o);
    saip_free(t2);
    free(mod);
    saip_free(t);
    free(der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_parse),       cmocka_unit_test(test_order_errors),
        cmocka_unit_test(test_order_errors_hide_secrets), cmocka_unit_test(test_order_run),
        cmocka_unit_test(test_order_run_rejects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
