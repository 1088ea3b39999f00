/* bench_crypto: operations per second through crypto/ + hsm/ beside the bare primitives underneath
 * (the same hsm/ calls the protocol makes, issued directly; OpenSSL verifies for the chain check),
 * in the same run, so the protocol layer's own cost shows as a ratio. `make bench-crypto`.
 * Makes its own throw-away SoftHSM2 token (or uses SMBOX_BENCH_MODULE / _TOKEN / _PIN).
 * Protocol and bare loops alternate in BENCH_ROUNDS rounds of BENCH_SECONDS/rounds seconds each;
 * the simulated card of the key establishment (OpenSSL) runs outside the timed sections. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ecka.h"
#include "crypto/ecpub.h"
#include "crypto/gpcert.h"
#include "crypto/pad.h"
#include "crypto/scp03t.h"
#include "crypto/scp80.h"
#include "hsm/hsm.h"

extern char **environ;

static double total_secs = 4.0;
static int rounds = 4;
static hsm_sess *S;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const sm_err *err)
{
    fprintf(stderr, "bench_crypto: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

#define CK(x, what)                                                                                 \
    do {                                                                                            \
        sm_err e_ = {0};                                                                            \
        sm_err *err = &e_;                                                                          \
        if ((x) != SM_OK)                                                                           \
            die(what, err);                                                                         \
    } while (0)

/* ---- token ---------------------------------------------------------------------------------- */

static char tokdir[256];

static void rmtree_token(void)
{
    if (!tokdir[0])
        return;
    char *argv[] = {"rm", "-rf", tokdir, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
        waitpid(pid, NULL, 0);
}

static hsm_ctx *open_token(void)
{
    const char *mod = getenv("SMBOX_BENCH_MODULE"), *tok = getenv("SMBOX_BENCH_TOKEN"),
               *pin = getenv("SMBOX_BENCH_PIN");
    if (!mod || !*mod) {
        snprintf(tokdir, sizeof tokdir, "%s/smbox-bench-crypto-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tokdir))
            die("mkdtemp", NULL);
        atexit(rmtree_token);
        char conf[400];
        snprintf(conf, sizeof conf, "%s/softhsm2.conf", tokdir);
        FILE *f = fopen(conf, "w");
        if (!f)
            die("writing softhsm2.conf", NULL);
        fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokdir);
        fclose(f);
        setenv("SOFTHSM2_CONF", conf, 1);
        char *argv[] = {"softhsm2-util", "--init-token", "--free", "--label", "bench-crypto", "--pin",
                        "bench-pin-1234", "--so-pin", "bench-so-5678", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        int st = 0;
        if (posix_spawnp(&pid, "softhsm2-util", &fa, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0 ||
            !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("softhsm2-util --init-token", NULL);
        posix_spawn_file_actions_destroy(&fa);
        mod = "/usr/lib/softhsm/libsofthsm2.so";
        tok = "bench-crypto";
        pin = "bench-pin-1234";
    }
    hsm_config cfg = {.module_path = mod, .token_label = tok, .pin = pin, .pin_len = pin ? strlen(pin) : 0,
                      .sessions = 1};
    hsm_ctx *ctx = NULL;
    CK(hsm_open(&cfg, &ctx, err), "opening the token");
    return ctx;
}

/* ---- measuring -------------------------------------------------------------------------------- */

typedef struct meas {
    double t;    /* seconds spent in the timed sections */
    long n;      /* operations */
} meas;

typedef double (*op_fn)(void *arg); /* runs one operation, returns its timed seconds */

/* Alternates a and b until each has used about total/2 seconds of timed work. */
static void measure(op_fn a, op_fn b, void *arg, meas *ma, meas *mb)
{
    memset(ma, 0, sizeof *ma);
    memset(mb, 0, sizeof *mb);
    a(arg);
    b(arg); /* warm-up */
    double slice = total_secs / 2 / rounds;
    for (int r = 0; r < rounds; r++) {
        double t0 = ma->t;
        while (ma->t - t0 < slice) {
            ma->t += a(arg);
            ma->n++;
        }
        t0 = mb->t;
        while (mb->t - t0 < slice) {
            mb->t += b(arg);
            mb->n++;
        }
    }
}

static void report(const char *name, const char *bare, const meas *p, const meas *b, double target)
{
    double po = p->n / p->t, bo = b->n / b->t, ratio = po / bo;
    printf("%-40s %10.1f %10.1f  %5.2f", name, po, bo, ratio);
    if (target > 0)
        printf("  >= %.2f %s", target, ratio >= target ? "ok" : "MISSED");
    printf("\n%-40s   (bare: %s)\n", "", bare);
}

/* ---- key establishment ------------------------------------------------------------------------ */

typedef struct keyest {
    hsm_key sd, kek;
    sm_buf sd_cert;
    gpcert ecasd;
    sm_buf ecasd_cert;
    EVP_PKEY *ecasd_key;
    uint8_t rc_rsp[18];
} keyest;

/* The card: ECDH, X9.63, receipt (OpenSSL, untimed). */
static size_t card(const ecka_session *es, EVP_PKEY *k, uint8_t *rsp)
{
    EVP_PKEY *peer = NULL;
    sm_err err = {0};
    if (ecpub_pkey(es->curve, es->epk, 65, &peer, &err) != SM_OK)
        die("card: ePK", &err);
    uint8_t z[32], kd[64];
    size_t zl = 32;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    if (EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer(c, peer) != 1 || EVP_PKEY_derive(c, z, &zl) != 1)
        die("card: ECDH", NULL);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(peer);
    uint8_t si[3] = {es->p.key_usage, es->p.key_type, es->p.key_len};
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
                      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, 32),
                      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, si, 3), OSSL_PARAM_construct_end()};
    if (EVP_KDF_derive(kc, kd, 64, p) != 1)
        die("card: KDF", NULL);
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *mc = EVP_MAC_CTX_new(mac);
    OSSL_PARAM mp[] = {OSSL_PARAM_construct_utf8_string("cipher", "AES-128-CBC", 0), OSSL_PARAM_construct_end()};
    size_t ol;
    rsp[0] = 0x86;
    rsp[1] = 16;
    if (EVP_MAC_init(mc, kd, 16, mp) != 1 || EVP_MAC_update(mc, es->crt, es->crt_len) != 1 ||
        EVP_MAC_final(mc, rsp + 2, &ol, 16) != 1)
        die("card: CMAC", NULL);
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(mac);
    return 18;
}

static double keyest_protocol(void *arg)
{
    keyest *k = arg;
    ecka_params p;
    ecka_params_isdp(0x30, &p);
    ecka_session es;
    sm_buf d1, d2;
    sm_buf_init(&d1);
    sm_buf_init(&d2);
    double t0 = now();
    CK(ecka_begin(&p, &k->ecasd, &es, err), "ecka_begin");
    CK(ecka_dgi_3a01(k->sd_cert.data, k->sd_cert.len, &d1, err), "3A01");
    CK(ecka_parse_3a01_response(&es, k->rc_rsp, sizeof k->rc_rsp, err), "RC");
    CK(ecka_dgi_3a02(S, &es, &k->sd, &d2, err), "3A02");
    double t1 = now();
    uint8_t rsp[32];
    size_t rl = card(&es, k->ecasd_key, rsp);
    double t2 = now();
    ecka_result res;
    CK(ecka_finish(S, &es, rsp, rl, &k->kek, &res, err), "ecka_finish");
    ecka_result_release(S, &res);
    double t3 = now();
    sm_buf_free(&d1);
    sm_buf_free(&d2);
    return (t1 - t0) + (t3 - t2);
}

/* The HSM calls one establishment makes, issued directly. */
static double keyest_bare(void *arg)
{
    keyest *k = arg;
    double t0 = now();
    hsm_keyspec esp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_DERIVE};
    hsm_key esk, epub;
    uint8_t epk[65], sig[72], msg[120] = {0};
    size_t pl, sl;
    CK(hsm_ec_generate(S, &esp, &esk, &epub, err), "bare: generate");
    CK(hsm_ec_public(S, &epub, epk, sizeof epk, &pl, NULL, err), "bare: public");
    CK(hsm_key_destroy(S, &epub, err), "bare: destroy");
    CK(hsm_ecdsa_sign_msg(S, &k->sd, msg, 113, sig, sizeof sig, &sl, err), "bare: sign");
    hsm_keyspec specs[4] = {{.type = HSM_KT_AES, .len = 16, .usage = HSM_U_SIGN}};
    for (int i = 1; i < 4; i++)
        specs[i] = (hsm_keyspec){.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_SIGN | HSM_U_DERIVE,
                                 .wrappable = true};
    hsm_key keys[4];
    uint8_t si[3] = {0x10, 0x88, 0x10}, mac[16], one[16], kcv[16], w[48];
    size_t wl;
    memset(one, 1, 16);
    CK(hsm_ecdh_x963(S, &esk, k->ecasd.pubkey, 65, si, 3, specs, 4, keys, err), "bare: ecdh");
    CK(hsm_key_destroy(S, &esk, err), "bare: destroy");
    CK(hsm_aes_cmac(S, &keys[0], msg, 23, mac, err), "bare: cmac");
    CK(hsm_key_destroy(S, &keys[0], err), "bare: destroy");
    for (int i = 1; i < 4; i++) {
        CK(hsm_aes_ecb_encrypt(S, &keys[i], one, 16, kcv, err), "bare: kcv");
        CK(hsm_wrap(S, &k->kek, &keys[i], w, sizeof w, &wl, err), "bare: wrap");
    }
    for (int i = 1; i < 4; i++)
        CK(hsm_key_destroy(S, &keys[i], err), "bare: destroy");
    return now() - t0;
}

static void setup_keyest(keyest *k)
{
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key pub;
    CK(hsm_ec_generate(S, &sp, &k->sd, &pub, err), "SM-DP key");
    uint8_t pt[65];
    size_t pl;
    CK(hsm_ec_public(S, &pub, pt, sizeof pt, &pl, NULL, err), "SM-DP public key");
    gpcert_tbs t = {.serial = (const uint8_t *)"\x01", .serial_len = 1, .ca_id = (const uint8_t *)"CI", .ca_id_len = 2,
                    .subject_id = (const uint8_t *)"SMDP", .subject_id_len = 4, .key_usage = 0x88, .key_usage_len = 1,
                    .expiry = {2099, 1, 1}, .has_disc = true, .cert_type = 1, .pubkey = pt, .pubkey_len = 65,
                    .curve = HSM_CURVE_P256};
    sm_buf_init(&k->sd_cert);
    CK(gpcert_issue(S, &k->sd, &t, &k->sd_cert, err), "SM-DP certificate");
    k->ecasd_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    size_t l;
    EVP_PKEY_get_octet_string_param(k->ecasd_key, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &l);
    t.key_usage = 0x0080;
    t.key_usage_len = 2;
    t.cert_type = -1;
    sm_buf_init(&k->ecasd_cert);
    CK(gpcert_issue(S, &k->sd, &t, &k->ecasd_cert, err), "ECASD certificate");
    CK(gpcert_parse(k->ecasd_cert.data, k->ecasd_cert.len, &k->ecasd, err), "ECASD certificate");
    hsm_keyspec ksp = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP};
    CK(hsm_key_generate(S, &ksp, &k->kek, err), "KEK");
    k->rc_rsp[0] = 0x85;
    k->rc_rsp[1] = 16;
    CK(hsm_random(S, k->rc_rsp + 2, 16, err), "RC");
}

/* ---- SCP03t ------------------------------------------------------------------------------------ */

typedef struct prot {
    hsm_key senc, smac;
    uint8_t pkg[20480];
    size_t len;
    sm_buf out;
} prot;

static double scp03t_protocol(void *arg)
{
    prot *p = arg;
    static const uint8_t mcv[16];
    scp03t_session ss;
    scp03t_session_from_keys(&p->senc, &p->smac, &p->smac, mcv, &ss);
    sm_buf_reset(&p->out);
    double t0 = now();
    CK(scp03t_protect(S, &ss, p->pkg, p->len, &p->out, err), "scp03t_protect");
    double t = now() - t0;
    free(ss.pending);
    return t;
}

/* One C_Encrypt (CBC over ICV block + padded segment) and one C_Sign (CMAC over MCV || header ||
 * ciphertext) per segment, on the same byte counts. */
static double scp03t_bare(void *arg)
{
    prot *p = arg;
    static uint8_t buf[16 + 1024 + 16], iv[16];
    uint8_t mac[16];
    double t0 = now();
    for (size_t off = 0; off < p->len; off += SCP03T_SEG_DEFAULT) {
        size_t n = p->len - off < SCP03T_SEG_DEFAULT ? p->len - off : SCP03T_SEG_DEFAULT, pl = pad80_len(n, 16);
        memcpy(buf + 16, p->pkg + off, n);
        CK(hsm_aes_cbc_encrypt(S, &p->senc, iv, buf, pl + 16, buf, err), "bare: encrypt");
        CK(hsm_aes_cmac(S, &p->smac, buf, 16 + 4 + pl + 8 - 8, mac, err), "bare: cmac");
    }
    return now() - t0;
}

/* ---- SCP80 ------------------------------------------------------------------------------------- */

typedef struct s80 {
    hsm_key kic, kid;
    uint8_t data[100];
    sm_buf out;
} s80;

static double scp80_protocol(void *arg)
{
    s80 *p = arg;
    scp80_params prm = {.spi = {0x16, 0x39}, .kic = 0x12, .kid = 0x12, .tar = {0, 0, 1}, .cntr = 7};
    sm_buf_reset(&p->out);
    double t0 = now();
    CK(scp80_wrap(S, &prm, &p->kic, &p->kid, p->data, sizeof p->data, &p->out, err), "scp80_wrap");
    return now() - t0;
}

static double scp80_bare(void *arg)
{
    s80 *p = arg;
    static uint8_t m[16 + 100 + 16], sec[6 + 8 + 100 + 16], iv[16];
    uint8_t mac[16];
    size_t pad = zpad_count(6 + 8 + 100, 16);
    double t0 = now();
    CK(hsm_aes_cmac(S, &p->kid, m, 16 + 100 + pad, mac, err), "bare: cmac");
    CK(hsm_aes_cbc_encrypt(S, &p->kic, iv, sec, 6 + 8 + 100 + pad, sec, err), "bare: encrypt");
    return now() - t0;
}

/* ---- chain ---------------------------------------------------------------------------------------- */

typedef struct chain {
    uint8_t *ci, *eum;
    size_t ci_len, eum_len;
    sm_buf leaf;
    EVP_PKEY *ci_key, *eum_key;
    X509 *ci_x, *eum_x;
} chain;

static uint8_t *make_x509(EVP_PKEY *key, const char *cn, EVP_PKEY *issuer, X509 *issuer_x, size_t *len, X509 **keep)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer_x ? X509_get_subject_name(issuer_x) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_set_pubkey(x, key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer_x ? issuer_x : x, x, NULL, NULL, 0);
    const char *ext[][2] = {{"basicConstraints", "critical,CA:TRUE"},
                            {"keyUsage", "critical,keyCertSign"},
                            {"subjectKeyIdentifier", "hash"}};
    for (int i = 0; i < 3; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, ext[i][0], ext[i][1]);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, issuer, EVP_sha256());
    unsigned char *d = NULL;
    int l = i2d_X509(x, &d);
    uint8_t *out = malloc((size_t)l);
    memcpy(out, d, (size_t)l);
    OPENSSL_free(d);
    *len = (size_t)l;
    *keep = x;
    return out;
}

static void setup_chain(chain *c)
{
    c->ci_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    c->eum_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    c->ci = make_x509(c->ci_key, "bench CI", c->ci_key, NULL, &c->ci_len, &c->ci_x);
    c->eum = make_x509(c->eum_key, "bench EUM", c->ci_key, c->ci_x, &c->eum_len, &c->eum_x);
    /* the eUICC certificate, signed by the EUM key imported for the purpose */
    BIGNUM *bn = NULL;
    uint8_t d[32], pt[65];
    size_t l;
    EVP_PKEY_get_bn_param(c->eum_key, OSSL_PKEY_PARAM_PRIV_KEY, &bn);
    BN_bn2binpad(bn, d, 32);
    BN_clear_free(bn);
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key eum;
    CK(hsm_ec_import_private(S, &sp, d, 32, &eum, err), "EUM key");
    EVP_PKEY *ecasd = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY_get_octet_string_param(ecasd, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &l);
    EVP_PKEY_free(ecasd);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(c->eum_x);
    gpcert_tbs t = {.serial = (const uint8_t *)"\x02", .serial_len = 1, .ca_id = (const uint8_t *)"EUM", .ca_id_len = 3,
                    .subject_id = (const uint8_t *)"EID", .subject_id_len = 3, .key_usage = 0x0080,
                    .key_usage_len = 2, .expiry = {2099, 1, 1}, .has_disc = true, .cert_type = -1,
                    .aki = ASN1_STRING_get0_data(ski), .aki_len = (size_t)ASN1_STRING_length(ski), .pubkey = pt,
                    .pubkey_len = 65, .curve = HSM_CURVE_P256};
    sm_buf_init(&c->leaf);
    CK(gpcert_issue(S, &eum, &t, &c->leaf, err), "eUICC certificate");
}

static double chain_protocol(void *arg)
{
    chain *c = arg;
    const uint8_t *certs[3] = {c->ci, c->eum, c->leaf.data};
    size_t lens[3] = {c->ci_len, c->eum_len, c->leaf.len};
    gpcert leaf;
    double t0 = now();
    CK(gpcert_verify_chain(certs, lens, 3, GPCERT_P_ECASD, time(NULL), &leaf, err), "gpcert_verify_chain");
    return now() - t0;
}

/* The three ECDSA verifications with OpenSSL alone (keys already parsed). */
static double chain_bare(void *arg)
{
    chain *c = arg;
    gpcert g;
    sm_err err = {0};
    gpcert_parse(c->leaf.data, c->leaf.len, &g, &err);
    double t0 = now();
    if (X509_verify(c->ci_x, c->ci_key) != 1 || X509_verify(c->eum_x, c->ci_key) != 1)
        die("bare: X509_verify", NULL);
    uint8_t pt[65];
    size_t l;
    EVP_PKEY_get_octet_string_param(c->eum_key, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &l);
    if (ecpub_verify_raw(HSM_CURVE_P256, pt, 65, g.tbs, g.tbslen, g.sig, g.sig_len, &err) != SM_OK)
        die("bare: verify", &err);
    return now() - t0;
}

int main(void)
{
    if (getenv("BENCH_SECONDS"))
        total_secs = atof(getenv("BENCH_SECONDS"));
    if (getenv("BENCH_ROUNDS"))
        rounds = atoi(getenv("BENCH_ROUNDS"));
    if (total_secs <= 0 || rounds < 1)
        die("BENCH_SECONDS > 0 and BENCH_ROUNDS >= 1", NULL);
    hsm_ctx *ctx = open_token();
    CK(hsm_session_get(ctx, &S, err), "session");
    const hsm_caps *caps = hsm_capabilities(ctx);
    printf("bench_crypto: %s %s, %.1f s per operation in %d rounds; ECDH+KDF %s, SCP03 session keys %s\n\n",
           caps->manufacturer, caps->model, total_secs, rounds,
           caps->ecdh_kdf_sha256 && caps->extract_key ? "in token" : caps->digest_key ? "C_DigestKey fallback"
                                                                                       : "locked-memory fallback",
           caps->aes_ecb_encrypt_data ? "derived in token" : "imported (fallback)");
    printf("%-40s %10s %10s  %5s\n", "operation (ops/s)", "crypto/", "bare", "ratio");

    meas a, b;
    keyest k;
    setup_keyest(&k);
    measure(keyest_protocol, keyest_bare, &k, &a, &b);
    report("key establishment (ISD-P, P-256)", "sum of its hsm/ calls: keygen, sign, ECDH+X9.63, CMAC, 3 KCV, "
           "3 wrap, destroys", &a, &b, 0.8);

    prot p;
    hsm_keyspec es = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_keyspec ms = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_SIGN};
    CK(hsm_key_generate(S, &es, &p.senc, err), "S-ENC");
    CK(hsm_key_generate(S, &ms, &p.smac, err), "S-MAC");
    p.len = sizeof p.pkg;
    for (size_t i = 0; i < p.len; i++)
        p.pkg[i] = (uint8_t)(i * 131);
    sm_buf_init(&p.out);
    measure(scp03t_protocol, scp03t_bare, &p, &a, &b);
    report("SCP03t protection, 20 KiB package", "per 1007-byte segment one AES-CBC encrypt + one AES-CMAC",
           &a, &b, 0.8);
    printf("%-40s   (%.1f MiB/s through crypto/)\n", "", a.n / a.t * p.len / 1048576.0);

    s80 s;
    hsm_keyspec kic = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT};
    hsm_keyspec kid = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_SIGN};
    CK(hsm_key_generate(S, &kic, &s.kic, err), "KIc");
    CK(hsm_key_generate(S, &kid, &s.kid, err), "KID");
    memset(s.data, 0x5A, sizeof s.data);
    sm_buf_init(&s.out);
    measure(scp80_protocol, scp80_bare, &s, &a, &b);
    report("SCP80 wrap (AES, 100-byte script)", "one AES-CMAC + one AES-CBC encrypt", &a, &b, 0);

    chain c;
    setup_chain(&c);
    measure(chain_protocol, chain_bare, &c, &a, &b);
    report("chain verification CI -> EUM -> eUICC", "three OpenSSL ECDSA verifications (no HSM involved)", &a, &b, 0);

    sm_buf_free(&p.out);
    sm_buf_free(&s.out);
    hsm_session_put(S);
    hsm_close(ctx);
    return 0;
}
