/* Padding rules and constant-time comparison. */
#include "crypto/pad.h"

#include <string.h>

size_t pad80_len(size_t len, size_t block)
{
    return (len / block + 1) * block;
}

int pad80_append(sm_buf *b, size_t start, size_t block)
{
    size_t n = b->len - start;
    size_t add = pad80_len(n, block) - n;
    if (sm_buf_append_byte(b, 0x80))
        return -1;
    for (size_t i = 1; i < add; i++)
        if (sm_buf_append_byte(b, 0x00))
            return -1;
    return 0;
}

void pad80_write(uint8_t *buf, size_t len, size_t block)
{
    size_t total = pad80_len(len, block);
    buf[len] = 0x80;
    memset(buf + len + 1, 0, total - len - 1);
}

sm_rc pad80_strip(const uint8_t *buf, size_t len, size_t block, size_t *outlen, sm_err *err)
{
    if (len == 0 || len % block)
        return sm_errf(err, SM_EVERIFY, "pad80: %zu bytes are not a non-zero multiple of %zu", len, block);
    size_t i = len;
    while (i > 0 && buf[i - 1] == 0x00 && len - i < block)
        i--;
    if (i == 0 || buf[i - 1] != 0x80 || len - (i - 1) > block)
        return sm_errf(err, SM_EVERIFY, "pad80: no valid 80 00.. padding in the last block");
    *outlen = i - 1;
    return SM_OK;
}

size_t zpad_count(size_t len, size_t block)
{
    return (block - len % block) % block;
}

bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}
