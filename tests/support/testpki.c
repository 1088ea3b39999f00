#include "tests/support/testpki.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/hex.h"
#include "tests/support/testenv.h"

static EVP_PKEY *new_key(void) { return EVP_EC_gen("P-256"); }

static X509 *make_ca(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 30);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(x, k, EVP_sha256());
    return x;
}

static int write_pem_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    PEM_write_X509(f, x);
    fclose(f);
    return 0;
}

int testpki_init(testpki *p)
{
    memset(p, 0, sizeof *p);
    if (testenv_mkdtemp(p->dir, sizeof p->dir, "smbox-pki") != 0)
        return -1;
    p->ca_key = new_key();
    p->bad_key = new_key();
    p->ca = make_ca(p->ca_key, "smbox test CA");
    p->bad_ca = make_ca(p->bad_key, "untrusted CA");
    snprintf(p->ca_file, sizeof p->ca_file, "%s/ca.pem", p->dir);
    return p->ca && p->bad_ca ? write_pem_cert(p->ca_file, p->ca) : -1;
}

void testpki_free(testpki *p)
{
    X509_free(p->ca);
    X509_free(p->bad_ca);
    EVP_PKEY_free(p->ca_key);
    EVP_PKEY_free(p->bad_key);
    testenv_rmtree(p->dir);
}

void testpki_path(const testpki *p, const char *name, const char *ext, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.%s", p->dir, name, ext);
}

int testpki_issue(testpki *p, const char *name, const char *cn, const char *san, EVP_PKEY *pub, int from_days,
                  int to_days, int untrusted)
{
    static long serial = 100;
    EVP_PKEY *k = pub;
    EVP_PKEY *gen = NULL;
    if (!k)
        k = gen = new_key();
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), 86400L * from_days - 60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * to_days);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"smbox-test", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *ca = untrusted ? p->bad_ca : p->ca;
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (san) {
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, untrusted ? p->bad_key : p->ca_key, EVP_sha256());
    char path[400];
    testpki_path(p, name, "crt", path, sizeof path);
    int rc = write_pem_cert(path, x);
    if (gen) {
        testpki_path(p, name, "key", path, sizeof path);
        FILE *f = fopen(path, "w");
        if (f) {
            PEM_write_PrivateKey(f, gen, NULL, NULL, 0, NULL, NULL);
            fclose(f);
        } else
            rc = -1;
    }
    X509_free(x);
    EVP_PKEY_free(gen);
    return rc;
}

int testpki_fingerprint(const testpki *p, const char *name, char *out)
{
    char path[400];
    testpki_path(p, name, "crt", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        return -1;
    unsigned char md[32];
    unsigned int ml = 0;
    X509_digest(x, EVP_sha256(), md, &ml);
    sm_hex_encode(md, 32, out);
    X509_free(x);
    return 0;
}

EVP_PKEY *testpki_pub_from_point(const uint8_t *pt, size_t len)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len),
        OSSL_PARAM_construct_end(),
    };
    if (c && EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(c);
    return k;
}
