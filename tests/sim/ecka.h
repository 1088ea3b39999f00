/* ecka: the card side of GP Amd E key establishment "Scenario #3" (ECKA-EG): certificate of the
 * off-card entity (DGI 3A01), then CRT + ePK + signature (DGI 3A02) -> ECDH, X9.63 KDF, key split, receipt. */
#ifndef SIM_ECKA_H
#define SIM_ECKA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tests/sim/buf.h"

typedef struct sim_ecka_state {
    EVP_PKEY *oce_pub;   /* PK.DP/SR.ECDSA from the verified certificate */
    uint8_t cert_type;
    uint8_t rc[16];
    int have_rc;
    uint8_t fixed_rc[16]; int use_fixed_rc; /* tools / cross-checks only */
    uint8_t fixed_dr[16]; int use_fixed_dr;
} sim_ecka_state;

typedef struct sim_ecka_result {
    uint8_t scenario_param, qualifier, key_type, key_len, key_id, kvn;
    uint8_t nkeys;
    uint8_t keys[3][16];  /* in key-id order (ENC/MAC/DEK or KIc/KID/DEK) */
    uint8_t receipt_key[16];
    uint8_t receipt[16];
    uint8_t dr[16]; size_t drlen;
    uint8_t counter[8]; size_t counterlen; /* CRT tag 91 */
    uint8_t shs[32];
} sim_ecka_result;

void sim_ecka_reset(sim_ecka_state *st);

/* DGI 3A01: parses and verifies the 7F21 certificate with the CI key, checks its type, stores the
 * OCE key and appends "85 10 RC" to resp. */
sim_rc sim_ecka_certificate(sim_ecka_state *st, EVP_PKEY *ci, uint8_t expected_type, const uint8_t *cert,
                            size_t n, sim_buf *resp, sim_err *err);
/* DGI 3A02 (value = A6 CRT) followed by 7F49 and 5F37 in the same data field: `data` is the whole
 * data field starting at the 3A02 DGI. sin/sdin are used when scenario bit 04 is set. Appends
 * [85 L DR] 86 10 receipt to resp. The RC is consumed whatever the outcome. */
sim_rc sim_ecka_establish(sim_ecka_state *st, EVP_PKEY *ecasd, uint8_t expected_qualifier, const uint8_t *data,
                          size_t n, const uint8_t *sin, size_t sinlen, const uint8_t *sdin, size_t sdinlen,
                          sim_ecka_result *res, sim_buf *resp, sim_err *err);

#endif
