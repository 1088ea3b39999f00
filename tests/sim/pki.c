/* pki: test PKI generation with OpenSSL X509 + the GP certificate builder. */
#include "tests/sim/pki.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/sim/buf.h"
#include "tests/sim/cert.h"
#include "tests/sim/ec.h"
#include "tests/sim/prim.h"

static sim_rc path_of(char *out, size_t cap, const char *dir, const char *name, sim_err *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return sim_errf(err, SIM_EINVAL, "path too long: %s/%s", dir, name);
    return SIM_OK;
}

static sim_rc write_key(const char *dir, const char *name, EVP_PKEY *k, sim_err *err)
{
    char p[1024];
    if (path_of(p, sizeof p, dir, name, err))
        return SIM_EINVAL;
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    if (!b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) || (n = BIO_get_mem_data(b, &data)) <= 0) {
        BIO_free(b);
        return sim_errf(err, SIM_ECRYPTO, "pki: cannot encode %s", name);
    }
    sim_rc rc = sim_write_file(p, data, (size_t)n, 0600, err);
    BIO_free(b);
    return rc;
}

static sim_rc write_cert(const char *dir, const char *name, X509 *c, sim_err *err)
{
    char p[1024];
    if (path_of(p, sizeof p, dir, name, err))
        return SIM_EINVAL;
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    if (!b || !PEM_write_bio_X509(b, c) || (n = BIO_get_mem_data(b, &data)) <= 0) {
        BIO_free(b);
        return sim_errf(err, SIM_ECRYPTO, "pki: cannot encode %s", name);
    }
    sim_rc rc = sim_write_file(p, data, (size_t)n, 0644, err);
    BIO_free(b);
    return rc;
}

static int add_ext(X509 *c, X509 *issuer, int nid, const char *v)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : c, c, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
    int ok = ex && X509_add_ext(c, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

/* issuer NULL = self-signed */
static X509 *mkcert(EVP_PKEY *subj, const char *cn, const char *ou, X509 *issuer, EVP_PKEY *ikey, int ca,
                    const char *san, int days)
{
    X509 *c = X509_new();
    uint8_t sn[8];
    if (!c || sim_random(sn, sizeof sn, NULL))
        goto bad;
    sn[0] &= 0x7F;
    BIGNUM *bn = BN_bin2bn(sn, sizeof sn, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    BN_free(bn);
    int ok = ai && X509_set_serialNumber(c, ai);
    ASN1_INTEGER_free(ai);
    X509_NAME *nm = X509_NAME_new();
    ok = ok && nm && X509_set_version(c, 2) &&
         X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"smbox test", -1, -1, 0) &&
         (!ou || X509_NAME_add_entry_by_txt(nm, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0)) &&
         X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
         X509_set_subject_name(c, nm) && X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : nm) &&
         X509_gmtime_adj(X509_getm_notBefore(c), -86400) && X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) &&
         X509_set_pubkey(c, subj);
    X509_NAME_free(nm);
    if (!ok)
        goto bad;
    ok = add_ext(c, issuer, NID_subject_key_identifier, "hash") &&
         (!issuer || add_ext(c, issuer, NID_authority_key_identifier, "keyid:always")) &&
         add_ext(c, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
         add_ext(c, issuer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign,digitalSignature" :
                                                "critical,digitalSignature,keyAgreement") &&
         (ca || add_ext(c, issuer, NID_ext_key_usage, "serverAuth,clientAuth")) &&
         (!san || add_ext(c, issuer, NID_subject_alt_name, san));
    if (!ok || !X509_sign(c, ikey, EVP_sha256()))
        goto bad;
    return c;
bad:
    X509_free(c);
    return NULL;
}

static int ski_of(X509 *c, uint8_t out[20])
{
    const ASN1_OCTET_STRING *s = X509_get0_subject_key_id(c);
    if (!s || ASN1_STRING_length(s) != 20)
        return -1;
    memcpy(out, ASN1_STRING_get0_data(s), 20);
    return 0;
}

static void ymd(char out[9], int plus_years)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%04d%02d%02d", (tm.tm_year + 1900 + plus_years) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100);
    memcpy(out, tmp, 8);
    out[8] = 0;
}

/* SM-DP / SM-SR GP certificate signed by the CI; for a fresh key (written beside it), or for the
 * given public point (a key held elsewhere, e.g. in the appliance's HSM: no key file). */
static sim_rc gp_entity(const char *dir, const char *name, uint8_t type, EVP_PKEY *ci, const uint8_t ci_ski[20],
                        const uint8_t *given_pub, sim_buf *manifest, sim_err *err)
{
    EVP_PKEY *k = NULL;
    sim_rc rc = given_pub ? sim_ec_pub_from_point(SIM_CURVE_P256, given_pub, 65, &k, err)
                          : sim_ec_keygen(SIM_CURVE_P256, &k, err);
    if (rc)
        return rc;
    uint8_t pt[65], ski[20], serial[8];
    char eff[9], exp[9], fn[128];
    ymd(eff, 0);
    ymd(exp, 10);
    static const uint8_t usage[1] = {0x88};
    sim_buf cert;
    sim_buf_init(&cert);
    if (!(rc = sim_ec_pub_point(k, pt, err)) && !(rc = sim_random(serial, 8, err))) {
        serial[0] &= 0x7F;
        SHA1(pt + 1, 64, ski);
        sim_gpcert_tmpl t = {serial, 8, ci_ski, 20, ski, 20, usage, 1, eff, exp, type, ci_ski, 20, k};
        rc = sim_gpcert_build(&t, ci, &cert, err);
    }
    if (!rc && !given_pub) {
        snprintf(fn, sizeof fn, "%s-gp.key", name);
        rc = write_key(dir, fn, k, err);
    }
    char p[1024];
    if (!rc) {
        snprintf(fn, sizeof fn, "%s-gp.cert", name);
        if (!(rc = path_of(p, sizeof p, dir, fn, err)))
            rc = sim_write_file(p, cert.p, cert.len, 0644, err);
    }
    if (!rc) {
        sim_buf hx;
        sim_buf_init(&hx);
        sim_buf_hex(&hx, cert.p, cert.len);
        sim_buf_u8(&hx, '\n');
        snprintf(fn, sizeof fn, "%s-gp.cert.hex", name);
        if (!(rc = path_of(p, sizeof p, dir, fn, err)))
            rc = sim_write_file(p, hx.p, hx.len, 0644, err);
        sim_buf_free(&hx);
        sim_buf_printf(manifest, "%s.gpcert=%s-gp.cert\n%s.gpcert.hex=%s-gp.cert.hex\n", name, name, name, name);
        if (given_pub) {
            char phx[131];
            sim_hex(phx, pt, 65);
            phx[130] = 0;
            sim_buf_printf(manifest, "%s.gppub=%s\n", name, phx);
        } else {
            sim_buf_printf(manifest, "%s.gpkey=%s-gp.key\n", name, name);
        }
    }
    sim_buf_free(&cert);
    EVP_PKEY_free(k);
    return rc;
}

struct role { const char *name, *oid, *ou; };
static const struct role roles[] = {
    {"mno1", SIM_OID_MNO1, "MNO"},     {"m2msp1", SIM_OID_M2MSP1, "M2M-SP"}, {"eum1", SIM_OID_EUM1, "EUM"},
    {"smdp", SIM_OID_SMDP, "SM-DP"},   {"smsr", SIM_OID_SMSR, "SM-SR"},      {"smsr2", SIM_OID_SMSR2, "SM-SR"},
};

sim_rc sim_pki_generate(const char *dir, sim_err *err)
{
    return sim_pki_generate2(dir, NULL, err);
}

sim_rc sim_pki_generate2(const char *dir, const sim_pki_given *g, sim_err *err)
{
    static const sim_pki_given none = {0};
    if (!g)
        g = &none;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sim_errf(err, SIM_EIO, "pki: cannot create %s: %s", dir, strerror(errno));
    EVP_PKEY *ci = NULL, *eum = NULL, *tlsca = NULL;
    X509 *cic = NULL, *eumc = NULL, *tlscac = NULL;
    sim_buf man;
    sim_buf_init(&man);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    sim_buf_printf(&man, "# smbox test PKI (sim pki). Keys are fresh: never commit them.\nversion=1\ncreated=%s\n", ts);
    sim_rc rc = sim_ec_keygen(SIM_CURVE_P256, &ci, err);
    if (!rc) rc = sim_ec_keygen(SIM_CURVE_P256, &eum, err);
    if (!rc) rc = sim_ec_keygen(SIM_CURVE_P256, &tlsca, err);
    if (rc)
        goto out;
    cic = mkcert(ci, "smbox test CI " SIM_OID_CI, "CI", NULL, ci, 1, NULL, 3650 * 2);
    eumc = cic ? mkcert(eum, SIM_OID_EUM1, "EUM", cic, ci, 1, NULL, 3650) : NULL;
    tlscac = mkcert(tlsca, "smbox test TLS CA", "TLS", NULL, tlsca, 1, NULL, 3650);
    if (!cic || !eumc || !tlscac) {
        rc = sim_errf(err, SIM_ECRYPTO, "pki: building the CA certificates failed");
        goto out;
    }
    if ((rc = write_cert(dir, "ci.crt", cic, err)) || (rc = write_key(dir, "ci.key", ci, err)) ||
        (rc = write_cert(dir, "eum1.crt", eumc, err)) || (rc = write_key(dir, "eum1.key", eum, err)) ||
        (rc = write_cert(dir, "tls-ca.crt", tlscac, err)) || (rc = write_key(dir, "tls-ca.key", tlsca, err)))
        goto out;
    sim_buf_printf(&man, "ci.oid=%s\nci.cert=ci.crt\nci.key=ci.key\neum1.oid=%s\neum1.cert=eum1.crt\neum1.key=eum1.key\n",
                   SIM_OID_CI, SIM_OID_EUM1);
    uint8_t ci_ski[20];
    if (ski_of(cic, ci_ski)) {
        rc = sim_errf(err, SIM_ECRYPTO, "pki: CI certificate without a subject key identifier");
        goto out;
    }
    if ((rc = gp_entity(dir, "smdp", SIM_CERT_TYPE_SMDP, ci, ci_ski, g->smdp_pub, &man, err)) ||
        (rc = gp_entity(dir, "smsr", SIM_CERT_TYPE_SMSR, ci, ci_ski, g->smsr_pub, &man, err)) ||
        (rc = gp_entity(dir, "smsr2", SIM_CERT_TYPE_SMSR, ci, ci_ski, NULL, &man, err)))
        goto out;
    sim_buf_printf(&man, "smdp.oid=%s\nsmsr.oid=%s\nsmsr2.oid=%s\ntls.ca.cert=tls-ca.crt\ntls.ca.key=tls-ca.key\n",
                   SIM_OID_SMDP, SIM_OID_SMSR, SIM_OID_SMSR2);
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        EVP_PKEY *k = NULL;
        if ((rc = sim_ec_keygen(SIM_CURVE_P256, &k, err)))
            goto out;
        char san[256], fn[64];
        snprintf(san, sizeof san, "DNS:%s.smbox.test,DNS:localhost,IP:127.0.0.1,URI:urn:oid:%s", roles[i].name,
                 roles[i].oid);
        X509 *c = mkcert(k, roles[i].oid, roles[i].ou, tlscac, tlsca, 0, san, 825);
        if (!c) {
            EVP_PKEY_free(k);
            rc = sim_errf(err, SIM_ECRYPTO, "pki: TLS certificate for %s failed", roles[i].name);
            goto out;
        }
        snprintf(fn, sizeof fn, "tls-%s.crt", roles[i].name);
        rc = write_cert(dir, fn, c, err);
        snprintf(fn, sizeof fn, "tls-%s.key", roles[i].name);
        if (!rc)
            rc = write_key(dir, fn, k, err);
        X509_free(c);
        EVP_PKEY_free(k);
        if (rc)
            goto out;
        sim_buf_printf(&man, "tls.%s.oid=%s\ntls.%s.role=%s\ntls.%s.cert=tls-%s.crt\ntls.%s.key=tls-%s.key\n",
                       roles[i].name, roles[i].oid, roles[i].name, roles[i].ou, roles[i].name, roles[i].name,
                       roles[i].name, roles[i].name);
    }
    if (g->tls_pub) {
        /* the appliance's own TLS certificate (both roles, one HSM key), for the given public point */
        EVP_PKEY *k = NULL;
        if ((rc = sim_ec_pub_from_point(SIM_CURVE_P256, g->tls_pub, 65, &k, err)))
            goto out;
        char san[256];
        snprintf(san, sizeof san, "DNS:smbox.smbox.test,DNS:localhost,IP:127.0.0.1,URI:urn:oid:%s,URI:urn:oid:%s",
                 SIM_OID_SMDP, SIM_OID_SMSR);
        X509 *c = mkcert(k, "smbox", "SM-DP+SM-SR", tlscac, tlsca, 0, san, 825);
        EVP_PKEY_free(k);
        if (!c) {
            rc = sim_errf(err, SIM_ECRYPTO, "pki: TLS certificate for the given key failed");
            goto out;
        }
        rc = write_cert(dir, "tls-smbox.crt", c, err);
        X509_free(c);
        if (rc)
            goto out;
        char phx[131];
        sim_hex(phx, g->tls_pub, 65);
        phx[130] = 0;
        sim_buf_printf(&man, "tls.smbox.cert=tls-smbox.crt\ntls.smbox.pub=%s\n", phx);
    }
    uint8_t tk[16];
    char hx[40], p[1024];
    if ((rc = sim_random(tk, 16, err)))
        goto out;
    sim_hex(hx, tk, 16);
    hx[32] = '\n';
    if ((rc = path_of(p, sizeof p, dir, "tk-eum1-smsr.hex", err)) || (rc = sim_write_file(p, hx, 33, 0600, err)))
        goto out;
    sim_buf_printf(&man, "transport.eum1-smsr.id=%s\ntransport.eum1-smsr.key=tk-eum1-smsr.hex\n"
                         "transport.eum1-smsr.alg=aes-kwp\n", SIM_TK_ID);
    if (!(rc = sim_buf_check(&man, err)) && !(rc = path_of(p, sizeof p, dir, "manifest", err)))
        rc = sim_write_file(p, man.p, man.len, 0644, err);
out:
    X509_free(cic);
    X509_free(eumc);
    X509_free(tlscac);
    EVP_PKEY_free(ci);
    EVP_PKEY_free(eum);
    EVP_PKEY_free(tlsca);
    sim_buf_free(&man);
    return rc;
}

sim_rc sim_manifest_get(const char *dir, const char *key, char *out, size_t cap, sim_err *err)
{
    char p[1024];
    if (path_of(p, sizeof p, dir, "manifest", err))
        return SIM_EINVAL;
    FILE *f = fopen(p, "r");
    if (!f)
        return sim_errf(err, SIM_EIO, "pki: cannot open %s: %s", p, strerror(errno));
    char line[1024];
    size_t kl = strlen(key);
    sim_rc rc = sim_errf(err, SIM_ENOTFOUND, "pki: %s has no %s", p, key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == '=') {
            line[strcspn(line, "\r\n")] = 0;
            if (strlen(line + kl + 1) >= cap)
                break;
            strcpy(out, line + kl + 1);
            if (err)
                sim_err_clear(err);
            rc = SIM_OK;
            break;
        }
    }
    fclose(f);
    return rc;
}

sim_rc sim_pem_key(const char *path, EVP_PKEY **k, sim_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sim_errf(err, SIM_EIO, "cannot open %s: %s", path, strerror(errno));
    *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return *k ? SIM_OK : sim_errf(err, SIM_EPARSE, "%s: not a PEM private key", path);
}

sim_rc sim_pem_cert_pub(const char *path, EVP_PKEY **k, uint8_t ski[20], sim_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sim_errf(err, SIM_EIO, "cannot open %s: %s", path, strerror(errno));
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!c)
        return sim_errf(err, SIM_EPARSE, "%s: not a PEM certificate", path);
    *k = X509_get_pubkey(c);
    int bad = !*k || (ski && ski_of(c, ski));
    X509_free(c);
    return bad ? sim_errf(err, SIM_EPARSE, "%s: no EC public key or subject key identifier", path) : SIM_OK;
}

sim_rc sim_pki_load(const char *dir, sim_pki *p, sim_err *err)
{
    memset(p, 0, sizeof *p);
    char v[512], path[1024];
    sim_rc rc;
#define GET(key) (rc = sim_manifest_get(dir, key, v, sizeof v, err))
#define PATH() (snprintf(path, sizeof path, "%s/%s", dir, v) >= (int)sizeof path ? sim_errf(err, SIM_EINVAL, "path") : SIM_OK)
    if (GET("ci.cert") || PATH() || (rc = sim_pem_cert_pub(path, &p->ci_pub, p->ci_ski, err)))
        goto bad;
    EVP_PKEY *eumpub = NULL;
    if (GET("eum1.cert") || PATH() || (rc = sim_pem_cert_pub(path, &eumpub, p->eum_ski, err)))
        goto bad;
    EVP_PKEY_free(eumpub);
    if (GET("eum1.key") || PATH() || (rc = sim_pem_key(path, &p->eum_key, err)))
        goto bad;
    if (GET("transport.eum1-smsr.key") || PATH())
        goto bad;
    {
        sim_buf b;
        sim_buf_init(&b);
        size_t l = 0;
        if ((rc = sim_read_file(path, &b, err)) == SIM_OK) {
            while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
                b.len--;
            sim_buf_u8(&b, 0);
            rc = sim_buf_check(&b, err);
            if (!rc && (rc = sim_unhex((const char *)b.p, p->tk, 16, &l, err)) == SIM_OK && l != 16)
                rc = sim_errf(err, SIM_EPARSE, "transport key is %zu bytes, expected 16", l);
        }
        sim_buf_free_secure(&b);
        if (rc)
            goto bad;
    }
    if ((rc = sim_manifest_get(dir, "transport.eum1-smsr.id", p->tk_id, sizeof p->tk_id, err)) ||
        (rc = sim_manifest_get(dir, "eum1.oid", p->eum_oid, sizeof p->eum_oid, err)) ||
        (rc = sim_manifest_get(dir, "smsr.oid", p->smsr_oid, sizeof p->smsr_oid, err)) ||
        (rc = sim_manifest_get(dir, "ci.oid", p->ci_oid, sizeof p->ci_oid, err)))
        goto bad;
    return SIM_OK;
#undef GET
#undef PATH
bad:
    sim_pki_free(p);
    return rc;
}

void sim_pki_free(sim_pki *p)
{
    EVP_PKEY_free(p->ci_pub);
    EVP_PKEY_free(p->eum_key);
    OPENSSL_cleanse(p, sizeof *p);
}
