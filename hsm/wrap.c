/* Key wrapping with AES key wrap with padding (RFC 5649): per-eUICC keys leave the HSM only so. */
#include <string.h>

#include "hsm/internal.h"

sm_rc hsm_wrap(hsm_sess *s, const hsm_key *kek, const hsm_key *key, uint8_t *out, size_t cap, size_t *outlen,
               sm_err *err)
{
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE hk, hw;
    CK_ULONG l = (CK_ULONG)cap;
    HSM_CALL(s, err, "wrapping a key under the key-encryption key", {
        RESOLVE(kek, &hw);
        RESOLVE(key, &hk);
        P11(C_WrapKey, s->h, &m, hw, hk, out, &l);
    });
    *outlen = l;
    return SM_OK;
}

sm_rc hsm_unwrap(hsm_sess *s, const hsm_key *kek, const uint8_t *wrapped, size_t len, const hsm_keyspec *spec,
                 hsm_key *out, sm_err *err)
{
    if (len < 16 || len % 8)
        return sm_errf(err, SM_EINVAL, "hsm: wrapped key of %zu bytes is not a valid RFC 5649 blob", len);
    hsm_tmpl t;
    sm_rc rc = hsm_tmpl_secret(s->ctx, spec, HSM_TM_UNWRAP, &t, err);
    if (rc != SM_OK)
        return rc;
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE hw, nk = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "unwrapping a key with the key-encryption key", {
        RESOLVE(kek, &hw);
        P11(C_UnwrapKey, s->h, &m, hw, (CK_BYTE_PTR)wrapped, (CK_ULONG)len, t.a, t.n, &nk);
    });
    *out = hsm_key_session(s, nk, spec->type, spec->token);
    return SM_OK;
}

sm_rc hsm_unwrap_psk_for_tls(hsm_sess *s, const hsm_key *kek, const uint8_t *wrapped, size_t len, uint8_t *psk,
                             size_t cap, size_t *psklen, sm_err *err)
{
    if (len < 16 || len % 8)
        return sm_errf(err, SM_EINVAL, "hsm: wrapped PSK of %zu bytes is not a valid RFC 5649 blob", len);
    if (len - 8 > cap)
        return sm_errf(err, SM_EINVAL, "hsm: PSK buffer of %zu bytes too small for a %zu-byte blob", cap, len);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    /* session object, non-sensitive and extractable so CKA_VALUE can be read once (SoftHSM2 also
     * wants CKA_EXTRACTABLE for that); no usage at all, destroyed before return */
    CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof cls},  {CKA_KEY_TYPE, &kt, sizeof kt},
                        {CKA_TOKEN, &f, sizeof f},      {CKA_PRIVATE, &t, sizeof t},
                        {CKA_SENSITIVE, &f, sizeof f},  {CKA_EXTRACTABLE, &t, sizeof t},
                        {CKA_ENCRYPT, &f, sizeof f},    {CKA_DECRYPT, &f, sizeof f},
                        {CKA_SIGN, &f, sizeof f},       {CKA_VERIFY, &f, sizeof f},
                        {CKA_WRAP, &f, sizeof f},       {CKA_UNWRAP, &f, sizeof f},
                        {CKA_DERIVE, &f, sizeof f}};
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE hw, nk = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "unwrapping the SCP81 PSK for a TLS handshake", {
        RESOLVE(kek, &hw);
        P11(C_UnwrapKey, s->h, &m, hw, (CK_BYTE_PTR)wrapped, (CK_ULONG)len, a, sizeof a / sizeof a[0], &nk);
    });
    hsm_key k = hsm_key_session(s, nk, HSM_KT_GENERIC, false);
    size_t n = 0;
    sm_rc rc = hsm_key_try_read_value(s, &k, psk, cap, &n, err);
    sm_err e2 = {0};
    sm_rc drc = hsm_key_destroy(s, &k, &e2);
    if (rc == SM_OK && drc != SM_OK) {
        explicit_bzero(psk, cap);
        return sm_errf(err, drc, "hsm: destroying the PSK session object: %s", e2.msg);
    }
    if (rc != SM_OK) {
        explicit_bzero(psk, cap);
        return rc;
    }
    *psklen = n;
    return SM_OK;
}
