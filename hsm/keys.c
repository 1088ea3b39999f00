/* Key objects: lookup with a handle cache, generation, import, destruction, inspection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/internal.h"

static void class_of(hsm_keytype t, CK_OBJECT_CLASS *cls)
{
    switch (t) {
    case HSM_KT_EC_PRIV:
        *cls = CKO_PRIVATE_KEY;
        break;
    case HSM_KT_EC_PUB:
        *cls = CKO_PUBLIC_KEY;
        break;
    default:
        *cls = CKO_SECRET_KEY;
    }
}

/* One C_FindObjects round inside a bracket; exactly one match expected. */
static CK_RV find_one(hsm_sess *s, const char *label, const uint8_t *id, size_t idlen, hsm_keytype t,
                      CK_OBJECT_HANDLE *h, int *count)
{
    CK_OBJECT_CLASS cls;
    class_of(t, &cls);
    CK_KEY_TYPE kt = hsm_ck_keytype(t);
    CK_ATTRIBUTE tmpl[4];
    CK_ULONG n = 0;
    tmpl[n++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof cls};
    if (t != HSM_KT_GENERIC || cls != CKO_SECRET_KEY)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof kt};
    if (label)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)};
    if (id)
        tmpl[n++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, (CK_ULONG)idlen};
    CK_RV rv = s->ctx->f->C_FindObjectsInit(s->h, tmpl, n);
    if (rv != CKR_OK)
        return rv;
    CK_OBJECT_HANDLE found[2];
    CK_ULONG nf = 0;
    rv = s->ctx->f->C_FindObjects(s->h, found, 2, &nf);
    CK_RV rv2 = s->ctx->f->C_FindObjectsFinal(s->h);
    if (rv == CKR_OK)
        rv = rv2;
    *count = (int)nf;
    if (nf >= 1)
        *h = found[0];
    return rv;
}

static sm_rc describe_missing(sm_err *err, int count, const char *label, const uint8_t *id, size_t idlen)
{
    char name[HSM_LABEL_MAX + 80];
    if (label) {
        snprintf(name, sizeof name, "label '%s'", label);
    } else {
        int o = snprintf(name, sizeof name, "id ");
        for (size_t i = 0; i < idlen && o < (int)sizeof name - 3; i++)
            o += snprintf(name + o, sizeof name - (size_t)o, "%02x", id[i]);
    }
    if (count == 0)
        return sm_errf(err, SM_ENOTFOUND, "hsm: no key with %s", name);
    return sm_errf(err, SM_EINVAL, "hsm: several keys with %s", name);
}

sm_rc hsm_refind(hsm_sess *s, struct hsm_cache_ent *e, sm_err *err)
{
    int count = 0;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv = find_one(s, e->label[0] ? e->label : NULL, e->idlen ? e->id : NULL, e->idlen, (hsm_keytype)e->type,
                        &h, &count);
    if (rv != CKR_OK)
        return hsm_fail(err, rv, "C_FindObjects", "re-finding a cached key");
    if (count != 1)
        return describe_missing(err, count, e->label[0] ? e->label : NULL, e->id, e->idlen);
    e->h = h;
    e->gen = atomic_load(&s->ctx->hgen);
    return SM_OK;
}

static sm_rc key_find(hsm_sess *s, const char *label, const uint8_t *id, size_t idlen, hsm_keytype type,
                      hsm_key *out, sm_err *err)
{
    hsm_ctx *ctx = s->ctx;
    if (label && strlen(label) > HSM_LABEL_MAX)
        return sm_errf(err, SM_EINVAL, "hsm: key label longer than %d bytes", HSM_LABEL_MAX);
    if (id && idlen > sizeof ctx->cache[0].id)
        return sm_errf(err, SM_EINVAL, "hsm: key id longer than %zu bytes", sizeof ctx->cache[0].id);
    pthread_mutex_lock(&ctx->cache_mu);
    int slot = -1;
    for (unsigned i = 0; i < ctx->ncache; i++) {
        struct hsm_cache_ent *e = &ctx->cache[i];
        if (e->type != type)
            continue;
        if (label && strcmp(e->label, label) == 0) {
            slot = (int)i;
            break;
        }
        if (!label && e->idlen == idlen && memcmp(e->id, id, idlen) == 0 && !e->label[0]) {
            slot = (int)i;
            break;
        }
    }
    uint32_t mg = atomic_load(&ctx->hgen);
    if (slot >= 0 && ctx->cache[slot].gen == mg) {
        out->handle = ctx->cache[slot].h;
        out->gen = mg;
        out->slot = (int16_t)slot;
        out->type = (uint8_t)type;
        out->token = 1;
        pthread_mutex_unlock(&ctx->cache_mu);
        return SM_OK;
    }
    sm_rc rc = hsm_enter(s, err);
    if (rc != SM_OK) {
        pthread_mutex_unlock(&ctx->cache_mu);
        return rc;
    }
    int count = 0;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv = find_one(s, label, id, idlen, type, &h, &count);
    mg = atomic_load(&ctx->hgen);
    hsm_leave(s);
    if (rv != CKR_OK) {
        pthread_mutex_unlock(&ctx->cache_mu);
        if (hsm_recover(s, rv))
            return key_find(s, label, id, idlen, type, out, err);
        return hsm_fail(err, rv, "C_FindObjects", "looking up a key");
    }
    if (count != 1) {
        pthread_mutex_unlock(&ctx->cache_mu);
        return describe_missing(err, count, label, id, idlen);
    }
    if (slot < 0) {
        if (ctx->ncache >= HSM_CACHE_MAX) {
            pthread_mutex_unlock(&ctx->cache_mu);
            return sm_errf(err, SM_ELIMIT, "hsm: key handle cache full (%d keys)", HSM_CACHE_MAX);
        }
        slot = (int)ctx->ncache++;
        struct hsm_cache_ent *e = &ctx->cache[slot];
        memset(e, 0, sizeof *e);
        if (label)
            snprintf(e->label, sizeof e->label, "%s", label);
        if (id) {
            memcpy(e->id, id, idlen);
            e->idlen = idlen;
        }
        e->type = (uint8_t)type;
    }
    ctx->cache[slot].h = h;
    ctx->cache[slot].gen = mg;
    out->handle = h;
    out->gen = mg;
    out->slot = (int16_t)slot;
    out->type = (uint8_t)type;
    out->token = 1;
    pthread_mutex_unlock(&ctx->cache_mu);
    return SM_OK;
}

sm_rc hsm_key_find(hsm_sess *s, const char *label, hsm_keytype type, hsm_key *out, sm_err *err)
{
    if (!label || !*label)
        return sm_errf(err, SM_EINVAL, "hsm: key lookup needs a label");
    return key_find(s, label, NULL, 0, type, out, err);
}

sm_rc hsm_key_find_id(hsm_sess *s, const uint8_t *id, size_t idlen, hsm_keytype type, hsm_key *out, sm_err *err)
{
    if (!id || !idlen)
        return sm_errf(err, SM_EINVAL, "hsm: key lookup needs an id");
    return key_find(s, NULL, id, idlen, type, out, err);
}

static CK_MECHANISM_TYPE keygen_mech(hsm_keytype t)
{
    switch (t) {
    case HSM_KT_AES:
        return CKM_AES_KEY_GEN;
    case HSM_KT_DES2:
        return CKM_DES2_KEY_GEN;
    case HSM_KT_DES3:
        return CKM_DES3_KEY_GEN;
    default:
        return CKM_GENERIC_SECRET_KEY_GEN;
    }
}

sm_rc hsm_key_generate(hsm_sess *s, const hsm_keyspec *spec, hsm_key *out, sm_err *err)
{
    hsm_tmpl t;
    sm_rc rc = hsm_tmpl_secret(s->ctx, spec, HSM_TM_GENERATE, &t, err);
    if (rc != SM_OK)
        return rc;
    CK_MECHANISM m = {keygen_mech(spec->type), NULL, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "generating a secret key", { P11(C_GenerateKey, s->h, &m, t.a, t.n, &h); });
    *out = hsm_key_session(s, h, spec->type, spec->token);
    return SM_OK;
}

sm_rc hsm_ec_generate(hsm_sess *s, const hsm_keyspec *spec, hsm_key *priv, hsm_key *pub, sm_err *err)
{
    hsm_tmpl tpub, tpriv;
    sm_rc rc = hsm_tmpl_ec_pair(s->ctx, spec, &tpub, &tpriv, err);
    if (rc != SM_OK)
        return rc;
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    HSM_CALL(s, err, spec->curve == HSM_CURVE_BP256R1 ? "generating a brainpoolP256r1 key pair"
                                                      : "generating a P-256 key pair",
             { P11(C_GenerateKeyPair, s->h, &m, tpub.a, tpub.n, tpriv.a, tpriv.n, &hpub, &hpriv); });
    *priv = hsm_key_session(s, hpriv, HSM_KT_EC_PRIV, spec->token);
    if (pub)
        *pub = hsm_key_session(s, hpub, HSM_KT_EC_PUB, spec->token);
    return SM_OK;
}

sm_rc hsm_key_destroy(hsm_sess *s, const hsm_key *k, sm_err *err)
{
    CK_OBJECT_HANDLE h;
    HSM_CALL(s, err, "destroying a key", {
        RESOLVE(k, &h);
        P11(C_DestroyObject, s->h, h);
    });
    if (k->token && k->slot >= 0) {
        hsm_ctx *ctx = s->ctx;
        pthread_mutex_lock(&ctx->cache_mu);
        ctx->cache[k->slot].gen = 0; /* force a re-find (which will report it missing) */
        pthread_mutex_unlock(&ctx->cache_mu);
    }
    return SM_OK;
}

sm_rc hsm_secret_import(hsm_sess *s, const hsm_keyspec *spec, const uint8_t *val, size_t len, hsm_key *out,
                        sm_err *err)
{
    if (len != spec->len)
        return sm_errf(err, SM_EINVAL, "hsm: importing a key of %zu bytes with a spec for %u", len, spec->len);
    hsm_tmpl t;
    sm_rc rc = hsm_tmpl_secret(s->ctx, spec, HSM_TM_IMPORT, &t, err);
    if (rc != SM_OK)
        return rc;
    hsm_tmpl_add(&t, CKA_VALUE, (void *)val, (CK_ULONG)len);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "importing a secret key", { P11(C_CreateObject, s->h, t.a, t.n, &h); });
    *out = hsm_key_session(s, h, spec->type, spec->token);
    return SM_OK;
}

sm_rc hsm_ec_import_private(hsm_sess *s, const hsm_keyspec *spec, const uint8_t *d, size_t dlen, hsm_key *out,
                            sm_err *err)
{
    if (spec->type != HSM_KT_EC_PRIV || spec->token || spec->wrappable)
        return sm_errf(err, SM_EINVAL, "hsm: EC private key import is for non-extractable session test keys only");
    if (dlen != 32)
        return sm_errf(err, SM_EINVAL, "hsm: EC private scalar must be 32 bytes (got %zu)", dlen);
    size_t oidlen;
    const uint8_t *oid = hsm_curve_oid(spec->curve, &oidlen);
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = CKK_EC;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof cls},
                        {CKA_KEY_TYPE, &kt, sizeof kt},
                        {CKA_TOKEN, &f, sizeof f},
                        {CKA_PRIVATE, &t, sizeof t},
                        {CKA_SENSITIVE, &t, sizeof t},
                        {CKA_EXTRACTABLE, &f, sizeof f},
                        {CKA_SIGN, (spec->usage & HSM_U_SIGN) ? &t : &f, sizeof t},
                        {CKA_DERIVE, (spec->usage & HSM_U_DERIVE) ? &t : &f, sizeof t},
                        {CKA_EC_PARAMS, (void *)oid, oidlen},
                        {CKA_VALUE, (void *)d, dlen},
                        {CKA_LABEL, (void *)spec->label, spec->label ? strlen(spec->label) : 0},
                        {CKA_ID, (void *)spec->id, spec->id ? spec->idlen : 0}};
    CK_ULONG n = 10 + (spec->label ? 1 : 0);
    if (spec->id && spec->idlen) {
        a[n] = a[11];
        n++;
    }
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "importing an EC private test key", { P11(C_CreateObject, s->h, a, n, &h); });
    *out = hsm_key_session(s, h, HSM_KT_EC_PRIV, false);
    return SM_OK;
}

/* DER OCTET STRING around a point, as CKA_EC_POINT wants it. */
static size_t der_octets(const uint8_t *p, size_t n, uint8_t *out)
{
    out[0] = 0x04;
    if (n < 0x80) {
        out[1] = (uint8_t)n;
        memcpy(out + 2, p, n);
        return n + 2;
    }
    out[1] = 0x81;
    out[2] = (uint8_t)n;
    memcpy(out + 3, p, n);
    return n + 3;
}

sm_rc hsm_ec_import_public(hsm_sess *s, hsm_curve curve, const uint8_t *point, size_t len, hsm_key *out,
                           sm_err *err)
{
    if (len != 65 || point[0] != 0x04)
        return sm_errf(err, SM_EINVAL, "hsm: EC public key must be an uncompressed 65-byte point (got %zu bytes)",
                       len);
    uint8_t der[HSM_EC_POINT_MAX + 4];
    size_t derlen = der_octets(point, len, der);
    size_t oidlen;
    const uint8_t *oid = hsm_curve_oid(curve, &oidlen);
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE kt = CKK_EC;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
                        {CKA_TOKEN, &f, sizeof f},           {CKA_VERIFY, &t, sizeof t},
                        {CKA_EC_PARAMS, (void *)oid, oidlen}, {CKA_EC_POINT, der, derlen}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "importing an EC public key", { P11(C_CreateObject, s->h, a, 6, &h); });
    *out = hsm_key_session(s, h, HSM_KT_EC_PUB, false);
    return SM_OK;
}

/* Strips the DER OCTET STRING some modules put around CKA_EC_POINT. */
static sm_rc point_unwrap(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len, sm_err *err)
{
    const uint8_t *p = in;
    size_t l = n;
    if (n == 65 || n == 97) {
        /* raw uncompressed point of a 256- or 384-bit curve */
    } else if (n >= 2 && in[0] == 0x04 && in[1] == n - 2) {
        p = in + 2;
        l = n - 2;
    } else if (n >= 3 && in[0] == 0x04 && in[1] == 0x81 && in[2] == n - 3) {
        p = in + 3;
        l = n - 3;
    }
    if (l > cap || l == 0 || p[0] != 0x04)
        return sm_errf(err, SM_EINVAL, "hsm: unexpected CKA_EC_POINT encoding (%zu bytes)", n);
    memcpy(out, p, l);
    *len = l;
    return SM_OK;
}

/* Inside a bracket: the public-key object that belongs to a private key (same CKA_ID, else same
 * CKA_LABEL), or the private key itself when the module exposes CKA_EC_POINT on it. */
static CK_RV public_half(hsm_sess *s, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE *pub, const char **fn)
{
    CK_FUNCTION_LIST_PTR f = s->ctx->f;
    uint8_t pt[HSM_EC_POINT_MAX + 8];
    CK_ATTRIBUTE pa = {CKA_EC_POINT, pt, sizeof pt};
    if (f->C_GetAttributeValue(s->h, priv, &pa, 1) == CKR_OK && pa.ulValueLen != CK_UNAVAILABLE_INFORMATION) {
        *pub = priv;
        return CKR_OK;
    }
    uint8_t id[64], lbl[HSM_LABEL_MAX];
    CK_ATTRIBUTE ia = {CKA_ID, id, sizeof id}, la = {CKA_LABEL, lbl, sizeof lbl};
    if (f->C_GetAttributeValue(s->h, priv, &ia, 1) != CKR_OK || ia.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        ia.ulValueLen = 0;
    if (f->C_GetAttributeValue(s->h, priv, &la, 1) != CKR_OK || la.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        la.ulValueLen = 0;
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE ft[2] = {{CKA_CLASS, &cls, sizeof cls}, ia.ulValueLen ? ia : la};
    if (ft[1].ulValueLen == 0)
        return CKR_KEY_HANDLE_INVALID;
    *fn = "C_FindObjects";
    CK_RV rv = f->C_FindObjectsInit(s->h, ft, 2);
    if (rv != CKR_OK)
        return rv;
    CK_ULONG nf = 0;
    rv = f->C_FindObjects(s->h, pub, 1, &nf);
    CK_RV rv2 = f->C_FindObjectsFinal(s->h);
    if (rv == CKR_OK)
        rv = rv2;
    if (rv == CKR_OK && nf == 0)
        rv = CKR_KEY_HANDLE_INVALID;
    return rv;
}

sm_rc hsm_ec_public(hsm_sess *s, const hsm_key *k, uint8_t *point, size_t cap, size_t *len, hsm_curve *curve,
                    sm_err *err)
{
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
    uint8_t raw[HSM_EC_POINT_MAX + 8], params[16];
    CK_ATTRIBUTE a[2] = {{CKA_EC_POINT, raw, sizeof raw}, {CKA_EC_PARAMS, params, sizeof params}};
    HSM_CALL(s, err, "reading an EC public key", {
        RESOLVE(k, &h);
        if (rv == CKR_OK) {
            if (k->type == HSM_KT_EC_PRIV)
                rv = public_half(s, h, &pub, &fn_);
            else
                pub = h;
        }
        P11(C_GetAttributeValue, s->h, pub, a, 2);
    });
    sm_rc rc = point_unwrap(raw, a[0].ulValueLen, point, cap, len, err);
    if (rc != SM_OK)
        return rc;
    if (curve) {
        size_t ol;
        const uint8_t *o = hsm_curve_oid(HSM_CURVE_BP256R1, &ol);
        *curve = (a[1].ulValueLen == ol && memcmp(params, o, ol) == 0) ? HSM_CURVE_BP256R1 : HSM_CURVE_P256;
    }
    return SM_OK;
}

sm_rc hsm_key_try_read_value(hsm_sess *s, const hsm_key *k, uint8_t *buf, size_t cap, size_t *len, sm_err *err)
{
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE a = {CKA_VALUE, buf, (CK_ULONG)cap};
    HSM_CALL(s, err, "reading CKA_VALUE", {
        RESOLVE(k, &h);
        P11(C_GetAttributeValue, s->h, h, &a, 1);
    });
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return sm_errf(err, SM_EPERM, "hsm: CKA_VALUE is not readable");
    *len = a.ulValueLen;
    return SM_OK;
}

static void fill_info(hsm_sess *s, CK_OBJECT_HANDLE h, hsm_objinfo *o)
{
    CK_FUNCTION_LIST_PTR f = s->ctx->f;
    memset(o, 0, sizeof *o);
    CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
    CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
    CK_ULONG vlen = 0;
    CK_BBOOL b[9] = {0};
    char label[HSM_LABEL_MAX + 1] = {0};
    uint8_t params[16];
    CK_ATTRIBUTE single[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_LABEL, label, HSM_LABEL_MAX},
        {CKA_ID, o->id, sizeof o->id},
        {CKA_VALUE_LEN, &vlen, sizeof vlen},
        {CKA_TOKEN, &b[0], 1},
        {CKA_PRIVATE, &b[1], 1},
        {CKA_SENSITIVE, &b[2], 1},
        {CKA_EXTRACTABLE, &b[3], 1},
        {CKA_ALWAYS_SENSITIVE, &b[4], 1},
        {CKA_NEVER_EXTRACTABLE, &b[5], 1},
        {CKA_TRUSTED, &b[6], 1},
        {CKA_WRAP_WITH_TRUSTED, &b[7], 1},
        {CKA_MODIFIABLE, &b[8], 1},
        {CKA_EC_PARAMS, params, sizeof params},
    };
    /* one attribute at a time: a module fails the whole call when one type does not apply */
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
        CK_ULONG cap = single[i].ulValueLen;
        if (f->C_GetAttributeValue(s->h, h, &single[i], 1) != CKR_OK || single[i].ulValueLen > cap)
            single[i].ulValueLen = 0;
    }
    memcpy(o->label, label, single[2].ulValueLen);
    o->idlen = single[3].ulValueLen;
    o->token = b[0];
    o->priv = b[1];
    o->sensitive = b[2];
    o->extractable = b[3];
    o->always_sensitive = b[4];
    o->never_extractable = b[5];
    o->trusted = b[6];
    o->wrap_with_trusted = b[7];
    o->modifiable = b[8];
    switch (cls) {
    case CKO_PRIVATE_KEY:
        o->cls = "private";
        break;
    case CKO_PUBLIC_KEY:
        o->cls = "public";
        break;
    case CKO_SECRET_KEY:
        o->cls = "secret";
        break;
    case CKO_CERTIFICATE:
        o->cls = "certificate";
        break;
    case CKO_DATA:
        o->cls = "data";
        break;
    default:
        o->cls = "other";
    }
    switch (kt) {
    case CKK_EC:
        o->keytype = "EC";
        {
            size_t ol;
            const uint8_t *bp = hsm_curve_oid(HSM_CURVE_BP256R1, &ol);
            o->keytype = single[14].ulValueLen == ol && memcmp(params, bp, ol) == 0 ? "EC-brainpoolP256r1"
                                                                                     : "EC-P256";
            o->bits = 256;
        }
        break;
    case CKK_AES:
        o->keytype = "AES";
        o->bits = vlen * 8;
        break;
    case CKK_DES2:
        o->keytype = "DES2";
        o->bits = 128;
        break;
    case CKK_DES3:
        o->keytype = "DES3";
        o->bits = 192;
        break;
    case CKK_GENERIC_SECRET:
        o->keytype = "GENERIC";
        o->bits = vlen * 8;
        break;
    default:
        o->keytype = cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY ? "?" : "-";
    }
    if (cls == CKO_SECRET_KEY || cls == CKO_PRIVATE_KEY)
        o->flagged = !o->sensitive || o->extractable;
}

sm_rc hsm_objects_list(hsm_sess *s, hsm_obj_cb cb, void *arg, sm_err *err)
{
    CK_OBJECT_HANDLE hs[256];
    CK_ULONG n = 0;
    HSM_CALL(s, err, "listing token objects", {
        P11(C_FindObjectsInit, s->h, NULL, 0);
        P11(C_FindObjects, s->h, hs, 256, &n);
        if (rv == CKR_OK) {
            fn_ = "C_FindObjectsFinal";
            rv = s->ctx->f->C_FindObjectsFinal(s->h);
        }
        for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
            hsm_objinfo o;
            fill_info(s, hs[i], &o);
            if (cb(&o, arg) != 0)
                break;
        }
    });
    return SM_OK;
}
