/* register: one eUICC's EIS as it arrives (from a batch record or an ES1.RegisterEIS call) and its
 * registration — certificate chain CI -> EUM -> ECASD, key values unwrapped from the EUM transport key
 * and re-wrapped under the HSM KEK, duplicates refused, the eUICC, profiles and key sets stored in
 * one savepoint of the caller's transaction (all or nothing per eUICC). */
#ifndef SM_SMSR_REGISTER_H
#define SM_SMSR_REGISTER_H

#include <stdbool.h>
#include <time.h>

#include "appliance/smsr/batch.h"
#include "appliance/smsr/smsr.h"
#include "crypto/gpcert.h"
#include "db/eis_repo.h"

/* Why an EIS was refused (each maps to a report line and a GSMA status code). */
typedef enum smsr_why {
    SMSR_WHY_NONE = 0,
    SMSR_WHY_FORMAT,        /* malformed or inconsistent content        -> 8.6/2.1 */
    SMSR_WHY_EUM_UNKNOWN,   /* no certificate for the EUM               -> 1.1/1.2 */
    SMSR_WHY_EUM_MISMATCH,  /* EIS of another EUM than the caller/batch -> 1.1/1.2 */
    SMSR_WHY_SMSR,          /* addressed to another SM-SR               -> 8.7/3.8 */
    SMSR_WHY_SIGNATURE,     /* the EUM signature does not verify        -> 8.6/6.1 */
    SMSR_WHY_CHAIN,         /* ECASD certificate does not chain to CI   -> 8.5.2/6.1 */
    SMSR_WHY_EXPIRED,       /* a certificate of the chain expired       -> 8.5.2/6.3 */
    SMSR_WHY_TRANSPORT_KEY, /* key values not unwrappable / KCV wrong    -> 8.6/6.2 */
    SMSR_WHY_DUPLICATE,     /* EID registered with other content        -> 8.1.1/3.3 */
    SMSR_WHY_ICCID_IN_USE,  /* a pre-loaded profile's ICCID is in use   -> 8.2.1/3.3 */
    SMSR_WHY_INTERNAL,      /* HSM or database failure                  -> 1.2/4.2 */
} smsr_why;

const char *smsr_why_name(smsr_why w);

typedef struct smsr_key_in {
    const char *name;       /* "scp80-kic", for messages */
    int index;
    int key_type;           /* GP key type: 0x88 AES, 0x85 TLS PSK */
    smsr_bkey k;            /* wrapped under the transport key, and the KCV of the clear value */
} smsr_key_in;

typedef struct smsr_keyset_in {
    int kvn;
    char type[24];          /* SCP80 | SCP81 | ... */
    int64_t counter;
    smsr_key_in keys[8];
    size_t nkeys;
} smsr_keyset_in;

typedef struct smsr_eis_in {
    db_euicc e;             /* ecasd_cert and eum_signed point into the caller's memory */
    db_profile prof[SMSR_BATCH_MAX_PROFILES];
    size_t nprof;
    smsr_keyset_in ks[4];
    size_t nks;
    char smsr_sms[21];
    char tk_id[41];
} smsr_eis_in;

/* A batch record as an EIS (the record line itself is kept as the EUM-signed data). */
void smsr_eis_from_batch(const smsr_brec *r, const char *tk_id, smsr_eis_in *out);

/* The EUM's X.509 certificate checked against the context's CI certificates; *eum becomes the
 * issuer of its ECASD certificates and the key of its signatures. */
sm_rc smsr_eum_issuer(const smsr_ctx *x, const uint8_t *der, size_t len, time_t now, gpcert_issuer *eum,
                      smsr_why *why, sm_err *err);
/* CERT.ECASD.ECKA: signed by that EUM, valid now, a key-agreement certificate for this EID. */
sm_rc smsr_check_ecasd(const gpcert_issuer *eum, const db_euicc *e, time_t now, smsr_why *why, sm_err *err);
/* The content rules every EIS obeys whatever its source (one enabled and one fall-back profile at
 * most, unique ICCIDs and AIDs, memory figures, the ISD-R key sets present). */
sm_rc smsr_check_eis(const smsr_ctx *x, const smsr_eis_in *in, smsr_why *why, sm_err *err);

/* Keys for registration: a session, the transport key named by the EIS and the KEK. */
typedef struct smsr_keys {
    hsm_sess *s;
    hsm_key tk, kek;
    const char *kek_label;
} smsr_keys;

/* Finds <prefix>-tk-<tk_id> and the KEK in the token. */
sm_rc smsr_keys_find(const smsr_ctx *x, hsm_sess *s, const char *tk_id, smsr_keys *k, sm_err *err);
/* HSM label of a transport key. */
void smsr_tk_label(const smsr_ctx *x, const char *tk_id, char *out, size_t cap);

typedef enum smsr_reg_res { SMSR_REG_IMPORTED = 1, SMSR_REG_UNCHANGED } smsr_reg_res;

/* Stores a checked EIS inside the caller's transaction (savepoint: on failure nothing of it stays).
 * An EID registered already with the same EUM-signed data is SMSR_REG_UNCHANGED (nothing written);
 * with other data SM_EEXIST (SMSR_WHY_DUPLICATE). */
sm_rc smsr_store_eis(db_conn *c, const char *actor, const smsr_keys *k, smsr_eis_in *in, smsr_reg_res *res,
                     smsr_why *why, sm_err *err);

#endif
