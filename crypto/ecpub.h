/* ecpub: public-key EC work with OpenSSL (the one thing crypto/ may do outside the HSM): points,
 * curve names, ECDSA verification with plain r||s signatures, point validation. */
#ifndef SM_CRYPTO_ECPUB_H
#define SM_CRYPTO_ECPUB_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "hsm/hsm.h"
#include "lib/err.h"

/* "prime256v1" or "brainpoolP256r1". */
const char *ecpub_group_name(hsm_curve c);
/* EVP_PKEY for an uncompressed 65-byte point; SM_EVERIFY if the point is not on the curve. */
sm_rc ecpub_pkey(hsm_curve c, const uint8_t *point, size_t len, EVP_PKEY **out, sm_err *err);
/* SM_OK when point is a valid uncompressed point of curve c (on the curve, not infinity). */
sm_rc ecpub_check_point(hsm_curve c, const uint8_t *point, size_t len, sm_err *err);
/* ECDSA SHA-256 over msg with a plain r||s signature (64 bytes). SM_EVERIFY if it does not verify. */
sm_rc ecpub_verify_raw(hsm_curve c, const uint8_t *point, size_t plen, const uint8_t *msg, size_t mlen,
                       const uint8_t *sig, size_t siglen, sm_err *err);
/* Point and curve of an EC EVP_PKEY on P-256 or brainpoolP256r1; SM_EVERIFY for other keys. */
sm_rc ecpub_from_pkey(const EVP_PKEY *pk, uint8_t pub[65], hsm_curve *curve, sm_err *err);

#endif
