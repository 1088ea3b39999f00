/* prim: symmetric primitives the card needs, on plain OpenSSL: AES-ECB/CBC, AES-CMAC (SP 800-38B),
 * ANSI X9.63 KDF, SCP03 KDF (SP 800-108 counter mode), pad80, AES key wrap with padding (RFC 5649). */
#ifndef SIM_PRIM_H
#define SIM_PRIM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/sim/buf.h"

/* One AES block encrypt (klen 16/24/32). */
sim_rc sim_aes_ecb(const uint8_t *key, size_t klen, const uint8_t in[16], uint8_t out[16], sim_err *err);
/* AES-CBC without padding; len must be a multiple of 16; out may equal in. */
sim_rc sim_aes_cbc(int enc, const uint8_t *key, size_t klen, const uint8_t iv[16], const uint8_t *in,
                   size_t len, uint8_t *out, sim_err *err);

typedef struct sim_cmac {
    EVP_CIPHER_CTX *c;
    uint8_t k1[16], k2[16], x[16], last[16];
    size_t n;
} sim_cmac;
sim_rc sim_cmac_init(sim_cmac *m, const uint8_t *key, size_t klen, sim_err *err);
sim_rc sim_cmac_update(sim_cmac *m, const void *p, size_t n, sim_err *err);
/* Writes the full 16-byte tag and frees the context. */
sim_rc sim_cmac_final(sim_cmac *m, uint8_t out[16], sim_err *err);
void sim_cmac_abort(sim_cmac *m);
/* One-shot CMAC. */
sim_rc sim_cmac1(const uint8_t *key, size_t klen, const void *p, size_t n, uint8_t out[16], sim_err *err);

/* ANSI X9.63 KDF with SHA-256: out = SHA256(Z||ctr||info)... truncated to outlen. */
sim_rc sim_x963_kdf(const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen, uint8_t *out,
                    size_t outlen, sim_err *err);
/* SCP03 KDF (GP Amd D 4.1.5): CMAC(K, 11x00||dc||00||L||i||ctx); outbits 64 or 128 (or 192/256). */
sim_rc sim_scp03_kdf(const uint8_t *key, size_t klen, uint8_t dc, const uint8_t *ctx, size_t ctxlen,
                     unsigned outbits, uint8_t *out, sim_err *err);

sim_rc sim_sha256(const void *p, size_t n, uint8_t out[32], sim_err *err);

/* Appends 80 00.. to a multiple of 16 (always >= 1 byte). */
void sim_pad80(sim_buf *b);
/* Returns the unpadded length or SIM_EPARSE. */
sim_rc sim_unpad80(const uint8_t *p, size_t len, size_t *outlen, sim_err *err);

/* RFC 5649 AES key wrap with padding under kek (16/24/32 bytes). */
sim_rc sim_kwp_wrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n, sim_buf *out, sim_err *err);
sim_rc sim_kwp_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n, sim_buf *out, sim_err *err);

/* GP key check value for AES keys: first 3 bytes of AES(key, 16 x 01). */
sim_rc sim_kcv_aes(const uint8_t *key, size_t klen, uint8_t kcv[3], sim_err *err);

sim_rc sim_random(void *p, size_t n, sim_err *err);

/* Constant-time compare; 0 when equal. */
int sim_memneq(const void *a, const void *b, size_t n);

#endif
