/* testenv: what tests need from the machine, set up and torn down by the tests themselves:
 * a PKCS#11 token (a fresh SoftHSM2 token in a temporary directory, or the module named by
 * SMBOX_TEST_P11_MODULE / _TOKEN / _PIN, e.g. openCryptoki), temporary directories, commands. */
#ifndef SM_TESTENV_H
#define SM_TESTENV_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"

#define SOFTHSM2_MODULE "/usr/lib/softhsm/libsofthsm2.so"

typedef struct testenv_hsm {
    char dir[256];       /* temporary directory (SoftHSM2 token store), removed at teardown */
    char module[256];
    char label[33];
    char pin[64];
    char so_pin[64];
    int softhsm;         /* 1 when the token is a throw-away SoftHSM2 token */
} testenv_hsm;

/* Creates the token (or adopts the one from the environment). Returns 0 on success. */
int testenv_hsm_setup(testenv_hsm *t);
void testenv_hsm_teardown(testenv_hsm *t);
/* hsm_open on the test token with n sessions; aborts the test program on failure. */
hsm_ctx *testenv_hsm_open(testenv_hsm *t, unsigned nsess);

/* mkdtemp under $TMPDIR (or /tmp) with a prefix; returns 0 on success. */
int testenv_mkdtemp(char *out, size_t cap, const char *prefix);
/* rm -rf of a directory made by testenv_mkdtemp. */
void testenv_rmtree(const char *dir);
/* Runs a shell command built from fmt; returns its exit status (or -1). */
int testenv_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Directory of the test data (tests/vectors, tests/profiles), found from the working directory
 * or $SMBOX_SRCDIR. */
const char *testenv_srcdir(void);
/* Path of a file under the source tree (static buffer per call site is not kept: copies into out). */
const char *testenv_path(char *out, size_t cap, const char *rel);

/* Decodes hex or aborts. */
size_t testenv_unhex(const char *hex, uint8_t *out, size_t cap);

#endif
