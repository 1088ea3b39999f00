/* Elliptic-curve operations: ECDSA, ECDH and the SGP.02 key derivation (X9.63 KDF, SHA-256). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "hsm/internal.h"
#include "lib/secmem.h"

#ifndef CKM_EXTRACT_KEY_FROM_KEY
#define CKM_EXTRACT_KEY_FROM_KEY 0x365UL
#endif

sm_rc hsm_ecdsa_sign(hsm_sess *s, const hsm_key *priv, const uint8_t *digest, size_t dlen, uint8_t *sig,
                     size_t cap, size_t *siglen, sm_err *err)
{
    if (dlen != 32)
        return sm_errf(err, SM_EINVAL, "hsm: ECDSA sign expects a 32-byte SHA-256 digest, got %zu bytes", dlen);
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_ULONG l = (CK_ULONG)cap;
    HSM_CALL(s, err, "ECDSA signing", {
        RESOLVE(priv, &h);
        P11(C_SignInit, s->h, &m, h);
        P11(C_Sign, s->h, (CK_BYTE_PTR)digest, (CK_ULONG)dlen, sig, &l);
    });
    *siglen = l;
    return SM_OK;
}

sm_rc hsm_ecdsa_sign_msg(hsm_sess *s, const hsm_key *priv, const uint8_t *msg, size_t mlen, uint8_t *sig,
                         size_t cap, size_t *siglen, sm_err *err)
{
    uint8_t d[32];
    SHA256(msg, mlen, d);
    return hsm_ecdsa_sign(s, priv, d, sizeof d, sig, cap, siglen, err);
}

sm_rc hsm_ecdsa_verify(hsm_sess *s, const hsm_key *pub, const uint8_t *digest, size_t dlen, const uint8_t *sig,
                       size_t siglen, sm_err *err)
{
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_OBJECT_HANDLE h;
    for (int attempt = 0;; attempt++) {
        sm_rc rc = hsm_enter(s, err);
        if (rc != SM_OK)
            return rc;
        rc = hsm_resolve(s, pub, &h, err);
        if (rc != SM_OK) {
            hsm_leave(s);
            return rc;
        }
        const char *fn = "C_VerifyInit";
        CK_RV rv = s->ctx->f->C_VerifyInit(s->h, &m, h);
        if (rv == CKR_OK) {
            fn = "C_Verify";
            rv = s->ctx->f->C_Verify(s->h, (CK_BYTE_PTR)digest, (CK_ULONG)dlen, (CK_BYTE_PTR)sig, (CK_ULONG)siglen);
        }
        hsm_leave(s);
        if (rv == CKR_OK)
            return SM_OK;
        if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE)
            return sm_errf(err, SM_EVERIFY, "hsm: ECDSA signature does not verify (%s)", hsm_ckr_name(rv));
        if (attempt == 0 && hsm_recover(s, rv))
            continue;
        return hsm_fail(err, rv, fn, "ECDSA verification");
    }
}

sm_rc hsm_sig_raw_to_der(const uint8_t *raw, size_t rawlen, uint8_t *der, size_t cap, size_t *derlen, sm_err *err)
{
    if (rawlen == 0 || rawlen % 2 || rawlen > 132)
        return sm_errf(err, SM_EINVAL, "signature: raw r||s of %zu bytes is not two equal halves", rawlen);
    size_t h = rawlen / 2;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)h, NULL), *sv = BN_bin2bn(raw + h, (int)h, NULL);
    if (!es || !r || !sv || !ECDSA_SIG_set0(es, r, sv)) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(es);
        return sm_errf(err, SM_ENOMEM, "signature: out of memory");
    }
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > cap) {
        ECDSA_SIG_free(es);
        return sm_errf(err, SM_EINVAL, "signature: DER form does not fit %zu bytes", cap);
    }
    uint8_t *p = der;
    i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    *derlen = (size_t)n;
    return SM_OK;
}

sm_rc hsm_sig_der_to_raw(const uint8_t *der, size_t derlen, size_t fieldlen, uint8_t *raw, size_t cap,
                         size_t *rawlen, sm_err *err)
{
    if (fieldlen == 0 || fieldlen > 66 || cap < 2 * fieldlen)
        return sm_errf(err, SM_EINVAL, "signature: bad field length %zu", fieldlen);
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!es || p != der + derlen) {
        ECDSA_SIG_free(es);
        return sm_errf(err, SM_EPARSE, "signature: not a DER ECDSA-Sig-Value");
    }
    /* strict DER: re-encoding must give the same bytes */
    uint8_t *re = NULL;
    int rl = i2d_ECDSA_SIG(es, &re);
    int strict = rl == (int)derlen && memcmp(re, der, derlen) == 0;
    OPENSSL_free(re);
    const BIGNUM *r, *sv;
    ECDSA_SIG_get0(es, &r, &sv);
    if (!strict || BN_num_bytes(r) > (int)fieldlen || BN_num_bytes(sv) > (int)fieldlen) {
        ECDSA_SIG_free(es);
        return sm_errf(err, SM_EPARSE, "signature: non-canonical DER or integer longer than %zu bytes", fieldlen);
    }
    BN_bn2binpad(r, raw, (int)fieldlen);
    BN_bn2binpad(sv, raw + fieldlen, (int)fieldlen);
    ECDSA_SIG_free(es);
    *rawlen = 2 * fieldlen;
    return SM_OK;
}

/* Template for an ECDH-derived generic secret. */
static void z_template(CK_ATTRIBUTE *a, CK_ULONG *n, CK_OBJECT_CLASS *cls, CK_KEY_TYPE *kt, CK_ULONG *vl,
                       CK_BBOOL *t, CK_BBOOL *f, bool readable)
{
    *cls = CKO_SECRET_KEY;
    *kt = CKK_GENERIC_SECRET;
    CK_ULONG i = 0;
    a[i++] = (CK_ATTRIBUTE){CKA_CLASS, cls, sizeof *cls};
    a[i++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, kt, sizeof *kt};
    a[i++] = (CK_ATTRIBUTE){CKA_VALUE_LEN, vl, sizeof *vl};
    a[i++] = (CK_ATTRIBUTE){CKA_TOKEN, f, sizeof *f};
    a[i++] = (CK_ATTRIBUTE){CKA_PRIVATE, t, sizeof *t};
    a[i++] = (CK_ATTRIBUTE){CKA_SENSITIVE, readable ? f : t, sizeof *t};
    a[i++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, readable ? t : f, sizeof *t};
    a[i++] = (CK_ATTRIBUTE){CKA_DERIVE, t, sizeof *t};
    *n = i;
}

static sm_rc check_peer(const uint8_t *peer, size_t plen, sm_err *err)
{
    if (plen != 65 || peer[0] != 0x04)
        return sm_errf(err, SM_EINVAL, "hsm: ECDH peer key must be an uncompressed 65-byte point (got %zu bytes)",
                       plen);
    return SM_OK;
}

/* ECDH (CKD_NULL) to a 32-byte generic secret; `readable` only for the documented fallback. */
static sm_rc derive_z(hsm_sess *s, const hsm_key *priv, const uint8_t *peer, size_t plen, bool readable,
                      hsm_key *z, sm_err *err)
{
    sm_rc rc = check_peer(peer, plen, err);
    if (rc != SM_OK)
        return rc;
    CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, (CK_ULONG)plen, (CK_BYTE_PTR)peer};
    CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof p};
    CK_ATTRIBUTE a[8];
    CK_ULONG n;
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE kt;
    CK_ULONG vl = 32;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    z_template(a, &n, &cls, &kt, &vl, &t, &f, readable);
    CK_OBJECT_HANDLE h, hz = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "ECDH key agreement", {
        RESOLVE(priv, &h);
        P11(C_DeriveKey, s->h, &m, h, a, n, &hz);
    });
    *z = hsm_key_session(s, hz, HSM_KT_GENERIC, false);
    return SM_OK;
}

sm_rc hsm_ecdh_derive(hsm_sess *s, const hsm_key *priv, const uint8_t *peer, size_t plen, hsm_key *z, sm_err *err)
{
    return derive_z(s, priv, peer, plen, false, z, err);
}

static size_t total_len(const hsm_keyspec *specs, size_t nkeys)
{
    size_t t = 0;
    for (size_t i = 0; i < nkeys; i++)
        t += specs[i].len;
    return t;
}

/* In-token path: CKD_SHA256_KDF into one generic secret, split with CKM_EXTRACT_KEY_FROM_KEY. */
static sm_rc x963_in_token(hsm_sess *s, const hsm_key *priv, const uint8_t *peer, size_t plen, const uint8_t *si,
                           size_t silen, const hsm_keyspec *specs, size_t nkeys, hsm_key *out, sm_err *err)
{
    size_t total = total_len(specs, nkeys);
    CK_ECDH1_DERIVE_PARAMS p = {CKD_SHA256_KDF, (CK_ULONG)silen, (CK_BYTE_PTR)si, (CK_ULONG)plen,
                                (CK_BYTE_PTR)peer};
    CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof p};
    CK_ATTRIBUTE a[8];
    CK_ULONG n;
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE kt;
    CK_ULONG vl = (CK_ULONG)total;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    z_template(a, &n, &cls, &kt, &vl, &t, &f, false);
    CK_OBJECT_HANDLE h, hk = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "ECDH with the X9.63 SHA-256 KDF", {
        RESOLVE(priv, &h);
        P11(C_DeriveKey, s->h, &m, h, a, n, &hk);
    });
    hsm_key kd = hsm_key_session(s, hk, HSM_KT_GENERIC, false);
    size_t off = 0, i;
    sm_rc rc = SM_OK;
    for (i = 0; i < nkeys && rc == SM_OK; i++) {
        hsm_tmpl tm;
        rc = hsm_tmpl_secret(s->ctx, &specs[i], HSM_TM_DERIVE, &tm, err);
        if (rc != SM_OK)
            break;
        CK_ULONG bit = (CK_ULONG)(off * 8);
        CK_MECHANISM em = {CKM_EXTRACT_KEY_FROM_KEY, &bit, sizeof bit};
        CK_OBJECT_HANDLE base, nk = CK_INVALID_HANDLE;
        for (int attempt = 0; attempt < 1; attempt++) {
            rc = hsm_enter(s, err);
            if (rc != SM_OK)
                break;
            rc = hsm_resolve(s, &kd, &base, err);
            if (rc == SM_OK) {
                CK_RV rv = s->ctx->f->C_DeriveKey(s->h, &em, base, tm.a, tm.n, &nk);
                if (rv != CKR_OK)
                    rc = hsm_fail(err, rv, "C_DeriveKey", "splitting derived key material (EXTRACT_KEY_FROM_KEY)");
            }
            hsm_leave(s);
        }
        if (rc == SM_OK)
            out[i] = hsm_key_session(s, nk, specs[i].type, false);
        off += specs[i].len;
    }
    hsm_key_destroy(s, &kd, NULL);
    if (rc != SM_OK)
        for (size_t j = 0; j + 1 < i; j++)
            hsm_key_destroy(s, &out[j], NULL);
    return rc;
}

/* Imports derived bytes as the output keys; destroys what was made on failure. */
static sm_rc import_split(hsm_sess *s, const uint8_t *kd, const hsm_keyspec *specs, size_t nkeys, hsm_key *out,
                          sm_err *err)
{
    size_t off = 0;
    for (size_t i = 0; i < nkeys; i++) {
        hsm_keyspec sp = specs[i];
        sp.token = false;
        sm_rc rc = hsm_secret_import(s, &sp, kd + off, sp.len, &out[i], err);
        if (rc != SM_OK) {
            for (size_t j = 0; j < i; j++)
                hsm_key_destroy(s, &out[j], NULL);
            return rc;
        }
        off += sp.len;
    }
    return SM_OK;
}

/* Fallback A: Z stays in the token, hashed with C_DigestKey; only the derived key material passes
 * through locked memory on its way back in. */
static sm_rc x963_digest_key(hsm_sess *s, const hsm_key *z, const uint8_t *si, size_t silen, uint8_t *kd,
                             size_t total, sm_err *err)
{
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    uint32_t blocks = (uint32_t)((total + 31) / 32);
    uint8_t blk[32];
    for (uint32_t c = 1; c <= blocks; c++) {
        uint8_t ctr[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
        CK_OBJECT_HANDLE hz;
        CK_ULONG bl = sizeof blk;
        HSM_CALL(s, err, "X9.63 KDF via C_DigestKey", {
            RESOLVE(z, &hz);
            P11(C_DigestInit, s->h, &m);
            P11(C_DigestKey, s->h, hz);
            P11(C_DigestUpdate, s->h, ctr, 4);
            if (silen)
                P11(C_DigestUpdate, s->h, (CK_BYTE_PTR)si, (CK_ULONG)silen);
            P11(C_DigestFinal, s->h, blk, &bl);
        });
        size_t take = total - (c - 1) * 32 < 32 ? total - (c - 1) * 32 : 32;
        memcpy(kd + (c - 1) * 32, blk, take);
    }
    explicit_bzero(blk, sizeof blk);
    return SM_OK;
}

/* Fallback B: Z read into locked memory for the instant of the KDF. */
static sm_rc x963_in_memory(hsm_sess *s, const hsm_key *z, const uint8_t *si, size_t silen, uint8_t *kd,
                            size_t total, sm_err *err)
{
    uint8_t *zb = sm_secmem_alloc(64);
    if (!zb)
        return sm_errf(err, SM_ENOMEM, "hsm: cannot lock memory for the KDF fallback");
    size_t zl = 0;
    sm_rc rc = hsm_key_try_read_value(s, z, zb, 64, &zl, err);
    if (rc == SM_OK) {
        uint32_t blocks = (uint32_t)((total + 31) / 32);
        for (uint32_t c = 1; c <= blocks && rc == SM_OK; c++) {
            uint8_t ctr[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
            uint8_t blk[32];
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            unsigned int bl = 0;
            if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, zb, zl) ||
                !EVP_DigestUpdate(md, ctr, 4) || (silen && !EVP_DigestUpdate(md, si, silen)) ||
                !EVP_DigestFinal_ex(md, blk, &bl))
                rc = sm_errf(err, SM_ECRYPTO, "hsm: SHA-256 failed in the KDF fallback");
            EVP_MD_CTX_free(md);
            size_t take = total - (c - 1) * 32 < 32 ? total - (c - 1) * 32 : 32;
            memcpy(kd + (c - 1) * 32, blk, take);
            explicit_bzero(blk, sizeof blk);
        }
    }
    sm_secmem_free(zb, 64);
    return rc;
}

/* X9.63 KDF from a Z key object by the fallback path in use, split into session keys; Z destroyed. */
static sm_rc kdf_from_z(hsm_sess *s, hsm_key *z, bool via_digest, const uint8_t *si, size_t silen,
                        const hsm_keyspec *specs, size_t nkeys, hsm_key *out, sm_err *err)
{
    size_t total = total_len(specs, nkeys);
    uint8_t *kd = sm_secmem_alloc(total);
    sm_rc rc;
    if (!kd)
        rc = sm_errf(err, SM_ENOMEM, "hsm: cannot lock memory for the KDF fallback");
    else
        rc = via_digest ? x963_digest_key(s, z, si, silen, kd, total, err)
                        : x963_in_memory(s, z, si, silen, kd, total, err);
    hsm_key_destroy(s, z, NULL);
    if (rc == SM_OK)
        rc = import_split(s, kd, specs, nkeys, out, err);
    sm_secmem_free(kd, total);
    return rc;
}

static sm_rc check_kdf_args(const hsm_keyspec *specs, size_t nkeys, size_t silen, sm_err *err)
{
    size_t total = total_len(specs, nkeys);
    if (nkeys == 0 || total == 0 || total > 256)
        return sm_errf(err, SM_EINVAL, "hsm: X9.63 KDF output of %zu bytes in %zu keys is out of range", total, nkeys);
    if (silen > 1024)
        return sm_errf(err, SM_EINVAL, "hsm: X9.63 shared info longer than 1024 bytes");
    return SM_OK;
}

sm_rc hsm_ecdh_x963(hsm_sess *s, const hsm_key *priv, const uint8_t *peer, size_t plen, const uint8_t *shared_info,
                    size_t silen, const hsm_keyspec *specs, size_t nkeys, hsm_key *out, sm_err *err)
{
    sm_rc rc = check_kdf_args(specs, nkeys, silen, err);
    if (rc == SM_OK)
        rc = check_peer(peer, plen, err);
    if (rc != SM_OK)
        return rc;
    const hsm_caps *c = &s->ctx->caps;
    if (c->ecdh_kdf_sha256 && c->extract_key)
        return x963_in_token(s, priv, peer, plen, shared_info, silen, specs, nkeys, out, err);
    hsm_key z;
    bool via_digest = c->digest_key;
    rc = derive_z(s, priv, peer, plen, !via_digest, &z, err);
    if (rc != SM_OK)
        return rc;
    return kdf_from_z(s, &z, via_digest, shared_info, silen, specs, nkeys, out, err);
}

sm_rc hsm_x963_from_value(hsm_sess *s, const uint8_t *z, size_t zlen, const uint8_t *shared_info, size_t silen,
                          const hsm_keyspec *specs, size_t nkeys, hsm_key *out, sm_err *err)
{
    sm_rc rc = check_kdf_args(specs, nkeys, silen, err);
    if (rc != SM_OK)
        return rc;
    if (zlen == 0 || zlen > 64)
        return sm_errf(err, SM_EINVAL, "hsm: shared secret of %zu bytes is out of range", zlen);
    bool via_digest = s->ctx->caps.digest_key;
    CK_ATTRIBUTE a[9];
    CK_ULONG n;
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE kt;
    CK_ULONG vl = (CK_ULONG)zlen;
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    z_template(a, &n, &cls, &kt, &vl, &t, &f, !via_digest);
    /* CKA_VALUE_LEN is implied by CKA_VALUE on import */
    a[2] = (CK_ATTRIBUTE){CKA_VALUE, (void *)z, (CK_ULONG)zlen};
    CK_OBJECT_HANDLE hz = CK_INVALID_HANDLE;
    HSM_CALL(s, err, "importing a shared secret for the X9.63 KDF", { P11(C_CreateObject, s->h, a, n, &hz); });
    hsm_key zk = hsm_key_session(s, hz, HSM_KT_GENERIC, false);
    return kdf_from_z(s, &zk, via_digest, shared_info, silen, specs, nkeys, out, err);
}
