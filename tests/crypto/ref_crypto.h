/* ref_crypto: an independent reference of the primitives and packet formats crypto/ implements,
 * written with plain OpenSSL for the tests only (no crypto/ or hsm/ code). Tests include
 * ref_crypto.c and compare crypto/ (through the HSM) against it in the same run. */
#ifndef SM_TEST_REF_CRYPTO_H
#define SM_TEST_REF_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

void ref_aes_cmac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen, uint8_t out[16]);
void ref_aes_ecb(const uint8_t *key, size_t klen, const uint8_t in[16], uint8_t out[16]);
void ref_aes_cbc(int enc, const uint8_t *key, size_t klen, const uint8_t iv[16], const uint8_t *in, size_t len,
                 uint8_t *out);
void ref_des3_cbc(int enc, const uint8_t *key, size_t klen, const uint8_t iv[8], const uint8_t *in, size_t len,
                  uint8_t *out);
/* CBC-MAC, zero IV, message zero-padded to 8: the last cipher block. */
void ref_des3_cbc_mac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t len, uint8_t out[8]);
/* SCP03 KDF (NIST SP 800-108 counter mode, AES-CMAC), bits of output. */
void ref_scp03_kdf(const uint8_t *key, size_t klen, uint8_t constant, const uint8_t *ctx, size_t ctxlen,
                   unsigned bits, uint8_t *out);
void ref_x963(const uint8_t *z, size_t zlen, const uint8_t *info, size_t ilen, uint8_t *out, size_t outlen);
/* KCV: first 3 bytes of AES-ECB(key, 16 x 01). */
void ref_kcv(const uint8_t *key, size_t klen, uint8_t out[3]);

/* EC test keys */
EVP_PKEY *ref_ec_gen(const char *group);
EVP_PKEY *ref_ec_from_priv(const char *group, const uint8_t d[32]);
void ref_ec_priv(const EVP_PKEY *k, uint8_t d[32]);
void ref_ec_pub(const EVP_PKEY *k, uint8_t pt[65]);
/* x coordinate of priv * peer */
int ref_ecdh(const EVP_PKEY *priv, const char *group, const uint8_t peer[65], uint8_t z[32]);
void ref_ecdsa_sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64]);
int ref_ecdsa_verify_raw(const char *group, const uint8_t pub[65], const uint8_t *msg, size_t len,
                         const uint8_t sig[64]);

/* X.509 CA certificate for a test PKI: subject key, CN, issuer (NULL = self-signed), validity
 * as offsets in days from now, CA flag and keyCertSign; DER into a malloc'd buffer. */
typedef struct ref_x509_opts {
    long days_from, days_to;
    bool ca;
    bool key_cert_sign;
    bool ski;
    const char *md; /* "SHA256" by default */
} ref_x509_opts;
int ref_x509_make(EVP_PKEY *subject, const char *cn, EVP_PKEY *issuer_key, const uint8_t *issuer_der,
                  size_t issuer_len, const ref_x509_opts *o, uint8_t **der, size_t *len);
/* SubjectKeyIdentifier of a DER certificate (20 bytes, SHA-1 of the key) */
size_t ref_x509_ski(const uint8_t *der, size_t len, uint8_t *out);

/* SCP03 command wrapping (C-MAC, optional C-DECRYPTION), independent of crypto/scp03. */
typedef struct ref_scp03 {
    uint8_t senc[32], smac[32], srmac[32];
    size_t klen;
    uint8_t mcv[16];
    uint32_t ctr;
    uint8_t sl;
} ref_scp03;
size_t ref_scp03_wrap(ref_scp03 *r, const uint8_t *apdu, size_t len, uint8_t *out);

/* SCP80 command packet (CPL..end) with AES (KIc/KID algo 2) or 2/3-key 3DES (algo 5/9). */
size_t ref_scp80_packet(const uint8_t spi[2], uint8_t kic, uint8_t kid, const uint8_t tar[3], uint64_t cntr,
                        const uint8_t *kic_key, size_t kic_len, const uint8_t *kid_key, size_t kid_len,
                        const uint8_t *data, size_t dlen, uint8_t *out);

#endif
