/* smsr_fixture: what the SM-SR tests share — a throw-away PostgreSQL cluster and SoftHSM2 token with
 * the appliance keys, a test PKI and fleet made by the simulator (`sim pki`, `sim fleet`), the EUM
 * registered and its transport key in the token, and helpers to tamper with batch files the way a
 * faulty or hostile EUM would (re-signing records with the EUM key, fixing the trailer). */
#ifndef SMSR_FIXTURE_H
#define SMSR_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "appliance/keyring.h"
#include "appliance/smsr/import.h"
#include "appliance/smsr/repo.h"
#include "appliance/smsr/smsr.h"
#include "db/audit.h"
#include "db/eis_repo.h"
#include "lib/hex.h"
#include "lib/log.h"
#include "tests/support/testenv.h"
#include "tests/support/testpg.h"

#define FX_SMSR_ID "2.999.30.1" /* the SM-SR of the simulator's PKI */
#define FX_EUM_ID "2.999.10.1"
#define FX_TK_ID "TK-EUM1-SMSR-01"

typedef struct fx {
    testpg pg;
    testenv_hsm T;
    hsm_ctx *hsm;
    hsm_sess *s;
    char dir[256];      /* temporary: pki/, fleet/ (5 eUICCs, the last one without HTTPS) */
    char sim[512];
    smsr_ctx x;
    int ndb;
    int own_hsm;        /* the token is this fixture's (else the caller's, e.g. nettest's) */
} fx;

static fx FX;

static void fx_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static __attribute__((unused)) void fx_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fixture: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* the simulator binary beside this test program's build: <variant>/tests/test_x -> <variant>/sim/sim */
static __attribute__((unused)) void fx_sim_path(void)
{
    char exe[400];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        fx_die("no /proc/self/exe");
    exe[n] = 0;
    char *sl = strrchr(exe, '/');
    if (sl)
        *sl = 0;
    snprintf(FX.sim, sizeof FX.sim, "%s/../sim/sim", exe);
    if (access(FX.sim, X_OK) != 0)
        fx_die("simulator %s not built (make BUILD_ROOT=... tests)", FX.sim);
}

static __attribute__((unused)) char *fx_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fx_die("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        fx_die("cannot read %s", path);
    fclose(f);
    b[n] = 0;
    if (len)
        *len = (size_t)n;
    return b;
}

static __attribute__((unused)) uint8_t *fx_der_cert(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    unsigned char *der = NULL;
    int l = c ? i2d_X509(c, &der) : -1;
    X509_free(c);
    if (l <= 0)
        fx_die("certificate %s", path);
    uint8_t *out = malloc((size_t)l);
    memcpy(out, der, (size_t)l);
    OPENSSL_free(der);
    *len = (size_t)l;
    return out;
}

/* a transport key from a hex file into the token as <prefix>-tk-<id> (what smctl does) */
static __attribute__((unused)) void fx_import_tk(const char *id, const char *hexfile)
{
    char *h = fx_read(hexfile, NULL);
    uint8_t k[32];
    size_t kl = 0;
    sm_err err = {0};
    if (sm_hex_decode(h, k, sizeof k, &kl, &err) != SM_OK || kl != 16)
        fx_die("transport key file %s", hexfile);
    free(h);
    char label[HSM_LABEL_MAX + 1];
    smsr_tk_label(&FX.x, id, label, sizeof label);
    hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_UNWRAP, .token = true, .label = label};
    hsm_key key;
    if (hsm_secret_import(FX.s, &sp, k, 16, &key, &err) != SM_OK)
        fx_die("importing %s: %s", label, err.msg);
    explicit_bzero(k, sizeof k);
}

/* PostgreSQL, the simulator's PKI and fleet, the SM-SR context: everything but the token */
static __attribute__((unused)) void fx_init(void)
{
    memset(&FX, 0, sizeof FX);
    sm_log_init("test", SM_LOG_WARN, 2);
    fx_sim_path();
    if (testpg_start(&FX.pg) != 0)
        fx_die("postgres");
    if (testenv_mkdtemp(FX.dir, sizeof FX.dir, "smsr-test") != 0)
        fx_die("tmpdir");
    if (testenv_sh("'%s' pki --out '%s/pki' >/dev/null && '%s' fleet --count 5 --sms-only 1 --out '%s/fleet' --pki '%s/pki' >/dev/null",
                   FX.sim, FX.dir, FX.sim, FX.dir, FX.dir) != 0)
        fx_die("sim pki/fleet");
    char ci[400];
    snprintf(ci, sizeof ci, "%s/pki/ci.crt", FX.dir);
    sm_err err = {0};
    if (smsr_ctx_init2(&FX.x, FX_SMSR_ID, "smbox", ci, &err) != SM_OK)
        fx_die("ctx: %s", err.msg);
}

/* The token (hsm: one opened already, e.g. nettest's — one SoftHSM2 token per process; NULL: a new
 * one): the appliance keys of the ceremony and the EUM's transport key. */
static __attribute__((unused)) void fx_token(hsm_ctx *hsm)
{
    if (!hsm) {
        if (testenv_hsm_setup(&FX.T) != 0)
            fx_die("token");
        FX.hsm = testenv_hsm_open(&FX.T, 4);
        FX.own_hsm = 1;
    } else {
        FX.hsm = hsm;
    }
    sm_err err = {0};
    if (hsm_session_get(FX.hsm, &FX.s, &err) != SM_OK)
        fx_die("session: %s", err.msg);
    if (sm_keyring_ceremony(FX.s, "smbox", NULL, NULL, &err) != SM_OK)
        fx_die("ceremony: %s", err.msg);
    char tk[400];
    snprintf(tk, sizeof tk, "%s/pki/tk-eum1-smsr.hex", FX.dir);
    fx_import_tk(FX_TK_ID, tk);
}

static __attribute__((unused)) void fx_start(void)
{
    fx_init();
    fx_token(NULL);
}


static __attribute__((unused)) void fx_stop(void)
{
    smsr_ctx_free(&FX.x);
    hsm_session_put(FX.s);
    if (FX.own_hsm) {
        hsm_close(FX.hsm);
        testenv_hsm_teardown(&FX.T);
    }
    testpg_stop(&FX.pg);
    testenv_rmtree(FX.dir);
}

/* a fresh database with the schema and the EUM of the PKI registered; *conn from *pool */
static __attribute__((unused)) void fx_db_at(db_pool **pool, db_conn **conn, char *conninfo, size_t cap)
{
    char name[32];
    snprintf(name, sizeof name, "t%d", ++FX.ndb);
    if (testpg_schema_db(&FX.pg, name, conninfo, cap) != 0)
        fx_die("database");
    *pool = testpg_pool(conninfo, 8);
    sm_err err = {0};
    if (db_pool_take(*pool, conn, &err) != SM_OK)
        fx_die("connection: %s", err.msg);
    char path[400];
    snprintf(path, sizeof path, "%s/pki/eum1.crt", FX.dir);
    size_t l;
    uint8_t *der = fx_der_cert(path, &l);
    if (smsr_eum_put(*conn, "test", FX_EUM_ID, der, l, FX_TK_ID, &err) != SM_OK)
        fx_die("EUM: %s", err.msg);
    free(der);
}

static __attribute__((unused)) void fx_db(db_pool **pool, db_conn **conn)
{
    char ci[600];
    fx_db_at(pool, conn, ci, sizeof ci);
}

static __attribute__((unused)) void fx_db_close(db_pool *pool, db_conn *conn)
{
    db_pool_give(conn);
    db_pool_close(pool);
}

/* ---- batch tampering ----------------------------------------------------------------------------- */

/* The i-th line (0-based) of text as a new string. */
static __attribute__((unused)) char *fx_line(const char *text, int i)
{
    const char *p = text;
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        fx_die("no line %d", i);
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *out = malloc(n + 1);
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

/* Replaces the i-th line; returns the new text (frees the old one). */
static __attribute__((unused)) char *fx_set_line(char *text, int i, const char *line)
{
    char *p = text;
    for (int k = 0; k < i; k++)
        p = strchr(p, '\n') + 1;
    char *e = strchr(p, '\n');
    size_t pre = (size_t)(p - text), post = strlen(e);
    char *out = malloc(pre + strlen(line) + post + 1);
    memcpy(out, text, pre);
    memcpy(out + pre, line, strlen(line));
    memcpy(out + pre + strlen(line), e, post + 1);
    free(text);
    return out;
}

/* Replaces "name=<old>" by "name=<value>" in a record line (first occurrence, field boundary). */
static __attribute__((unused)) char *fx_field(char *line, const char *name, const char *value)
{
    char pat[64];
    snprintf(pat, sizeof pat, ";%s=", name);
    char *p = strstr(line, pat);
    if (!p)
        fx_die("no field %s", name);
    p += strlen(pat);
    char *e = strchr(p, ';');
    size_t pre = (size_t)(p - line), post = e ? strlen(e) : 0;
    char *out = malloc(pre + strlen(value) + post + 1);
    memcpy(out, line, pre);
    memcpy(out + pre, value, strlen(value));
    memcpy(out + pre + strlen(value), e ? e : "", post + 1);
    free(line);
    return out;
}

/* Signs a record line again (what is signed: everything before ";sig=") with a PEM key. */
static __attribute__((unused)) char *fx_resign(char *line, const char *keypem)
{
    char *sig = strstr(line, ";sig=");
    if (!sig)
        fx_die("record without sig");
    size_t sl = (size_t)(sig - line);
    FILE *f = fopen(keypem, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!k)
        fx_die("key %s", keypem);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char der[80];
    size_t dl = sizeof der;
    if (EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k) != 1 ||
        EVP_DigestSign(m, der, &dl, (const unsigned char *)line, sl) != 1)
        fx_die("signing");
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(k);
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    uint8_t rs[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
    ECDSA_SIG_free(es);
    char hex[129];
    sm_hex_encode(rs, 64, hex);
    char *out = malloc(sl + 5 + 128 + 1);
    memcpy(out, line, sl);
    snprintf(out + sl, 5 + 128 + 1, ";sig=%s", hex);
    free(line);
    return out;
}

/* Recomputes the trailer (count of eis; lines, SHA-256 of everything before it). */
static __attribute__((unused)) char *fx_retrail(char *text)
{
    char *t = strstr(text, "\n#end;");
    if (!t)
        fx_die("no trailer");
    t++;
    size_t n = 0;
    for (const char *p = text; p < t; p = strchr(p, '\n') + 1)
        if (!strncmp(p, "eis;", 4))
            n++;
    uint8_t h[32];
    unsigned hl = 0;
    EVP_Digest(text, (size_t)(t - text), h, &hl, EVP_sha256(), NULL);
    char hex[65];
    sm_hex_encode(h, 32, hex);
    char *out = malloc((size_t)(t - text) + 128);
    memcpy(out, text, (size_t)(t - text));
    sprintf(out + (t - text), "#end;count=%zu;sha256=%s\n", n, hex);
    free(text);
    return out;
}

static __attribute__((unused)) char *fx_batch(size_t *len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/fleet/euicc-batch.txt", FX.dir);
    return fx_read(path, len);
}

static __attribute__((unused)) const char *fx_pki(const char *file)
{
    static char path[4][400];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof path[i], "%s/pki/%s", FX.dir, file);
    return path[i];
}

/* Runs an import in its own transaction. */
static __attribute__((unused)) sm_rc fx_import(db_conn *c, const char *text, smsr_import_report *rep, smsr_why *why, sm_err *err)
{
    sm_rc rc = db_begin(c, err);
    if (rc == SM_OK)
        rc = smsr_import_batch(&FX.x, FX.s, c, "test", NULL, text, strlen(text), rep, why, err);
    if (rc == SM_OK)
        rc = db_commit(c, err);
    else
        db_rollback(c);
    return rc;
}

#endif
