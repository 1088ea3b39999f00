/* hsm internals shared by the hsm/ sources only: context and session structures, the call
 * wrapper that enters a session (read lock, handle resolution) and recovers from lost sessions. */
#ifndef SM_HSM_INTERNAL_H
#define SM_HSM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"

#define HSM_CACHE_MAX 128

struct hsm_cache_ent {
    char label[HSM_LABEL_MAX + 1];
    uint8_t id[32];
    size_t idlen;
    uint8_t type;             /* hsm_keytype */
    CK_OBJECT_HANDLE h;
    uint32_t gen;             /* handle generation (ctx->hgen) the handle belongs to */
};

struct hsm_sess {
    hsm_ctx *ctx;
    int idx;
    CK_SESSION_HANDLE h;
    _Atomic uint32_t gen; /* unique per (re)open; session keys carry it */
    uint32_t mod_gen;   /* module generation the session was opened in */
    bool open;
    bool in_use;
};

struct hsm_ctx {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    char module_path[4096];
    char token_label[33];
    char *pin;          /* locked memory */
    size_t pin_len;
    hsm_caps caps;

    pthread_rwlock_t lock;      /* readers: calls; writer: module re-initialisation */
    _Atomic uint32_t mod_gen;   /* bumps when the module is re-initialised */
    _Atomic uint32_t hgen;      /* bumps when token object handles may have changed (re-login) */
    _Atomic uint32_t next_sess_gen;
    _Atomic unsigned recoveries;

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    hsm_sess *sess;
    unsigned nsess;

    pthread_mutex_t cache_mu;
    struct hsm_cache_ent cache[HSM_CACHE_MAX];
    unsigned ncache;
};

/* Records "<what>: <fn>: CKR_x" as the error; maps the CKR to an sm_rc. */
sm_rc hsm_fail(sm_err *err, CK_RV rv, const char *fn, const char *what);

/* Call bracket. hsm_enter takes the read lock and makes sure the session is open in the current
 * module generation (re-opening it if not). hsm_leave releases the lock. */
sm_rc hsm_enter(hsm_sess *s, sm_err *err);
void hsm_leave(hsm_sess *s);

/* Resolves a key reference to a handle valid now (inside hsm_enter/hsm_leave). */
sm_rc hsm_resolve(hsm_sess *s, const hsm_key *k, CK_OBJECT_HANDLE *h, sm_err *err);

/* After a failed call (outside the bracket): if rv means the session or device was lost, recovers
 * (re-open, re-login, or module re-initialisation) and returns true so the caller retries once. */
bool hsm_recover(hsm_sess *s, CK_RV rv);

/* Re-finds a cached token key by its label/id in the current module generation (cache_mu held). */
sm_rc hsm_refind(hsm_sess *s, struct hsm_cache_ent *e, sm_err *err);

/* Makes a key reference for an object just created in session s. */
hsm_key hsm_key_session(hsm_sess *s, CK_OBJECT_HANDLE h, hsm_keytype t, bool token);

/* templates.c: the one place that turns a keyspec into PKCS#11 attribute templates. */
#define HSM_TMPL_MAX 24
typedef struct hsm_tmpl {
    CK_ATTRIBUTE a[HSM_TMPL_MAX];
    CK_ULONG n;
    /* storage the attributes point to */
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE kt;
    CK_ULONG value_len;
    CK_BBOOL t, f;
} hsm_tmpl;

typedef enum hsm_tmpl_mode { HSM_TM_GENERATE, HSM_TM_IMPORT, HSM_TM_UNWRAP, HSM_TM_DERIVE } hsm_tmpl_mode;
sm_rc hsm_tmpl_secret(const hsm_ctx *ctx, const hsm_keyspec *spec, hsm_tmpl_mode mode, hsm_tmpl *t, sm_err *err);
sm_rc hsm_tmpl_ec_pair(const hsm_ctx *ctx, const hsm_keyspec *spec, hsm_tmpl *pub, hsm_tmpl *priv, sm_err *err);
void hsm_tmpl_add(hsm_tmpl *t, CK_ATTRIBUTE_TYPE type, void *p, CK_ULONG len);
/* DER OID of a curve (CKA_EC_PARAMS) */
const uint8_t *hsm_curve_oid(hsm_curve c, size_t *len);
CK_KEY_TYPE hsm_ck_keytype(hsm_keytype t);

/* Retry scaffolding for one PKCS#11 operation: body runs inside the bracket and sets rv. */
#define HSM_CALL(s, err, what, body)                                                                \
    do {                                                                                            \
        for (int attempt_ = 0;; attempt_++) {                                                       \
            sm_rc rc_ = hsm_enter((s), (err));                                                      \
            if (rc_ != SM_OK)                                                                       \
                return rc_;                                                                         \
            CK_RV rv = CKR_OK;                                                                      \
            const char *fn_ = "?";                                                                  \
            sm_rc body_rc_ = SM_OK;                                                                 \
            body;                                                                                   \
            hsm_leave(s);                                                                           \
            if (body_rc_ != SM_OK)                                                                  \
                return body_rc_;                                                                    \
            if (rv == CKR_OK)                                                                       \
                break;                                                                              \
            if (attempt_ == 0 && hsm_recover((s), rv))                                              \
                continue;                                                                           \
            return hsm_fail((err), rv, fn_, (what));                                                \
        }                                                                                           \
    } while (0)

/* Inside HSM_CALL: run a PKCS#11 call, stop the body at the first failure. */
#define P11(fn, ...)                                                                                \
    if (rv == CKR_OK) {                                                                             \
        fn_ = #fn;                                                                                  \
        rv = s->ctx->f->fn(__VA_ARGS__);                                                            \
    }

/* Inside HSM_CALL: resolve a key handle, stop the body on failure. */
#define RESOLVE(k, hp)                                                                              \
    if (rv == CKR_OK && body_rc_ == SM_OK) {                                                        \
        body_rc_ = hsm_resolve(s, (k), (hp), err);                                                  \
        if (body_rc_ != SM_OK)                                                                      \
            rv = CKR_GENERAL_ERROR;                                                                 \
    }

#endif
