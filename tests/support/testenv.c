#include "tests/support/testenv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/hex.h"

int testenv_mkdtemp(char *out, size_t cap, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(out, cap, "%s/%s-XXXXXX", tmp, prefix);
    return mkdtemp(out) ? 0 : -1;
}

int testenv_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void testenv_rmtree(const char *dir)
{
    if (dir && dir[0] == '/' && strlen(dir) > 5)
        testenv_sh("rm -rf '%s'", dir);
}

int testenv_hsm_setup(testenv_hsm *t)
{
    memset(t, 0, sizeof *t);
    const char *mod = getenv("SMBOX_TEST_P11_MODULE");
    if (mod && *mod) {
        snprintf(t->module, sizeof t->module, "%s", mod);
        snprintf(t->label, sizeof t->label, "%s", getenv("SMBOX_TEST_P11_TOKEN") ? getenv("SMBOX_TEST_P11_TOKEN") : "");
        snprintf(t->pin, sizeof t->pin, "%s", getenv("SMBOX_TEST_P11_PIN") ? getenv("SMBOX_TEST_P11_PIN") : "");
        snprintf(t->so_pin, sizeof t->so_pin, "%s",
                 getenv("SMBOX_TEST_P11_SO_PIN") ? getenv("SMBOX_TEST_P11_SO_PIN") : "");
        return 0;
    }
    t->softhsm = 1;
    snprintf(t->module, sizeof t->module, "%s", SOFTHSM2_MODULE);
    snprintf(t->label, sizeof t->label, "smbox-test");
    snprintf(t->pin, sizeof t->pin, "test-user-pin-1234");
    snprintf(t->so_pin, sizeof t->so_pin, "test-so-pin-5678");
    if (testenv_mkdtemp(t->dir, sizeof t->dir, "smbox-hsm") != 0)
        return -1;
    char conf[512];
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", t->dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
               "slots.removable = false\n", t->dir);
    fclose(f);
    char tokdir[300];
    snprintf(tokdir, sizeof tokdir, "%s/tokens", t->dir);
    mkdir(tokdir, 0700);
    setenv("SOFTHSM2_CONF", conf, 1);
    return testenv_sh("softhsm2-util --init-token --free --label '%s' --pin '%s' --so-pin '%s' >/dev/null",
                      t->label, t->pin, t->so_pin) == 0 ? 0 : -1;
}

void testenv_hsm_teardown(testenv_hsm *t)
{
    if (t->softhsm)
        testenv_rmtree(t->dir);
}

hsm_ctx *testenv_hsm_open(testenv_hsm *t, unsigned nsess)
{
    hsm_config cfg = {
        .module_path = t->module,
        .token_label = t->label,
        .pin = t->pin,
        .pin_len = strlen(t->pin),
        .sessions = nsess,
    };
    hsm_ctx *ctx = NULL;
    sm_err err = {0};
    if (hsm_open(&cfg, &ctx, &err) != SM_OK) {
        fprintf(stderr, "testenv_hsm_open: %s\n", err.msg);
        abort();
    }
    return ctx;
}

const char *testenv_srcdir(void)
{
    static char dir[1024];
    if (dir[0])
        return dir;
    const char *e = getenv("SMBOX_SRCDIR");
    if (e && *e) {
        snprintf(dir, sizeof dir, "%s", e);
        return dir;
    }
    if (!getcwd(dir, sizeof dir))
        snprintf(dir, sizeof dir, ".");
    return dir;
}

const char *testenv_path(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", testenv_srcdir(), rel);
    return out;
}

size_t testenv_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    sm_err err = {0};
    if (sm_hex_decode(hex, out, cap, &n, &err) != SM_OK) {
        fprintf(stderr, "testenv_unhex: %s\n", err.msg);
        abort();
    }
    return n;
}
