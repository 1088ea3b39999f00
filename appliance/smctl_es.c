/* smctl es: the ES function table, its OpenAPI description, and a development TLS certificate for
 * the HSM-held ES key. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "appliance/keyring.h"
#include "appliance/smctl.h"
#include "net/es_table.h"
#include "net/rest.h"

void smctl_es_help(FILE *out)
{
    fprintf(out, "  functions    list the ES functions: interface, name, mode, callers\n"
                 "  openapi      print the OpenAPI 3 description of the REST binding (docs/openapi.json)\n"
                 "  dev-pki      DEVELOPMENT: create a test CA and a TLS certificate for the HSM key es.tls_key_label\n"
                 "               (es.tls_cert_file, es.tls_ca_file; kept when present)\n");
}

static int list_functions(void)
{
    static const char *const modes[] = {"", "sync", "async", "notification"};
    for (size_t i = 0; i < es_nfunctions; i++) {
        const es_function *f = &es_functions[i];
        char callers[64] = "";
        for (int r = ES_ROLE_MNO; r <= ES_ROLE_SMSR; r++)
            if (f->callers & ES_R(r)) {
                size_t l = strlen(callers);
                snprintf(callers + l, sizeof callers - l, "%s%s", l ? "," : "", es_role_name((es_role)r));
            }
        printf("%-4s %-36s %-13s %s\n", es_iface_name(f->iface), f->name, modes[f->mode], callers[0] ? callers : "(sent only)");
    }
    return 0;
}

static EVP_PKEY *pub_from_point(const uint8_t *pt, size_t len)
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

static void add_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
    if (e) {
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
}

static X509 *new_cert(EVP_PKEY *pub, const char *cn, long serial, long days)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -300);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * days);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"smbox development", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_pubkey(x, pub);
    return x;
}

static int write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return smctl_fail("cannot write %s: %s", path, strerror(errno));
    PEM_write_X509(f, x);
    fclose(f);
    return 0;
}

static int dev_pki(smctl_ctx *c)
{
    const sm_config *cfg = smctl_config(c);
    if (!cfg)
        return 1;
    char cert[4096], ca[4096], cakey[4200];
    sm_config_var_path(cfg, cfg->es.tls_cert_file, cert, sizeof cert);
    sm_config_var_path(cfg, cfg->es.tls_ca_file, ca, sizeof ca);
    snprintf(cakey, sizeof cakey, "%s.key", ca);
    struct stat st;
    if (stat(cert, &st) == 0 && stat(ca, &st) == 0) {
        printf("exists  %s\nexists  %s\n", cert, ca);
        return 0;
    }
    hsm_sess *s = smctl_hsm(c);
    if (!s)
        return 1;
    char label[HSM_LABEL_MAX + 1];
    if (cfg->es.tls_key_label && *cfg->es.tls_key_label)
        snprintf(label, sizeof label, "%s", cfg->es.tls_key_label);
    else
        sm_keyring_label(cfg->hsm.key_prefix, AK_TLS, label, sizeof label);
    hsm_key k;
    sm_err err = {0};
    uint8_t pt[HSM_EC_POINT_MAX];
    size_t pl = 0;
    if (hsm_key_find(s, label, HSM_KT_EC_PRIV, &k, &err) != SM_OK ||
        hsm_ec_public(s, &k, pt, sizeof pt, &pl, NULL, &err) != SM_OK)
        return smctl_fail("TLS key %s: %s (run `smctl hsm init`)", label, err.msg);
    for (char *p = strchr(cert + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        mkdir(cert, 0755);
        *p = '/';
    }
    for (char *p = strchr(ca + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        mkdir(ca, 0755);
        *p = '/';
    }
    EVP_PKEY *capk = EVP_EC_gen("P-256");
    EVP_PKEY *pub = pub_from_point(pt, pl);
    if (!capk || !pub)
        return smctl_fail("key generation failed");
    X509 *cax = new_cert(capk, "smbox development CA", 1, 3650);
    X509_set_issuer_name(cax, X509_get_subject_name(cax));
    add_ext(cax, cax, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cax, cax, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_sign(cax, capk, EVP_sha256());
    X509 *x = new_cert(pub, cfg->node.name, 2, 825);
    X509_set_issuer_name(x, X509_get_subject_name(cax));
    add_ext(x, cax, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, cax, NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(x, cax, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost");
    X509_sign(x, capk, EVP_sha256());
    int rc = write_cert(ca, cax) || write_cert(cert, x);
    FILE *f = rc ? NULL : fopen(cakey, "w");
    if (f) {
        chmod(cakey, 0600);
        PEM_write_PrivateKey(f, capk, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    }
    X509_free(cax);
    X509_free(x);
    EVP_PKEY_free(capk);
    EVP_PKEY_free(pub);
    if (rc)
        return 1;
    printf("created %s (development CA: trust list for peers' certificates too; its key %s)\n", ca, cakey);
    printf("created %s (for HSM key %s; subjectAltName 127.0.0.1, ::1, localhost)\n", cert, label);
    return 0;
}

int smctl_es_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "functions"))
        return list_functions();
    if (argc == 2 && !strcmp(argv[1], "openapi")) {
        sm_buf b;
        sm_buf_init(&b);
        rest_openapi(&b);
        if (b.failed)
            return smctl_fail("out of memory");
        fwrite(b.data, 1, b.len, stdout);
        sm_buf_free(&b);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "dev-pki"))
        return dev_pki(c);
    smctl_es_help(stderr);
    return 2;
}
