/* hsm: the only door to PKCS#11 in smbox. One context per process owns the loaded module, the
 * token login, a pool of sessions (one per worker), a handle cache of token keys and the module's
 * capabilities; every key operation of the project is one small function here.
 *
 * Rules the layer enforces:
 *  - every private or secret key it creates is CKA_SENSITIVE and not CKA_EXTRACTABLE, except keys
 *    created "wrappable" (to be stored wrapped in the database), which are extractable only
 *    with CKA_WRAP_WITH_TRUSTED where the module supports trusted wrapping keys (templates.c);
 *  - the PIN is kept only in locked memory and never logged;
 *  - a lost session or removed device is recovered (re-open, re-login, token handles re-resolved)
 *    and the call retried once; a session key that died with its session gives SM_ESESSION;
 *  - errors name the PKCS#11 function, the CKR_ code and what was being done.
 */
#ifndef SM_HSM_H
#define SM_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct hsm_ctx hsm_ctx;
typedef struct hsm_sess hsm_sess;

/* ---- context ---------------------------------------------------------------------------- */

typedef struct hsm_config {
    const char *module_path;  /* PKCS#11 module .so */
    const char *token_label;  /* token to use, found by label */
    const char *pin;          /* user PIN (copied into locked memory); NULL = no login */
    size_t pin_len;
    unsigned sessions;        /* size of the session pool (>= 1) */
} hsm_config;

/* What the module can do, read from C_GetMechanismList and probed at open. */
typedef struct hsm_caps {
    bool ec_p256;
    bool ec_brainpool;         /* brainpoolP256r1 key generation works */
    bool ecdh;
    bool ecdh_kdf_sha256;      /* CKM_ECDH1_DERIVE accepts CKD_SHA256_KDF */
    bool extract_key;          /* CKM_EXTRACT_KEY_FROM_KEY */
    bool digest_key;           /* C_DigestKey works on a sensitive secret (fallback KDF keeps Z inside) */
    bool aes_cmac;
    bool aes_key_wrap_pad;
    bool aes_gcm;
    bool aes_ecb_encrypt_data; /* CKM_AES_ECB_ENCRYPT_DATA derivation */
    bool des3;
    bool trusted_wrap;         /* the KEK is CKA_TRUSTED (set by hsm_kek_check) */
    char manufacturer[33];
    char model[17];
    char library[33];
} hsm_caps;

/* Loads the module, finds the token, logs in, opens the pool. */
sm_rc hsm_open(const hsm_config *cfg, hsm_ctx **out, sm_err *err);
void hsm_close(hsm_ctx *ctx);
const hsm_caps *hsm_capabilities(const hsm_ctx *ctx);
/* The same, for code that holds only a session (crypto/ picks in-token paths by capability). */
const hsm_caps *hsm_session_caps(const hsm_sess *s);

/* Initialises a free token slot of a module (development tokens and tests): C_InitToken with the
 * SO PIN, then C_InitPIN for the user PIN. SM_EEXIST if a token with that label exists, unless
 * reinit: then that token is re-initialised (all its objects erased). */
sm_rc hsm_init_token(const char *module_path, const char *label, const char *so_pin, size_t so_len,
                     const char *user_pin, size_t user_len, bool reinit, sm_err *err);
/* Logs one line per mechanism the module lacks and the fallback used (called at daemon start). */
void hsm_log_capabilities(const hsm_ctx *ctx);

/* Borrows a session from the pool, waiting if all are in use. A worker thread borrows one at
 * start and keeps it; short-lived callers borrow per task. */
sm_rc hsm_session_get(hsm_ctx *ctx, hsm_sess **out, sm_err *err);
void hsm_session_put(hsm_sess *s);

/* Name of a CKR_ code ("CKR_PIN_INCORRECT"); "CKR_0x..." when unknown. */
const char *hsm_ckr_name(unsigned long rv);

/* ---- keys ------------------------------------------------------------------------------- */

typedef enum hsm_keytype {
    HSM_KT_AES = 1,
    HSM_KT_DES2,     /* two-key triple DES (16 bytes) */
    HSM_KT_DES3,     /* three-key triple DES (24 bytes) */
    HSM_KT_GENERIC,  /* generic secret */
    HSM_KT_EC_PRIV,
    HSM_KT_EC_PUB,
} hsm_keytype;

typedef enum hsm_curve { HSM_CURVE_P256 = 0, HSM_CURVE_BP256R1 = 1 } hsm_curve;

enum hsm_usage {
    HSM_U_ENCRYPT = 1 << 0,
    HSM_U_DECRYPT = 1 << 1,
    HSM_U_SIGN = 1 << 2,    /* ECDSA sign, or MAC generation (CMAC) */
    HSM_U_VERIFY = 1 << 3,
    HSM_U_WRAP = 1 << 4,
    HSM_U_UNWRAP = 1 << 5,
    HSM_U_DERIVE = 1 << 6,
};

/* What to create. Secret and private keys are always sensitive; `wrappable` makes a secret key
 * extractable for hsm_wrap only (and CKA_WRAP_WITH_TRUSTED where supported). `trusted` asks for
 * CKA_TRUSTED on a wrapping key (needs an SO-capable module; ignored where refused, see caps). */
typedef struct hsm_keyspec {
    hsm_keytype type;
    unsigned len;        /* secret key length in bytes (AES 16/24/32, DES2 16, DES3 24, generic any) */
    hsm_curve curve;     /* EC keys */
    unsigned usage;      /* HSM_U_* */
    bool token;          /* persistent token object (else session object) */
    bool wrappable;
    bool trusted;
    const char *label;   /* CKA_LABEL, optional */
    const uint8_t *id;   /* CKA_ID, optional */
    size_t idlen;
} hsm_keyspec;

/* A reference to a key object. A value type: copy freely. Token keys found by label stay valid
 * across session and module recovery (re-resolved through the cache); session keys are valid
 * while the session that created them lives. */
typedef struct hsm_key {
    uint64_t handle;
    uint32_t gen;
    int16_t slot;   /* cache index (token keys) or session index (session keys); -1 = none */
    uint8_t type;   /* hsm_keytype */
    uint8_t token;
} hsm_key;

#define HSM_EC_POINT_MAX 97 /* 04 || X || Y for curves up to 384 bits */
#define HSM_LABEL_MAX 64

/* Finds a token key by label (and type: secret types match any secret key class). Handles are
 * cached: the first lookup costs a C_FindObjects, later ones nothing. SM_ENOTFOUND if absent,
 * SM_EINVAL if several objects share the label and type. */
sm_rc hsm_key_find(hsm_sess *s, const char *label, hsm_keytype type, hsm_key *out, sm_err *err);
/* Same, by CKA_ID. */
sm_rc hsm_key_find_id(hsm_sess *s, const uint8_t *id, size_t idlen, hsm_keytype type, hsm_key *out,
                      sm_err *err);

sm_rc hsm_key_generate(hsm_sess *s, const hsm_keyspec *spec, hsm_key *out, sm_err *err);
sm_rc hsm_ec_generate(hsm_sess *s, const hsm_keyspec *spec, hsm_key *priv, hsm_key *pub, sm_err *err);
sm_rc hsm_key_destroy(hsm_sess *s, const hsm_key *k, sm_err *err);

/* Imports a secret key value as a session object (sensitive, not extractable unless wrappable).
 * For test keys given to `smctl tool` and for the KDF fallback; never used with a token=true spec
 * on a production token. */
sm_rc hsm_secret_import(hsm_sess *s, const hsm_keyspec *spec, const uint8_t *val, size_t len, hsm_key *out,
                        sm_err *err);

/* Imports an EC private key (the big-endian scalar d, 32 bytes for 256-bit curves) as a session
 * object, sensitive and never extractable. Test keys only (`smctl tool keyest`, known-answer
 * tests); refuses spec->token. spec gives curve, usage and naming (type must be HSM_KT_EC_PRIV). */
sm_rc hsm_ec_import_private(hsm_sess *s, const hsm_keyspec *spec, const uint8_t *d, size_t dlen, hsm_key *out,
                            sm_err *err);

/* Imports an EC public key (uncompressed point 04||X||Y) as a session object for verify/ECDH peers. */
sm_rc hsm_ec_import_public(hsm_sess *s, hsm_curve curve, const uint8_t *point, size_t len, hsm_key *out,
                           sm_err *err);

/* Public point of an EC key (pub object, or the private key's public counterpart found by CKA_ID
 * or label) as 04||X||Y. */
sm_rc hsm_ec_public(hsm_sess *s, const hsm_key *k, uint8_t *point, size_t cap, size_t *len, hsm_curve *curve,
                    sm_err *err);

/* Reads a boolean attribute (for tests and `smctl hsm list`). CKA_VALUE reads go through
 * hsm_key_try_read_value, which exists to prove that sensitive keys cannot be read. */
sm_rc hsm_key_try_read_value(hsm_sess *s, const hsm_key *k, uint8_t *buf, size_t cap, size_t *len, sm_err *err);

/* One object of the token as `smctl hsm list` shows it. */
typedef struct hsm_objinfo {
    char label[HSM_LABEL_MAX + 1];
    uint8_t id[32];
    size_t idlen;
    const char *cls;      /* "private", "public", "secret", "certificate", "data", "other" */
    const char *keytype;  /* "EC", "AES", "DES2", "DES3", "GENERIC", "?" */
    unsigned long bits;
    bool token, priv, sensitive, extractable, always_sensitive, never_extractable, trusted,
        wrap_with_trusted, modifiable;
    bool flagged;         /* a secret or private key that is extractable or not sensitive */
} hsm_objinfo;

typedef int (*hsm_obj_cb)(const hsm_objinfo *o, void *arg);
sm_rc hsm_objects_list(hsm_sess *s, hsm_obj_cb cb, void *arg, sm_err *err);

/* Reads CKA_TRUSTED of the key-encryption key and records it: when TRUE, keys created wrappable
 * carry CKA_WRAP_WITH_TRUSTED (only a trusted key may wrap them). Called once at start. */
sm_rc hsm_kek_check(hsm_sess *s, const hsm_key *kek, bool *trusted, sm_err *err);

/* ---- asymmetric ------------------------------------------------------------------------- */

/* ECDSA over a 32-byte SHA-256 digest; sig = r||s (64 bytes for 256-bit curves). */
sm_rc hsm_ecdsa_sign(hsm_sess *s, const hsm_key *priv, const uint8_t *digest, size_t dlen, uint8_t *sig,
                     size_t cap, size_t *siglen, sm_err *err);
/* SHA-256 of msg then hsm_ecdsa_sign. */
sm_rc hsm_ecdsa_sign_msg(hsm_sess *s, const hsm_key *priv, const uint8_t *msg, size_t mlen, uint8_t *sig,
                         size_t cap, size_t *siglen, sm_err *err);
/* SM_OK if valid, SM_EVERIFY if not. */
sm_rc hsm_ecdsa_verify(hsm_sess *s, const hsm_key *pub, const uint8_t *digest, size_t dlen, const uint8_t *sig,
                       size_t siglen, sm_err *err);

/* r||s <-> DER ECDSA-Sig-Value. */
sm_rc hsm_sig_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t *der, size_t cap, size_t *derlen,
                         sm_err *err);
sm_rc hsm_sig_der_to_raw(const uint8_t *der, size_t derlen, size_t fieldlen, uint8_t *raw, size_t cap,
                         size_t *rawlen, sm_err *err);

/* ECDH: the shared secret Z (x coordinate) as a session generic secret, sensitive and not
 * extractable (CKD_NULL). */
sm_rc hsm_ecdh_derive(hsm_sess *s, const hsm_key *priv, const uint8_t *peer, size_t plen, hsm_key *z,
                      sm_err *err);

/* ECDH then the SGP.02 key derivation: ANSI X9.63 KDF with SHA-256 over Z and shared_info, the
 * output split in order into nkeys keys as described by specs (each spec's len bytes; session
 * objects). Inside the token when the module offers CKD_SHA256_KDF and CKM_EXTRACT_KEY_FROM_KEY;
 * otherwise the fallback documented in SECURITY.md (Z read for the instant of the KDF into locked
 * memory, or kept in the token when C_DigestKey works; derived values imported straight back). */
sm_rc hsm_ecdh_x963(hsm_sess *s, const hsm_key *priv, const uint8_t *peer, size_t plen,
                    const uint8_t *shared_info, size_t silen, const hsm_keyspec *specs, size_t nkeys,
                    hsm_key *out, sm_err *err);

/* The same KDF (by the module's fallback path) from a given shared secret value: for known-answer
 * tests and `smctl tool kdf-x963` with test values only. */
sm_rc hsm_x963_from_value(hsm_sess *s, const uint8_t *z, size_t zlen, const uint8_t *shared_info, size_t silen,
                          const hsm_keyspec *specs, size_t nkeys, hsm_key *out, sm_err *err);

/* ---- symmetric ---------------------------------------------------------------------------- */

/* AES-CMAC (NIST SP 800-38B), full 16-byte tag. Key needs HSM_U_SIGN. */
sm_rc hsm_aes_cmac(hsm_sess *s, const hsm_key *k, const uint8_t *msg, size_t len, uint8_t mac[16], sm_err *err);

/* Block modes without padding: len must be a multiple of the block size. out may equal in. */
sm_rc hsm_aes_cbc_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[16], const uint8_t *in, size_t len,
                          uint8_t *out, sm_err *err);
sm_rc hsm_aes_cbc_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[16], const uint8_t *in, size_t len,
                          uint8_t *out, sm_err *err);
sm_rc hsm_aes_ecb_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t *in, size_t len, uint8_t *out,
                          sm_err *err);
sm_rc hsm_aes_ecb_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t *in, size_t len, uint8_t *out,
                          sm_err *err);
/* Triple DES (DES2/DES3 keys), 8-byte blocks, for SCP80. */
sm_rc hsm_des3_cbc_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[8], const uint8_t *in, size_t len,
                           uint8_t *out, sm_err *err);
sm_rc hsm_des3_cbc_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[8], const uint8_t *in, size_t len,
                           uint8_t *out, sm_err *err);

/* AES-GCM for data at rest (profiles in stock, exported bundles): out = ciphertext || 16-byte tag.
 * iv is 12 bytes, chosen by the caller (hsm_random). */
sm_rc hsm_aes_gcm_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[12], const uint8_t *aad, size_t aadlen,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen, sm_err *err);
/* SM_EVERIFY when the tag does not match. */
sm_rc hsm_aes_gcm_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[12], const uint8_t *aad, size_t aadlen,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen, sm_err *err);

/* New AES key = AES-ECB(base, data) (CKM_AES_ECB_ENCRYPT_DATA), data 16 bytes; stays in the token. */
sm_rc hsm_derive_aes_ecb(hsm_sess *s, const hsm_key *base, const uint8_t data[16], const hsm_keyspec *spec,
                         hsm_key *out, sm_err *err);

sm_rc hsm_random(hsm_sess *s, uint8_t *out, size_t n, sm_err *err);

/* ---- wrapping ----------------------------------------------------------------------------- */

/* AES key wrap with padding (RFC 5649, CKM_AES_KEY_WRAP_PAD). A 16-byte key wraps to 24 bytes. */
#define HSM_WRAP_OVERHEAD 16
sm_rc hsm_wrap(hsm_sess *s, const hsm_key *kek, const hsm_key *key, uint8_t *out, size_t cap, size_t *outlen,
               sm_err *err);
/* Unwraps into a new session key object described by spec (sensitive, never extractable unless
 * spec->wrappable). */
sm_rc hsm_unwrap(hsm_sess *s, const hsm_key *kek, const uint8_t *wrapped, size_t len, const hsm_keyspec *spec,
                 hsm_key *out, sm_err *err);

/* The one sanctioned way a protocol secret reaches process memory (SECURITY.md, "SCP81 PSK"):
 * the SCP81 PSK, stored wrapped, is unwrapped for one TLS-PSK handshake into a *non-sensitive*
 * session object, its value read once into psk (the caller's sm_secmem buffer), and the object
 * destroyed before return (also on failure). Nothing else may call C_UnwrapKey non-sensitive. */
sm_rc hsm_unwrap_psk_for_tls(hsm_sess *s, const hsm_key *kek, const uint8_t *wrapped, size_t len, uint8_t *psk,
                             size_t cap, size_t *psklen, sm_err *err);

/* ---- testing hooks ------------------------------------------------------------------------ */
/* Closes every session of the module behind the pool's back, as a device reset would
 * (C_CloseAllSessions). The next call on any pooled session recovers. */
sm_rc hsm_test_drop_sessions(hsm_ctx *ctx, sm_err *err);
/* C_Finalize behind the context's back (simulates device removal / library reset). */
sm_rc hsm_test_finalize(hsm_ctx *ctx, sm_err *err);
/* Number of recoveries performed (sessions re-opened, module re-initialised). */
unsigned hsm_stat_recoveries(const hsm_ctx *ctx);

#endif
