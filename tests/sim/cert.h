/* cert: GP Amendment E certificates (tag 7F21) as the card sees them: CERT.DP/SR.ECDSA (signed by
 * the CI) and CERT.ECASD.ECKA (signed by the EUM). Parse, verify (plain r||s over TLVs before 5F37), build. */
#ifndef SIM_CERT_H
#define SIM_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/sim/buf.h"

#define SIM_CERT_TYPE_SMDP 0x01
#define SIM_CERT_TYPE_SMSR 0x02

typedef struct sim_gpcert {
    const uint8_t *signed_data;     /* 7F21 value up to (excluding) 5F37 */
    size_t signed_len;
    const uint8_t *serial, *caid, *subject, *usage, *aki;
    size_t serial_len, caid_len, subject_len, usage_len, aki_len;
    uint8_t cert_type;              /* 73/C8, 0 when absent */
    char effective[9], expiry[9];   /* YYYYMMDD or "" */
    uint8_t pub[65];
    uint8_t curve;                  /* F0 */
    uint8_t sig[64];
    size_t total;                   /* bytes of the 7F21 TLV */
} sim_gpcert;

/* Parses one 7F21 TLV at the start of p (trailing bytes allowed; c->total says how many were used). */
sim_rc sim_gpcert_parse(const uint8_t *p, size_t n, sim_gpcert *c, sim_err *err);
/* Verifies the signature with the issuer's public key. */
sim_rc sim_gpcert_verify(const sim_gpcert *c, EVP_PKEY *issuer, sim_err *err);

typedef struct sim_gpcert_tmpl {
    const uint8_t *serial; size_t serial_len;
    const uint8_t *caid; size_t caid_len;       /* tag 42 */
    const uint8_t *subject; size_t subject_len; /* tag 5F20 */
    const uint8_t *usage; size_t usage_len;     /* tag 95 */
    const char *effective, *expiry;             /* YYYYMMDD */
    uint8_t cert_type;                          /* C8 inside 73, 0 = none */
    const uint8_t *aki; size_t aki_len;         /* C9 inside 73, may be NULL */
    EVP_PKEY *subject_key;                      /* public key to certify */
} sim_gpcert_tmpl;
sim_rc sim_gpcert_build(const sim_gpcert_tmpl *t, EVP_PKEY *issuer, sim_buf *out, sim_err *err);

/* 7F49 { B0 point, F0 curve } for a key. */
sim_rc sim_gp_pubkey_tlv(EVP_PKEY *k, sim_buf *out, sim_err *err);
/* Parses a 7F49 value. */
sim_rc sim_gp_pubkey_parse(const uint8_t *v, size_t n, uint8_t pt[65], uint8_t *curve, sim_err *err);

#endif
