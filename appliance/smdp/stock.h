/* stock: personalised packages at rest. Sealing = AES-256-GCM by the HSM under the
 * profile-protection key (<prefix>-profile, appliance/keyring.h), a fresh random 96-bit IV per
 * package, and AAD = ICCID || 0x00 || template id, which binds the ciphertext to its profile.
 * Unsealing verifies the tag and decrypts into locked memory only.
 *
 * A sealed package is not secret (store it as it is); the AAD is rebuilt from the row's ICCID
 * and template id with smdp_seal_aad, so a ciphertext moved to another row fails to unseal. */
#ifndef SM_SMDP_STOCK_H
#define SM_SMDP_STOCK_H

#include <stddef.h>
#include <stdint.h>

#include "appliance/smdp/secbuf.h"
#include "hsm/hsm.h"
#include "lib/err.h"

#define SMDP_SEAL_IV 12
#define SMDP_SEAL_TAG 16
#define SMDP_TEMPLATE_ID_MAX 64

typedef struct smdp_sealed {
    uint8_t iv[SMDP_SEAL_IV];
    uint8_t *ct;    /* ciphertext || 16-byte tag (malloc'd) */
    size_t ctlen;
    uint8_t *aad;   /* ICCID || 00 || template id (malloc'd) */
    size_t aadlen;
} smdp_sealed;

/* Finds the profile-protection key <prefix>-profile in the token. */
sm_rc smdp_stock_key(hsm_sess *s, const char *prefix, hsm_key *out, sm_err *err);

/* AAD of a profile: ICCID (18..20 digits) || 0x00 || template id (1..64 printable ASCII). */
sm_rc smdp_seal_aad(const char *iccid, const char *template_id, uint8_t *out, size_t cap, size_t *len,
                    sm_err *err);

/* Seals pkg (the personalised package, in locked memory) under key k. */
sm_rc smdp_seal(hsm_sess *s, const hsm_key *k, const char *iccid, const char *template_id, const uint8_t *pkg,
                size_t len, smdp_sealed *out, sm_err *err);

/* Verifies and decrypts into *out (locked; free with smdp_secbuf_free). SM_EVERIFY when the
 * ciphertext, tag, IV or AAD was changed or the key is another. */
sm_rc smdp_unseal(hsm_sess *s, const hsm_key *k, const smdp_sealed *in, smdp_secbuf *out, sm_err *err);

void smdp_sealed_free(smdp_sealed *s);

#endif
