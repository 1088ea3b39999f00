/* Symmetric operations: AES-CMAC, AES-CBC/ECB, triple-DES CBC, AES-GCM, ECB-data derivation,
 * random bytes. One PKCS#11 Init+operation pair per call (whole buffers, never per block). */
#include <string.h>

#include "hsm/internal.h"

sm_rc hsm_aes_cmac(hsm_sess *s, const hsm_key *k, const uint8_t *msg, size_t len, uint8_t mac[16], sm_err *err)
{
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_ULONG l = 16;
    HSM_CALL(s, err, "AES-CMAC", {
        RESOLVE(k, &h);
        P11(C_SignInit, s->h, &m, h);
        P11(C_Sign, s->h, (CK_BYTE_PTR)msg, (CK_ULONG)len, mac, &l);
    });
    if (l != 16)
        return sm_errf(err, SM_EHSM, "hsm: AES-CMAC returned %lu bytes, not 16", (unsigned long)l);
    return SM_OK;
}

/* Encrypts or decrypts a whole buffer with one mechanism. */
static sm_rc cipher(hsm_sess *s, const hsm_key *k, CK_MECHANISM *m, bool enc, size_t block, const uint8_t *in,
                    size_t len, uint8_t *out, const char *what, sm_err *err)
{
    if (len == 0 || len % block)
        return sm_errf(err, SM_EINVAL, "hsm: %s: length %zu is not a non-zero multiple of %zu", what, len, block);
    CK_OBJECT_HANDLE h;
    CK_ULONG ol = (CK_ULONG)len;
    HSM_CALL(s, err, what, {
        RESOLVE(k, &h);
        if (enc) {
            P11(C_EncryptInit, s->h, m, h);
            P11(C_Encrypt, s->h, (CK_BYTE_PTR)in, (CK_ULONG)len, out, &ol);
        } else {
            P11(C_DecryptInit, s->h, m, h);
            P11(C_Decrypt, s->h, (CK_BYTE_PTR)in, (CK_ULONG)len, out, &ol);
        }
    });
    if (ol != len)
        return sm_errf(err, SM_EHSM, "hsm: %s produced %lu bytes for %zu", what, (unsigned long)ol, len);
    return SM_OK;
}

sm_rc hsm_aes_cbc_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[16], const uint8_t *in, size_t len,
                          uint8_t *out, sm_err *err)
{
    CK_MECHANISM m = {CKM_AES_CBC, (void *)iv, 16};
    return cipher(s, k, &m, true, 16, in, len, out, "AES-CBC encryption", err);
}

sm_rc hsm_aes_cbc_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[16], const uint8_t *in, size_t len,
                          uint8_t *out, sm_err *err)
{
    CK_MECHANISM m = {CKM_AES_CBC, (void *)iv, 16};
    return cipher(s, k, &m, false, 16, in, len, out, "AES-CBC decryption", err);
}

sm_rc hsm_aes_ecb_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t *in, size_t len, uint8_t *out, sm_err *err)
{
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    return cipher(s, k, &m, true, 16, in, len, out, "AES-ECB encryption", err);
}

sm_rc hsm_aes_ecb_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t *in, size_t len, uint8_t *out, sm_err *err)
{
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    return cipher(s, k, &m, false, 16, in, len, out, "AES-ECB decryption", err);
}

sm_rc hsm_des3_cbc_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[8], const uint8_t *in, size_t len,
                           uint8_t *out, sm_err *err)
{
    CK_MECHANISM m = {CKM_DES3_CBC, (void *)iv, 8};
    return cipher(s, k, &m, true, 8, in, len, out, "3DES-CBC encryption", err);
}

sm_rc hsm_des3_cbc_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[8], const uint8_t *in, size_t len,
                           uint8_t *out, sm_err *err)
{
    CK_MECHANISM m = {CKM_DES3_CBC, (void *)iv, 8};
    return cipher(s, k, &m, false, 8, in, len, out, "3DES-CBC decryption", err);
}

sm_rc hsm_aes_gcm_encrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[12], const uint8_t *aad, size_t aadlen,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen, sm_err *err)
{
    if (cap < len + 16)
        return sm_errf(err, SM_EINVAL, "hsm: AES-GCM output buffer too small");
    CK_GCM_PARAMS p;
    memset(&p, 0, sizeof p);
    p.pIv = (CK_BYTE_PTR)iv;
    p.ulIvLen = 12;
    p.ulIvBits = 96;
    p.pAAD = (CK_BYTE_PTR)aad;
    p.ulAADLen = (CK_ULONG)aadlen;
    p.ulTagBits = 128;
    CK_MECHANISM m = {CKM_AES_GCM, &p, sizeof p};
    CK_OBJECT_HANDLE h;
    CK_ULONG ol = (CK_ULONG)cap;
    HSM_CALL(s, err, "AES-GCM encryption", {
        RESOLVE(k, &h);
        P11(C_EncryptInit, s->h, &m, h);
        P11(C_Encrypt, s->h, (CK_BYTE_PTR)in, (CK_ULONG)len, out, &ol);
    });
    *outlen = ol;
    return SM_OK;
}

sm_rc hsm_aes_gcm_decrypt(hsm_sess *s, const hsm_key *k, const uint8_t iv[12], const uint8_t *aad, size_t aadlen,
                          const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen, sm_err *err)
{
    if (len < 16)
        return sm_errf(err, SM_EINVAL, "hsm: AES-GCM input shorter than its tag");
    CK_GCM_PARAMS p;
    memset(&p, 0, sizeof p);
    p.pIv = (CK_BYTE_PTR)iv;
    p.ulIvLen = 12;
    p.ulIvBits = 96;
    p.pAAD = (CK_BYTE_PTR)aad;
    p.ulAADLen = (CK_ULONG)aadlen;
    p.ulTagBits = 128;
    CK_MECHANISM m = {CKM_AES_GCM, &p, sizeof p};
    CK_OBJECT_HANDLE h;
    CK_ULONG ol = (CK_ULONG)cap;
    for (int attempt = 0;; attempt++) {
        sm_rc rc = hsm_enter(s, err);
        if (rc != SM_OK)
            return rc;
        rc = hsm_resolve(s, k, &h, err);
        if (rc != SM_OK) {
            hsm_leave(s);
            return rc;
        }
        const char *fn = "C_DecryptInit";
        CK_RV rv = s->ctx->f->C_DecryptInit(s->h, &m, h);
        if (rv == CKR_OK) {
            fn = "C_Decrypt";
            rv = s->ctx->f->C_Decrypt(s->h, (CK_BYTE_PTR)in, (CK_ULONG)len, out, &ol);
        }
        hsm_leave(s);
        if (rv == CKR_OK)
            break;
        /* A tag mismatch is CKR_ENCRYPTED_DATA_INVALID in PKCS#11 3.0; SoftHSM2 2.6 reports it as
         * CKR_GENERAL_ERROR from C_Decrypt (after a successful C_DecryptInit). */
        if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_SIGNATURE_INVALID || rv == CKR_FUNCTION_FAILED ||
            (rv == CKR_GENERAL_ERROR && strcmp(fn, "C_Decrypt") == 0))
            return sm_errf(err, SM_EVERIFY, "hsm: AES-GCM authentication failed (%s)", hsm_ckr_name(rv));
        if (attempt == 0 && hsm_recover(s, rv))
            continue;
        return hsm_fail(err, rv, fn, "AES-GCM decryption");
    }
    *outlen = ol;
    return SM_OK;
}

sm_rc hsm_derive_aes_ecb(hsm_sess *s, const hsm_key *base, const uint8_t data[16], const hsm_keyspec *spec,
                         hsm_key *out, sm_err *err)
{
    hsm_tmpl t;
    sm_rc rc = hsm_tmpl_secret(s->ctx, spec, HSM_TM_DERIVE, &t, err);
    if (rc != SM_OK)
        return rc;
    CK_KEY_DERIVATION_STRING_DATA p = {(CK_BYTE_PTR)data, 16};
    CK_MECHANISM m = {CKM_AES_ECB_ENCRYPT_DATA, &p, sizeof p};
    CK_OBJECT_HANDLE h, nk = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "deriving a key by AES-ECB encryption of data", {
        RESOLVE(base, &h);
        P11(C_DeriveKey, s->h, &m, h, t.a, t.n, &nk);
    });
    *out = hsm_key_session(s, nk, spec->type, spec->token);
    return SM_OK;
}

sm_rc hsm_random(hsm_sess *s, uint8_t *out, size_t n, sm_err *err)
{
    HSM_CALL(s, err, "generating random bytes", { P11(C_GenerateRandom, s->h, out, (CK_ULONG)n); });
    return SM_OK;
}
