/* ec: elliptic-curve keys for the card and the test PKI (P-256, brainpoolP256r1): key generation,
 * raw point/scalar import-export, ECDSA-SHA256 with plain r||s signatures, ECDH x-coordinate. */
#ifndef SIM_EC_H
#define SIM_EC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/sim/err.h"

/* GP Amd E curve parameter references (tag F0 inside 7F49). */
#define SIM_CURVE_P256 0x00
#define SIM_CURVE_BP256R1 0x03

const char *sim_ec_curve_name(uint8_t ref); /* NULL if unsupported */
sim_rc sim_ec_keygen(uint8_t ref, EVP_PKEY **out, sim_err *err);
/* Uncompressed point 04||X||Y (65 bytes). */
sim_rc sim_ec_pub_point(const EVP_PKEY *k, uint8_t pt[65], sim_err *err);
/* Public key from an uncompressed point; rejects points not on the curve. */
sim_rc sim_ec_pub_from_point(uint8_t ref, const uint8_t *pt, size_t n, EVP_PKEY **out, sim_err *err);
/* Private scalar (32 bytes) export/import; import computes the public point. */
sim_rc sim_ec_priv_bytes(const EVP_PKEY *k, uint8_t d[32], sim_err *err);
sim_rc sim_ec_priv_from_bytes(uint8_t ref, const uint8_t d[32], EVP_PKEY **out, sim_err *err);
/* Curve reference of a key (SIM_CURVE_*) or -1. */
int sim_ec_curve_ref(const EVP_PKEY *k);

sim_rc sim_ecdsa_sign(EVP_PKEY *k, const void *msg, size_t n, uint8_t sig[64], sim_err *err);
/* SIM_OK if valid, SIM_EVERIFY otherwise. sig is r||s (64 bytes). */
sim_rc sim_ecdsa_verify(EVP_PKEY *pub, const void *msg, size_t n, const uint8_t *sig, size_t siglen,
                        sim_err *err);
/* DER <-> plain conversion (32-byte coordinates). */
sim_rc sim_sig_der_to_plain(const uint8_t *der, size_t n, uint8_t sig[64], sim_err *err);
/* ECDH: x-coordinate of priv*peer, 32 bytes. */
sim_rc sim_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[32], sim_err *err);

#endif
