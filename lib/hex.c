#include "lib/hex.h"

#include <ctype.h>
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

sm_rc sm_hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen, sm_err *err)
{
    size_t n = 0, pos = 0;
    int hi = -1;
    for (const char *p = in; *p; p++, pos++) {
        if (isspace((unsigned char)*p))
            continue;
        int v = nib((unsigned char)*p);
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
