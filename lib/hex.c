#include "lib/hex.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void sm_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int nib(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* nibble values, 0xFF for anything else */
static const uint8_t NIB[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,  ['7'] = 7,
    ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};

static bool is_nib(unsigned char c) { return NIB[c] != 0 || c == '0'; }

sm_rc sm_hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen, sm_err *err)
{
    size_t n = 0, pos = 0;
    const unsigned char *p = (const unsigned char *)in;
    /* the common case first: digit pairs without white space (database bytea, XML values) */
    while (n < cap && is_nib(p[0]) && is_nib(p[1])) {
        out[n++] = (uint8_t)(NIB[p[0]] << 4 | NIB[p[1]]);
        p += 2;
        pos += 2;
    }
    int hi = -1;
    for (; *p; p++, pos++) {
        if (isspace(*p))
            continue;
        int v = nib(*p);
        if (v < 0)
            return sm_errf(err, SM_EINVAL, "hex: invalid character at offset %zu", pos);
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n >= cap)
            return sm_errf(err, SM_EINVAL, "hex: value longer than %zu bytes", cap);
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    if (hi >= 0)
        return sm_errf(err, SM_EINVAL, "hex: odd number of digits");
    *outlen = n;
    return SM_OK;
}

sm_rc sm_hex_decode_alloc(const char *in, uint8_t **out, size_t *outlen, sm_err *err)
{
    size_t cap = strlen(in) / 2 + 1;
    uint8_t *b = malloc(cap);
    if (!b)
        return sm_errf(err, SM_ENOMEM, "hex: out of memory");
    sm_rc rc = sm_hex_decode(in, b, cap, outlen, err);
    if (rc != SM_OK) {
        free(b);
        return rc;
    }
    *out = b;
    return SM_OK;
}
