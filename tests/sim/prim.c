/* prim: AES, CMAC, KDFs and key wrap on OpenSSL 3 (ciphers fetched once per process). */
#include "tests/sim/prim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static EVP_CIPHER *ecb[3], *cbc[3], *kwpc[3];
static EVP_MD *sha256;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void release(void)
{
    for (int i = 0; i < 3; i++) {
        EVP_CIPHER_free(ecb[i]);
        EVP_CIPHER_free(cbc[i]);
        EVP_CIPHER_free(kwpc[i]);
    }
    EVP_MD_free(sha256);
}

static void fetch_all(void)
{
    static const char *const e[3] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"};
    static const char *const c[3] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
    static const char *const w[3] = {"AES-128-WRAP-PAD", "AES-192-WRAP-PAD", "AES-256-WRAP-PAD"};
    for (int i = 0; i < 3; i++) {
        ecb[i] = EVP_CIPHER_fetch(NULL, e[i], NULL);
        cbc[i] = EVP_CIPHER_fetch(NULL, c[i], NULL);
        kwpc[i] = EVP_CIPHER_fetch(NULL, w[i], NULL);
    }
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    atexit(release);
}

static int kidx(size_t klen)
{
    return klen == 16 ? 0 : klen == 24 ? 1 : klen == 32 ? 2 : -1;
}

static const EVP_CIPHER *pick(EVP_CIPHER **tab, size_t klen)
{
    pthread_once(&once, fetch_all);
    int i = kidx(klen);
    return i < 0 ? NULL : tab[i];
}

sim_rc sim_aes_ecb(const uint8_t *key, size_t klen, const uint8_t in[16], uint8_t out[16], sim_err *err)
{
    const EVP_CIPHER *ci = pick(ecb, klen);
    if (!ci)
        return sim_errf(err, SIM_EINVAL, "aes: key length %zu not supported", klen);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c && EVP_EncryptInit_ex2(c, ci, key, NULL, NULL) && EVP_CIPHER_CTX_set_padding(c, 0) &&
                    EVP_EncryptUpdate(c, out, &n, in, 16) && n == 16;
    EVP_CIPHER_CTX_free(c);
    return ok ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "aes-ecb failed");
}

sim_rc sim_aes_cbc(int enc, const uint8_t *key, size_t klen, const uint8_t iv[16], const uint8_t *in,
                   size_t len, uint8_t *out, sim_err *err)
{
    const EVP_CIPHER *ci = pick(cbc, klen);
    if (!ci)
        return sim_errf(err, SIM_EINVAL, "aes: key length %zu not supported", klen);
    if (len % 16)
        return sim_errf(err, SIM_EINVAL, "aes-cbc: length %zu is not a multiple of 16", len);
    if (len == 0)
        return SIM_OK;
    if (len > INT32_MAX)
        return sim_errf(err, SIM_ELIMIT, "aes-cbc: input too long");
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c && EVP_CipherInit_ex2(c, ci, key, iv, enc, NULL) && EVP_CIPHER_CTX_set_padding(c, 0) &&
                    EVP_CipherUpdate(c, out, &n, in, (int)len) && (size_t)n == len;
    EVP_CIPHER_CTX_free(c);
    return ok ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "aes-cbc failed");
}

static void dbl(uint8_t o[16], const uint8_t in[16])
{
    uint8_t carry = in[0] >> 7;
    for (int i = 0; i < 15; i++)
        o[i] = (uint8_t)(in[i] << 1 | in[i + 1] >> 7);
    o[15] = (uint8_t)(in[15] << 1);
    if (carry)
        o[15] ^= 0x87;
}

static int blk(EVP_CIPHER_CTX *c, uint8_t io[16])
{
    int n = 0;
    return EVP_EncryptUpdate(c, io, &n, io, 16) && n == 16;
}

sim_rc sim_cmac_init(sim_cmac *m, const uint8_t *key, size_t klen, sim_err *err)
{
    memset(m, 0, sizeof *m);
    const EVP_CIPHER *ci = pick(ecb, klen);
    if (!ci)
        return sim_errf(err, SIM_EINVAL, "cmac: key length %zu not supported", klen);
    m->c = EVP_CIPHER_CTX_new();
    uint8_t l[16] = {0};
    if (!m->c || !EVP_EncryptInit_ex2(m->c, ci, key, NULL, NULL) || !EVP_CIPHER_CTX_set_padding(m->c, 0) ||
        !blk(m->c, l)) {
        sim_cmac_abort(m);
        return sim_errf(err, SIM_ECRYPTO, "cmac: cipher set-up failed");
    }
    dbl(m->k1, l);
    dbl(m->k2, m->k1);
    OPENSSL_cleanse(l, sizeof l);
    return SIM_OK;
}

sim_rc sim_cmac_update(sim_cmac *m, const void *p, size_t n, sim_err *err)
{
    const uint8_t *q = p;
    while (n > 0) {
        if (m->n == 16) { /* more data follows: the buffered block is not the last one */
            for (int i = 0; i < 16; i++)
                m->x[i] ^= m->last[i];
            if (!blk(m->c, m->x))
                return sim_errf(err, SIM_ECRYPTO, "cmac: block encrypt failed");
            m->n = 0;
        }
        size_t t = 16 - m->n < n ? 16 - m->n : n;
        memcpy(m->last + m->n, q, t);
        m->n += t;
        q += t;
        n -= t;
    }
    return SIM_OK;
}

sim_rc sim_cmac_final(sim_cmac *m, uint8_t out[16], sim_err *err)
{
    const uint8_t *k = m->k1;
    if (m->n < 16) {
        m->last[m->n] = 0x80;
        memset(m->last + m->n + 1, 0, 15 - m->n);
        k = m->k2;
    }
    for (int i = 0; i < 16; i++)
        m->x[i] ^= m->last[i] ^ k[i];
    int ok = blk(m->c, m->x);
    memcpy(out, m->x, 16);
    sim_cmac_abort(m);
    return ok ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "cmac: final block failed");
}

void sim_cmac_abort(sim_cmac *m)
{
    EVP_CIPHER_CTX_free(m->c);
    OPENSSL_cleanse(m, sizeof *m);
}

sim_rc sim_cmac1(const uint8_t *key, size_t klen, const void *p, size_t n, uint8_t out[16], sim_err *err)
{
    sim_cmac m;
    sim_rc rc = sim_cmac_init(&m, key, klen, err);
    if (rc)
        return rc;
    if ((rc = sim_cmac_update(&m, p, n, err)) != SIM_OK) {
        sim_cmac_abort(&m);
        return rc;
    }
    return sim_cmac_final(&m, out, err);
}

sim_rc sim_sha256(const void *p, size_t n, uint8_t out[32], sim_err *err)
{
    pthread_once(&once, fetch_all);
    unsigned int ol = 0;
    if (!sha256 || !EVP_Digest(p, n, out, &ol, sha256, NULL) || ol != 32)
        return sim_errf(err, SIM_ECRYPTO, "sha256 failed");
    return SIM_OK;
}

sim_rc sim_x963_kdf(const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen, uint8_t *out,
                    size_t outlen, sim_err *err)
{
    pthread_once(&once, fetch_all);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !sha256) {
        EVP_MD_CTX_free(c);
        return sim_errf(err, SIM_ECRYPTO, "x963 kdf: digest set-up failed");
    }
    uint32_t ctr = 1;
    size_t off = 0;
    int ok = 1;
    while (ok && off < outlen) {
        uint8_t cb[4], h[32];
        sim_put_be32(cb, ctr++);
        unsigned int hl = 0;
        ok = EVP_DigestInit_ex(c, sha256, NULL) && EVP_DigestUpdate(c, z, zlen) && EVP_DigestUpdate(c, cb, 4) &&
             (infolen == 0 || EVP_DigestUpdate(c, info, infolen)) && EVP_DigestFinal_ex(c, h, &hl);
        size_t t = outlen - off < 32 ? outlen - off : 32;
        memcpy(out + off, h, t);
        off += t;
        OPENSSL_cleanse(h, sizeof h);
    }
    EVP_MD_CTX_free(c);
    return ok ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "x963 kdf: digest failed");
}

sim_rc sim_scp03_kdf(const uint8_t *key, size_t klen, uint8_t dc, const uint8_t *ctx, size_t ctxlen,
                     unsigned outbits, uint8_t *out, sim_err *err)
{
    if (outbits == 0 || outbits > 256 || outbits % 8)
        return sim_errf(err, SIM_EINVAL, "scp03 kdf: output length %u bits not supported", outbits);
    uint8_t hdr[16] = {0};
    hdr[11] = dc;
    hdr[12] = 0x00;
    sim_put_be16(hdr + 13, (uint16_t)outbits);
    size_t outlen = outbits / 8, off = 0;
    for (uint8_t i = 1; off < outlen; i++) {
        hdr[15] = i;
        sim_cmac m;
        uint8_t t[16];
        sim_rc rc = sim_cmac_init(&m, key, klen, err);
        if (rc == SIM_OK && (rc = sim_cmac_update(&m, hdr, 16, err)) == SIM_OK &&
            (rc = sim_cmac_update(&m, ctx, ctxlen, err)) == SIM_OK)
            rc = sim_cmac_final(&m, t, err);
        else
            sim_cmac_abort(&m);
        if (rc)
            return rc;
        size_t n = outlen - off < 16 ? outlen - off : 16;
        memcpy(out + off, t, n);
        off += n;
    }
    return SIM_OK;
}

void sim_pad80(sim_buf *b)
{
    sim_buf_u8(b, 0x80);
    while (b->len % 16)
        sim_buf_u8(b, 0x00);
}

sim_rc sim_unpad80(const uint8_t *p, size_t len, size_t *outlen, sim_err *err)
{
    size_t i = len;
    while (i > 0 && p[i - 1] == 0x00 && len - i < 16)
        i--;
    if (i == 0 || p[i - 1] != 0x80 || len - i >= 16)
        return sim_errf(err, SIM_EPARSE, "pad80: no 80 padding marker in the last block");
    *outlen = i - 1;
    return SIM_OK;
}

static sim_rc kwp(int enc, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n, sim_buf *out,
                  sim_err *err)
{
    const EVP_CIPHER *ci = pick(kwpc, keklen);
    if (!ci)
        return sim_errf(err, SIM_EINVAL, "aes-kwp: KEK length %zu not supported", keklen);
    if (n == 0 || n > 4096)
        return sim_errf(err, SIM_EINVAL, "aes-kwp: input length %zu out of range", n);
    if (sim_buf_reserve(out, n + 16) != 0)
        return sim_errf(err, SIM_ENOMEM, "aes-kwp: out of memory");
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    int ok = c && EVP_CipherInit_ex2(c, ci, kek, NULL, enc, NULL) &&
             EVP_CipherUpdate(c, out->p + out->len, &l1, in, (int)n) &&
             EVP_CipherFinal_ex(c, out->p + out->len + l1, &l2);
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return enc ? sim_errf(err, SIM_ECRYPTO, "aes-kwp: wrap failed")
                   : sim_errf(err, SIM_EVERIFY, "aes-kwp: unwrap failed (wrong transport key or damaged value)");
    out->len += (size_t)(l1 + l2);
    return SIM_OK;
}

sim_rc sim_kwp_wrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n, sim_buf *out, sim_err *err)
{
    return kwp(1, kek, keklen, in, n, out, err);
}

sim_rc sim_kwp_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n, sim_buf *out, sim_err *err)
{
    return kwp(0, kek, keklen, in, n, out, err);
}

sim_rc sim_kcv_aes(const uint8_t *key, size_t klen, uint8_t kcv[3], sim_err *err)
{
    uint8_t ones[16], o[16];
    memset(ones, 1, sizeof ones);
    sim_rc rc = sim_aes_ecb(key, klen, ones, o, err);
    if (rc == SIM_OK)
        memcpy(kcv, o, 3);
    return rc;
}

sim_rc sim_random(void *p, size_t n, sim_err *err)
{
    if (n > INT32_MAX || RAND_bytes(p, (int)n) != 1)
        return sim_errf(err, SIM_ECRYPTO, "random: RAND_bytes failed");
    return SIM_OK;
}

int sim_memneq(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) != 0;
}
