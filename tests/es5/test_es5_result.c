/* appliance/es5 result records: round trip and malformed records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appliance/es5/es5.h"

static void test_roundtrip(void **state)
{
    uint8_t resp[300];
    for (size_t i = 0; i < sizeof resp; i++)
        resp[i] = (uint8_t)i;
    es5_result r = {.req_id = 0x123456789aLL, .status = ES5_CARD_ERROR, .channel = ES5_CH_HTTPS,
                    .response = resp, .response_len = sizeof resp};
    strcpy(r.detail, "6A80 on command 2");
    uint8_t *enc;
    size_t len;
    sm_err err = {0};
    assert_int_equal(es5_result_encode(&r, &enc, &len, &err), SM_OK);
    es5_result d;
    assert_int_equal(es5_result_decode(enc, len, &d, &err), SM_OK);
    assert_int_equal(d.req_id, r.req_id);
    assert_int_equal(d.status, ES5_CARD_ERROR);
    assert_int_equal(d.channel, ES5_CH_HTTPS);
    assert_string_equal(d.detail, "6A80 on command 2");
    assert_int_equal(d.response_len, sizeof resp);
    assert_memory_equal(d.response, resp, sizeof resp);
    es5_result_clear(&d);
    /* every truncation and a trailing byte are refused */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(es5_result_decode(enc, cut, &d, &err), SM_EPARSE);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 0;
    assert_int_equal(es5_result_decode(longer, len + 1, &d, &err), SM_EPARSE);
    enc[1] = 99; /* unknown status */
    assert_int_equal(es5_result_decode(enc, len, &d, &err), SM_EPARSE);
    free(longer);
    free(enc);
}

static void test_empty_response(void **state)
{
    es5_result r = {.req_id = 1, .status = ES5_EXPIRED, .channel = ES5_CH_SMS};
    uint8_t *enc;
    size_t len;
    sm_err err = {0};
    assert_int_equal(es5_result_encode(&r, &enc, &len, &err), SM_OK);
    es5_result d;
    assert_int_equal(es5_result_decode(enc, len, &d, &err), SM_OK);
    assert_int_equal(d.status, ES5_EXPIRED);
    assert_null(d.response);
    assert_string_equal(d.detail, "");
    assert_false(d.maybe_ran);
    free(enc);
}

/* maybe_ran travels in the flags byte of version 2; a version 1 record (no flags) reads as "may have
 * run"; an unknown flag is refused */
static void test_maybe_ran(void **state)
{
    es5_result r = {.req_id = 7, .status = ES5_EXPIRED, .channel = ES5_CH_SMS, .maybe_ran = true};
    uint8_t *enc;
    size_t len;
    sm_err err = {0};
    assert_int_equal(es5_result_encode(&r, &enc, &len, &err), SM_OK);
    es5_result d;
    assert_int_equal(es5_result_decode(enc, len, &d, &err), SM_OK);
    assert_true(d.maybe_ran);
    enc[len - 1] = 2;
    assert_int_equal(es5_result_decode(enc, len, &d, &err), SM_EPARSE);
    /* the same record as version 1 wrote it: without the flags byte */
    r.maybe_ran = false;
    free(enc);
    assert_int_equal(es5_result_encode(&r, &enc, &len, &err), SM_OK);
    enc[0] = 1;
    assert_int_equal(es5_result_decode(enc, len - 1, &d, &err), SM_OK);
    assert_true(d.maybe_ran);
    assert_int_equal(d.status, ES5_EXPIRED);
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_empty_response),
                                       cmocka_unit_test(test_maybe_ran)};
    return cmocka_run_group_tests_name("es5_result", tests, NULL, NULL);
}
