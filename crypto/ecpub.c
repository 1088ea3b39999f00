/* OpenSSL public-key helpers for EC points and ECDSA verification (no private keys here). */
#include "crypto/ecpub.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

const char *ecpub_group_name(hsm_curve c)
{
    return c == HSM_CURVE_BP256R1 ? "brainpoolP256r1" : "prime256v1";
}

sm_rc ecpub_pkey(hsm_curve c, const uint8_t *point, size_t len, EVP_PKEY **out, sm_err *err)
{
    *out = NULL;
    if (len != 65 || point[0] != 0x04)
        return sm_errf(err, SM_EINVAL, "ec: public key is not a 65-byte uncompressed point");
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *prm = NULL;
    EVP_PKEY_CTX *pc = NULL;
    EVP_PKEY *k = NULL;
    sm_rc rc = SM_OK;
    if (!b || !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, ecpub_group_name(c), 0) ||
        !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, len) ||
        !(prm = OSSL_PARAM_BLD_to_param(b)) || !(pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) ||
        EVP_PKEY_fromdata_init(pc) != 1) {
        rc = sm_errf(err, SM_ECRYPTO, "ec: OpenSSL failed to set up an EC key");
    } else if (EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, prm) != 1 || !k) {
        rc = sm_errf(err, SM_EVERIFY, "ec: the point is not on %s", ecpub_group_name(c));
    } else {
        /* on the curve and not infinity; both curves have cofactor 1, so the (costly) order check
         * of EVP_PKEY_public_check adds nothing */
        EVP_PKEY_CTX *cc = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        if (!cc || EVP_PKEY_public_check_quick(cc) != 1)
            rc = sm_errf(err, SM_EVERIFY, "ec: the point is not a valid public key on %s", ecpub_group_name(c));
        EVP_PKEY_CTX_free(cc);
    }
    if (rc == SM_OK)
        *out = k;
    else
        EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(prm);
    OSSL_PARAM_BLD_free(b);
    return rc;
}

static EC_GROUP *groups[2];
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;

static void make_groups(void)
{
    groups[0] = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    groups[1] = EC_GROUP_new_by_curve_name(NID_brainpoolP256r1);
}

sm_rc ecpub_check_point(hsm_curve c, const uint8_t *point, size_t len, sm_err *err)
{
    if (len != 65 || point[0] != 0x04)
        return sm_errf(err, SM_EINVAL, "ec: public key is not a 65-byte uncompressed point");
    pthread_once(&groups_once, make_groups);
    const EC_GROUP *g = groups[c == HSM_CURVE_BP256R1 ? 1 : 0];
    if (!g)
        return sm_errf(err, SM_ECRYPTO, "ec: OpenSSL has no %s", ecpub_group_name(c));
    EC_POINT *pt = EC_POINT_new(g);
    /* oct2point rejects points off the curve; infinity has no uncompressed encoding */
    int ok = pt && EC_POINT_oct2point(g, pt, point, len, NULL) == 1 && EC_POINT_is_on_curve(g, pt, NULL) == 1 &&
             !EC_POINT_is_at_infinity(g, pt);
    EC_POINT_free(pt);
    if (!ok)
        return sm_errf(err, SM_EVERIFY, "ec: the point is not on %s", ecpub_group_name(c));
    return SM_OK;
}

/* r||s -> DER ECDSA-Sig-Value (integers minimal, with a 00 where the high bit is set). */
static size_t der_int(const uint8_t *v, size_t n, uint8_t *out)
{
    size_t i = 0;
    while (i + 1 < n && v[i] == 0)
        i++;
    size_t l = n - i, pad = (v[i] & 0x80) ? 1 : 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(l + pad);
    if (pad)
        out[2] = 0;
    memcpy(out + 2 + pad, v + i, l);
    return 2 + pad + l;
}

sm_rc ecpub_verify_raw(hsm_curve c, const uint8_t *point, size_t plen, const uint8_t *msg, size_t mlen,
                       const uint8_t *sig, size_t siglen, sm_err *err)
{
    if (siglen != 64)
        return sm_errf(err, SM_EVERIFY, "ec: signature is %zu bytes, not 64 (r||s)", siglen);
    uint8_t der[80], body[76];
    size_t bl = der_int(sig, 32, body);
    bl += der_int(sig + 32, 32, body + bl);
    der[0] = 0x30;
    der[1] = (uint8_t)bl;
    memcpy(der + 2, body, bl);
    EVP_PKEY *k = NULL;
    sm_rc rc = ecpub_pkey(c, point, plen, &k, err);
    if (rc != SM_OK)
        return rc;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) != 1)
        rc = sm_errf(err, SM_ECRYPTO, "ec: OpenSSL failed to set up ECDSA verification");
    else if (EVP_DigestVerify(md, der, bl + 2, msg, mlen) != 1)
        rc = sm_errf(err, SM_EVERIFY, "ec: ECDSA signature does not verify");
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}

sm_rc ecpub_from_pkey(const EVP_PKEY *pk, uint8_t pub[65], hsm_curve *curve, sm_err *err)
{
    char grp[64] = "";
    size_t gl = 0, pl = 0;
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof grp, &gl) != 1)
        return sm_errf(err, SM_EVERIFY, "ec: the key is not an EC key on a named curve");
    if (strcmp(grp, "prime256v1") == 0 || strcmp(grp, "P-256") == 0 || strcmp(grp, "secp256r1") == 0)
        *curve = HSM_CURVE_P256;
    else if (strcmp(grp, "brainpoolP256r1") == 0)
        *curve = HSM_CURVE_BP256R1;
    else
        return sm_errf(err, SM_EVERIFY, "ec: curve %s is not P-256 or brainpoolP256r1", grp);
    uint8_t buf[133];
    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof buf, &pl) != 1)
        return sm_errf(err, SM_ECRYPTO, "ec: cannot read the public point");
    if (pl == 65 && buf[0] == 0x04) {
        memcpy(pub, buf, 65);
        return SM_OK;
    }
    /* compressed in the certificate: let OpenSSL expand it */
    EC_GROUP *g = EC_GROUP_new_by_curve_name(*curve == HSM_CURVE_P256 ? NID_X9_62_prime256v1 : NID_brainpoolP256r1);
    EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
    sm_rc rc = SM_OK;
    if (!pt || EC_POINT_oct2point(g, pt, buf, pl, NULL) != 1 ||
        EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, 65, NULL) != 65)
        rc = sm_errf(err, SM_EVERIFY, "ec: public point cannot be decoded");
    EC_POINT_free(pt);
    EC_GROUP_free(g);
    return rc;
}
