/* The SM-SR context: identifiers, key labels and the trusted CI certificates. */
#include "appliance/smsr/smsr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "appliance/keyring.h"
#include "appliance/smsr/batch.h"

static sm_rc load_ci(smsr_ctx *x, const char *path, sm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT)
        return SM_ENOTFOUND; /* not configured yet: registrations are refused until it exists */
    if (!f)
        return sm_errf(err, SM_EIO, "SM-SR: cannot read the CI certificate file %s: %s", path, strerror(errno));
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    bool more = !feof(f);
    fclose(f);
    if (more || n == 0)
        return sm_errf(err, SM_EPARSE, "SM-SR: CI certificate file %s is empty or larger than 64 KiB", path);
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    X509 *c;
    while (b && x->nci < SMSR_MAX_CI && (c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        unsigned char *der = NULL;
        int l = i2d_X509(c, &der);
        X509_free(c);
        if (l <= 0) {
            BIO_free(b);
            return sm_errf(err, SM_EPARSE, "SM-SR: CI certificate in %s cannot be encoded", path);
        }
        x->ci[x->nci] = malloc((size_t)l);
        if (!x->ci[x->nci]) {
            OPENSSL_free(der);
            BIO_free(b);
            return sm_errf(err, SM_ENOMEM, "SM-SR: out of memory");
        }
        memcpy(x->ci[x->nci], der, (size_t)l);
        x->ci_len[x->nci++] = (size_t)l;
        OPENSSL_free(der);
    }
    BIO_free(b);
    if (x->nci == 0) { /* one DER certificate */
        const unsigned char *p = buf;
        c = d2i_X509(NULL, &p, (long)n);
        if (!c || p != buf + n) {
            X509_free(c);
            return sm_errf(err, SM_EPARSE, "SM-SR: %s holds no PEM or DER certificate", path);
        }
        X509_free(c);
        if (!(x->ci[0] = malloc(n)))
            return sm_errf(err, SM_ENOMEM, "SM-SR: out of memory");
        memcpy(x->ci[0], buf, n);
        x->ci_len[0] = n;
        x->nci = 1;
    }
    return SM_OK;
}

sm_rc smsr_ctx_init2(smsr_ctx *x, const char *smsr_id, const char *key_prefix, const char *ci_file, sm_err *err)
{
    memset(x, 0, sizeof *x);
    if (!smsr_id || !smsr_oid_ok(smsr_id))
        return sm_errf(err, SM_ECONFIG, "SM-SR: gsma.smsr_id must be an OID");
    snprintf(x->smsr_id, sizeof x->smsr_id, "%s", smsr_id);
    snprintf(x->key_prefix, sizeof x->key_prefix, "%s", key_prefix && *key_prefix ? key_prefix : "smbox");
    sm_keyring_label(x->key_prefix, AK_KEK, x->kek_label, sizeof x->kek_label);
    x->platform_channel = ES5_CH_AUTO;
    x->default_validity_s = 86400;
    snprintf(x->ci_note, sizeof x->ci_note, "none configured");
    if (ci_file && *ci_file) {
        sm_rc rc = load_ci(x, ci_file, err);
        if (rc == SM_ENOTFOUND) {
            snprintf(x->ci_note, sizeof x->ci_note, "%s does not exist", ci_file);
            rc = SM_OK;
        }
        if (rc != SM_OK) {
            smsr_ctx_free(x);
            return rc;
        }
    }
    return SM_OK;
}

sm_rc smsr_ctx_init(smsr_ctx *x, const sm_config *cfg, sm_err *err)
{
    char ci[4096];
    sm_config_var_path(cfg, cfg->gsma.ci_cert_file, ci, sizeof ci);
    sm_rc rc = smsr_ctx_init2(x, cfg->gsma.smsr_id, cfg->hsm.key_prefix, ci, err);
    if (rc != SM_OK)
        return rc;
    if (cfg->smsr.platform_channel && !strcmp(cfg->smsr.platform_channel, "sms"))
        x->platform_channel = ES5_CH_SMS;
    else if (cfg->smsr.platform_channel && !strcmp(cfg->smsr.platform_channel, "https"))
        x->platform_channel = ES5_CH_HTTPS;
    if (cfg->smsr.default_validity_s > 0)
        x->default_validity_s = cfg->smsr.default_validity_s;
    return SM_OK;
}

void smsr_ctx_free(smsr_ctx *x)
{
    for (size_t i = 0; i < x->nci; i++)
        free(x->ci[i]);
    x->nci = 0;
    free(x->bound);
    x->bound = NULL;
}
