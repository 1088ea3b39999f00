/* scp03t: SCP03 applied to TLVs, as SGP.02 uses it for the ES8 profile download (crypto.md §4):
 * the 84 (INITIALIZE UPDATE) and 85 (EXTERNAL AUTHENTICATE) TLVs, segmenting a profile package into
 * 86 TLVs (C-DECRYPTION + C-MAC per segment, counter ICV, MAC chaining across the session), and the
 * card's response TLVs (86 00, 86 {R-ENC || R-MAC}, 9F4x errors).
 * One C_Encrypt and one C_Sign per segment; session keys stay in the HSM (crypto/scp03). */
#ifndef SM_CRYPTO_SCP03T_H
#define SM_CRYPTO_SCP03T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/scp03.h"
#include "lib/buf.h"

/* Plaintext bytes per 86 segment by default: pad80 gives 1008, + 8 MAC = 1016, so every TLV is
 * 86 82 03F8 + 1016 = 1020 bytes (the SGP.22 BSP segment limit; SGP.02's own is UNCONFIRMED). */
#define SCP03T_SEG_DEFAULT 1007
#define SCP03T_SEG_MAX 4096
#define SCP03T_PENDING_MAX 65536

typedef struct scp03t_pending {
    uint8_t mcv[16];  /* MCV after the command (R-MAC input) */
    uint32_t ctr;     /* its counter (R-ENC ICV) */
    uint8_t tag;
} scp03t_pending;

typedef struct scp03t_session {
    scp03_session sc;
    size_t seg_max;            /* plaintext bytes per 86 TLV (1..SCP03T_SEG_MAX) */
    bool precomputed;          /* opened before the card's 84 answer (pseudo-random challenge) */
    bool iu_checked;
    uint8_t expect_cryptogram[8];
    scp03t_pending *pending;   /* protected TLVs sent and not yet answered, oldest first */
    size_t npending, pend_head, pend_cap;
    size_t segments_sent;
} scp03t_session;

/* 84 0A kvn 00 host_challenge (key id 00). */
sm_rc scp03t_init_update_tlv(uint8_t kvn, const uint8_t host_challenge[8], sm_buf *out, sm_err *err);
/* Parses the card's 84 20 <INITIALIZE UPDATE response> TLV; 9F4x errors give SM_EPROTO. */
sm_rc scp03t_parse_init_update(const uint8_t *p, size_t len, scp03_iu *iu, sm_err *err);

/* Opens with the card's 84 answer (card cryptogram verified). */
sm_rc scp03t_open(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                  const uint8_t host_challenge[8], const scp03_iu *iu, scp03t_session *ss, sm_err *err);
/* Opens before the answer, from the ISD-P's sequence counter and AID (pseudo-random card challenge,
 * i = 70), so 84, 85 and the 86 TLVs can go in one script; scp03t_check_init_update must then
 * accept the card's 84 answer before any response is trusted. */
sm_rc scp03t_open_precomputed(hsm_sess *s, const hsm_key *kenc, const hsm_key *kmac, unsigned keylen,
                              const uint8_t host_challenge[8], const uint8_t seq[3], const uint8_t *aid,
                              size_t aidlen, scp03t_session *ss, sm_err *err);
sm_rc scp03t_check_init_update(scp03t_session *ss, const scp03_iu *iu, sm_err *err);
/* Over given session keys and initial MCV (tests, the SGP.22 BSP vectors). */
void scp03t_session_from_keys(const hsm_key *s_enc, const hsm_key *s_mac, const hsm_key *s_rmac,
                              const uint8_t mcv[16], scp03t_session *ss);

/* 85 11 sl host_cryptogram MAC; MAC = CMAC(S-MAC, 16 x 00 || 85 11 sl host_cryptogram). */
sm_rc scp03t_ext_auth_tlv(hsm_sess *s, scp03t_session *ss, uint8_t sl, sm_buf *out, sm_err *err);

/* One protected TLV: counter += 1; if encrypt, C = AES-CBC(S-ENC, AES(S-ENC, ctr), pad80(data)),
 * else C = data; MAC = CMAC(S-MAC, MCV || tag || len(C)+8 || C)[0..7]; MCV = full CMAC;
 * appends tag len C MAC. */
sm_rc scp03t_wrap_tlv(hsm_sess *s, scp03t_session *ss, uint8_t tag, bool encrypt, const uint8_t *data, size_t len,
                      sm_buf *out, sm_err *err);
/* Cuts a profile package into seg_max-byte segments, each one encrypted 86 TLV, appended to out. */
sm_rc scp03t_protect(hsm_sess *s, scp03t_session *ss, const uint8_t *pkg, size_t len, sm_buf *out, sm_err *err);

/* Checks the card's response TLVs in order (84 answers excepted: see scp03t_parse_init_update):
 * 85 00, 86 00, 86 {encrypted data || R-MAC} (R-MAC = CMAC(S-RMAC, MCV || 86 || len || data)[0..7]
 * with the MCV of the matching command, then R-ENC decrypted and appended to plain), 9F4x 01 rr
 * errors (SM_EPROTO naming the reason). SM_EVERIFY on a bad R-MAC. */
sm_rc scp03t_check_responses(hsm_sess *s, scp03t_session *ss, const uint8_t *p, size_t len, sm_buf *plain,
                             sm_err *err);

void scp03t_close(hsm_sess *s, scp03t_session *ss);

#endif
