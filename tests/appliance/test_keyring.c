/* appliance/keyring and smctl hsm: the key ceremony is idempotent, creates only sensitive,
 * non-extractable keys, and smboxd's start-up lookup names a missing key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/keyring.h"
#include "tests/support/testenv.h"

static testenv_hsm T;
static hsm_ctx *CTX;
static hsm_sess *S;

static int count_created(const sm_ceremony_step *st, int *n)
{
    if (st->created)
        (*n)++;
    return 0;
}

static void cb(const sm_ceremony_step *st, void *arg) { count_created(st, arg); }

static int flagged_cb(const hsm_objinfo *o, void *arg)
{
    int *n = arg;
    n[0]++;
    if (o->flagged)
        n[1]++;
    if (!strcmp(o->cls, "private") || !strcmp(o->cls, "secret")) {
        assert_true(o->sensitive);
        assert_false(o->extractable);
        assert_true(o->token);
    }
    return 0;
}

static void test_ceremony_idempotent(void **state)
{
    sm_err err = {0};
    sm_keyring kr;
    assert_int_equal(sm_keyring_load(S, "cer", &kr, &err), SM_ENOTFOUND);
    assert_non_null(strstr(err.msg, "cer-smdp-sign"));
    assert_non_null(strstr(err.msg, "smctl hsm init"));
    sm_err_clear(&err);

    int created = 0;
    assert_int_equal(sm_keyring_ceremony(S, "cer", cb, &created, &err), SM_OK);
    assert_int_equal(created, AK_COUNT);
    created = 0;
    assert_int_equal(sm_keyring_ceremony(S, "cer", cb, &created, &err), SM_OK);
    assert_int_equal(created, 0);
    assert_int_equal(sm_keyring_load(S, "cer", &kr, &err), SM_OK);

    int n[2] = {0, 0};
    assert_int_equal(hsm_objects_list(S, flagged_cb, n, &err), SM_OK);
    assert_int_equal(n[0], AK_COUNT + 4); /* 4 EC pairs have a public half */
    assert_int_equal(n[1], 0);

    /* the keys work: sign with the SM-DP key, wrap-capable KEK */
    uint8_t d[32] = {1}, sig[64];
    size_t sl;
    assert_int_equal(hsm_ecdsa_sign(S, &kr.key[AK_SMDP_SIGN], d, 32, sig, sizeof sig, &sl, &err), SM_OK);
    assert_int_equal(hsm_ecdsa_verify(S, &kr.pub[AK_SMDP_SIGN], d, 32, sig, sl, &err), SM_OK);
    hsm_keyspec w = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .wrappable = true};
    hsm_key k;
    uint8_t blob[64];
    size_t bl;
    assert_int_equal(hsm_key_generate(S, &w, &k, &err), SM_OK);
    assert_int_equal(hsm_wrap(S, &kr.key[AK_KEK], &k, blob, sizeof blob, &bl, &err), SM_OK);
    hsm_key_destroy(S, &k, &err);
}

static void test_partial_hierarchy_completed(void **state)
{
    /* one key exists already (say, restored from backup): the ceremony adds the rest only */
    sm_err err = {0};
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP, .token = true,
                      .label = "part-kek"};
    hsm_key k;
    assert_int_equal(hsm_key_generate(S, &sp, &k, &err), SM_OK);
    int created = 0;
    assert_int_equal(sm_keyring_ceremony(S, "part", cb, &created, &err), SM_OK);
    assert_int_equal(created, AK_COUNT - 1);
}

/* smctl end to end: init twice, list, status, config check, help, errors. */
static void test_smctl(void **state)
{
    const char *bin = getenv("SMBOX_BIN_DIR");
    if (!bin || !T.softhsm)
        skip();
    char dir[256], cfg[512], pin[512], out[512];
    assert_int_equal(testenv_mkdtemp(dir, sizeof dir, "smbox-smctl"), 0);
    snprintf(pin, sizeof pin, "%s/pin", dir);
    FILE *f = fopen(pin, "w");
    fprintf(f, "%s\n", T.pin);
    fclose(f);
    chmod(pin, 0600);
    snprintf(cfg, sizeof cfg, "%s/smbox.yaml", dir);
    f = fopen(cfg, "w");
    fprintf(f, "node:\n  var_dir: %s\nhsm:\n  module: %s\n  token_label: %s\n  pin_file: pin\n  key_prefix: cli\n",
            dir, T.module, T.label);
    fclose(f);
    snprintf(out, sizeof out, "%s/out", dir);
    assert_int_equal(testenv_sh("%s/smctl -c %s hsm init >%s 2>&1", bin, cfg, out), 0);
    assert_int_equal(testenv_sh("grep -c '^created' %s | grep -qx 6", out), 0);
    assert_int_equal(testenv_sh("%s/smctl -c %s hsm init >%s 2>&1", bin, cfg, out), 0);
    assert_int_equal(testenv_sh("grep -c '^exists' %s | grep -qx 6 && ! grep -q '^created' %s", out, out), 0);
    /* nothing secret printed: the PIN is not in the output */
    assert_int_not_equal(testenv_sh("grep -q '%s' %s", T.pin, out), 0);
    assert_int_equal(testenv_sh("%s/smctl -c %s hsm list >%s 2>&1", bin, cfg, out), 0);
    assert_int_equal(testenv_sh("grep -q 'cli-kek' %s && grep -q ' 0 flagged' %s", out, out), 0);
    assert_int_equal(testenv_sh("%s/smctl -c %s hsm status >/dev/null 2>&1", bin, cfg), 0);
    assert_int_equal(testenv_sh("%s/smctl config check %s >/dev/null 2>&1", bin, cfg), 0);
    assert_int_equal(testenv_sh("%s/smctl help >%s 2>&1 && grep -q '^  hsm ' %s", bin, out, out), 0);
    assert_int_equal(testenv_sh("%s/smctl no-such-command >/dev/null 2>&1", bin), 2);
    /* a wrong PIN: a clear error, exit 1, PIN not echoed */
    f = fopen(pin, "w");
    fprintf(f, "wrong-pin-9\n");
    fclose(f);
    assert_int_equal(testenv_sh("%s/smctl -c %s hsm list >%s 2>&1", bin, cfg, out), 1);
    assert_int_equal(testenv_sh("grep -q 'CKR_PIN_INCORRECT' %s && ! grep -q 'wrong-pin-9' %s", out, out), 0);
    testenv_rmtree(dir);
}

/* smboxd refuses to start without the key hierarchy and says what to do. */
static void test_smboxd_missing_keys(void **state)
{
    const char *bin = getenv("SMBOX_BIN_DIR");
    if (!bin || !T.softhsm)
        skip();
    char dir[256], cfg[512], out[512];
    assert_int_equal(testenv_mkdtemp(dir, sizeof dir, "smbox-d"), 0);
    snprintf(cfg, sizeof cfg, "%s/smbox.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "node:\n  var_dir: %s\nhsm:\n  module: %s\n  token_label: %s\n  pin_env: SMBOX_T_PIN\n  pin_file: ''\n"
               "  key_prefix: absent\nes:\n  listen: 127.0.0.1:0\n",
            dir, T.module, T.label);
    fclose(f);
    snprintf(out, sizeof out, "%s/out", dir);
    setenv("SMBOX_T_PIN", T.pin, 1);
    assert_int_equal(testenv_sh("%s/smboxd -c %s --check >%s 2>&1", bin, cfg, out), 1);
    assert_int_equal(testenv_sh("grep -q 'absent-smdp-sign' %s && grep -q 'smctl hsm init' %s", out, out), 0);
    /* with the keys made, --check passes */
    assert_int_equal(testenv_sh("%s/smctl -c %s hsm init >/dev/null 2>&1", bin, cfg), 0);
    assert_int_equal(testenv_sh("%s/smboxd -c %s --check >%s 2>&1", bin, cfg, out), 0);
    /* the ES interfaces need a TLS certificate for the HSM key (development one) */
    assert_int_equal(testenv_sh("%s/smctl -c %s es dev-pki >/dev/null 2>&1", bin, cfg), 0);
    /* it runs; SIGHUP re-reads the file (a broken file is refused and the old one kept, a good one
     * applied); SIGTERM stops it cleanly */
    char good[600];
    snprintf(good, sizeof good, "%s.good", cfg);
    assert_int_equal(testenv_sh("cp %s %s", cfg, good), 0);
    assert_int_equal(
        testenv_sh("%s/smboxd -c %s >%s 2>&1 & p=$!; "
                   "w() { for i in $(seq 100); do grep -q \"$1\" %s && return 0; sleep 0.1; done; return 1; }; "
                   "w 'sub=daemon event=ready' && echo 'bogus_key: 1' >>%s && kill -HUP $p && w event=reload_failed && "
                   "cp %s %s && echo 'log:' >>%s && echo '  level: debug' >>%s && kill -HUP $p && w event=reloaded && "
                   "kill -0 $p && kill -TERM $p; wait $p",
                   bin, cfg, out, out, cfg, good, cfg, cfg, cfg),
        0);
    assert_int_equal(testenv_sh("grep -q \"reload_failed.*unknown key 'bogus_key'\" %s && "
                                "grep -q 'event=stopped status=0' %s",
                                out, out),
                     0);
    testenv_rmtree(dir);
}

static int setup(void **state)
{
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 2);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceremony_idempotent),
        cmocka_unit_test(test_partial_hierarchy_completed),
        cmocka_unit_test(test_smctl),
        cmocka_unit_test(test_smboxd_missing_keys),
    };
    return cmocka_run_group_tests_name("keyring", tests, setup, teardown);
}
