/* Shared by the tests/smdp programs: the TS.48 profiles with the values GSMA publishes for
 * them (tests/vectors/SOURCES.md, /work/shared/spec/profile-package.md §4), and file loading. */
#ifndef SM_TESTS_SMDP_TEST_H
#define SM_TESTS_SMDP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/testenv.h"

typedef struct ts48 {
    const char *file;
    size_t npes;
    unsigned major, minor;
    const char *imsi;
} ts48;

static const ts48 TS48[] = {
    {"tests/profiles/TS48v5_SAIP2.1A_NoBERTLV.der", 28, 2, 1, "001010123456063"},
    {"tests/profiles/TS48v5_SAIP2.3_BERTLV_SUCI.der", 30, 2, 3, "001010123456063"},
    {"tests/profiles/TS48v7_SAIP2.3_BERTLV_SUCI.der", 30, 2, 3, "001010123456789"},
    {"tests/profiles/TS48v7_SAIP2.3_NoBERTLV.der", 30, 2, 3, "001010123456789"},
    {"tests/profiles/TS48v7_SAIP2.3_NoBERTLV_NoRAMRFM.der", 26, 2, 3, "001010123456789"},
};
#define NTS48 (sizeof TS48 / sizeof TS48[0])
#define TS48_ICCID "89000123456789012341"

/* Reads a file of the source tree into a malloc'd buffer (aborts on failure). */
static inline uint8_t *smdp_test_load(const char *rel, size_t *len)
{
    char path[1024];
    FILE *f = fopen(testenv_path(path, sizeof path, rel), "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
        if (!b)
            abort();
        size_t r = fread(b + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return b;
}

#endif
