/* The SM-DP context from the configuration. */
#include "appliance/smdp/smdp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "appliance/keyring.h"
#include "crypto/tlv.h"
#include "lib/hex.h"
#include "lib/log.h"
#include "net/es_local.h"

#define CERT_FILE_MAX (256u << 10)

static sm_rc read_file(const char *path, uint8_t **out, size_t *len, sm_err *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sm_errf(err, errno == ENOENT ? SM_ENOTFOUND : SM_EIO, "%s: %s", path, strerror(errno));
    uint8_t *b = malloc(CERT_FILE_MAX + 1);
    size_t n = b ? fread(b, 1, CERT_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!b)
        return sm_errf(err, SM_ENOMEM, "%s: out of memory", path);
    if (n > CERT_FILE_MAX) {
        free(b);
        return sm_errf(err, SM_ELIMIT, "%s: larger than %u bytes", path, CERT_FILE_MAX);
    }
    *out = b;
    *len = n;
    return SM_OK;
}

sm_rc smdp_ctx_load_certs(const char *path, uint8_t **v, size_t *lens, size_t *n, sm_err *err)
{
    uint8_t *b = NULL;
    size_t len = 0;
    sm_rc rc = read_file(path, &b, &len, err);
    if (rc != SM_OK)
        return rc;
    if (len && b[0] == 0x30) { /* one DER certificate */
        if (*n >= SMDP_MAX_CERTS) {
            free(b);
            return sm_errf(err, SM_ELIMIT, "%s: more than %d certificates", path, SMDP_MAX_CERTS);
        }
        v[*n] = b;
        lens[(*n)++] = len;
        return SM_OK;
    }
    BIO *bio = BIO_new_mem_buf(b, (int)len);
    X509 *x;
    size_t got = 0;
    while (rc == SM_OK && bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        unsigned char *der = NULL;
        int dl = i2d_X509(x, &der);
        X509_free(x);
        if (dl <= 0 || *n >= SMDP_MAX_CERTS) {
            OPENSSL_free(der);
            rc = sm_errf(err, dl <= 0 ? SM_EPARSE : SM_ELIMIT, "%s: %s", path,
                         dl <= 0 ? "a certificate does not encode" : "too many certificates");
            break;
        }
        v[*n] = malloc((size_t)dl);
        if (!v[*n]) {
            OPENSSL_free(der);
            rc = sm_errf(err, SM_ENOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(v[*n], der, (size_t)dl);
        lens[(*n)++] = (size_t)dl;
        OPENSSL_free(der);
        got++;
    }
    BIO_free(bio);
    free(b);
    if (rc == SM_OK && !got)
        rc = sm_errf(err, SM_EPARSE, "%s: no certificate in it (PEM or DER expected)", path);
    return rc;
}

sm_rc smdp_ctx_load_dp_cert(smdp_ctx *x, const char *path, sm_err *err)
{
    uint8_t *b = NULL;
    size_t len = 0;
    sm_rc rc = read_file(path, &b, &len, err);
    if (rc != SM_OK)
        return rc;
    if (len && b[0] != 0x7F) { /* hex text */
        size_t o = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            if (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')
                continue;
            char h[3] = {(char)b[i], (char)b[i + 1], 0};
            char *end = NULL;
            unsigned long v = strtoul(h, &end, 16);
            if (*end) {
                free(b);
                return sm_errf(err, SM_EPARSE, "%s: neither a binary 7F21 certificate nor its hex", path);
            }
            b[o++] = (uint8_t)v;
            i++;
        }
        len = o;
    }
    tlv t;
    if (tlv_parse_one(b, len, 0, &t, err) != SM_OK || t.tag != 0x7F21) {
        free(b);
        return sm_errf(err, SM_EPARSE, "%s: not one GP certificate (7F21)", path);
    }
    free(x->dp_cert);
    x->dp_cert = b;
    x->dp_cert_len = len;
    return SM_OK;
}

sm_rc smdp_ctx_init(smdp_ctx *x, const sm_config *cfg, sm_err *err)
{
    memset(x, 0, sizeof *x);
    snprintf(x->smdp_id, sizeof x->smdp_id, "%s", cfg->gsma.smdp_id ? cfg->gsma.smdp_id : "");
    snprintf(x->smsr_id, sizeof x->smsr_id, "%s", cfg->gsma.smsr_id ? cfg->gsma.smsr_id : "");
    snprintf(x->public_url, sizeof x->public_url, "%s", cfg->es.public_url ? cfg->es.public_url : "");
    snprintf(x->key_prefix, sizeof x->key_prefix, "%s", cfg->hsm.key_prefix);
    sm_keyring_label(cfg->hsm.key_prefix, AK_SMDP_SIGN, x->sign_label, sizeof x->sign_label);
    sm_keyring_label(cfg->hsm.key_prefix, AK_KEK, x->kek_label, sizeof x->kek_label);
    x->es3_binding = cfg->smdp.es3_binding && !strcmp(cfg->smdp.es3_binding, "rest") ? ES_BIND_REST : ES_BIND_SOAP;
    x->default_validity_s = cfg->smdp.default_validity_s;
    x->send_data_max = (size_t)cfg->smdp.send_data_max_bytes;
    x->isdp_kvn = (uint8_t)cfg->smdp.isdp_kvn;
    for (size_t i = 0; i < cfg->es.npeers && x->npeers < SMDP_MAX_PEERS; i++) {
        const sm_cfg_peer *p = &cfg->es.peers[i];
        if (strcmp(p->role, "smsr"))
            continue;
        smdp_peer *q = &x->peers[x->npeers++];
        snprintf(q->id, sizeof q->id, "%s", p->id);
        snprintf(q->endpoint, sizeof q->endpoint, "%s", p->endpoint ? p->endpoint : "");
    }
    char path[4096];
    sm_err e2 = {0};
    if (cfg->gsma.ci_cert_file && *cfg->gsma.ci_cert_file) {
        sm_config_var_path(cfg, cfg->gsma.ci_cert_file, path, sizeof path);
        if (smdp_ctx_load_certs(path, x->ci, x->ci_len, &x->nci, &e2) != SM_OK) {
            char q[600];
            sm_log(SM_LOG_WARN, "smdp", "no_ci", "msg=%s", SM_LOGQ(q, e2.msg));
        }
    }
    if (cfg->smdp.eum_cert_file && *cfg->smdp.eum_cert_file) {
        sm_config_var_path(cfg, cfg->smdp.eum_cert_file, path, sizeof path);
        sm_err_clear(&e2);
        if (smdp_ctx_load_certs(path, x->eum, x->eum_len, &x->neum, &e2) != SM_OK && e2.code != SM_ENOTFOUND) {
            char q[600];
            sm_log(SM_LOG_WARN, "smdp", "eum_certs", "msg=%s", SM_LOGQ(q, e2.msg));
        }
    }
    if (cfg->smdp.cert_file && *cfg->smdp.cert_file) {
        sm_config_var_path(cfg, cfg->smdp.cert_file, path, sizeof path);
        sm_err_clear(&e2);
        if (smdp_ctx_load_dp_cert(x, path, &e2) != SM_OK) {
            char q[600];
            sm_log(SM_LOG_WARN, "smdp", "no_dp_certificate",
                   "msg=%s hint=\"downloads will fail at key establishment until smdp.cert_file holds CERT.DP.ECDSA\"",
                   SM_LOGQ(q, e2.msg));
        }
    }
    (void)err;
    return SM_OK;
}

void smdp_ctx_free(smdp_ctx *x)
{
    for (size_t i = 0; i < x->nci; i++)
        free(x->ci[i]);
    for (size_t i = 0; i < x->neum; i++)
        free(x->eum[i]);
    free(x->dp_cert);
    memset(x, 0, sizeof *x);
}

const smdp_peer *smdp_peer_find(const smdp_ctx *x, const char *smsr_id)
{
    static const smdp_peer self_local = {.endpoint = ES_LOCAL_ENDPOINT};
    for (size_t i = 0; i < x->npeers; i++)
        if (!strcmp(x->peers[i].id, smsr_id))
            return &x->peers[i];
    if (x->smsr_id[0] && !strcmp(smsr_id, x->smsr_id))
        return &self_local; /* our own SM-SR: in-process unless es.peers says otherwise */
    return NULL;
}
