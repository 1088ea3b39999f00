/* ec: EC keys and ECDSA/ECDH on OpenSSL 3 EVP (EC_POINT only to derive a public point). */
#include "tests/sim/ec.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

const char *sim_ec_curve_name(uint8_t ref)
{
    switch (ref) {
    case SIM_CURVE_P256: return "prime256v1";
    case SIM_CURVE_BP256R1: return "brainpoolP256r1";
    default: return NULL;
    }
}

int sim_ec_curve_ref(const EVP_PKEY *k)
{
    char name[64];
    size_t l = 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &l))
        return -1;
    if (!strcmp(name, "prime256v1") || !strcmp(name, "P-256") || !strcmp(name, "secp256r1"))
        return SIM_CURVE_P256;
    if (!strcmp(name, "brainpoolP256r1"))
        return SIM_CURVE_BP256R1;
    return -1;
}

sim_rc sim_ec_keygen(uint8_t ref, EVP_PKEY **out, sim_err *err)
{
    const char *cn = sim_ec_curve_name(ref);
    if (!cn)
        return sim_errf(err, SIM_EINVAL, "ec: curve reference %02x not supported", ref);
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", cn);
    return *out ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "ec: key generation on %s failed", cn);
}

sim_rc sim_ec_pub_point(const EVP_PKEY *k, uint8_t pt[65], sim_err *err)
{
    size_t l = 0;
    if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &l) || l != 65 || pt[0] != 4)
        return sim_errf(err, SIM_ECRYPTO, "ec: cannot export the public point");
    return SIM_OK;
}

static sim_rc fromdata(const char *cn, const uint8_t *pt, size_t ptlen, const BIGNUM *d, EVP_PKEY **out,
                       sim_err *err)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    sim_rc rc = SIM_OK;
    *out = NULL;
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, cn, 0) ||
        (pt && !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen)) ||
        (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) || !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        rc = sim_errf(err, SIM_EVERIFY, "ec: key on %s rejected (point not on the curve or bad encoding)", cn);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

sim_rc sim_ec_pub_from_point(uint8_t ref, const uint8_t *pt, size_t n, EVP_PKEY **out, sim_err *err)
{
    const char *cn = sim_ec_curve_name(ref);
    if (!cn)
        return sim_errf(err, SIM_EINVAL, "ec: curve reference %02x not supported", ref);
    if (n != 65 || pt[0] != 0x04)
        return sim_errf(err, SIM_EPARSE, "ec: public point must be 65 bytes uncompressed (got %zu)", n);
    return fromdata(cn, pt, n, NULL, out, err);
}

sim_rc sim_ec_priv_bytes(const EVP_PKEY *k, uint8_t d[32], sim_err *err)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn))
        return sim_errf(err, SIM_ECRYPTO, "ec: cannot export the private scalar");
    int ok = BN_bn2binpad(bn, d, 32) == 32;
    BN_clear_free(bn);
    return ok ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "ec: private scalar longer than 32 bytes");
}

sim_rc sim_ec_priv_from_bytes(uint8_t ref, const uint8_t d[32], EVP_PKEY **out, sim_err *err)
{
    const char *cn = sim_ec_curve_name(ref);
    if (!cn)
        return sim_errf(err, SIM_EINVAL, "ec: curve reference %02x not supported", ref);
    int nid = ref == SIM_CURVE_P256 ? NID_X9_62_prime256v1 : NID_brainpoolP256r1;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    BIGNUM *bn = BN_secure_new();
    uint8_t pt[65];
    sim_rc rc = SIM_OK;
    if (!g || !p || !bn || !BN_bin2bn(d, 32, bn) || BN_is_zero(bn) || !EC_POINT_mul(g, p, bn, NULL, NULL, NULL) ||
        EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pt, sizeof pt, NULL) != 65)
        rc = sim_errf(err, SIM_ECRYPTO, "ec: cannot compute the public point of a private key");
    else
        rc = fromdata(cn, pt, 65, bn, out, err);
    BN_clear_free(bn);
    EC_POINT_free(p);
    EC_GROUP_free(g);
    return rc;
}

sim_rc sim_sig_der_to_plain(const uint8_t *der, size_t n, uint8_t sig[64], sim_err *err)
{
    const uint8_t *q = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)n);
    if (!s)
        return sim_errf(err, SIM_EPARSE, "ecdsa: DER signature unreadable");
    const BIGNUM *r, *ss;
    ECDSA_SIG_get0(s, &r, &ss);
    int ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(ss, sig + 32, 32) == 32;
    ECDSA_SIG_free(s);
    return ok ? SIM_OK : sim_errf(err, SIM_EPARSE, "ecdsa: signature component longer than 32 bytes");
}

sim_rc sim_ecdsa_sign(EVP_PKEY *k, const void *msg, size_t n, uint8_t sig[64], sim_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dl = sizeof der;
    int ok = c && EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, k, NULL) == 1 &&
             EVP_DigestSign(c, der, &dl, msg, n) == 1;
    EVP_MD_CTX_free(c);
    if (!ok)
        return sim_errf(err, SIM_ECRYPTO, "ecdsa: signing failed");
    return sim_sig_der_to_plain(der, dl, sig, err);
}

sim_rc sim_ecdsa_verify(EVP_PKEY *pub, const void *msg, size_t n, const uint8_t *sig, size_t siglen, sim_err *err)
{
    if (siglen != 64)
        return sim_errf(err, SIM_EVERIFY, "ecdsa: signature is %zu bytes, expected 64 (r||s)", siglen);
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    uint8_t *der = NULL;
    int dl = -1;
    if (s && r && ss && ECDSA_SIG_set0(s, r, ss)) {
        r = ss = NULL;
        dl = i2d_ECDSA_SIG(s, &der);
    }
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    if (dl <= 0)
        return sim_errf(err, SIM_ECRYPTO, "ecdsa: cannot encode the signature");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int v = c && EVP_DigestVerifyInit_ex(c, NULL, "SHA256", NULL, NULL, pub, NULL) == 1
                ? EVP_DigestVerify(c, der, (size_t)dl, msg, n)
                : -1;
    EVP_MD_CTX_free(c);
    OPENSSL_free(der);
    if (v == 1)
        return SIM_OK;
    return sim_errf(err, SIM_EVERIFY, "ecdsa: signature does not verify");
}

sim_rc sim_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[32], sim_err *err)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    size_t zl = 32;
    int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer_ex(c, peer, 0) == 1 &&
             EVP_PKEY_derive(c, z, &zl) == 1 && zl == 32;
    EVP_PKEY_CTX_free(c);
    return ok ? SIM_OK : sim_errf(err, SIM_ECRYPTO, "ecdh: derivation failed (curve mismatch?)");
}
