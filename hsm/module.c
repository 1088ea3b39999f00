/* Module loading, token login, capability probing, the session pool and recovery. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/internal.h"
#include "lib/log.h"
#include "lib/secmem.h"

static void pad_label(char out[32], const char *label)
{
    memset(out, ' ', 32);
    size_t n = strlen(label);
    memcpy(out, label, n > 32 ? 32 : n);
}

static void unpad(char *dst, size_t dstsz, const CK_UTF8CHAR *src, size_t n)
{
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
        n--;
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Finds the slot whose token carries ctx->token_label. */
static CK_RV find_slot(hsm_ctx *ctx, CK_SLOT_ID *slot)
{
    CK_ULONG n = 0;
    CK_RV rv = ctx->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return rv;
    if (n == 0)
        return CKR_TOKEN_NOT_PRESENT;
    CK_SLOT_ID *slots = calloc(n, sizeof *slots);
    if (!slots)
        return CKR_HOST_MEMORY;
    rv = ctx->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        free(slots);
        return rv;
    }
    char want[32];
    pad_label(want, ctx->token_label);
    rv = CKR_TOKEN_NOT_PRESENT;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (ctx->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (memcmp(ti.label, want, 32) == 0) {
            *slot = slots[i];
            unpad(ctx->caps.manufacturer, sizeof ctx->caps.manufacturer, ti.manufacturerID, 32);
            unpad(ctx->caps.model, sizeof ctx->caps.model, ti.model, 16);
            rv = CKR_OK;
            break;
        }
    }
    free(slots);
    return rv;
}

static CK_RV do_initialize(hsm_ctx *ctx)
{
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = ctx->f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
        rv = CKR_OK; /* another user in this process (the libp11 engine) initialised it */
    return rv;
}

static CK_RV do_login(hsm_ctx *ctx, CK_SESSION_HANDLE h)
{
    if (!ctx->pin)
        return CKR_OK;
    CK_RV rv = ctx->f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)ctx->pin, (CK_ULONG)ctx->pin_len);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        return CKR_OK;
    if (rv == CKR_OK) /* a fresh login: modules may renumber private objects (SoftHSM2 does) */
        atomic_fetch_add(&ctx->hgen, 1);
    return rv;
}

static CK_RV open_session(hsm_sess *s)
{
    hsm_ctx *ctx = s->ctx;
    CK_SESSION_HANDLE h;
    CK_RV rv = ctx->f->C_OpenSession(ctx->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
    if (rv != CKR_OK)
        return rv;
    s->h = h;
    s->open = true;
    s->mod_gen = atomic_load(&ctx->mod_gen);
    atomic_store(&s->gen, atomic_fetch_add(&ctx->next_sess_gen, 1) + 1);
    return CKR_OK;
}

static bool has_mech(const CK_MECHANISM_TYPE *m, CK_ULONG n, CK_MECHANISM_TYPE t)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (m[i] == t)
            return true;
    return false;
}

#ifndef CKM_EXTRACT_KEY_FROM_KEY
#define CKM_EXTRACT_KEY_FROM_KEY 0x365UL
#endif

static void probe_mechanisms(hsm_ctx *ctx)
{
    CK_ULONG n = 0;
    if (ctx->f->C_GetMechanismList(ctx->slot, NULL, &n) != CKR_OK || n == 0)
        return;
    CK_MECHANISM_TYPE *m = calloc(n, sizeof *m);
    if (!m)
        return;
    if (ctx->f->C_GetMechanismList(ctx->slot, m, &n) == CKR_OK) {
        ctx->caps.ec_p256 = has_mech(m, n, CKM_EC_KEY_PAIR_GEN) && has_mech(m, n, CKM_ECDSA);
        ctx->caps.ecdh = has_mech(m, n, CKM_ECDH1_DERIVE);
        ctx->caps.extract_key = has_mech(m, n, CKM_EXTRACT_KEY_FROM_KEY);
        ctx->caps.aes_cmac = has_mech(m, n, CKM_AES_CMAC);
        ctx->caps.aes_key_wrap_pad = has_mech(m, n, CKM_AES_KEY_WRAP_PAD);
        ctx->caps.aes_gcm = has_mech(m, n, CKM_AES_GCM);
        ctx->caps.aes_ecb_encrypt_data = has_mech(m, n, CKM_AES_ECB_ENCRYPT_DATA);
        ctx->caps.des3 = has_mech(m, n, CKM_DES3_CBC);
    }
    free(m);
}

/* Probes that need a logged-in session: what the mechanism list cannot tell. */
static void probe_behaviour(hsm_ctx *ctx, hsm_sess *s)
{
    CK_FUNCTION_LIST_PTR f = ctx->f;
    CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
    size_t oidlen;
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};

    /* brainpoolP256r1 key generation */
    const uint8_t *oid = hsm_curve_oid(HSM_CURVE_BP256R1, &oidlen);
    CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, (void *)oid, oidlen}, {CKA_TOKEN, &fl, sizeof fl}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &fl, sizeof fl}, {CKA_SENSITIVE, &t, sizeof t},
                           {CKA_DERIVE, &t, sizeof t}};
    CK_OBJECT_HANDLE hpub, hpriv;
    if (f->C_GenerateKeyPair(s->h, &gen, pub, 2, priv, 3, &hpub, &hpriv) == CKR_OK) {
        ctx->caps.ec_brainpool = true;
        f->C_DestroyObject(s->h, hpub);
        f->C_DestroyObject(s->h, hpriv);
    }

    /* ECDH with CKD_SHA256_KDF */
    oid = hsm_curve_oid(HSM_CURVE_P256, &oidlen);
    CK_ATTRIBUTE pub2[] = {{CKA_EC_PARAMS, (void *)oid, oidlen}, {CKA_TOKEN, &fl, sizeof fl}};
    if (ctx->caps.ecdh && f->C_GenerateKeyPair(s->h, &gen, pub2, 2, priv, 3, &hpub, &hpriv) == CKR_OK) {
        uint8_t pt[HSM_EC_POINT_MAX + 8];
        CK_ATTRIBUTE a = {CKA_EC_POINT, pt, sizeof pt};
        if (f->C_GetAttributeValue(s->h, hpub, &a, 1) == CKR_OK) {
            uint8_t *p = pt;
            CK_ULONG plen = a.ulValueLen;
            if (plen > 2 && p[0] == 0x04 && p[1] == plen - 2) { /* DER OCTET STRING */
                p += 2;
                plen -= 2;
            }
            uint8_t si[3] = {0x10, 0x88, 0x10};
            CK_ECDH1_DERIVE_PARAMS prm = {CKD_SHA256_KDF, sizeof si, si, plen, p};
            CK_MECHANISM dm = {CKM_ECDH1_DERIVE, &prm, sizeof prm};
            CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
            CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
            CK_ULONG vl = 64;
            CK_ATTRIBUTE st[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
                                 {CKA_VALUE_LEN, &vl, sizeof vl}, {CKA_TOKEN, &fl, sizeof fl},
                                 {CKA_SENSITIVE, &t, sizeof t}, {CKA_EXTRACTABLE, &fl, sizeof fl},
                                 {CKA_DERIVE, &t, sizeof t}};
            CK_OBJECT_HANDLE z;
            if (f->C_DeriveKey(s->h, &dm, hpriv, st, 7, &z) == CKR_OK) {
                ctx->caps.ecdh_kdf_sha256 = true;
                f->C_DestroyObject(s->h, z);
            }
        }
        f->C_DestroyObject(s->h, hpub);
        f->C_DestroyObject(s->h, hpriv);
    }

    /* C_DigestKey on a sensitive, non-extractable generic secret */
    {
        CK_MECHANISM kg = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
        CK_ULONG vl = 32;
        CK_ATTRIBUTE st[] = {{CKA_VALUE_LEN, &vl, sizeof vl}, {CKA_TOKEN, &fl, sizeof fl},
                             {CKA_SENSITIVE, &t, sizeof t}, {CKA_EXTRACTABLE, &fl, sizeof fl}};
        CK_OBJECT_HANDLE k;
        if (f->C_GenerateKey(s->h, &kg, st, 4, &k) == CKR_OK) {
            CK_MECHANISM dg = {CKM_SHA256, NULL, 0};
            if (f->C_DigestInit(s->h, &dg) == CKR_OK) {
                CK_RV rv = f->C_DigestKey(s->h, k);
                uint8_t out[32];
                CK_ULONG ol = sizeof out;
                CK_RV rv2 = f->C_DigestFinal(s->h, out, &ol);
                ctx->caps.digest_key = rv == CKR_OK && rv2 == CKR_OK;
            }
            f->C_DestroyObject(s->h, k);
        }
    }

    /* Trusted wrapping is not probed by creating a CKA_TRUSTED key: SoftHSM2 leaves a half-made
     * object behind when the template is refused. hsm_kek_check() decides it from the KEK itself. */
}

sm_rc hsm_open(const hsm_config *cfg, hsm_ctx **out, sm_err *err)
{
    if (!cfg->module_path || !cfg->token_label)
        return sm_errf(err, SM_EINVAL, "hsm: module path and token label are required");
    if (strlen(cfg->token_label) > 32)
        return sm_errf(err, SM_EINVAL, "hsm: token label '%s' is longer than 32 characters", cfg->token_label);
    hsm_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return sm_errf(err, SM_ENOMEM, "hsm: out of memory");
    snprintf(ctx->module_path, sizeof ctx->module_path, "%s", cfg->module_path);
    snprintf(ctx->token_label, sizeof ctx->token_label, "%s", cfg->token_label);
    pthread_rwlock_init(&ctx->lock, NULL);
    pthread_mutex_init(&ctx->pool_mu, NULL);
    pthread_cond_init(&ctx->pool_cv, NULL);
    pthread_mutex_init(&ctx->cache_mu, NULL);
    atomic_store(&ctx->mod_gen, 1);
    atomic_store(&ctx->hgen, 1);

    sm_rc rc;
    if (cfg->pin) {
        ctx->pin = sm_secmem_alloc(cfg->pin_len + 1);
        if (!ctx->pin) {
            rc = sm_errf(err, SM_ENOMEM, "hsm: cannot lock memory for the PIN (RLIMIT_MEMLOCK?)");
            goto fail;
        }
        memcpy(ctx->pin, cfg->pin, cfg->pin_len);
        ctx->pin_len = cfg->pin_len;
    }

    ctx->dl = dlopen(cfg->module_path, RTLD_NOW | RTLD_LOCAL);
    if (!ctx->dl) {
        const char *e = dlerror();
        rc = sm_errf(err, SM_ENOTFOUND, "hsm: loading PKCS#11 module %s: %s", cfg->module_path, e ? e : "?");
        goto fail;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(ctx->dl, "C_GetFunctionList");
    if (!gfl) {
        rc = sm_errf(err, SM_EINVAL, "hsm: %s is not a PKCS#11 module (no C_GetFunctionList)", cfg->module_path);
        goto fail;
    }
    CK_RV rv = gfl(&ctx->f);
    if (rv != CKR_OK) {
        rc = hsm_fail(err, rv, "C_GetFunctionList", "loading the PKCS#11 function list");
        goto fail;
    }
    rv = do_initialize(ctx);
    if (rv != CKR_OK) {
        rc = hsm_fail(err, rv, "C_Initialize", "initialising the PKCS#11 module");
        ctx->f = NULL;
        goto fail;
    }
    CK_INFO info;
    if (ctx->f->C_GetInfo(&info) == CKR_OK)
        unpad(ctx->caps.library, sizeof ctx->caps.library, info.libraryDescription, 32);
    rv = find_slot(ctx, &ctx->slot);
    if (rv != CKR_OK) {
        if (rv == CKR_TOKEN_NOT_PRESENT)
            rc = sm_errf(err, SM_ENOTFOUND, "hsm: no token labelled '%s' in module %s", ctx->token_label,
                         cfg->module_path);
        else
            rc = hsm_fail(err, rv, "C_GetSlotList", "finding the token");
        goto fail;
    }
    probe_mechanisms(ctx);

    ctx->nsess = cfg->sessions ? cfg->sessions : 1;
    ctx->sess = calloc(ctx->nsess, sizeof *ctx->sess);
    if (!ctx->sess) {
        rc = sm_errf(err, SM_ENOMEM, "hsm: out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < ctx->nsess; i++) {
        ctx->sess[i].ctx = ctx;
        ctx->sess[i].idx = (int)i;
        rv = open_session(&ctx->sess[i]);
        if (rv != CKR_OK) {
            rc = hsm_fail(err, rv, "C_OpenSession", "opening the session pool");
            goto fail;
        }
    }
    rv = do_login(ctx, ctx->sess[0].h);
    if (rv != CKR_OK) {
        char what[96];
        snprintf(what, sizeof what, "logging in to token '%s'", ctx->token_label);
        rc = hsm_fail(err, rv, "C_Login", what);
        goto fail;
    }
    if (ctx->pin)
        probe_behaviour(ctx, &ctx->sess[0]);
    *out = ctx;
    return SM_OK;
fail:
    hsm_close(ctx);
    return rc;
}

void hsm_close(hsm_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->f) {
        for (unsigned i = 0; i < ctx->nsess; i++)
            if (ctx->sess[i].open)
                ctx->f->C_CloseSession(ctx->sess[i].h);
        ctx->f->C_Finalize(NULL);
    }
    if (ctx->dl)
        dlclose(ctx->dl);
    free(ctx->sess);
    sm_secmem_free(ctx->pin, ctx->pin_len + 1);
    pthread_rwlock_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->pool_mu);
    pthread_cond_destroy(&ctx->pool_cv);
    pthread_mutex_destroy(&ctx->cache_mu);
    free(ctx);
}

const hsm_caps *hsm_capabilities(const hsm_ctx *ctx) { return &ctx->caps; }

const hsm_caps *hsm_session_caps(const hsm_sess *s) { return &s->ctx->caps; }

void hsm_log_capabilities(const hsm_ctx *ctx)
{
    const hsm_caps *c = &ctx->caps;
    char q1[80], q2[80], q3[80], q4[80];
    sm_log(SM_LOG_INFO, "hsm", "token", "label=%s manufacturer=%s model=%s library=%s sessions=%u",
           SM_LOGQ(q1, ctx->token_label), SM_LOGQ(q2, c->manufacturer), SM_LOGQ(q3, c->model),
           SM_LOGQ(q4, c->library), ctx->nsess);
    if (!c->ecdh_kdf_sha256 || !c->extract_key)
        sm_log(SM_LOG_WARN, "hsm", "fallback",
               "mech=CKD_SHA256_KDF%s missing=%s%s fallback=%s",
               c->extract_key ? "" : "+CKM_EXTRACT_KEY_FROM_KEY", c->ecdh_kdf_sha256 ? "" : "CKD_SHA256_KDF ",
               c->extract_key ? "" : "CKM_EXTRACT_KEY_FROM_KEY",
               c->digest_key ? "x963-kdf-via-C_DigestKey(Z stays in token; derived keys imported)"
                             : "x963-kdf-in-locked-memory(Z read for the KDF instant; see SECURITY.md)");
    if (!c->trusted_wrap)
        sm_log(SM_LOG_WARN, "hsm", "fallback",
               "mech=CKA_TRUSTED missing=trusted-wrapping-keys fallback=wrappable-keys-without-CKA_WRAP_WITH_TRUSTED "
               "(session objects, wrapped once under the KEK, destroyed after; see SECURITY.md)");
    if (!c->ec_brainpool)
        sm_log(SM_LOG_WARN, "hsm", "fallback", "mech=brainpoolP256r1 missing=curve fallback=none");
    if (!c->aes_cmac || !c->aes_key_wrap_pad || !c->aes_gcm || !c->des3)
        sm_log(SM_LOG_ERR, "hsm", "missing", "aes_cmac=%d aes_key_wrap_pad=%d aes_gcm=%d des3=%d", c->aes_cmac,
               c->aes_key_wrap_pad, c->aes_gcm, c->des3);
}

/* ---- pool ---------------------------------------------------------------------------------- */

sm_rc hsm_session_get(hsm_ctx *ctx, hsm_sess **out, sm_err *err)
{
    pthread_mutex_lock(&ctx->pool_mu);
    for (;;) {
        for (unsigned i = 0; i < ctx->nsess; i++) {
            if (!ctx->sess[i].in_use) {
                ctx->sess[i].in_use = true;
                pthread_mutex_unlock(&ctx->pool_mu);
                *out = &ctx->sess[i];
                return SM_OK;
            }
        }
        pthread_cond_wait(&ctx->pool_cv, &ctx->pool_mu);
    }
    (void)err;
}

void hsm_session_put(hsm_sess *s)
{
    if (!s)
        return;
    hsm_ctx *ctx = s->ctx;
    pthread_mutex_lock(&ctx->pool_mu);
    s->in_use = false;
    pthread_cond_signal(&ctx->pool_cv);
    pthread_mutex_unlock(&ctx->pool_mu);
}

/* ---- call bracket and recovery ------------------------------------------------------------ */

sm_rc hsm_enter(hsm_sess *s, sm_err *err)
{
    hsm_ctx *ctx = s->ctx;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&ctx->lock);
        if (s->open && s->mod_gen == atomic_load(&ctx->mod_gen))
            return SM_OK;
        CK_RV rv = open_session(s);
        if (rv == CKR_OK)
            return SM_OK;
        pthread_rwlock_unlock(&ctx->lock);
        if (attempt == 0 && hsm_recover(s, rv))
            continue;
        return hsm_fail(err, rv, "C_OpenSession", "re-opening an HSM session");
    }
}

void hsm_leave(hsm_sess *s) { pthread_rwlock_unlock(&s->ctx->lock); }

static bool session_lost(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

static bool device_lost(CK_RV rv)
{
    return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_CRYPTOKI_NOT_INITIALIZED ||
           rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_RECOGNIZED;
}

bool hsm_recover(hsm_sess *s, CK_RV rv)
{
    hsm_ctx *ctx = s->ctx;
    if (rv == CKR_USER_NOT_LOGGED_IN) {
        pthread_rwlock_rdlock(&ctx->lock);
        CK_RV r = do_login(ctx, s->h);
        pthread_rwlock_unlock(&ctx->lock);
        atomic_fetch_add(&ctx->recoveries, 1);
        sm_log(SM_LOG_WARN, "hsm", "relogin", "result=%s", hsm_ckr_name(r));
        return r == CKR_OK;
    }
    if (session_lost(rv)) {
        pthread_rwlock_rdlock(&ctx->lock);
        CK_RV r = open_session(s);
        if (r == CKR_OK)
            r = do_login(ctx, s->h);
        pthread_rwlock_unlock(&ctx->lock);
        atomic_fetch_add(&ctx->recoveries, 1);
        sm_log(SM_LOG_WARN, "hsm", "session_reopen", "cause=%s result=%s", hsm_ckr_name(rv), hsm_ckr_name(r));
        if (device_lost(r))
            return hsm_recover(s, r);
        return r == CKR_OK;
    }
    if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_WRAPPING_KEY_HANDLE_INVALID ||
        rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID) {
        /* a cached token handle may be stale: re-resolve token keys by label and retry once */
        atomic_fetch_add(&ctx->hgen, 1);
        atomic_fetch_add(&ctx->recoveries, 1);
        sm_log(SM_LOG_WARN, "hsm", "handle_refresh", "cause=%s", hsm_ckr_name(rv));
        return true;
    }
    if (!device_lost(rv))
        return false;
    uint32_t seen = s->mod_gen;
    pthread_rwlock_wrlock(&ctx->lock);
    CK_RV r = CKR_OK;
    if (atomic_load(&ctx->mod_gen) == seen) {
        /* nobody re-initialised since this session saw the module: do it */
        ctx->f->C_Finalize(NULL);
        r = do_initialize(ctx);
        if (r == CKR_OK)
            r = find_slot(ctx, &ctx->slot);
        atomic_fetch_add(&ctx->mod_gen, 1);
        atomic_fetch_add(&ctx->hgen, 1);
        /* every pooled session is now stale: hsm_enter re-opens it (mod_gen differs) */
        s->open = false;
        if (r == CKR_OK)
            r = open_session(s);
        if (r == CKR_OK)
            r = do_login(ctx, s->h);
        atomic_fetch_add(&ctx->recoveries, 1);
        sm_log(SM_LOG_WARN, "hsm", "module_reinit", "cause=%s result=%s", hsm_ckr_name(rv), hsm_ckr_name(r));
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r == CKR_OK;
}

/* ---- key references --------------------------------------------------------------------------- */

hsm_key hsm_key_session(hsm_sess *s, CK_OBJECT_HANDLE h, hsm_keytype t, bool token)
{
    hsm_key k;
    k.handle = h;
    k.type = (uint8_t)t;
    k.token = token;
    if (token) {
        k.gen = atomic_load(&s->ctx->hgen);
        k.slot = -1;
    } else {
        k.gen = atomic_load(&s->gen);
        k.slot = (int16_t)s->idx;
    }
    return k;
}

sm_rc hsm_resolve(hsm_sess *s, const hsm_key *k, CK_OBJECT_HANDLE *h, sm_err *err)
{
    hsm_ctx *ctx = s->ctx;
    uint32_t mg = atomic_load(&ctx->mod_gen);
    if (k->token) {
        uint32_t hg = atomic_load(&ctx->hgen);
        if (k->gen == hg) {
            *h = (CK_OBJECT_HANDLE)k->handle;
            return SM_OK;
        }
        if (k->slot < 0 || (unsigned)k->slot >= ctx->ncache)
            return sm_errf(err, SM_ESESSION, "hsm: token key handle from before a module reset, not found by label");
        pthread_mutex_lock(&ctx->cache_mu);
        struct hsm_cache_ent *e = &ctx->cache[k->slot];
        sm_rc rc = SM_OK;
        if (e->gen != hg)
            rc = hsm_refind(s, e, err);
        *h = e->h;
        pthread_mutex_unlock(&ctx->cache_mu);
        return rc;
    }
    if (k->slot < 0 || (unsigned)k->slot >= ctx->nsess)
        return sm_errf(err, SM_EINVAL, "hsm: invalid key reference");
    hsm_sess *owner = &ctx->sess[k->slot];
    if (atomic_load(&owner->gen) != k->gen || owner->mod_gen != mg || !owner->open)
        return sm_errf(err, SM_ESESSION, "hsm: session key lost when its HSM session was recovered");
    *h = (CK_OBJECT_HANDLE)k->handle;
    return SM_OK;
}

sm_rc hsm_kek_check(hsm_sess *s, const hsm_key *kek, bool *trusted, sm_err *err)
{
    CK_OBJECT_HANDLE h;
    CK_BBOOL t = CK_FALSE;
    CK_ATTRIBUTE a = {CKA_TRUSTED, &t, sizeof t};
    HSM_CALL(s, err, "reading CKA_TRUSTED of the key-encryption key", {
        RESOLVE(kek, &h);
        P11(C_GetAttributeValue, s->h, h, &a, 1);
        if (rv == CKR_ATTRIBUTE_TYPE_INVALID) {
            rv = CKR_OK;
            t = CK_FALSE;
        }
    });
    *trusted = t == CK_TRUE;
    s->ctx->caps.trusted_wrap = *trusted;
    return SM_OK;
}

unsigned hsm_stat_recoveries(const hsm_ctx *ctx) { return atomic_load(&((hsm_ctx *)ctx)->recoveries); }

sm_rc hsm_test_drop_sessions(hsm_ctx *ctx, sm_err *err)
{
    CK_RV rv = ctx->f->C_CloseAllSessions(ctx->slot);
    return rv == CKR_OK ? SM_OK : hsm_fail(err, rv, "C_CloseAllSessions", "test: dropping sessions");
}

sm_rc hsm_test_finalize(hsm_ctx *ctx, sm_err *err)
{
    CK_RV rv = ctx->f->C_Finalize(NULL);
    return rv == CKR_OK ? SM_OK : hsm_fail(err, rv, "C_Finalize", "test: finalizing module");
}

sm_rc hsm_init_token(const char *module_path, const char *label, const char *so_pin, size_t so_len,
                     const char *user_pin, size_t user_len, bool reinit, sm_err *err)
{
    if (strlen(label) > 32)
        return sm_errf(err, SM_EINVAL, "hsm: token label '%s' is longer than 32 characters", label);
    void *dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        return sm_errf(err, SM_ENOTFOUND, "hsm: loading PKCS#11 module %s: %s", module_path, dlerror());
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    sm_rc rc = SM_OK;
    CK_RV rv;
    const char *fn = "C_GetFunctionList";
    if (!gfl || (rv = gfl(&f)) != CKR_OK) {
        dlclose(dl);
        return sm_errf(err, SM_EINVAL, "hsm: %s is not a PKCS#11 module", module_path);
    }
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    fn = "C_Initialize";
    rv = f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
        rv = CKR_OK;
    CK_SLOT_ID slots[64], slot = 0;
    CK_ULONG n = 64;
    if (rv == CKR_OK) {
        fn = "C_GetSlotList";
        rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    }
    bool found = false;
    char want[32];
    pad_label(want, label);
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if ((ti.flags & CKF_TOKEN_INITIALIZED) && memcmp(ti.label, want, 32) == 0) {
            if (reinit) { /* C_InitToken on an initialised token erases it (SO PIN required) */
                slot = slots[i];
                found = true;
                break;
            }
            rc = sm_errf(err, SM_EEXIST, "hsm: a token labelled '%s' already exists", label);
            break;
        }
        if (!found && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            slot = slots[i];
            found = true;
        }
    }
    if (rc == SM_OK && rv == CKR_OK && !found)
        rc = sm_errf(err, SM_ENOTFOUND, "hsm: module %s has no free (uninitialised) token slot", module_path);
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    if (rc == SM_OK && rv == CKR_OK) {
        fn = "C_InitToken";
        rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, (CK_ULONG)so_len, (CK_UTF8CHAR_PTR)want);
        /* SoftHSM2 moves an initialised token to a new slot id: find it again by label */
        if (rv == CKR_OK) {
            n = 64;
            fn = "C_GetSlotList";
            rv = f->C_GetSlotList(CK_TRUE, slots, &n);
            for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
                CK_TOKEN_INFO ti;
                if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && memcmp(ti.label, want, 32) == 0)
                    slot = slots[i];
            }
        }
        if (rv == CKR_OK) {
            fn = "C_OpenSession";
            rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
        }
        if (rv == CKR_OK) {
            fn = "C_Login(SO)";
            rv = f->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, (CK_ULONG)so_len);
        }
        if (rv == CKR_OK) {
            fn = "C_InitPIN";
            rv = f->C_InitPIN(h, (CK_UTF8CHAR_PTR)user_pin, (CK_ULONG)user_len);
            f->C_Logout(h);
        }
        if (h != CK_INVALID_HANDLE)
            f->C_CloseSession(h);
    }
    if (rc == SM_OK && rv != CKR_OK) {
        char what[96];
        snprintf(what, sizeof what, "initialising token '%s'", label);
        rc = hsm_fail(err, rv, fn, what);
    }
    f->C_Finalize(NULL);
    dlclose(dl);
    return rc;
}
