/* mnokey: an MNO's transport key (the AES key its order files' op-enc and the MNO output files are
 * protected with) as an HSM token key <prefix>-mno-<mno>: sensitive, never extractable, usable for
 * encrypt (Ki/OPc for the MNO file), decrypt (op-enc) and derive (the file's CMAC key). Development
 * import from a hex file; production exchanges the key by ceremony (SECURITY.md). */
#ifndef SM_SMDP_MNOKEY_H
#define SM_SMDP_MNOKEY_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"

/* Parses a key file: 32, 48 or 64 hex digits (AES-128/192/256), blanks and line ends ignored, '#'
 * comment lines allowed. key must be locked memory of 32 bytes. SM_EPARSE without echoing content. */
sm_rc smdp_mnokey_parse(const char *text, size_t len, uint8_t key[32], size_t *keylen, sm_err *err);

/* Creates the token key <prefix>-mno-<mno> from key (SM_EEXIST when one exists: keys are never
 * replaced by an import). kcv gets its check value AES-ECB(key, 16 x 01)[0..3]. */
sm_rc smdp_mnokey_import(hsm_sess *s, const char *prefix, const char *mno, const uint8_t *key, size_t keylen,
                         char label[HSM_LABEL_MAX + 1], uint8_t kcv[3], sm_err *err);

#endif
