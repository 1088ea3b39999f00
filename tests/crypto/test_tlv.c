/* crypto/tlv and crypto/pad: BER-TLV decoding (every length form, 1-3 byte tags, DGIs,
 * indefinite form), the precise errors for malformed input, encoding round trips, padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/pad.h"
#include "crypto/tlv.h"
#include "tests/support/testenv.h"

static size_t H(const char *hex, uint8_t *out, size_t cap) { return testenv_unhex(hex, out, cap); }

static void test_tag_forms(void **state)
{
    uint8_t b[64];
    tlv t;
    sm_err err = {0};
    size_t n = H("8601aa", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_OK);
    assert_int_equal(t.tag, 0x86);
    assert_int_equal(t.taglen, 1);
    assert_false(t.constructed);
    assert_int_equal(t.len, 1);
    assert_int_equal(t.val[0], 0xaa);

    n = H("7f2103930101", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_OK);
    assert_int_equal(t.tag, 0x7F21);
    assert_int_equal(t.taglen, 2);
    assert_true(t.constructed);
    assert_int_equal(t.len, 3);
    assert_ptr_equal(t.val, b + 3);

    n = H("bf8f0102abcd", b, sizeof b); /* three-byte tag */
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_OK);
    assert_int_equal(t.tag, 0xBF8F01);
    assert_int_equal(t.taglen, 3);
    assert_int_equal(t.len, 2);

    /* four-byte tags are refused */
    n = H("bf8f818101aa", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "tag longer than 3 bytes"));
    assert_non_null(strstr(err.msg, "offset 2"));
    sm_err_clear(&err);
    /* a subsequent tag byte 80 is a non-minimal tag */
    n = H("5f8001aa", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "invalid tag byte"));
}

static void test_length_forms(void **state)
{
    static uint8_t b[70000];
    tlv t;
    sm_err err = {0};
    /* short, 81, 82, 83 */
    b[0] = 0x04;
    b[1] = 0x7f;
    assert_int_equal(tlv_parse_one(b, 2 + 0x7f, 0, &t, &err), SM_OK);
    assert_int_equal(t.len, 0x7f);
    b[1] = 0x81;
    b[2] = 0x80;
    assert_int_equal(tlv_parse_one(b, 3 + 0x80, 0, &t, &err), SM_OK);
    assert_int_equal(t.len, 0x80);
    b[1] = 0x82;
    b[2] = 0x01;
    b[3] = 0x00;
    assert_int_equal(tlv_parse_one(b, 4 + 0x100, 0, &t, &err), SM_OK);
    assert_int_equal(t.len, 0x100);
    b[1] = 0x83;
    b[2] = 0x01;
    b[3] = 0x00;
    b[4] = 0x01;
    assert_int_equal(tlv_parse_one(b, 5 + 0x10001, 0, &t, &err), SM_OK);
    assert_int_equal(t.len, 0x10001);
    /* 84 with a length past the input */
    b[1] = 0x84;
    b[2] = 0x00;
    b[3] = 0x01;
    b[4] = 0x00;
    b[5] = 0x02;
    assert_int_equal(tlv_parse_one(b, 6 + 0x10001, 0, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "runs past"));
    sm_err_clear(&err);
    /* 85.. are not length forms */
    uint8_t c[16];
    size_t n = H("04850000000001aa", c, sizeof c);
    assert_int_equal(tlv_parse_one(c, n, 0, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "invalid length"));
    sm_err_clear(&err);
    /* non-minimal: accepted by default, refused with TLV_F_MINLEN */
    n = H("048105aabbccddee", c, sizeof c);
    assert_int_equal(tlv_parse_one(c, n, 0, &t, &err), SM_OK);
    assert_int_equal(tlv_parse_one(c, n, TLV_F_MINLEN, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "offset 1"));
    sm_err_clear(&err);
    n = H("04820005aabbccddee", c, sizeof c);
    assert_int_equal(tlv_parse_one(c, n, TLV_F_MINLEN, &t, &err), SM_EPARSE);
}

static void test_truncated(void **state)
{
    uint8_t b[32];
    tlv t;
    sm_err err = {0};
    const struct {
        const char *hex;
        const char *reason;
        size_t off;
    } cases[] = {
        {"5f", "inside a tag", 1},
        {"bf8f", "inside a tag", 2},
        {"86", "inside a length", 1},
        {"8682", "inside a length", 2},
        {"868201", "inside a length", 2},
        {"8605aabb", "runs past", 1},
        {"7f2106930101", "runs past", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = H(cases[i].hex, b, sizeof b);
        sm_err_clear(&err);
        assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_EPARSE);
        if (!strstr(err.msg, cases[i].reason))
            fail_msg("%s: %s", cases[i].hex, err.msg);
        tlv_rd r;
        tlv_rd_init(&r, b, n, 0);
        assert_int_equal(tlv_next(&r, &t, &err), SM_EPARSE);
        assert_int_equal(r.err_off, cases[i].off);
    }
    /* trailing bytes after one TLV, and padding where padding is not allowed */
    size_t n = H("8601aa00", b, sizeof b);
    sm_err_clear(&err);
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "unexpected bytes"));
    tlv_rd r;
    tlv_rd_init(&r, b, n, 0);
    assert_int_equal(tlv_next(&r, &t, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_equal(tlv_next(&r, &t, &err), SM_EPARSE);
    assert_int_equal(r.reason, TLV_R_BAD_TAG);
    tlv_rd_init(&r, b, n, TLV_F_PAD);
    assert_int_equal(tlv_next(&r, &t, &err), SM_OK);
    assert_int_equal(tlv_next(&r, &t, &err), SM_ENOTFOUND);
    /* empty input */
    sm_err_clear(&err);
    assert_int_equal(tlv_parse_one(b, 0, 0, &t, &err), SM_EPARSE);
}

static void test_nested_and_order(void **state)
{
    uint8_t b[64];
    sm_err err = {0};
    /* 7F21 { 93 01 01, 42 01 02 } : expect 93 then 42; wrong order fails with the offsets */
    size_t n = H("7f2106930101420102", b, sizeof b);
    tlv top, t;
    assert_int_equal(tlv_parse_one(b, n, 0, &top, &err), SM_OK);
    tlv_rd r, c;
    tlv_rd_init(&r, b, n, 0);
    assert_int_equal(tlv_next(&r, &top, &err), SM_OK);
    assert_int_equal(tlv_rd_child(&r, &top, &c, &err), SM_OK);
    assert_int_equal(c.base, 3);
    assert_int_equal(tlv_expect(&c, 0x93, &t, "serial", &err), SM_OK);
    assert_int_equal(t.off, 3);
    assert_int_equal(tlv_expect(&c, 0x42, &t, "CA id", &err), SM_OK);
    assert_int_equal(t.off, 6);
    assert_int_equal(tlv_rd_end(&c, "certificate", &err), SM_OK);

    n = H("7f2106420102930101", b, sizeof b);
    tlv_rd_init(&r, b, n, 0);
    assert_int_equal(tlv_next(&r, &top, &err), SM_OK);
    assert_int_equal(tlv_rd_child(&r, &top, &c, &err), SM_OK);
    assert_int_equal(tlv_expect(&c, 0x93, &t, "serial", &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "expected serial (tag 93), found tag 42"));
    assert_non_null(strstr(err.msg, "offset 3"));
    sm_err_clear(&err);

    /* optional element present / absent */
    bool present;
    n = H("930101420102", b, sizeof b);
    tlv_rd_init(&r, b, n, 0);
    assert_int_equal(tlv_optional(&r, 0x42, &t, &present, &err), SM_OK);
    assert_false(present);
    assert_int_equal(tlv_expect(&r, 0x93, &t, "serial", &err), SM_OK);
    assert_int_equal(tlv_optional(&r, 0x42, &t, &present, &err), SM_OK);
    assert_true(present);
    assert_true(tlv_rd_done(&r));
    assert_int_equal(tlv_expect(&r, 0x5F37, &t, "signature", &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "missing"));
}

static void test_indefinite(void **state)
{
    uint8_t b[64];
    sm_err err = {0};
    tlv t;
    /* AE 80 { 22 03 aabbcc, 22 02 dd ee } 00 00 */
    size_t n = H("ae802203aabbcc2202ddee0000", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, 0, &t, &err), SM_EPARSE); /* not allowed by default */
    assert_non_null(strstr(err.msg, "indefinite"));
    sm_err_clear(&err);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_INDEF, &t, &err), SM_OK);
    assert_true(t.indefinite);
    assert_int_equal(t.len, 9);
    assert_int_equal(t.rawlen, n);
    /* nested indefinite */
    n = H("ae80af8022010000000000", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_INDEF, &t, &err), SM_OK);
    /* unterminated */
    n = H("ae802203aabbcc", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_INDEF, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "not terminated"));
    sm_err_clear(&err);
    /* indefinite on a primitive tag */
    n = H("8680aa0000", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_INDEF, &t, &err), SM_EPARSE);
}

static int count_cb(const tlv *t, unsigned depth, void *arg)
{
    unsigned *m = arg;
    m[0]++;
    if (depth > m[1])
        m[1] = depth;
    return 0;
}

static void test_depth_limit(void **state)
{
    /* 40 nested constructed TLVs: A1 len (A1 len (...)) */
    uint8_t b[200];
    size_t depth = 40;
    for (size_t i = 0; i < depth; i++) {
        b[2 * i] = 0xA1;
        b[2 * i + 1] = (uint8_t)(2 * (depth - i - 1));
    }
    sm_err err = {0};
    unsigned m[2] = {0, 0};
    assert_int_equal(tlv_walk(b, 2 * depth, 0, 0, count_cb, m, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "nesting too deep"));
    sm_err_clear(&err);
    m[0] = m[1] = 0;
    assert_int_equal(tlv_walk(b, 2 * 10, 0, 0, count_cb, m, &err), SM_EPARSE); /* truncated inner lengths */
    sm_err_clear(&err);
    /* a legal 10-deep tree */
    for (size_t i = 0; i < 10; i++) {
        b[2 * i] = 0xA1;
        b[2 * i + 1] = (uint8_t)(2 * (10 - i - 1));
    }
    m[0] = m[1] = 0;
    assert_int_equal(tlv_walk(b, 20, 0, 0, count_cb, m, &err), SM_OK);
    assert_int_equal(m[0], 10);
    assert_int_equal(m[1], 9);
    /* indefinite nesting is limited too */
    for (size_t i = 0; i < 40; i++) {
        b[2 * i] = 0xA1;
        b[2 * i + 1] = 0x80;
    }
    memset(b + 80, 0, 80);
    tlv t;
    assert_int_equal(tlv_parse_one(b, 160, TLV_F_INDEF, &t, &err), SM_EPARSE);
    assert_non_null(strstr(err.msg, "nesting too deep"));
}

static void test_dgi(void **state)
{
    uint8_t b[400];
    sm_err err = {0};
    tlv t;
    size_t n = H("3a0103aabbcc", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_DGI, &t, &err), SM_OK);
    assert_int_equal(t.tag, 0x3A01);
    assert_int_equal(t.len, 3);
    /* FF LL LL form */
    sm_buf w;
    sm_buf_init(&w);
    uint8_t v[300];
    memset(v, 0x5a, sizeof v);
    assert_int_equal(tlv_put_dgi(&w, 0x3A02, v, sizeof v), 0);
    assert_int_equal(w.data[2], 0xFF);
    assert_int_equal(tlv_parse_one(w.data, w.len, TLV_F_DGI, &t, &err), SM_OK);
    assert_int_equal(t.len, 300);
    sm_buf_reset(&w);
    assert_int_equal(tlv_put_dgi(&w, 0x3A02, v, 254), 0);
    assert_int_equal(w.len, 257);
    sm_buf_free(&w);
    /* FF form for a short length is non-minimal */
    n = H("3a01ff0003aabbcc", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_DGI, &t, &err), SM_OK);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_DGI | TLV_F_MINLEN, &t, &err), SM_EPARSE);
    sm_err_clear(&err);
    n = H("3a01ff00", b, sizeof b);
    assert_int_equal(tlv_parse_one(b, n, TLV_F_DGI, &t, &err), SM_EPARSE);
}

static void test_encode_roundtrip(void **state)
{
    sm_buf b;
    sm_buf_init(&b);
    sm_err err = {0};
    static uint8_t big[70000];
    memset(big, 0xa5, sizeof big);
    const size_t lens[] = {0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, sizeof big};
    const uint32_t tags[] = {0x86, 0x5F37, 0xBF8F01};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            sm_buf_reset(&b);
            assert_int_equal(tlv_put(&b, tags[ti], big, lens[li]), 0);
            assert_int_equal(b.len, tlv_tag_size(tags[ti]) + tlv_len_size(lens[li]) + lens[li]);
            tlv t;
            assert_int_equal(tlv_parse_one(b.data, b.len, TLV_F_MINLEN, &t, &err), SM_OK);
            assert_int_equal(t.tag, tags[ti]);
            assert_int_equal(t.len, lens[li]);
        }
    /* nested open/close with a value that outgrows the 1-byte length */
    sm_buf_reset(&b);
    size_t outer = tlv_open(&b, 0x7F21);
    size_t inner = tlv_open(&b, 0x73);
    assert_int_equal(tlv_put(&b, 0xC9, big, 200), 0);
    assert_int_equal(tlv_close(&b, inner), 0);
    assert_int_equal(tlv_put_u8(&b, 0x95, 0x88), 0);
    assert_int_equal(tlv_close(&b, outer), 0);
    tlv t, c1, c2;
    assert_int_equal(tlv_parse_one(b.data, b.len, TLV_F_MINLEN, &t, &err), SM_OK);
    tlv_rd r, rc;
    tlv_rd_init(&r, b.data, b.len, 0);
    assert_int_equal(tlv_next(&r, &t, &err), SM_OK);
    assert_int_equal(tlv_rd_child(&r, &t, &rc, &err), SM_OK);
    assert_int_equal(tlv_expect(&rc, 0x73, &c1, "dd", &err), SM_OK);
    assert_int_equal(c1.len, 203);
    assert_int_equal(tlv_expect(&rc, 0x95, &c2, "ku", &err), SM_OK);
    assert_int_equal(c2.val[0], 0x88);
    /* indefinite */
    sm_buf_reset(&b);
    assert_int_equal(tlv_open_indef(&b, 0xAE), 0);
    assert_int_equal(tlv_put(&b, 0x22, "\x80\xca\x00\x66\x00", 5), 0);
    assert_int_equal(tlv_close_indef(&b), 0);
    assert_int_equal(tlv_parse_one(b.data, b.len, TLV_F_INDEF, &t, &err), SM_OK);
    assert_int_equal(t.len, 7);
    /* invalid tags are refused by the encoder */
    assert_int_equal(tlv_put(&b, 0x1F, "", 0), -1);
    assert_false(tlv_tag_valid(0x5F80));
    assert_false(tlv_tag_valid(0xBF8F8101));
    assert_true(tlv_tag_valid(0x7F49));
    sm_buf_free(&b);
}

static void test_pad(void **state)
{
    uint8_t b[48];
    sm_err err = {0};
    size_t out;
    assert_int_equal(pad80_len(0, 16), 16);
    assert_int_equal(pad80_len(15, 16), 16);
    assert_int_equal(pad80_len(16, 16), 32);
    memset(b, 0x11, sizeof b);
    pad80_write(b, 5, 16);
    assert_int_equal(b[5], 0x80);
    assert_int_equal(b[15], 0);
    assert_int_equal(pad80_strip(b, 16, 16, &out, &err), SM_OK);
    assert_int_equal(out, 5);
    pad80_write(b, 16, 16);
    assert_int_equal(pad80_strip(b, 32, 16, &out, &err), SM_OK);
    assert_int_equal(out, 16);
    /* bad padding: no marker, non-zero after the marker, wrong length */
    memset(b, 0, 16);
    assert_int_equal(pad80_strip(b, 16, 16, &out, &err), SM_EVERIFY);
    sm_err_clear(&err);
    memset(b, 0x11, 16);
    b[10] = 0x80;
    assert_int_equal(pad80_strip(b, 16, 16, &out, &err), SM_EVERIFY);
    sm_err_clear(&err);
    assert_int_equal(pad80_strip(b, 15, 16, &out, &err), SM_EVERIFY);
    sm_err_clear(&err);
    /* the marker further back than one block */
    memset(b, 0, 32);
    b[3] = 0x80;
    assert_int_equal(pad80_strip(b, 32, 16, &out, &err), SM_EVERIFY);
    assert_int_equal(zpad_count(7, 16), 9);
    assert_int_equal(zpad_count(16, 16), 0);
    assert_true(ct_equal((const uint8_t *)"abc", (const uint8_t *)"abc", 3));
    assert_false(ct_equal((const uint8_t *)"abc", (const uint8_t *)"abd", 3));
    sm_buf w;
    sm_buf_init(&w);
    sm_buf_append(&w, "xyz", 3);
    assert_int_equal(pad80_append(&w, 1, 16), 0);
    assert_int_equal(w.len, 17);
    assert_int_equal(w.data[3], 0x80);
    sm_buf_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_forms),     cmocka_unit_test(test_length_forms),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_nested_and_order),
        cmocka_unit_test(test_indefinite),    cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_dgi),           cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_pad),
    };
    return cmocka_run_group_tests_name("crypto_tlv", tests, NULL, NULL);
}
