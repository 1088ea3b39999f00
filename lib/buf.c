#include "lib/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sm_buf_init(sm_buf *b) { memset(b, 0, sizeof *b); }

void sm_buf_free(sm_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void sm_buf_free_wipe(sm_buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->cap);
    sm_buf_free(b);
}

void sm_buf_reset(sm_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

int sm_buf_reserve(sm_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1; /* room for a NUL */
    if (need <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need)
        nc *= 2;
    uint8_t *p = realloc(b->data, nc);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = nc;
    return 0;
}

int sm_buf_append(sm_buf *b, const void *p, size_t n)
{
    if (sm_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int sm_buf_append_byte(sm_buf *b, uint8_t c) { return sm_buf_append(b, &c, 1); }

int sm_buf_append_str(sm_buf *b, const char *s) { return sm_buf_append(b, s, strlen(s)); }

int sm_buf_printf(sm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sm_buf_reserve(b, (size_t)n) != 0) {
        b->failed = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

uint8_t *sm_buf_steal(sm_buf *b, size_t *len)
{
    if (sm_buf_reserve(b, 0) != 0)
        return NULL;
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}
