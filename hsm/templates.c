/* The one place where key templates are built. Every private or secret key is CKA_PRIVATE and
 * CKA_SENSITIVE; CKA_EXTRACTABLE is TRUE only for keys created `wrappable`, and those carry
 * CKA_WRAP_WITH_TRUSTED where the module supports trusted wrapping keys. */
#include <string.h>

#include "hsm/internal.h"

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_bp256r1[] = {0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07};

const uint8_t *hsm_curve_oid(hsm_curve c, size_t *len)
{
    if (c == HSM_CURVE_BP256R1) {
        *len = sizeof oid_bp256r1;
        return oid_bp256r1;
    }
    *len = sizeof oid_p256;
    return oid_p256;
}

CK_KEY_TYPE hsm_ck_keytype(hsm_keytype t)
{
    switch (t) {
    case HSM_KT_AES:
        return CKK_AES;
    case HSM_KT_DES2:
        return CKK_DES2;
    case HSM_KT_DES3:
        return CKK_DES3;
    case HSM_KT_GENERIC:
        return CKK_GENERIC_SECRET;
    case HSM_KT_EC_PRIV:
    case HSM_KT_EC_PUB:
        return CKK_EC;
    }
    return CKK_GENERIC_SECRET;
}

void hsm_tmpl_add(hsm_tmpl *t, CK_ATTRIBUTE_TYPE type, void *p, CK_ULONG len)
{
    if (t->n >= HSM_TMPL_MAX)
        return; /* templates are built from fixed code paths; HSM_TMPL_MAX covers the largest */
    t->a[t->n].type = type;
    t->a[t->n].pValue = p;
    t->a[t->n].ulValueLen = len;
    t->n++;
}

#define BOOL(tm, type, v) hsm_tmpl_add((tm), (type), (v) ? &(tm)->t : &(tm)->f, sizeof(CK_BBOOL))

static void add_naming(hsm_tmpl *t, const hsm_keyspec *spec)
{
    if (spec->label)
        hsm_tmpl_add(t, CKA_LABEL, (void *)spec->label, (CK_ULONG)strlen(spec->label));
    if (spec->id && spec->idlen)
        hsm_tmpl_add(t, CKA_ID, (void *)spec->id, (CK_ULONG)spec->idlen);
}

static sm_rc check_len(const hsm_keyspec *spec, sm_err *err)
{
    switch (spec->type) {
    case HSM_KT_AES:
        if (spec->len != 16 && spec->len != 24 && spec->len != 32)
            return sm_errf(err, SM_EINVAL, "hsm: AES key length %u is not 16, 24 or 32", spec->len);
        break;
    case HSM_KT_DES2:
        if (spec->len != 16)
            return sm_errf(err, SM_EINVAL, "hsm: DES2 key length %u is not 16", spec->len);
        break;
    case HSM_KT_DES3:
        if (spec->len != 24)
            return sm_errf(err, SM_EINVAL, "hsm: DES3 key length %u is not 24", spec->len);
        break;
    case HSM_KT_GENERIC:
        if (spec->len == 0 || spec->len > 512)
            return sm_errf(err, SM_EINVAL, "hsm: generic secret length %u out of range", spec->len);
        break;
    default:
        return sm_errf(err, SM_EINVAL, "hsm: key type %d is not a secret key type", (int)spec->type);
    }
    return SM_OK;
}

sm_rc hsm_tmpl_secret(const hsm_ctx *ctx, const hsm_keyspec *spec, hsm_tmpl_mode mode, hsm_tmpl *t, sm_err *err)
{
    memset(t, 0, sizeof *t);
    t->t = CK_TRUE;
    t->f = CK_FALSE;
    sm_rc rc = check_len(spec, err);
    if (rc != SM_OK)
        return rc;
    t->cls = CKO_SECRET_KEY;
    t->kt = hsm_ck_keytype(spec->type);
    t->value_len = spec->len;
    if (mode != HSM_TM_GENERATE)
        hsm_tmpl_add(t, CKA_CLASS, &t->cls, sizeof t->cls);
    hsm_tmpl_add(t, CKA_KEY_TYPE, &t->kt, sizeof t->kt);
    bool is_des = spec->type == HSM_KT_DES2 || spec->type == HSM_KT_DES3;
    if ((mode == HSM_TM_GENERATE || mode == HSM_TM_DERIVE) && !is_des)
        hsm_tmpl_add(t, CKA_VALUE_LEN, &t->value_len, sizeof t->value_len);
    BOOL(t, CKA_TOKEN, spec->token);
    BOOL(t, CKA_PRIVATE, true);
    BOOL(t, CKA_SENSITIVE, true);
    BOOL(t, CKA_EXTRACTABLE, spec->wrappable);
    if (spec->wrappable && ctx && ctx->caps.trusted_wrap)
        BOOL(t, CKA_WRAP_WITH_TRUSTED, true);
    BOOL(t, CKA_ENCRYPT, spec->usage & HSM_U_ENCRYPT);
    BOOL(t, CKA_DECRYPT, spec->usage & HSM_U_DECRYPT);
    BOOL(t, CKA_SIGN, spec->usage & HSM_U_SIGN);
    BOOL(t, CKA_VERIFY, spec->usage & HSM_U_VERIFY);
    BOOL(t, CKA_WRAP, spec->usage & HSM_U_WRAP);
    BOOL(t, CKA_UNWRAP, spec->usage & HSM_U_UNWRAP);
    BOOL(t, CKA_DERIVE, spec->usage & HSM_U_DERIVE);
    if (spec->trusted)
        BOOL(t, CKA_TRUSTED, true);
    add_naming(t, spec);
    return SM_OK;
}

sm_rc hsm_tmpl_ec_pair(const hsm_ctx *ctx, const hsm_keyspec *spec, hsm_tmpl *pub, hsm_tmpl *priv, sm_err *err)
{
    (void)ctx;
    if (spec->type != HSM_KT_EC_PRIV)
        return sm_errf(err, SM_EINVAL, "hsm: EC key pair spec must have type EC_PRIV");
    if (spec->wrappable)
        return sm_errf(err, SM_EINVAL, "hsm: EC private keys are never created extractable");
    memset(pub, 0, sizeof *pub);
    memset(priv, 0, sizeof *priv);
    pub->t = priv->t = CK_TRUE;
    pub->f = priv->f = CK_FALSE;
    size_t oidlen;
    const uint8_t *oid = hsm_curve_oid(spec->curve, &oidlen);
    hsm_tmpl_add(pub, CKA_EC_PARAMS, (void *)oid, (CK_ULONG)oidlen);
    BOOL(pub, CKA_TOKEN, spec->token);
    BOOL(pub, CKA_PRIVATE, false);
    BOOL(pub, CKA_VERIFY, spec->usage & HSM_U_SIGN);
    add_naming(pub, spec);

    BOOL(priv, CKA_TOKEN, spec->token);
    BOOL(priv, CKA_PRIVATE, true);
    BOOL(priv, CKA_SENSITIVE, true);
    BOOL(priv, CKA_EXTRACTABLE, false);
    BOOL(priv, CKA_SIGN, spec->usage & HSM_U_SIGN);
    BOOL(priv, CKA_DERIVE, spec->usage & HSM_U_DERIVE);
    add_naming(priv, spec);
    return SM_OK;
}
