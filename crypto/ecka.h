/* ecka: key establishment, GP Amendment E "Scenario #3" (ECKA-EG) as SGP.02 uses it, off-card side:
 * ES8.EstablishISDPKeySet (SM-DP -> ISD-P, SCP03 key set) and ES5.EstablishISDRKeySet at SM-SR
 * change (SM-SR -> ISD-R, SCP80 key set or SCP81 PSK) — crypto.md §2, procedures.md §3.B.
 *
 * Ephemeral key pair, signature, ECDH, X9.63 KDF and receipt check all run in the HSM; the new keys
 * are left there as session objects and, when a KEK is given, wrapped under it for the database. */
#ifndef SM_CRYPTO_ECKA_H
#define SM_CRYPTO_ECKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/gpcert.h"
#include "hsm/hsm.h"
#include "lib/buf.h"

/* Scenario parameter bits (CRT tag 90, second byte; crypto.md §2.2, UNCONFIRMED coding). */
#define ECKA_SC_REPLACE 0x01  /* delete/replace existing keys */
#define ECKA_SC_DR 0x02       /* the card's Derivation Random enters the KDF */
#define ECKA_SC_HOSTID 0x04   /* HostID, SIN and SDIN enter the KDF (84 / 45 in the CRT) */
#define ECKA_SC_CERTVER 0x08  /* certificate verification precedes */

#define ECKA_KU_KEYSET 0x10   /* tag 95: a key set (ENC/MAC/DEK, KIc/KID/DEK) */
#define ECKA_KU_SINGLE 0x5C   /* tag 95: one secure-channel key (SCP81 PSK) */

#define ECKA_KT_AES 0x88
#define ECKA_KT_PSK_TLS 0x85  /* GP key type "PSK for TLS"; not used by the presets (crypto.md §2.2
                                  lists 88 for the SM-SR change; Njiwa's PSK code UNCONFIRMED) */

#define ECKA_MAX_KEYS 3

typedef enum ecka_kind {
    ECKA_ISDP_SCP03 = 1,  /* ENC (01), MAC (02), DEK (03) */
    ECKA_ISDR_SCP80,      /* KIc (01), KID (02), DEK (03) */
    ECKA_ISDR_SCP81,      /* the PSK (01) */
} ecka_kind;

/* The key parameters (control reference template A6). Pointers must outlive the session. */
typedef struct ecka_params {
    ecka_kind kind;
    uint8_t scenario;          /* 90 03 <scenario> */
    uint8_t key_usage;         /* 95 */
    int key_access;            /* 96, -1 = absent */
    uint8_t key_type;          /* 80 */
    uint8_t key_len;           /* 81 (16) */
    uint8_t key_id;            /* 82, the first key's identifier */
    uint8_t kvn;               /* 83 */
    uint8_t seq[8];            /* 91 initial sequence counter: 0, 2, 3, 5 or 8 bytes */
    size_t seq_len;
    const uint8_t *host_id;    /* 84, with ECKA_SC_HOSTID */
    size_t host_id_len;
    const uint8_t *sin;        /* SharedInfo only, with ECKA_SC_HOSTID */
    size_t sin_len;
    const uint8_t *sdin;       /* 45 and SharedInfo, with ECKA_SC_HOSTID */
    size_t sdin_len;
    unsigned nkeys;            /* keys after the receipt key: 3, or 1 */
} ecka_params;

/* Presets. ISD-P: 90 0309 (replace + certificate verification), 95 10, 80 88, 81 10, 82 01,
 * 83 kvn (30..3F), 91 empty; 3 keys. ISD-R SCP80: 95 10, 96 00, KVN 01..0F, 91 = 5-byte counter.
 * ISD-R SCP81: 95 5C, 80 88 (AES-128 as the PSK), KVN 40..4F, one key. */
void ecka_params_isdp(uint8_t kvn, ecka_params *p);
void ecka_params_isdr_scp80(uint8_t kvn, uint64_t cntr, ecka_params *p);
void ecka_params_isdr_scp81(uint8_t kvn, ecka_params *p);

typedef struct ecka_session {
    ecka_params p;
    hsm_curve curve;
    uint8_t ecasd_pub[65];
    hsm_key esk;
    bool has_esk;
    uint8_t epk[65];
    uint8_t crt[160];          /* the A6 TLV exactly as sent */
    size_t crt_len;
    uint8_t rc[32];
    size_t rc_len;
    int state;                 /* 0 begun, 1 RC known, 2 3A02 built, 3 finished */
} ecka_session;

/* The outcome: keys in key-id order as HSM session objects, their wrapped blobs and KCVs. */
typedef struct ecka_result {
    unsigned nkeys;
    uint8_t kvn;
    uint8_t key_id[ECKA_MAX_KEYS];
    hsm_key keys[ECKA_MAX_KEYS];
    uint8_t wrapped[ECKA_MAX_KEYS][48];  /* RFC 5649 under the KEK (empty without a KEK) */
    size_t wrapped_len[ECKA_MAX_KEYS];
    uint8_t kcv[ECKA_MAX_KEYS][3];       /* AES-ECB(key, 16 x 01)[0..3] */
    bool has_dr;
    uint8_t dr[32];
    size_t dr_len;
} ecka_result;

/* Checks the parameters and takes PK.ECASD.ECKA and the curve from the eUICC certificate (which
 * the caller has verified with gpcert_verify_chain for GPCERT_P_ECASD). No HSM work. */
sm_rc ecka_begin(const ecka_params *p, const gpcert *ecasd, ecka_session *es, sm_err *err);

/* DGI 3A01 carrying the SM-DP / SM-SR certificate (7F21). */
sm_rc ecka_dgi_3a01(const uint8_t *own_cert, size_t len, sm_buf *out, sm_err *err);
/* The card's answer to 3A01: 85 L RC (16 or 32 bytes). */
sm_rc ecka_parse_3a01_response(ecka_session *es, const uint8_t *data, size_t len, sm_err *err);
/* Generates the ephemeral key pair in the HSM on the ECASD's curve and appends the 3A02 data:
 * DGI 3A02 {A6 CRT} || 7F49 {B0 ePK || F0 curve} || 5F37 signature, the signature (ECDSA SHA-256,
 * r||s, by the static key sk) over 3A02 L A6.. || 7F49 L .. || 0085 L RC (crypto.md §2.1). */
sm_rc ecka_dgi_3a02(hsm_sess *s, ecka_session *es, const hsm_key *sk, sm_buf *out, sm_err *err);
/* The card's answer to 3A02 ([85 L DR] 86 10 receipt): ECDH + X9.63 KDF in the HSM, receipt check
 * (SM_EVERIFY if it does not verify; nothing is kept), KCVs, wrapping under kek (NULL: no wrap).
 * The ephemeral private key is destroyed in every case. */
sm_rc ecka_finish(hsm_sess *s, ecka_session *es, const uint8_t *data, size_t len, const hsm_key *kek,
                  ecka_result *out, sm_err *err);
/* Destroys the ephemeral key if still present (any state). */
void ecka_abort(hsm_sess *s, ecka_session *es);
/* Destroys the session key objects of a result. */
void ecka_result_release(hsm_sess *s, ecka_result *r);

/* The SharedInfo of the KDF for these parameters and DR (exposed for tests and `smctl tool`). */
sm_rc ecka_shared_info(const ecka_params *p, const uint8_t *dr, size_t dr_len, uint8_t *out, size_t cap,
                       size_t *outlen, sm_err *err);

/* APDUs, each appended as a TS 102 226 C-APDU TLV (22 L apdu):
 * INSTALL [for personalization] 80 E6 20 00 of the given SD AID; and STORE DATA 80 E2 P1 P2 of
 * data, split into blocks of at most 255 bytes: P1 = 09 (DGI format), | 80 on the final block when
 * `last`; P2 = *block, incremented per APDU. */
sm_rc ecka_install_perso(const uint8_t *aid, size_t aidlen, sm_buf *out, sm_err *err);
sm_rc ecka_store_data(const uint8_t *data, size_t len, bool last, unsigned *block, sm_buf *out, sm_err *err);

#endif
