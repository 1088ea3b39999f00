/* buf: growable buffer, hex, file helpers. */
#include "tests/sim/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

void sim_buf_init(sim_buf *b) { memset(b, 0, sizeof *b); }

void sim_buf_free(sim_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void sim_buf_free_secure(sim_buf *b)
{
    if (b->p)
        OPENSSL_cleanse(b->p, b->cap);
    sim_buf_free(b);
}

void sim_buf_reset(sim_buf *b)
{
    b->len = 0;
    b->oom = 0;
}

int sim_buf_reserve(sim_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    if (b->len + extra <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < b->len + extra)
        nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = nc;
    return 0;
}

void sim_buf_put(sim_buf *b, const void *p, size_t n)
{
    if (n == 0 || sim_buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void sim_buf_u8(sim_buf *b, uint8_t v) { sim_buf_put(b, &v, 1); }
void sim_buf_u16(sim_buf *b, uint16_t v)
{
    uint8_t t[2];
    sim_put_be16(t, v);
    sim_buf_put(b, t, 2);
}
void sim_buf_u32(sim_buf *b, uint32_t v)
{
    uint8_t t[4];
    sim_put_be32(t, v);
    sim_buf_put(b, t, 4);
}
void sim_buf_str(sim_buf *b, const char *s) { sim_buf_put(b, s, strlen(s)); }

void sim_buf_printf(sim_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sim_buf_reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sim_buf_hex(sim_buf *b, const uint8_t *p, size_t n)
{
    if (sim_buf_reserve(b, 2 * n + 1) != 0)
        return;
    sim_hex((char *)b->p + b->len, p, n);
    b->len += 2 * n;
}

sim_rc sim_buf_check(const sim_buf *b, sim_err *err)
{
    return b->oom ? sim_errf(err, SIM_ENOMEM, "out of memory building a buffer") : SIM_OK;
}

void sim_hex(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int nib(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

sim_rc sim_unhex(const char *s, uint8_t *out, size_t cap, size_t *outlen, sim_err *err)
{
    size_t n = strlen(s);
    if (n % 2)
        return sim_errf(err, SIM_EPARSE, "hex: odd number of digits (%zu)", n);
    if (n / 2 > cap)
        return sim_errf(err, SIM_ELIMIT, "hex: %zu bytes do not fit in %zu", n / 2, cap);
    for (size_t i = 0; i < n / 2; i++) {
        int h = nib(s[2 * i]), l = nib(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return sim_errf(err, SIM_EPARSE, "hex: bad digit at offset %zu", 2 * i);
        out[i] = (uint8_t)(h << 4 | l);
    }
    if (outlen)
        *outlen = n / 2;
    return SIM_OK;
}

sim_rc sim_unhex_buf(const char *s, size_t n, sim_buf *out, sim_err *err)
{
    if (n % 2)
        return sim_errf(err, SIM_EPARSE, "hex: odd number of digits (%zu)", n);
    if (sim_buf_reserve(out, n / 2) != 0)
        return sim_errf(err, SIM_ENOMEM, "hex: out of memory");
    for (size_t i = 0; i < n / 2; i++) {
        int h = nib(s[2 * i]), l = nib(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return sim_errf(err, SIM_EPARSE, "hex: bad digit at offset %zu", 2 * i);
        out->p[out->len++] = (uint8_t)(h << 4 | l);
    }
    return SIM_OK;
}

uint64_t sim_be40(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 5; i++)
        v = v << 8 | p[i];
    return v;
}

void sim_put_be40(uint8_t *p, uint64_t v)
{
    for (int i = 4; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

sim_rc sim_read_file(const char *path, sim_buf *out, sim_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sim_errf(err, SIM_EIO, "opening %s: %s", path, strerror(errno));
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (out->len + n > (64u << 20)) {
            fclose(f);
            return sim_errf(err, SIM_ELIMIT, "reading %s: larger than 64 MiB", path);
        }
        sim_buf_put(out, tmp, n);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return sim_errf(err, SIM_EIO, "reading %s failed", path);
    return sim_buf_check(out, err);
}

sim_rc sim_write_file(const char *path, const void *p, size_t n, int mode, sim_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= sizeof tmp)
        return sim_errf(err, SIM_EINVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return sim_errf(err, SIM_EIO, "creating %s: %s", tmp, strerror(errno));
    fchmod(fd, (mode_t)mode);
    const uint8_t *q = p;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, q + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return sim_errf(err, SIM_EIO, "writing %s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sim_errf(err, SIM_EIO, "writing %s: %s", path, strerror(e));
    }
    return SIM_OK;
}
