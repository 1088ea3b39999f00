/* libFuzzer target: lib/hex's decoder (database bytea, SOAP and REST hexBinary values) against a plain
 * reference written here: the same verdict, the same bytes, never past the capacity. The first input
 * byte is the capacity; the rest is the text. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int nibble(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1 and the bytes when the text is pairs of hex digits (white space anywhere) fitting cap, else 0 */
static int reference(const char *in, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = 0;
    int hi = -1;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (isspace(*p))
            continue;
        int v = nibble(*p);
        if (v < 0)
            return 0;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n >= cap)
            return 0;
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    *len = n;
    return hi < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = data[0];
    char *text = malloc(size);
    uint8_t *got = malloc(cap + 1), *want = malloc(cap + 1);
    if (!text || !got || !want)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    size_t gl = 0, wl = 0;
    sm_err err = {0};
    int ok = sm_hex_decode(text, got, cap, &gl, &err) == SM_OK;
    if (ok != reference(text, want, cap, &wl) || (ok && (gl != wl || gl > cap || memcmp(got, want, gl) != 0)))
        abort();
    free(text);
    free(got);
    free(want);
    return 0;
}
