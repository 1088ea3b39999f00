/* ctest: shared scaffolding of the crypto/ tests (one throw-away SoftHSM2 token per program,
 * sessions returned even when an assertion fails, key import and hex helpers). Test-only. */
#ifndef SM_TEST_CTEST_H
#define SM_TEST_CTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/hsm.h"
#include "lib/hex.h"
#include "tests/support/json.h"
#include "tests/support/testenv.h"

#define CT_UNUSED __attribute__((unused))

static testenv_hsm T;
static hsm_ctx *CTX;
static hsm_sess *borrowed[8];

CT_UNUSED static int ct_group_setup(void **state)
{
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 4);
    return 0;
}

CT_UNUSED static int ct_group_teardown(void **state)
{
    hsm_close(CTX);
    testenv_hsm_teardown(&T);
    return 0;
}

CT_UNUSED static hsm_sess *sess(void)
{
    hsm_sess *s = NULL;
    sm_err err = {0};
    if (hsm_session_get(CTX, &s, &err) != SM_OK) {
        fprintf(stderr, "session: %s\n", err.msg);
        abort();
    }
    for (int i = 0; i < 8; i++)
        if (!borrowed[i]) {
            borrowed[i] = s;
            break;
        }
    return s;
}

CT_UNUSED static int return_sessions(void **state)
{
    for (int i = 0; i < 8; i++)
        if (borrowed[i]) {
            hsm_session_put(borrowed[i]);
            borrowed[i] = NULL;
        }
    return 0;
}

/* Imports a test AES key with the given usage (all usages when 0). */
CT_UNUSED static hsm_key ct_aes(hsm_sess *s, const uint8_t *k, size_t len, unsigned usage)
{
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = (unsigned)len,
                      .usage = usage ? usage : HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_SIGN | HSM_U_VERIFY | HSM_U_DERIVE};
    hsm_key key;
    sm_err err = {0};
    if (hsm_secret_import(s, &sp, k, len, &key, &err) != SM_OK) {
        fprintf(stderr, "import: %s\n", err.msg);
        abort();
    }
    return key;
}

/* Hex string to bytes in a fresh malloc'd buffer (test aborts on bad hex). */
CT_UNUSED static uint8_t *ct_unhex(const char *hex, size_t *len)
{
    uint8_t *p = NULL;
    sm_err err = {0};
    if (sm_hex_decode_alloc(hex, &p, len, &err) != SM_OK) {
        fprintf(stderr, "hex: %s\n", err.msg);
        abort();
    }
    return p;
}

/* Lowercase hex of a buffer into a static rotating string (for messages). */
CT_UNUSED static const char *ct_hex(const uint8_t *p, size_t n)
{
    static char bufs[4][4096];
    static int k;
    char *o = bufs[k++ & 3];
    if (n > 2047)
        n = 2047;
    sm_hex_encode(p, n, o);
    return o;
}

CT_UNUSED static tj *ct_vectors(const char *rel)
{
    char path[1024];
    return tj_load(testenv_path(path, sizeof path, rel));
}

#define assert_hex_equal(buf, len, hex)                                                              \
    do {                                                                                             \
        size_t l_;                                                                                   \
        uint8_t *e_ = ct_unhex((hex), &l_);                                                          \
        if (l_ != (size_t)(len) || memcmp((buf), e_, l_) != 0)                                       \
            fail_msg("got %s\nexpected %s", ct_hex((buf), (len)), ct_hex(e_, l_));                   \
        free(e_);                                                                                    \
    } while (0)

#endif
