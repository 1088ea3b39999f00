/* Reference implementations with plain OpenSSL for cross-checks (see ref_crypto.h). Included by
 * the test programs that use it; shares no code with crypto/ or hsm/. */
#include "tests/crypto/ref_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define REF_CHECK(x)                                                                              \
    do {                                                                                          \
        if (!(x)) {                                                                               \
            fprintf(stderr, "ref_crypto: %s failed at %s:%d\n", #x, __FILE__, __LINE__);         \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static const EVP_CIPHER *aes_mode(size_t klen, int cbc)
{
    if (klen == 16)
        return cbc ? EVP_aes_128_cbc() : EVP_aes_128_ecb();
    if (klen == 24)
        return cbc ? EVP_aes_192_cbc() : EVP_aes_192_ecb();
    return cbc ? EVP_aes_256_cbc() : EVP_aes_256_ecb();
}

void ref_aes_cmac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen, uint8_t out[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
    const char *cn = klen == 16 ? "AES-128-CBC" : klen == 24 ? "AES-192-CBC" : "AES-256-CBC";
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string("cipher", (char *)cn, 0), OSSL_PARAM_construct_end()};
    size_t ol = 0;
    REF_CHECK(EVP_MAC_init(c, key, klen, p) == 1);
    REF_CHECK(EVP_MAC_update(c, msg, mlen) == 1);
    REF_CHECK(EVP_MAC_final(c, out, &ol, 16) == 1 && ol == 16);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
}

static void cipher(const EVP_CIPHER *ci, int enc, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
                   size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0, l2 = 0;
    REF_CHECK(EVP_CipherInit_ex(x, ci, NULL, key, iv, enc) == 1);
    EVP_CIPHER_CTX_set_padding(x, 0);
    REF_CHECK(EVP_CipherUpdate(x, out, &l, in, (int)len) == 1);
    REF_CHECK(EVP_CipherFinal_ex(x, out + l, &l2) == 1);
    REF_CHECK((size_t)(l + l2) == len);
    EVP_CIPHER_CTX_free(x);
}

void ref_aes_ecb(const uint8_t *key, size_t klen, const uint8_t in[16], uint8_t out[16])
{
    cipher(aes_mode(klen, 0), 1, key, NULL, in, 16, out);
}

void ref_aes_cbc(int enc, const uint8_t *key, size_t klen, const uint8_t iv[16], const uint8_t *in, size_t len,
                 uint8_t *out)
{
    cipher(aes_mode(klen, 1), enc, key, iv, in, len, out);
}

void ref_des3_cbc(int enc, const uint8_t *key, size_t klen, const uint8_t iv[8], const uint8_t *in, size_t len,
                  uint8_t *out)
{
    cipher(klen == 16 ? EVP_des_ede_cbc() : EVP_des_ede3_cbc(), enc, key, iv, in, len, out);
}

void ref_des3_cbc_mac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t len, uint8_t out[8])
{
    size_t pl = (len + 7) / 8 * 8;
    if (pl == 0)
        pl = 8;
    uint8_t *buf = calloc(1, pl), *ct = malloc(pl), iv[8] = {0};
    memcpy(buf, msg, len);
    ref_des3_cbc(1, key, klen, iv, buf, pl, ct);
    memcpy(out, ct + pl - 8, 8);
    free(buf);
    free(ct);
}

void ref_scp03_kdf(const uint8_t *key, size_t klen, uint8_t constant, const uint8_t *ctx, size_t ctxlen,
                   unsigned bits, uint8_t *out)
{
    uint8_t m[16 + 64];
    size_t nbytes = bits / 8;
    for (unsigned i = 1; (i - 1) * 16 < nbytes; i++) {
        memset(m, 0, 11);
        m[11] = constant;
        m[12] = 0;
        m[13] = (uint8_t)(bits >> 8);
        m[14] = (uint8_t)bits;
        m[15] = (uint8_t)i;
        memcpy(m + 16, ctx, ctxlen);
        uint8_t blk[16];
        ref_aes_cmac(key, klen, m, 16 + ctxlen, blk);
        size_t take = nbytes - (i - 1) * 16 < 16 ? nbytes - (i - 1) * 16 : 16;
        memcpy(out + (i - 1) * 16, blk, take);
    }
}

void ref_x963(const uint8_t *z, size_t zlen, const uint8_t *info, size_t ilen, uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *c = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[4];
    int n = 0;
    p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    p[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
    if (ilen)
        p[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, ilen);
    p[n] = OSSL_PARAM_construct_end();
    REF_CHECK(EVP_KDF_derive(c, out, outlen, p) == 1);
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
}

void ref_kcv(const uint8_t *key, size_t klen, uint8_t out[3])
{
    uint8_t one[16], e[16];
    memset(one, 1, 16);
    ref_aes_ecb(key, klen, one, e);
    memcpy(out, e, 3);
}

EVP_PKEY *ref_ec_gen(const char *group)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
    REF_CHECK(k);
    return k;
}

EVP_PKEY *ref_ec_from_priv(const char *group, const uint8_t d[32])
{
    int nid = strcmp(group, "brainpoolP256r1") == 0 ? NID_brainpoolP256r1 : NID_X9_62_prime256v1;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
    BIGNUM *bn = BN_bin2bn(d, 32, NULL);
    EC_POINT *pt = EC_POINT_new(g);
    REF_CHECK(EC_POINT_mul(g, pt, bn, NULL, NULL, NULL) == 1);
    uint8_t pub[65];
    REF_CHECK(EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, 65, NULL) == 65);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, 65);
    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, bn);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    REF_CHECK(EVP_PKEY_fromdata_init(c) == 1 && EVP_PKEY_fromdata(c, &k, EVP_PKEY_KEYPAIR, p) == 1);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    EC_POINT_free(pt);
    BN_free(bn);
    EC_GROUP_free(g);
    return k;
}

void ref_ec_priv(const EVP_PKEY *k, uint8_t d[32])
{
    BIGNUM *bn = NULL;
    REF_CHECK(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1);
    REF_CHECK(BN_bn2binpad(bn, d, 32) == 32);
    BN_clear_free(bn);
}

void ref_ec_pub(const EVP_PKEY *k, uint8_t pt[65])
{
    size_t l = 0;
    REF_CHECK(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &l) == 1 && l == 65);
}

static EVP_PKEY *pub_pkey(const char *group, const uint8_t pt[65])
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, 65);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    if (EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    return k;
}

int ref_ecdh(const EVP_PKEY *priv, const char *group, const uint8_t peer[65], uint8_t z[32])
{
    EVP_PKEY *pk = pub_pkey(group, peer);
    if (!pk)
        return -1;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new((EVP_PKEY *)priv, NULL);
    size_t zl = 32;
    int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, pk) == 1 &&
             EVP_PKEY_derive(c, z, &zl) == 1 && zl == 32;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

void ref_ecdsa_sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dl = sizeof der;
    REF_CHECK(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) == 1);
    REF_CHECK(EVP_DigestSign(md, der, &dl, msg, len) == 1);
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    REF_CHECK(s);
    REF_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32) == 32 && BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32) == 32);
    ECDSA_SIG_free(s);
    EVP_MD_CTX_free(md);
}

int ref_ecdsa_verify_raw(const char *group, const uint8_t pub[65], const uint8_t *msg, size_t len,
                         const uint8_t sig[64])
{
    EVP_PKEY *k = pub_pkey(group, pub);
    if (!k)
        return 0;
    ECDSA_SIG *s = ECDSA_SIG_new();
    ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(s, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) == 1 &&
             EVP_DigestVerify(md, der, (size_t)dl, msg, len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
    EVP_PKEY_free(k);
    return ok;
}

int ref_x509_make(EVP_PKEY *subject, const char *cn, EVP_PKEY *issuer_key, const uint8_t *issuer_der,
                  size_t issuer_len, const ref_x509_opts *o, uint8_t **der, size_t *len)
{
    X509 *x = X509_new(), *iss = NULL;
    if (issuer_der) {
        const unsigned char *p = issuer_der;
        iss = d2i_X509(NULL, &p, (long)issuer_len);
        REF_CHECK(iss);
    }
    static long serial = 1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"smbox test PKI", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, iss ? X509_get_subject_name(iss) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(x), o->days_from * 86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), o->days_to * 86400L);
    X509_set_pubkey(x, subject);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, iss ? iss : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
        {"keyUsage", o->key_cert_sign ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {"subjectKeyIdentifier", o->ski ? "hash" : NULL},
        {"authorityKeyIdentifier", iss ? "keyid:always" : NULL},
    };
    for (size_t i = 0; i < 4; i++) {
        if (!exts[i][1])
            continue;
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        REF_CHECK(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    REF_CHECK(X509_sign(x, issuer_key, EVP_get_digestbyname(o->md ? o->md : "SHA256")) > 0);
    unsigned char *d = NULL;
    int l = i2d_X509(x, &d);
    REF_CHECK(l > 0);
    *der = malloc((size_t)l);
    memcpy(*der, d, (size_t)l);
    *len = (size_t)l;
    OPENSSL_free(d);
    X509_free(x);
    X509_free(iss);
    return 0;
}

size_t ref_x509_ski(const uint8_t *der, size_t len, uint8_t *out)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    REF_CHECK(x);
    const ASN1_OCTET_STRING *s = X509_get0_subject_key_id(x);
    size_t n = s ? (size_t)ASN1_STRING_length(s) : 0;
    if (n)
        memcpy(out, ASN1_STRING_get0_data(s), n);
    X509_free(x);
    return n;
}

/* ---- SCP03 ------------------------------------------------------------------------------- */

static size_t pad80(uint8_t *buf, size_t len, size_t block)
{
    buf[len++] = 0x80;
    while (len % block)
        buf[len++] = 0;
    return len;
}

size_t ref_scp03_wrap(ref_scp03 *r, const uint8_t *apdu, size_t len, uint8_t *out)
{
    /* header, then Lc/data/Le by the APDU case */
    size_t lc = 0, dataoff = 4;
    int has_le = 0;
    uint8_t le = 0;
    if (len == 5) {
        has_le = 1;
        le = apdu[4];
    } else if (len > 5) {
        lc = apdu[4];
        dataoff = 5;
        if (len == 6 + lc) {
            has_le = 1;
            le = apdu[len - 1];
        }
    }
    uint8_t data[300];
    size_t dl = lc;
    memcpy(data, apdu + dataoff, lc);
    r->ctr++;
    if ((r->sl & 0x02) && lc) {
        uint8_t blk[16] = {0}, icv[16];
        blk[12] = (uint8_t)(r->ctr >> 24);
        blk[13] = (uint8_t)(r->ctr >> 16);
        blk[14] = (uint8_t)(r->ctr >> 8);
        blk[15] = (uint8_t)r->ctr;
        ref_aes_ecb(r->senc, r->klen, blk, icv);
        dl = pad80(data, lc, 16);
        ref_aes_cbc(1, r->senc, r->klen, icv, data, dl, data);
    }
    uint8_t m[16 + 5 + 300];
    memcpy(m, r->mcv, 16);
    m[16] = (uint8_t)((apdu[0] & ~0x03u) | 0x04);
    memcpy(m + 17, apdu + 1, 3);
    m[20] = (uint8_t)(dl + 8);
    memcpy(m + 21, data, dl);
    uint8_t mac[16];
    ref_aes_cmac(r->smac, r->klen, m, 21 + dl, mac);
    memcpy(r->mcv, mac, 16);
    out[0] = (uint8_t)(apdu[0] | 0x04);
    memcpy(out + 1, apdu + 1, 3);
    out[4] = (uint8_t)(dl + 8);
    memcpy(out + 5, data, dl);
    memcpy(out + 5 + dl, mac, 8);
    size_t n = 13 + dl;
    if (has_le)
        out[n++] = le;
    return n;
}

/* ---- SCP80 ------------------------------------------------------------------------------- */

size_t ref_scp80_packet(const uint8_t spi[2], uint8_t kic, uint8_t kid, const uint8_t tar[3], uint64_t cntr,
                        const uint8_t *kic_key, size_t kic_len, const uint8_t *kid_key, size_t kid_len,
                        const uint8_t *data, size_t dlen, uint8_t *out)
{
    int ciph = (spi[0] & 0x04) != 0, cc = (spi[0] & 0x03) == 0x02;
    int aes_c = (kic & 0x0F) == 0x02, aes_a = (kid & 0x0F) == 0x02;
    size_t ccl = cc ? 8 : 0, blk = aes_c ? 16 : 8;
    size_t pad = ciph ? (blk - (6 + ccl + dlen) % blk) % blk : 0;
    size_t chl = 13 + ccl, cpl = 1 + chl + dlen + pad;
    uint8_t hdr[16];
    hdr[0] = (uint8_t)(cpl >> 8);
    hdr[1] = (uint8_t)cpl;
    hdr[2] = (uint8_t)chl;
    hdr[3] = spi[0];
    hdr[4] = spi[1];
    hdr[5] = kic;
    hdr[6] = kid;
    memcpy(hdr + 7, tar, 3);
    uint8_t sec[1024];
    for (int i = 0; i < 5; i++)
        sec[i] = (uint8_t)(cntr >> (8 * (4 - i)));
    sec[5] = (uint8_t)pad;
    memset(sec + 6, 0, ccl);
    memcpy(sec + 6 + ccl, data, dlen);
    memset(sec + 6 + ccl + dlen, 0, pad);
    size_t slen = 6 + ccl + dlen + pad;
    if (cc) {
        uint8_t m[1100], mac[16];
        memcpy(m, hdr, 10);
        memcpy(m + 10, sec, 6);
        memcpy(m + 16, data, dlen);
        memset(m + 16 + dlen, 0, pad);
        if (aes_a)
            ref_aes_cmac(kid_key, kid_len, m, 16 + dlen + pad, mac);
        else
            ref_des3_cbc_mac(kid_key, kid_len, m, 16 + dlen + pad, mac);
        memcpy(sec + 6, mac, 8);
    }
    if (ciph) {
        uint8_t iv[16] = {0};
        if (aes_c)
            ref_aes_cbc(1, kic_key, kic_len, iv, sec, slen, sec);
        else
            ref_des3_cbc(1, kic_key, kic_len, iv, sec, slen, sec);
    }
    memcpy(out, hdr, 10);
    memcpy(out + 10, sec, slen);
    return 10 + slen;
}
