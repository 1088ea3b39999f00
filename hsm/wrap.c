/* Key wrapping with AES key wrap with padding (RFC 5649): per-eUICC keys leave the HSM only so. */
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
