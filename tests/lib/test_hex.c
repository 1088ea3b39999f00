/* lib/hex: decoding with and without white space, the limits, and the errors' offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/hex.h"

static void test_roundtrip_every_byte(void **state)
{
    (void)state;
    uint8_t in[256], out[256];
    char hex[513];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    sm_hex_encode(in, sizeof in, hex);
    size_t n = 0;
    sm_err err = {0};
    assert_int_equal(sm_hex_decode(hex, out, sizeof out, &n, &err), SM_OK);
    assert_int_equal(n, 256);
    assert_memory_equal(in, out, 256);
    for (char *p = hex; *p; p++) /* upper case too */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_int_equal(sm_hex_decode(hex, out, sizeof out, &n, &err), SM_OK);
    assert_memory_equal(in, out, 256);
}

static void test_white_space_anywhere(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n = 0;
    sm_err err = {0};
    assert_int_equal(sm_hex_decode("0a0B 1c\n2D\t3 e", out, sizeof out, &n, &err), SM_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "\x0a\x0b\x1c\x2d\x3e", 5);
    assert_int_equal(sm_hex_decode("", out, sizeof out, &n, &err), SM_OK);
    assert_int_equal(n, 0);
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t out[4];
    size_t n = 0;
    sm_err err = {0};
    assert_int_equal(sm_hex_decode("0102zz", out, sizeof out, &n, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "offset 4"));
    sm_err_clear(&err);
    assert_int_equal(sm_hex_decode("01 0g", out, sizeof out, &n, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "offset 4"));
    sm_err_clear(&err);
    assert_int_equal(sm_hex_decode("010", out, sizeof out, &n, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "odd"));
    sm_err_clear(&err);
    assert_int_equal(sm_hex_decode("0102030405", out, sizeof out, &n, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 4"));
    sm_err_clear(&err);
    /* exactly the capacity, with trailing white space */
    assert_int_equal(sm_hex_decode("01020304 \n", out, sizeof out, &n, &err), SM_OK);
    assert_int_equal(n, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_byte),
        cmocka_unit_test(test_white_space_anywhere),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("hex", tests, NULL, NULL);
}
