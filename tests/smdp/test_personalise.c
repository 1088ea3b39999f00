/* appliance/smdp/personalise: each TS.48 template personalised with new ICCID, IMSI, Ki/OPc,
 * PIN/PUK/ADM and MSISDN decodes again with exactly those values and passes the check; same-length
 * values change only their own bytes; longer values and missing file content are re-encoded with
 * correct lengths; bad values fail without showing them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appliance/smdp/personalise.h"
#include "appliance/smdp/simenc.h"
#include "tests/smdp/smdp_test.h"

static const uint8_t KI[32] = {0x46, 0x5b, 0x5c, 0xe8, 0xb1, 0x99, 0xb4, 0x9f, 0xaa, 0x5f, 0x0a,
                               0x2e, 0xe2, 0x38, 0xa6, 0xbc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t OPC[16] = {0xcd, 0x63, 0xcb, 0x71, 0x95, 0x4a, 0x9f, 0x4e,
                                0x48, 0xa5, 0x99, 0x4e, 0x37, 0xa0, 0x2b, 0xaf};

static smdp_perso full_values(void)
{
    smdp_perso v;
    memset(&v, 0, sizeof v);
    v.iccid = "89445001020304050600";
    v.imsi = "234150999999999";
    v.ki = KI;
    v.ki_len = 16;
    v.opc = OPC;
    v.opc_len = 16;
    v.code[SMDP_PIN1] = "1234";
    v.code[SMDP_PIN2] = "43210";
    v.code[SMDP_PUK1] = "12345678";
    v.code[SMDP_PUK2] = "87654321";
    v.code[SMDP_ADM1] = "11223344";
    v.code[SMDP_ADM2] = "55667788";
    v.msisdn = "447700900123";
    return v;
}

static bool same(const saip_pkg *p, int32_t node, const void *v, size_t len)
{
    size_t l;
    const uint8_t *x = saip_value(p, node, &l);
    return l == len && memcmp(x, v, len) == 0;
}

static void assert_codes(const saip_pkg *q, const smdp_perso *v)
{
    static const uint32_t ref[SMDP_CODE_COUNT] = {0x01, 0x81, 0x01, 0x81, 0x0A, 0x0B};
    for (int c = 0; c < SMDP_CODE_COUNT; c++) {
        bool puk = c == SMDP_PUK1 || c == SMDP_PUK2;
        const saip_code *e = puk ? q->puk : q->pin;
        size_t n = puk ? q->npuk : q->npin, hits = 0;
        uint8_t want[8];
        memset(want, 0xFF, 8);
        memcpy(want, v->code[c], strlen(v->code[c]));
        for (size_t k = 0; k < n; k++)
            if (e[k].keyref == ref[c]) {
                assert_true(same(q, e[k].value, want, 8));
                hits++;
            }
        /* PIN2 lives in telecom, usim, csim and isim */
        assert_int_equal(hits, c == SMDP_PIN2 ? 4 : 1);
    }
}

static void test_full_personalisation(void **state)
{
    for (size_t f = 0; f < NTS48; f++) {
        size_t len;
        uint8_t *der = smdp_test_load(TS48[f].file, &len);
        saip_pkg *t = NULL, *q = NULL;
        sm_err err = {0};
        assert_int_equal(saip_decode(der, len, &t, &err), SM_OK);
        smdp_perso v = full_values();
        smdp_secbuf out;
        if (smdp_personalise(t, &v, &out, &err) != SM_OK)
            fail_msg("%s: %s", TS48[f].file, err.msg);
        /* EF.MSISDN had no content: one 83 27 record appended (41 bytes; no length field grows) */
        assert_int_equal(out.len, len + 41);
        if (saip_decode(out.p, out.len, &q, &err) != SM_OK || saip_check(q, &err) != SM_OK)
            fail_msg("%s: %s", TS48[f].file, err.msg);
        assert_string_equal(q->hdr.iccid, v.iccid);
        assert_string_equal(q->ef_iccid_digits, v.iccid);
        assert_string_equal(q->imsi, v.imsi);
        assert_int_equal(q->naka, 2);
        for (size_t k = 0; k < q->naka; k++) {
            assert_true(same(q, q->aka[k].key, KI, 16));
            assert_true(same(q, q->aka[k].opc, OPC, 16));
            assert_int_equal(q->aka[k].algorithm, SAIP_ALG_TEST); /* the algorithm is the template's */
        }
        assert_codes(q, &v);
        size_t rl;
        const uint8_t *rec = saip_value(q, q->ef_msisdn.content, &rl);
        assert_int_equal(rl, 39);
        char d[21];
        assert_int_equal(simenc_msisdn_record_dec(rec, rl, d, &err), SM_OK);
        assert_string_equal(d, "447700900123");
        assert_int_equal(q->npes, t->npes);

        /* personalising the result again replaces the MSISDN record in place */
        smdp_perso w;
        memset(&w, 0, sizeof w);
        w.msisdn = "3312345678";
        smdp_secbuf out2;
        assert_int_equal(smdp_personalise(q, &w, &out2, &err), SM_OK);
        assert_int_equal(out2.len, out.len);
        saip_pkg *r = NULL;
        assert_int_equal(saip_decode(out2.p, out2.len, &r, &err), SM_OK);
        rec = saip_value(r, r->ef_msisdn.content, &rl);
        assert_int_equal(simenc_msisdn_record_dec(rec, rl, d, &err), SM_OK);
        assert_string_equal(d, "3312345678");
        assert_string_equal(r->imsi, v.imsi);
        saip_free(r);
        smdp_secbuf_free(&out2);
        saip_free(q);
        smdp_secbuf_free(&out);
        saip_free(t);
        free(der);
    }
}

static void test_same_length_in_place(void **state)
{
    size_t len;
    uint8_t *der = smdp_test_load(TS48[2].file, &len);
    saip_pkg *t = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &t, &err), SM_OK);
    smdp_perso v;
    memset(&v, 0, sizeof v);
    v.iccid = "8944500102030405062"; /* 19 digits: F padded */
    v.imsi = "00101012345606";       /* 14 digits: even parity */
    v.ki = KI;
    v.ki_len = 16;
    v.opc = OPC;
    v.opc_len = 16;
    smdp_secbuf out;
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_OK);
    assert_int_equal(out.len, len);
    /* only the bytes of the header ICCID, EF.ICCID, EF.IMSI and the two key/opc pairs differ */
    size_t diff = 0, first = len, last = 0;
    for (size_t i = 0; i < len; i++)
        if (out.p[i] != der[i]) {
            diff++;
            first = i < first ? i : first;
            last = i;
        }
    assert_true(diff > 0 && diff <= 10 + 10 + 9 + 4 * 16);
    assert_true(first >= t->tree.n[t->hdr.iccid_node].off);
    assert_true(last < t->tree.n[t->aka[1].opc].off + t->tree.n[t->aka[1].opc].hlen + 16);
    uint8_t hdr[10];
    assert_int_equal(simenc_iccid_header(v.iccid, hdr, &err), SM_OK);
    assert_memory_equal(out.p + t->tree.n[t->hdr.iccid_node].off + 2, hdr, 10);
    assert_int_equal(hdr[9], 0x2F);
    saip_pkg *q = NULL;
    assert_int_equal(saip_decode(out.p, out.len, &q, &err), SM_OK);
    assert_string_equal(q->imsi, "00101012345606");
    assert_string_equal(q->ef_iccid_digits, "8944500102030405062");
    saip_free(q);
    smdp_secbuf_free(&out);
    saip_free(t);
    free(der);
}

static void test_length_changes(void **state)
{
    size_t len;
    uint8_t *der = smdp_test_load(TS48[0].file, &len);
    saip_pkg *t = NULL, *q = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &t, &err), SM_OK);
    /* a 32-byte key (allowed for usim-test-algorithm): both AKA PEs grow by 16 bytes */
    smdp_perso v;
    memset(&v, 0, sizeof v);
    v.ki = KI;
    v.ki_len = 32;
    v.opc = OPC;
    v.opc_len = 16;
    smdp_secbuf out;
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_OK);
    assert_int_equal(out.len, len + 32);
    assert_int_equal(saip_decode(out.p, out.len, &q, &err), SM_OK);
    for (size_t k = 0; k < 2; k++) {
        assert_true(same(q, q->aka[k].key, KI, 32));
        const der_node *a = &q->tree.n[q->pes[q->aka[k].pe].node];
        const der_node *b = &t->tree.n[t->pes[t->aka[k].pe].node];
        assert_int_equal(a->len, b->len + 16);
    }
    saip_free(q);
    smdp_secbuf_free(&out);

    /* EF.IMSI without content: the template is rebuilt without its 83 09 item, then
     * personalisation appends one */
    const der_node *c = &t->tree.n[t->ef_imsi.content];
    size_t cut = c->off, cl = c->hlen + c->len;
    uint8_t *tpl = malloc(len);
    memcpy(tpl, der, cut);
    memcpy(tpl + cut, der + cut + cl, len - cut - cl);
    for (int32_t a = c->parent; a != DER_NONE; a = t->tree.n[a].parent) {
        const der_node *an = &t->tree.n[a];
        size_t newlen = an->len - cl, lo = an->off + der_tag_size(an->tag);
        uint8_t lf[5];
        size_t ll = der_put_len(lf, newlen);
        assert_int_equal(ll, an->hlen - (lo - an->off)); /* the length fields keep their size here */
        memcpy(tpl + lo, lf, ll);
    }
    saip_pkg *t2 = NULL;
    if (saip_decode(tpl, len - cl, &t2, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(t2->ef_imsi.content, SAIP_NONE);
    assert_string_equal(t2->imsi, "");
    memset(&v, 0, sizeof v);
    v.imsi = "310170845466094";
    assert_int_equal(smdp_personalise(t2, &v, &out, &err), SM_OK);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.p, der, cut); /* the bytes before EF.IMSI's content (lengths restored) */
    assert_int_equal(saip_decode(out.p, out.len, &q, &err), SM_OK);
    assert_string_equal(q->imsi, "310170845466094");
    saip_free(q);
    smdp_secbuf_free(&out);
    saip_free(t2);
    free(tpl);
    saip_free(t);
    free(der);
}

static void test_bad_values(void **state)
{
    size_t len;
    uint8_t *der = smdp_test_load(TS48[3].file, &len);
    saip_pkg *t = NULL;
    sm_err err = {0};
    assert_int_equal(saip_decode(der, len, &t, &err), SM_OK);
    smdp_secbuf out;
    smdp_perso v;

    memset(&v, 0, sizeof v);
    v.iccid = "89445001020304050601"; /* check digit wrong */
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "check digit"));
    assert_null(out.p);

    memset(&v, 0, sizeof v);
    v.imsi = "0010101234567890";
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);

    memset(&v, 0, sizeof v);
    v.code[SMDP_PIN1] = "97a5";
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "pin1 must be 4 to 8 digits"));
    assert_null(strstr(err.msg, "97a5"));
    v.code[SMDP_PIN1] = NULL;
    v.code[SMDP_ADM1] = "9753";
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);
    assert_null(strstr(err.msg, "9753"));

    memset(&v, 0, sizeof v);
    v.ki = KI;
    v.ki_len = 16;
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "together"));
    v.opc = OPC;
    v.opc_len = 15;
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);
    assert_null(strstr(err.msg, "465b"));
    assert_null(strstr(err.msg, "465B"));

    memset(&v, 0, sizeof v);
    v.msisdn = "+447700900123";
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t, &v, &out, &err), SM_EINVAL);

    /* a template without ADM2: its key reference 0B patched to 0C (adm3) */
    uint8_t *mod = malloc(len);
    memcpy(mod, der, len);
    bool patched = false;
    for (size_t k = 0; k < t->npin; k++)
        if (t->pin[k].keyref == SAIP_REF_ADM2) {
            int32_t ref = t->tree.n[t->pin[k].value].parent;
            int32_t kr = der_child(&t->tree, ref, 0x80);
            mod[t->tree.n[kr].off + 2] = 0x0C;
            patched = true;
        }
    assert_true(patched);
    saip_pkg *t2 = NULL;
    assert_int_equal(saip_decode(mod, len, &t2, &err), SM_OK);
    memset(&v, 0, sizeof v);
    v.code[SMDP_ADM2] = "55667788";
    sm_err_clear(&err);
    assert_int_equal(smdp_personalise(t2, &v, &out, &err), SM_ENOTFOUND);
    assert_non_null(strstr(err.msg, "defines no adm2 (key reference 0B)"));
    assert_null(strstr(err.msg, "55667788"));
    saip_free(t2);
    free(mod);
    saip_free(t);
    free(der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_personalisation),
        cmocka_unit_test(test_same_length_in_place),
        cmocka_unit_test(test_length_changes),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
