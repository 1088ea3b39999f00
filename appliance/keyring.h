/* keyring: the appliance key hierarchy held in the HSM (SM-DP and SM-SR signing keys, the
 * key-encryption key, the profile-protection key, the audit key, the ES TLS key): its one
 * definition table, the key ceremony that creates it, and the lookup done at start. */
#ifndef SM_KEYRING_H
#define SM_KEYRING_H

#include <stdio.h>

#include "hsm/hsm.h"

typedef enum sm_akey {
    AK_SMDP_SIGN = 0, /* SK.DP.ECDSA: signs key-establishment data (CERT.DP.ECDSA) */
    AK_SMSR_SIGN,     /* SK.SR.ECDSA: SM-SR change key establishment (CERT.SR.ECDSA) */
    AK_KEK,           /* wraps per-eUICC keys (ISD-R SCP80/SCP81, ISD-P SCP03) stored in PostgreSQL */
    AK_PROFILE,       /* AES-GCM protection of personalised profiles at rest */
    AK_AUDIT,         /* signs audit-trail checkpoints */
    AK_TLS,           /* TLS key of the ES interfaces (server and client) */
    AK_COUNT
} sm_akey;

typedef struct sm_keyring_def {
    sm_akey which;
    const char *suffix;  /* label = <prefix>-<suffix> */
    const char *purpose;
    hsm_keyspec spec;    /* token key; label and id filled in from the prefix */
} sm_keyring_def;

extern const sm_keyring_def sm_keyring_defs[AK_COUNT];

typedef struct sm_keyring {
    hsm_key key[AK_COUNT];  /* private or secret key */
    hsm_key pub[AK_COUNT];  /* public half of EC keys */
    char label[AK_COUNT][HSM_LABEL_MAX + 1];
    bool kek_trusted;
} sm_keyring;

/* Label of one appliance key. */
void sm_keyring_label(const char *prefix, sm_akey which, char *out, size_t cap);

/* One line per key of the ceremony: created or already present, and its public key. */
typedef struct sm_ceremony_step {
    sm_akey which;
    const char *label;
    bool created;
    char id_hex[17];
    char pub_hex[2 * HSM_EC_POINT_MAX + 1]; /* EC keys only */
} sm_ceremony_step;

typedef void (*sm_ceremony_cb)(const sm_ceremony_step *step, void *arg);

/* Creates every missing appliance key; never overwrites or duplicates one. Idempotent. */
sm_rc sm_keyring_ceremony(hsm_sess *s, const char *prefix, sm_ceremony_cb cb, void *arg, sm_err *err);

/* Finds every appliance key (start of smboxd); SM_ENOTFOUND names the first missing one. */
sm_rc sm_keyring_load(hsm_sess *s, const char *prefix, sm_keyring *out, sm_err *err);

#endif
