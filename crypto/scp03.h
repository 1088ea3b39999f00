/* scp03: GlobalPlatform SCP03 (Card Spec Amendment D), off-card (host) side, APDU mode — the
 * SP 800-108 KDF, cryptograms, C-MAC chaining, C-DECRYPTION, R-MAC and R-ENC, security levels.
 *
 * Session keys never leave the HSM: with CKM_AES_ECB_ENCRYPT_DATA (hsm caps aes_ecb_encrypt_data)
 * a 128-bit session key is derived inside the token as AES-ECB(K, C1 ^ M2 ^ K1), which is the
 * CMAC of the 32-byte KDF input; otherwise (or for 192/256-bit keys) the CMAC output passes through
 * locked memory and is imported straight back (SECURITY.md, "SCP03 session-key fallback").
 * A session's keys are session objects of the hsm_sess that opened it: use that one throughout. */
#ifndef SM_CRYPTO_SCP03_H
#define SM_CRYPTO_SCP03_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "lib/err.h"

/* KDF derivation constants (crypto.md §3.1) */
#define SCP03_DC_CARD_CRYPTO 0x00
#define SCP03_DC_HOST_CRYPTO 0x01
#define SCP03_DC_CARD_CHALLENGE 0x02
#define SCP03_DC_S_ENC 0x04
#define SCP03_DC_S_MAC 0x06
#define SCP03_DC_S_RMAC 0x07

/* Security levels (EXTERNAL AUTHENTICATE P1) */
#define SCP03_SL_CMAC 0x01
#define SCP03_SL_CDEC 0x02
#define SCP03_SL_RMAC 0x10
#define SCP03_SL_RENC 0x20

/* The INITIALIZE UPDATE response (data field, without SW). */
typedef struct scp03_iu {
    uint8_t div_data[10];
    uint8_t kvn;
    uint8_t scp_id;          /* 03 */
    uint8_t i;               /* i parameter; SGP.02 ISD-Ps use 70 */
    uint8_t card_challenge[8];
    uint8_t card_cryptogram[8];
    bool has_seq;            /* pseudo-random card challenge: 3-byte sequence counter follows */
    uint8_t seq[3];
} scp03_iu;

typedef struct scp03_session {
    hsm_key s_enc, s_mac, s_rmac;
    unsigned keylen;         /* 16, 24 or 32 */
    uint8_t host_challenge[8];
    uint8_t card_challenge[8];
    uint8_t host_cryptogram[8];
    uint8_t mcv[16];         /* MAC chaining value */
    uint32_t ctr;            /* encryption counter of the last protected command */
    uint8_t sl;              /* security level after EXTERNAL AUTHENTICATE */
    bool authenticated;
    bool owns_keys;          /* scp03_close destroys the session keys */
} scp03_session;

/* Key templates: static K-ENC / K-MAC (encrypt for the in-token KDF and the KCV, sign for CMAC,
 * derive), K-DEK (encrypt/decrypt). `wrappable` for keys stored wrapped in the database. */
void scp03_static_keyspec(unsigned len, bool wrappable, hsm_keyspec *out);
void scp03_dek_keyspec(unsigned len, bool wrappable, hsm_keyspec *out);

/* SP 800-108 counter-mode KDF with AES-CMAC, for public outputs (cryptograms, pseudo-random card
 * challenge): bits of output (64 or 128 typically) into out. Key needs HSM_U_SIGN. */
sm_rc scp03_kdf(hsm_sess *s, const hsm_key *k, uint8_t constant, const uint8_t *context, size_t ctxlen,
                unsigned bits, uint8_t *out, sm_err *err);
/* The same KDF into a new AES session key of spec->len bytes that stays in the HSM (see top). */
sm_rc scp03_kdf_key(hsm_sess *s, const hsm_key *k, uint8_t constant, const uint8_t *context, size_t ctxlen,
                    const hsm_keyspec *spec, hsm_key *out, sm_err *err);

/* Pseudo-random card challenge: KDF(K-ENC, 02, seq(3) || AID, 64). */
sm_rc scp03_card_challenge(hsm_sess *s, const hsm_key *kenc, const uint8_t seq[3], const uint8_t *aid,
                           size_t aidlen, uint8_t out[8], sm_err *err);
/* Key check value: the first 3 bytes of AES-ECB(key, 16 x 01). Key needs HSM_U_ENCRYPT. */
sm_rc scp03_kcv(hsm_sess *s, const hsm_key *k, uint8_t out[3], sm_err *err);

/* INITIALIZE UPDATE: 80 50 kvn 00 08 host_challenge 00 (14 bytes). */
void scp03_init_update_apdu(uint8_t kvn, const uint8_t host_challenge[8], uint8_t out[14]);
/* Parses the response data (29 bytes, or 32 with the sequence counter). */
sm_rc scp03_parse_init_update(const uint8_t *data, size_t len, scp03_iu *out, sm_err *err);

/* Derives S-ENC, S-MAC, S-RMAC from the static keys and the challenges, checks the card
 * cryptogram (SM_EVERIFY if wrong, keys destroyed) and computes the host cryptogram. */
sm_rc scp03_open(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                 const uint8_t host_challenge[8], const scp03_iu *iu, scp03_session *ss, sm_err *err);
/* The same with the challenges given directly: checks the card cryptogram against `expect` unless
 * NULL, and returns the computed one in card_cryptogram unless NULL (precomputed SCP03t sessions). */
sm_rc scp03_open_ex(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                    const uint8_t host_challenge[8], const uint8_t card_challenge[8], const uint8_t *expect,
                    uint8_t card_cryptogram[8], scp03_session *ss, sm_err *err);
/* A session over given session keys (tools, tests); the keys stay the caller's. mcv and ctr set the
 * chaining state; the session counts as authenticated at level sl. */
void scp03_session_from_keys(const hsm_key *s_enc, const hsm_key *s_mac, const hsm_key *s_rmac, unsigned keylen,
                             uint8_t sl, const uint8_t mcv[16], uint32_t ctr, scp03_session *ss);

/* EXTERNAL AUTHENTICATE 84 82 sl 00 10 host_cryptogram C-MAC (21 bytes); sets the MCV and level.
 * Valid levels: 01, 03, 11, 13, 33. */
sm_rc scp03_ext_auth(hsm_sess *s, scp03_session *ss, uint8_t sl, uint8_t out[21], sm_err *err);

/* Protects one short command APDU (cases 1-4) at the session's level: C-DECRYPTION of the data
 * (counter ICV, pad80) when the level has it, then the C-MAC over CLA' INS P1 P2 Lc' data'.
 * out needs len + 16 + 8 + 1 bytes at most; SM_EINVAL if the result would exceed Lc 255. */
sm_rc scp03_wrap(hsm_sess *s, scp03_session *ss, const uint8_t *apdu, size_t len, uint8_t *out, size_t cap,
                 size_t *outlen, sm_err *err);
/* Checks a response (data || [R-MAC] || SW1 SW2) at the session's level: R-MAC (on 9000, 62xx,
 * 63xx) and R-ENC. out gets plain data || SW. SM_EVERIFY on a bad R-MAC or padding. */
sm_rc scp03_unwrap(hsm_sess *s, scp03_session *ss, const uint8_t *rsp, size_t len, uint8_t *out, size_t cap,
                   size_t *outlen, sm_err *err);

/* Destroys session keys the session owns and wipes the state. */
void scp03_close(hsm_sess *s, scp03_session *ss);

/* Internal to crypto/ (scp03t): the ICV-prefixed CBC encryption (one C_Encrypt: CBC with zero IV
 * over ctr-block || pad80(data) = ICV || C), the R-ENC ICV, and a CMAC with the chaining value. */
sm_rc scp03_encrypt_ctr(hsm_sess *s, const scp03_session *ss, uint32_t ctr, const uint8_t *data, size_t len,
                        uint8_t *out, size_t cap, size_t *outlen, sm_err *err);
sm_rc scp03_decrypt_resp(hsm_sess *s, const scp03_session *ss, uint32_t ctr, const uint8_t *in, size_t len,
                         uint8_t *out, size_t *outlen, sm_err *err);

#endif
