/* bench_e2e: profile downloads per second through the whole appliance on one box — smboxd (both
 * roles), its embedded PostgreSQL, SoftHSM2 and the simulated fleet (sim run) sharing the cores, the
 * development MNO driving ES2.DownloadProfile over kept-alive mutual TLS from this process — beside
 * the ceiling computed in the same run, as /work/shared/perf/limits.md §5 computes it: the box time
 * one download needs = its HSM operations × their measured cost + its database transactions × the
 * measured cost of a state transition + its TLS exchanges and handshakes × their measured cost.
 *
 *   1. the world (tests/support/e2e: mk/devworld.sh, smboxd, sim run) with N + calibration cards;
 *   2. calibration: a few downloads with smboxd on pkcs11-spy, which counts the PKCS#11 operations one
 *      download makes (by function, mechanism and data size);
 *   3. the primitives, measured now on this box: each HSM operation class on the world's token with 2
 *      threads (box time = 1 / throughput), a state transition with pgbench (4 clients, synchronous
 *      commit, the world's cluster), a mutual-TLS handshake, a PSK-TLS handshake and a 2 KiB exchange
 *      with OpenSSL in-process (both ends: box time);
 *   4. the timed run: N downloads over HTTPS, C in flight, counting database commits, simulator
 *      sessions, SMS and CPU seconds per process; per-download and per-phase latency from smboxd's
 *      log (the SM-DP logs each ES3 request it makes) and the MNO's answers;
 *   5. the report: downloads/s, p50/p99 per phase, the ceiling, the ratio, what binds.
 *
 * Usage: bench_e2e [-n N] [-c INFLIGHT] [-e] [-w WORKERS] [-k] [--no-spy]   (bench/bench-e2e.sh) */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "appliance/config.h"
#include "appliance/hsmconf.h"
#include "db/cluster.h"
#include "hsm/hsm.h"
#include "tests/support/e2e.h"

#define SPY "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so"
#define CALIB 6

static int N = 200, INFLIGHT = 64, WORKERS = 4, ENABLE = 0, KEEP = 0, NOSPY = 0, PRIM_ONLY = 0;
static double PRIM_S = 0.6; /* seconds per primitive measurement */
static e2e_world W;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_e2e: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (W.dir[0] && !KEEP)
        e2e_teardown(&W);
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ==== HSM operation classes ============================================================================ */

enum op {
    OP_KEYGEN,   /* EC P-256 key pair + read the public point */
    OP_SIGN,     /* ECDSA P-256 */
    OP_VERIFY,   /* ECDSA P-256 verify (public key imported as a session object) */
    OP_ECDH,     /* ECDH P-256 (CKD_NULL) */
    OP_DIGEST,   /* one SHA-256 block of the X9.63 KDF fallback (C_DigestInit/Key/Update/Final) */
    OP_CMAC,     /* AES-CMAC, per call (size below) */
    OP_CBC,      /* AES-CBC/ECB encrypt or decrypt, per call */
    OP_GCM,      /* AES-GCM decrypt (unsealing a stock profile) or encrypt */
    OP_WRAP,
    OP_UNWRAP,
    OP_DERIVE,   /* CKM_AES_ECB_ENCRYPT_DATA (SCP03 session keys) */
    OP_IMPORT,   /* C_CreateObject of a secret or public key */
    OP_RANDOM,
    OP_N
};
static const char *op_name[OP_N] = {"EC P-256 keygen + public", "ECDSA P-256 sign", "ECDSA P-256 verify (import)",
                                    "ECDH P-256 derive",        "SHA-256 digest (KDF)", "AES-CMAC",
                                    "AES-CBC/ECB",              "AES-GCM",              "AES key wrap",
                                    "AES key unwrap",           "AES-ECB derive",       "object import",
                                    "random"};

typedef struct spy_counts {
    double n[OP_N];       /* operations per download */
    double bytes[OP_N];   /* data bytes per operation (mean) */
    bool valid;
} spy_counts;

/* pkcs11-spy log: "N: C_Func" then a timestamp line "YYYY-MM-DD HH:MM:SS.mmm", then "[in] ..." lines;
 * counts the calls between t0 and t1 (epoch seconds) by class; data sizes from "[size : 0x.. (N)]" of
 * the data-carrying call */
static void spy_parse(const char *path, double t0, double t1, int downloads, spy_counts *sc)
{
    memset(sc, 0, sizeof *sc);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096], fn[64] = "", mech[64] = "";
    double t = 0;
    bool in_window = false;
    double tot[OP_N] = {0}, byt[OP_N] = {0};
    int pending = -1; /* class of the Init whose data call comes next */
    while (fgets(line, sizeof line, f)) {
        int idx;
        char name[64];
        if (sscanf(line, "%d: %63s", &idx, name) == 2 && !strncmp(name, "C_", 2)) {
            snprintf(fn, sizeof fn, "%s", name);
            mech[0] = 0;
            continue;
        }
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        int ms = 0;
        if (sscanf(line, "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &ms) == 7 && line[4] == '-') {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            tm.tm_isdst = -1;
            t = (double)mktime(&tm) + ms / 1000.0;
            in_window = t >= t0 && t <= t1;
            if (!in_window)
                continue;
            /* classify the calls that need no mechanism */
            if (!strcmp(fn, "C_WrapKey"))
                tot[OP_WRAP]++;
            else if (!strcmp(fn, "C_UnwrapKey"))
                tot[OP_UNWRAP]++;
            else if (!strcmp(fn, "C_CreateObject"))
                tot[OP_IMPORT]++;
            else if (!strcmp(fn, "C_GenerateRandom"))
                tot[OP_RANDOM]++;
            else if (!strcmp(fn, "C_DigestKey"))
                tot[OP_DIGEST]++;
            continue;
        }
        if (!in_window)
            continue;
        char *m = strstr(line, "pMechanism->type = ");
        if (m) {
            sscanf(m + 19, "%63s", mech);
            int c = -1;
            if (!strcmp(fn, "C_GenerateKeyPair"))
                c = OP_KEYGEN;
            else if (!strcmp(fn, "C_SignInit"))
                c = !strcmp(mech, "CKM_ECDSA") ? OP_SIGN : strstr(mech, "CMAC") ? OP_CMAC : -1;
            else if (!strcmp(fn, "C_VerifyInit"))
                c = !strcmp(mech, "CKM_ECDSA") ? OP_VERIFY : strstr(mech, "CMAC") ? OP_CMAC : -1;
            else if (!strcmp(fn, "C_EncryptInit") || !strcmp(fn, "C_DecryptInit"))
                c = strstr(mech, "GCM") ? OP_GCM : OP_CBC;
            else if (!strcmp(fn, "C_DeriveKey"))
                c = strstr(mech, "ECDH") ? OP_ECDH : OP_DERIVE;
            if (c >= 0) {
                tot[c]++;
                pending = (c == OP_CMAC || c == OP_CBC || c == OP_GCM) ? c : -1;
            }
            continue;
        }
        /* the data of the calls after an Init: "[in] pData[ulDataLen] 00007ffd7937a3d0 / 100" (also pPart,
         * pEncryptedData, pEncryptedPart), summed until the next Init */
        if (pending >= 0 && (!strncmp(fn, "C_Sign", 6) || !strncmp(fn, "C_Encrypt", 9) || !strncmp(fn, "C_Decrypt", 9) ||
                             !strncmp(fn, "C_Verify", 8)) &&
            !strstr(fn, "Init") && !strncmp(line, "[in] p", 6)) {
            char *sz = strstr(line, " / ");
            if (sz)
                byt[pending] += strtod(sz + 3, NULL);
        }
    }
    fclose(f);
    for (int i = 0; i < OP_N; i++) {
        sc->n[i] = tot[i] / downloads;
        sc->bytes[i] = tot[i] > 0 ? byt[i] / tot[i] : 0;
    }
    sc->valid = tot[OP_SIGN] + tot[OP_KEYGEN] > 0;
}

/* §5's list when no spy count is available: keygen, sign, verify, ECDH, 4 CMAC, the SCP03t encryption */
static void spy_default(spy_counts *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->n[OP_KEYGEN] = 1;
    sc->n[OP_SIGN] = 1;
    sc->n[OP_VERIFY] = 1;
    sc->n[OP_ECDH] = 1;
    sc->n[OP_CMAC] = 4;
    sc->bytes[OP_CMAC] = 1024;
    sc->n[OP_CBC] = 1;
    sc->bytes[OP_CBC] = 20480;
}

/* ---- measuring the classes on the world's token ---------------------------------------------------- */

typedef struct hthr {
    hsm_sess *s;
    hsm_key kek, aes, sign, pub;
    uint8_t pub_pt[65];
    uint8_t wrapped[64];
    size_t wrapped_len;
    uint8_t sealed[65536 + 16], iv[12];
    size_t sealed_len;
    size_t size;
    enum op op;
    double until;
    long count;
} hthr;

static uint8_t DATA[65536];

static int hsm_once(hthr *t)
{
    sm_err err = {0};
    uint8_t out[65536 + 32], d[32] = {1}, iv[16] = {0};
    size_t l = 0;
    hsm_key k, k2;
    switch (t->op) {
    case OP_KEYGEN: {
        hsm_keyspec ec = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_DERIVE};
        uint8_t pt[80];
        if (hsm_ec_generate(t->s, &ec, &k, &k2, &err) != SM_OK || hsm_ec_public(t->s, &k2, pt, sizeof pt, &l, NULL, &err))
            return 1;
        hsm_key_destroy(t->s, &k, &err);
        hsm_key_destroy(t->s, &k2, &err);
        return 0;
    }
    case OP_SIGN:
        return hsm_ecdsa_sign(t->s, &t->sign, d, 32, out, sizeof out, &l, &err) != SM_OK;
    case OP_VERIFY: {
        uint8_t sig[64];
        if (hsm_ecdsa_sign(t->s, &t->sign, d, 32, sig, sizeof sig, &l, &err) != SM_OK)
            return 1;
        /* the signature above is subtracted from this class's figure (measured as OP_SIGN) */
        if (hsm_ec_import_public(t->s, HSM_CURVE_P256, t->pub_pt, 65, &k, &err) != SM_OK)
            return 1;
        sm_rc rc = hsm_ecdsa_verify(t->s, &k, d, 32, sig, 64, &err);
        hsm_key_destroy(t->s, &k, &err);
        return rc != SM_OK;
    }
    case OP_ECDH:
        if (hsm_ecdh_derive(t->s, &t->sign, t->pub_pt, 65, &k, &err) != SM_OK)
            return 1;
        hsm_key_destroy(t->s, &k, &err);
        return 0;
    case OP_DIGEST: {
        /* one X9.63 block per derived 32 bytes: measured as a KDF of 32 bytes from a value, minus import */
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
        hsm_key o[2];
        uint8_t z[32] = {3};
        hsm_keyspec specs[2] = {sp, sp};
        if (hsm_x963_from_value(t->s, z, 32, d, 8, specs, 2, o, &err) != SM_OK)
            return 1;
        hsm_key_destroy(t->s, &o[0], &err);
        hsm_key_destroy(t->s, &o[1], &err);
        return 0;
    }
    case OP_CMAC:
        return hsm_aes_cmac(t->s, &t->aes, DATA, t->size, out, &err) != SM_OK;
    case OP_CBC:
        return hsm_aes_cbc_encrypt(t->s, &t->aes, iv, DATA, t->size, out, &err) != SM_OK;
    case OP_GCM:
        return hsm_aes_gcm_decrypt(t->s, &t->aes, t->iv, (const uint8_t *)"aad", 3, t->sealed, t->sealed_len, out,
                                   sizeof out, &l, &err) != SM_OK;
    case OP_WRAP: {
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .wrappable = true};
        if (hsm_secret_import(t->s, &sp, d, 16, &k, &err) != SM_OK)
            return 1;
        sm_rc rc = hsm_wrap(t->s, &t->kek, &k, out, sizeof out, &l, &err);
        hsm_key_destroy(t->s, &k, &err);
        return rc != SM_OK;
    }
    case OP_UNWRAP: {
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
        if (hsm_unwrap(t->s, &t->kek, t->wrapped, t->wrapped_len, &sp, &k, &err) != SM_OK)
            return 1;
        hsm_key_destroy(t->s, &k, &err);
        return 0;
    }
    case OP_DERIVE: {
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_SIGN};
        if (hsm_derive_aes_ecb(t->s, &t->kek, d, &sp, &k, &err) != SM_OK)
            return 1;
        hsm_key_destroy(t->s, &k, &err);
        return 0;
    }
    case OP_IMPORT: {
        hsm_keyspec sp = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
        if (hsm_secret_import(t->s, &sp, d, 16, &k, &err) != SM_OK)
            return 1;
        hsm_key_destroy(t->s, &k, &err);
        return 0;
    }
    case OP_RANDOM:
        return hsm_random(t->s, out, 32, &err) != SM_OK;
    default:
        return 1;
    }
}

static void *hsm_loop(void *arg)
{
    hthr *t = arg;
    while (now_s() < t->until) {
        if (hsm_once(t) != 0) {
            t->count = -1;
            return NULL;
        }
        t->count++;
    }
    return NULL;
}

typedef struct hsm_costs {
    double us[OP_N]; /* box microseconds per operation (2 threads) */
    double sign_us;  /* for the verify correction */
} hsm_costs;

static void hsm_setup_thread(hsm_ctx *ctx, hthr *t)
{
    sm_err err = {0};
    if (hsm_session_get(ctx, &t->s, &err) != SM_OK)
        die("hsm session: %s", err.msg);
    hsm_keyspec ec = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN | HSM_U_DERIVE};
    size_t l;
    if (hsm_ec_generate(t->s, &ec, &t->sign, &t->pub, &err) != SM_OK ||
        hsm_ec_public(t->s, &t->pub, t->pub_pt, sizeof t->pub_pt, &l, NULL, &err) != SM_OK)
        die("hsm keygen: %s", err.msg);
    uint8_t v[32] = "bench-e2e-aes-key-and-kek-values";
    hsm_keyspec a = {.type = HSM_KT_AES, .len = 16,
                     .usage = HSM_U_SIGN | HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_DERIVE};
    hsm_keyspec k = {.type = HSM_KT_AES, .len = 32, .usage = HSM_U_WRAP | HSM_U_UNWRAP | HSM_U_DERIVE};
    if (hsm_secret_import(t->s, &a, v, 16, &t->aes, &err) != SM_OK || hsm_secret_import(t->s, &k, v, 32, &t->kek, &err))
        die("hsm import: %s", err.msg);
    hsm_keyspec w = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT, .wrappable = true};
    hsm_key tmp;
    if (hsm_secret_import(t->s, &w, v, 16, &tmp, &err) != SM_OK ||
        hsm_wrap(t->s, &t->kek, &tmp, t->wrapped, sizeof t->wrapped, &t->wrapped_len, &err) != SM_OK)
        die("hsm wrap: %s", err.msg);
    hsm_key_destroy(t->s, &tmp, &err);
    RAND_bytes(t->iv, 12);
}

static double hsm_measure(hthr *T, enum op op, size_t size)
{
    for (int i = 0; i < 2; i++) {
        T[i].op = op;
        T[i].size = size ? (size + 15) / 16 * 16 : 1024;
        if (T[i].size > sizeof DATA)
            T[i].size = sizeof DATA;
        T[i].count = 0;
        if (op == OP_GCM) {
            sm_err err = {0};
            if (hsm_aes_gcm_encrypt(T[i].s, &T[i].aes, T[i].iv, (const uint8_t *)"aad", 3, DATA, T[i].size, T[i].sealed,
                                    sizeof T[i].sealed, &T[i].sealed_len, &err) != SM_OK)
                die("hsm gcm: %s", err.msg);
        }
    }
    double t0 = now_s();
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        T[i].until = t0 + PRIM_S;
        pthread_create(&th[i], NULL, hsm_loop, &T[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    if (T[0].count < 0 || T[1].count < 0)
        die("hsm operation %s failed", op_name[op]);
    long n = T[0].count + T[1].count;
    return n ? el * 1e6 / (double)n : 0;
}

/* ==== TLS in-process (both ends on this box) ============================================================== */

typedef struct tls_costs {
    double hs_mutual_us, hs_psk_us, exch_us;
} tls_costs;

static unsigned int psk_srv(SSL *s, const char *id, unsigned char *psk, unsigned int max)
{
    (void)s;
    (void)id;
    if (max < 16)
        return 0;
    memset(psk, 0x42, 16);
    return 16;
}

static unsigned int psk_cli(SSL *s, const char *hint, char *id, unsigned int idmax, unsigned char *psk, unsigned int max)
{
    (void)s;
    (void)hint;
    snprintf(id, idmax, "800102811089049032000000000000000000000000000000000000000000000000000000000000000000000");
    if (max < 16)
        return 0;
    memset(psk, 0x42, 16);
    return 16;
}

/* drives a handshake between two SSL objects over a socket pair in this thread */
static int pump_handshake(SSL *c, SSL *s)
{
    for (int i = 0; i < 1000; i++) {
        int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);
        if (rc == 1 && rs == 1)
            return 0;
        int ec = SSL_get_error(c, rc), es = SSL_get_error(s, rs);
        if ((rc != 1 && ec != SSL_ERROR_WANT_READ && ec != SSL_ERROR_WANT_WRITE) ||
            (rs != 1 && es != SSL_ERROR_WANT_READ && es != SSL_ERROR_WANT_WRITE))
            return -1;
    }
    return -1;
}

static int sockpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        int f = fcntl(sv[i], F_GETFL);
        fcntl(sv[i], F_SETFL, f | O_NONBLOCK);
    }
    return 0;
}

static double tls_handshakes(SSL_CTX *cc, SSL_CTX *sc, bool exchange_only, double *exch_us)
{
    double t0 = now_s();
    long n = 0;
    while (now_s() - t0 < PRIM_S) {
        int sv[2];
        if (sockpair(sv) != 0)
            die("socketpair");
        SSL *c = SSL_new(cc), *s = SSL_new(sc);
        SSL_set_fd(c, sv[0]);
        SSL_set_fd(s, sv[1]);
        SSL_set_connect_state(c);
        SSL_set_accept_state(s);
        if (pump_handshake(c, s) != 0) {
            ERR_print_errors_fp(stderr);
            die("in-process TLS handshake failed");
        }
        if (exchange_only) {
            /* kept connection: 2 KiB request, 2 KiB answer, repeated */
            char buf[2048], in[4096];
            memset(buf, 'x', sizeof buf);
            long k = 0;
            double e0 = now_s();
            while (now_s() - e0 < PRIM_S) {
                if (SSL_write(c, buf, sizeof buf) != (int)sizeof buf)
                    die("tls write");
                int got = 0;
                while (got < (int)sizeof buf) {
                    int r = SSL_read(s, in, sizeof in);
                    if (r > 0)
                        got += r;
                }
                if (SSL_write(s, buf, sizeof buf) != (int)sizeof buf)
                    die("tls write");
                got = 0;
                while (got < (int)sizeof buf) {
                    int r = SSL_read(c, in, sizeof in);
                    if (r > 0)
                        got += r;
                }
                k++;
            }
            *exch_us = (now_s() - e0) * 1e6 / (double)k;
            n = 1;
        }
        SSL_free(c);
        SSL_free(s);
        close(sv[0]);
        close(sv[1]);
        if (exchange_only)
            return 0;
        n++;
    }
    return (now_s() - t0) * 1e6 / (double)n;
}

static void tls_measure(tls_costs *tc)
{
    char cert[400], key[400], scert[400], skey[400], ca[400];
    snprintf(cert, sizeof cert, "%s/tls-mno1.crt", W.pki);
    snprintf(key, sizeof key, "%s/tls-mno1.key", W.pki);
    snprintf(scert, sizeof scert, "%s/tls-smdp.crt", W.pki);
    snprintf(skey, sizeof skey, "%s/tls-smdp.key", W.pki);
    snprintf(ca, sizeof ca, "%s/tls-ca.crt", W.pki);
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method()), *sc = SSL_CTX_new(TLS_server_method());
    if (!cc || !sc || SSL_CTX_use_certificate_chain_file(cc, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(cc, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_load_verify_locations(cc, ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(sc, scert) != 1 || SSL_CTX_use_PrivateKey_file(sc, skey, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(sc, ca, NULL) != 1)
        die("in-process TLS contexts");
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_cache_mode(cc, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
    tc->hs_mutual_us = tls_handshakes(cc, sc, false, NULL);
    tls_handshakes(cc, sc, true, &tc->exch_us);
    SSL_CTX_free(cc);
    SSL_CTX_free(sc);
    /* SCP81: TLS 1.2 PSK-AES128-GCM-SHA256, no certificates, no resumption */
    cc = SSL_CTX_new(TLS_client_method());
    sc = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_max_proto_version(cc, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(sc, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(cc, "PSK-AES128-GCM-SHA256");
    SSL_CTX_set_cipher_list(sc, "PSK-AES128-GCM-SHA256");
    SSL_CTX_set_psk_server_callback(sc, psk_srv);
    SSL_CTX_set_psk_client_callback(cc, psk_cli);
    SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    tc->hs_psk_us = tls_handshakes(cc, sc, false, NULL);
    SSL_CTX_free(cc);
    SSL_CTX_free(sc);
}

/* ==== the database: a state transition (limits.md §3) on the world's cluster with pgbench ================ */

static double db_measure(double *tps_out)
{
    db_cluster cl;
    sm_err err = {0};
    char datadir[400];
    snprintf(datadir, sizeof datadir, "%s/pg", W.dir);
    if (db_cluster_setup(&cl, datadir, NULL, &err) != SM_OK || db_cluster_createdb(&cl, "pgbench_e2e", NULL, &err) != SM_OK)
        die("pgbench database: %s", err.msg);
    char schema[400], script[400], logf[400];
    snprintf(schema, sizeof schema, "%s/pgb-schema.sql", W.dir);
    snprintf(script, sizeof script, "%s/pgb-transition.sql", W.dir);
    snprintf(logf, sizeof logf, "%s/pgbench.out", W.dir);
    FILE *f = fopen(schema, "w");
    if (!f)
        die("%s", schema);
    fputs("DROP TABLE IF EXISTS sm_state, sm_audit;\n"
          "CREATE TABLE sm_state(id bigint PRIMARY KEY, state int NOT NULL, version bigint NOT NULL,\n"
          "  updated_at timestamptz NOT NULL DEFAULT now(), iccid text NOT NULL);\n"
          "INSERT INTO sm_state SELECT g, 0, 0, now(), lpad(g::text, 20, '8') FROM generate_series(1, 100000) g;\n"
          "CREATE TABLE sm_audit(id bigserial PRIMARY KEY, obj_id bigint NOT NULL, from_state int, to_state int,\n"
          "  at timestamptz NOT NULL DEFAULT now(), detail text);\n"
          "CREATE INDEX ON sm_audit(obj_id);\nVACUUM ANALYZE sm_state;\n",
          f);
    fclose(f);
    f = fopen(script, "w");
    if (!f)
        die("%s", script);
    fputs("\\set id random(1, 100000)\nBEGIN;\n"
          "UPDATE sm_state SET state = (state + 1) % 8, version = version + 1, updated_at = now() WHERE id = :id;\n"
          "INSERT INTO sm_audit(obj_id, from_state, to_state, detail) VALUES (:id, 0, 1, 'profile-download step');\n"
          "END;\n",
          f);
    fclose(f);
    chmod(schema, 0644);
    chmod(script, 0644);
    const char *pa[] = {"-q", "-X", "-h", cl.datadir, "-U", cl.user, "-f", schema, "pgbench_e2e", NULL};
    if (db_cluster_run(&cl, "psql", pa, logf) != 0)
        die("psql %s failed (see %s)", schema, logf);
    char secs[16];
    snprintf(secs, sizeof secs, "%d", PRIM_S < 1 ? 3 : (int)(PRIM_S * 5));
    const char *ba[] = {"-h", cl.datadir, "-U", cl.user, "-n", "-c", "4", "-j", "2", "-T", secs, "-f", script,
                        "pgbench_e2e", NULL};
    unlink(logf);
    if (db_cluster_run(&cl, "pgbench", ba, logf) != 0)
        die("pgbench failed (see %s)", logf);
    f = fopen(logf, "r");
    char line[512];
    double tps = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "tps = ", 6))
            tps = atof(line + 6);
    if (f)
        fclose(f);
    if (tps <= 0)
        die("pgbench: no tps in %s", logf);
    *tps_out = tps;
    return 1e6 / tps;
}

/* ==== CPU seconds of the processes sharing the box ======================================================= */

static double proc_cpu(long pid)
{
    char p[64], buf[2048];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    if (!q)
        return 0;
    unsigned long ut = 0, st = 0;
    /* fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_ppid(long pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    long pp = -1;
    if (q)
        sscanf(q + 2, "%*c %ld", &pp);
    return pp;
}

typedef struct cpu {
    double smboxd, pg, sim, bench, total;
} cpu;

static void cpu_now(cpu *c)
{
    memset(c, 0, sizeof *c);
    c->smboxd = proc_cpu(W.smboxd);
    c->sim = proc_cpu(W.simpid);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    c->bench = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    char pidf[400];
    snprintf(pidf, sizeof pidf, "%s/pg/postmaster.pid", W.dir);
    FILE *f = fopen(pidf, "r");
    long pm = -1;
    if (f) {
        if (fscanf(f, "%ld", &pm) != 1)
            pm = -1;
        fclose(f);
    }
    if (pm > 0) {
        c->pg = proc_cpu(pm);
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (isdigit((unsigned char)e->d_name[0]) && proc_ppid(atol(e->d_name)) == pm)
                c->pg += proc_cpu(atol(e->d_name));
        if (d)
            closedir(d);
    }
    /* the whole box, from /proc/stat (all cores, excluding idle and iowait) */
    f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                    &v[7]) == 8)
        c->total = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
    if (f)
        fclose(f);
}

/* ==== the downloads ======================================================================================== */

typedef struct dlr {
    char fcid[48];
    const char *eid;
    double t_send, t_done; /* epoch seconds */
    bool ok;
    long proc;
    double t_es3[64];      /* epoch seconds of the SM-DP's ES3 requests, in order */
    char f_es3[64][40];
    int n_es3;
} dlr;

static double epoch_now(void) { return (double)e2e_now_us() / 1e6; }

/* runs n downloads (cards from index first) with `inflight` outstanding; returns the successes */
static int run_downloads(dlr *d, size_t first, int n, int inflight, const char *tag)
{
    e2e_client *c = e2e_client_open(&W, "mno1");
    if (!c)
        die("MNO client");
    size_t seen = e2e_peer_count(W.mno, NULL);
    int sent = 0, done = 0, out = 0, ok = 0;
    char body[300];
    double last_progress = now_s();
    while (done < n) {
        while (out < inflight && sent < n) {
            dlr *x = &d[sent];
            x->eid = W.eids[first + (size_t)sent];
            snprintf(x->fcid, sizeof x->fcid, "%s-%d", tag, sent);
            snprintf(body, sizeof body,
                     "{\"Eid\":\"%s\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":%s}",
                     x->eid, ENABLE ? "true" : "false");
            e2e_resp r;
            x->t_send = epoch_now();
            int http = e2e_client_call(c, "es2", "DownloadProfile", x->fcid, 3600, body, &r);
            if (http != 202) {
                fprintf(stderr, "bench_e2e: %s refused: HTTP %d %s %s/%s %s\n", x->fcid, http, r.status, r.subject,
                        r.reason, r.message);
                x->t_done = epoch_now();
                done++;
            } else {
                out++;
            }
            e2e_resp_free(&r);
            sent++;
        }
        size_t got = e2e_peer_wait_total(W.mno, seen + 1, 200);
        if (got > seen) {
            size_t k = 0;
            e2e_msg *m = e2e_peer_since(W.mno, seen, &k);
            seen += k;
            for (size_t i = 0; i < k; i++)
                for (int j = 0; j < sent; j++)
                    if (!d[j].t_done && !strcmp(m[i].relates_to, d[j].fcid)) {
                        d[j].t_done = (double)m[i].at_us / 1e6;
                        d[j].ok = !strcmp(m[i].status, "Executed-Success");
                        if (!d[j].ok)
                            fprintf(stderr, "bench_e2e: %s: %s %s/%s\n", d[j].fcid, m[i].status, m[i].subject,
                                    m[i].reason);
                        ok += d[j].ok;
                        done++;
                        out--;
                        last_progress = now_s();
                        break;
                    }
            e2e_msgs_free(m, k);
        }
        if (now_s() - last_progress > 300)
            die("no download finished for 300 s (%d of %d done)", done, n);
    }
    e2e_client_close(c);
    return ok;
}

/* the SM-DP's "event=es3_request proc=P function=F" lines after offset, by procedure */
static void phases_from_log(dlr *d, int n, long log_off)
{
    /* procedure id of each download, by its ES2 FunctionCallIdentifier */
    char *rows = e2e_sql(&W, "SELECT proc_id, call_id FROM dp_download");
    for (char *save = NULL, *l = rows ? strtok_r(rows, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        long pid = 0;
        char fc[64] = "";
        if (sscanf(l, "%ld|%63s", &pid, fc) == 2)
            for (int i = 0; i < n; i++)
                if (!strcmp(d[i].fcid, fc))
                    d[i].proc = pid;
    }
    free(rows);
    FILE *f = fopen(W.log, "r");
    if (!f)
        return;
    fseek(f, log_off, SEEK_SET);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *e = strstr(line, "event=es3_request proc=");
        if (!e)
            continue;
        long pid = strtol(e + 23, NULL, 10);
        char *fn = strstr(e, "function=");
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        int ms = 0;
        if (!fn || sscanf(line, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                          &tm.tm_sec, &ms) != 7)
            continue;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        double t = (double)timegm(&tm) + ms / 1000.0;
        for (int i = 0; i < n; i++)
            if (d[i].proc == pid && d[i].n_es3 < 64) {
                d[i].t_es3[d[i].n_es3] = t;
                sscanf(fn + 9, "%39s", d[i].f_es3[d[i].n_es3]);
                d[i].n_es3++;
                break;
            }
    }
    fclose(f);
}

/* index of the k-th (0-based) ES3 request of function f, -1 when none */
static int es3_at(const dlr *x, const char *f, int k)
{
    for (int i = 0; i < x->n_es3; i++)
        if (!strcmp(x->f_es3[i], f) && k-- == 0)
            return i;
    return -1;
}

/* Rows written per table (inserted + updated + deleted, pg_stat_user_tables): where the write
 * transactions go. */
typedef struct tabw {
    size_t n;
    char name[64][48];
    long ins[64], upd[64], del[64];
} tabw;

static tabw *tab_writes(e2e_world *w)
{
    tabw *t = calloc(1, sizeof *t);
    char *out = e2e_sql(w, "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY relname");
    for (char *line = out ? strtok(out, "\n") : NULL; t && line && t->n < 64; line = strtok(NULL, "\n")) {
        if (sscanf(line, "%47[^|]|%ld|%ld|%ld", t->name[t->n], &t->ins[t->n], &t->upd[t->n], &t->del[t->n]) == 4)
            t->n++;
    }
    free(out);
    return t;
}

static void tab_writes_free(tabw *t) { free(t); }

static void tab_writes_report(const tabw *a, const tabw *b, int n)
{
    if (!a || !b)
        return;
    printf("   rows written / download, by table (ins+upd+del):");
    int shown = 0;
    for (size_t i = 0; i < b->n; i++) {
        long d[3] = {b->ins[i], b->upd[i], b->del[i]};
        for (size_t j = 0; j < a->n; j++)
            if (!strcmp(a->name[j], b->name[i]))
                d[0] -= a->ins[j], d[1] -= a->upd[j], d[2] -= a->del[j];
        double tot = (double)(d[0] + d[1] + d[2]) / n;
        if (tot < 0.05)
            continue;
        printf("%s %s %.1f (%.1f+%.1f+%.1f)", shown++ % 4 ? "," : "\n     ", b->name[i], tot, (double)d[0] / n,
               (double)d[1] / n, (double)d[2] / n);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"no-spy", no_argument, NULL, 'S'},
                                       {"primitives-only", no_argument, NULL, 'P'},
                                       {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "n:c:ew:kt:", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': N = atoi(optarg); break;
        case 'c': INFLIGHT = atoi(optarg); break;
        case 'e': ENABLE = 1; break;
        case 'w': WORKERS = atoi(optarg); break;
        case 'k': KEEP = 1; break;
        case 't': PRIM_S = atof(optarg); break;
        case 'S': NOSPY = 1; break;
        case 'P': PRIM_ONLY = NOSPY = 1; break;
        default:
            fprintf(stderr, "usage: bench_e2e [-n N] [-c INFLIGHT] [-e] [-w WORKERS] [-k] [-t PRIM_SECONDS] [--no-spy] "
                            "[--primitives-only]\n");
            return 2;
        }
    }
    if (N < 1 || INFLIGHT < 1 || WORKERS < 1)
        die("bad arguments");
    RAND_bytes(DATA, sizeof DATA);
    e2e_opts o = {.fleet = (unsigned)(N + CALIB + 2), .order_qty = (unsigned)(N + CALIB + 10), .workers = (unsigned)WORKERS};
    fprintf(stderr, "bench_e2e: setting up the world (%d cards)...\n", N + CALIB + 2);
    if (e2e_setup(&W, &o) != 0)
        die("the world did not come up");

    /* ---- 2. calibration under pkcs11-spy ---- */
    spy_counts sc;
    spy_default(&sc);
    double spy_calls_note = 0;
    bool spy = !NOSPY && access(SPY, R_OK) == 0;
    if (spy) {
        char cfg2[400], spylog[400], saved[320];
        snprintf(cfg2, sizeof cfg2, "%s/smbox-spy.yaml", W.dir);
        snprintf(spylog, sizeof spylog, "%s/spy.log", W.dir);
        char *cmd = NULL;
        if (asprintf(&cmd, "cp '%s' '%s' && printf 'hsm:\\n  module: %s\\n' >> '%s'", W.cfg, cfg2, SPY, cfg2) < 0 ||
            system(cmd) != 0)
            die("spy configuration");
        free(cmd);
        e2e_smboxd_stop(&W);
        setenv("PKCS11SPY", "/usr/lib/softhsm/libsofthsm2.so", 1);
        setenv("PKCS11SPY_OUTPUT", spylog, 1);
        snprintf(saved, sizeof saved, "%s", W.cfg);
        if ((size_t)snprintf(W.cfg, sizeof W.cfg, "%s", cfg2) >= sizeof W.cfg)
            die("path too long: %s", cfg2);
        if (e2e_smboxd_start(&W) != 0)
            die("smboxd on pkcs11-spy did not start");
        dlr cd[CALIB];
        memset(cd, 0, sizeof cd);
        sleep(1);
        double t0 = epoch_now();
        int ok = run_downloads(cd, (size_t)N, CALIB, CALIB, "calib");
        double t1 = epoch_now();
        e2e_smboxd_stop(&W);
        unsetenv("PKCS11SPY");
        unsetenv("PKCS11SPY_OUTPUT");
        snprintf(W.cfg, sizeof W.cfg, "%s", saved);
        if (e2e_smboxd_start(&W) != 0)
            die("smboxd did not restart");
        if (ok == CALIB) {
            spy_counts s2;
            spy_parse(spylog, t0, t1, CALIB, &s2);
            if (s2.valid)
                sc = s2;
            spy_calls_note = 1;
        } else {
            fprintf(stderr, "bench_e2e: calibration: %d of %d downloads succeeded; using limits.md §5's operation list\n",
                    ok, CALIB);
        }
        unlink(spylog);
    }

    /* ---- 3. primitives ---- */
    fprintf(stderr, "bench_e2e: measuring the primitives...\n");
    sm_config *cfg = NULL;
    sm_err err = {0};
    hsm_ctx *hctx = NULL;
    if (sm_config_load(W.cfg, &cfg, &err) != SM_OK || sm_hsm_open_config(cfg, 3, &hctx, &err) != SM_OK)
        die("opening the world's token: %s", err.msg);
    hthr T[2];
    memset(T, 0, sizeof T);
    hsm_setup_thread(hctx, &T[0]);
    hsm_setup_thread(hctx, &T[1]);
    hsm_costs hc;
    memset(&hc, 0, sizeof hc);
    for (int op = 0; op < OP_N; op++) {
        if (op != OP_SIGN && op != OP_VERIFY && sc.n[op] <= 0)
            continue;
        size_t size = sc.bytes[op] > 0 ? (size_t)sc.bytes[op] : 1024;
        hc.us[op] = hsm_measure(T, (enum op)op, size);
    }
    hc.us[OP_VERIFY] -= hc.us[OP_SIGN];
    if (hc.us[OP_VERIFY] < 0)
        hc.us[OP_VERIFY] = 0;
    hc.us[OP_DIGEST] /= 2; /* two 32-byte blocks per measured KDF */
    for (int i = 0; i < 2; i++)
        hsm_session_put(T[i].s);
    hsm_close(hctx);
    sm_config_free(cfg);
    tls_costs tc;
    tls_measure(&tc);
    double tps = 0, db_us = db_measure(&tps);
    if (PRIM_ONLY) {
        printf("primitives (box µs per operation, 2 threads):\n");
        for (int op = 0; op < OP_N; op++)
            if (hc.us[op] > 0)
                printf("   %-30s %8.1f µs  (%.0f bytes)\n", op_name[op], hc.us[op], sc.bytes[op]);
        printf("   %-30s %8.1f µs  (%.0f tps)\n", "state transition (pgbench)", db_us, tps);
        printf("   %-30s %8.1f µs\n   %-30s %8.1f µs\n   %-30s %8.1f µs\n", "mutual TLS handshake", tc.hs_mutual_us,
               "PSK TLS handshake", tc.hs_psk_us, "2 KiB TLS exchange", tc.exch_us);
        e2e_teardown(&W);
        return 0;
    }

    /* ---- 4. the timed run ---- */
    fprintf(stderr, "bench_e2e: %d downloads, %d in flight...\n", N, INFLIGHT);
    dlr *d = calloc((size_t)N, sizeof *d);
    if (!d)
        die("out of memory");
    /* the idle baseline: what the appliance's pollers (procedure engine, ES5 driver, outbox pump) cost while
     * nothing happens, subtracted from the run's figures */
    cpu i0, i1;
    long ixid0 = e2e_sql_long(&W, "SELECT txid_snapshot_xmax(txid_current_snapshot())");
    long icom0 = e2e_sql_long(&W, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'smbox'");
    cpu_now(&i0);
    double it0 = epoch_now();
    sleep(4);
    cpu_now(&i1);
    double idle_s = epoch_now() - it0;
    long ixid = e2e_sql_long(&W, "SELECT txid_snapshot_xmax(txid_current_snapshot())") - ixid0 - 1;
    long icom = e2e_sql_long(&W, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'smbox'") - icom0 - 2;
    tabw *tw0 = tab_writes(&W);
    long xid0 = e2e_sql_long(&W, "SELECT txid_snapshot_xmax(txid_current_snapshot())");
    long commits0 = e2e_sql_long(&W, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'smbox'");
    long sess0 = e2e_sim_stat(&W, "https_sessions"), mt0 = e2e_sim_stat(&W, "mt");
    long es5h0 = e2e_sql_long(&W, "SELECT count(*) FROM es5_request WHERE channel = 2");
    long log_off = 0;
    {
        struct stat st;
        if (stat(W.log, &st) == 0)
            log_off = (long)st.st_size;
    }
    cpu c0, c1;
    cpu_now(&c0);
    double t0 = epoch_now();
    int ok = run_downloads(d, 0, N, INFLIGHT, "bench");
    double t1 = epoch_now();
    cpu_now(&c1);
    long commits = e2e_sql_long(&W, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'smbox'") - commits0;
    long writes = e2e_sql_long(&W, "SELECT txid_snapshot_xmax(txid_current_snapshot())") - xid0;
    /* the outbox: every ES message between the co-located SM-DP and SM-SR, and the answers to the MNO */
    char *ob = e2e_sql(&W, "SELECT count(*), coalesce(round(avg(extract(epoch FROM delivered_at - created_at)) * 1000), 0), "
                           "coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - "
                           "created_at)) * 1000), 0) FROM outbox WHERE created_at >= to_timestamp(%.3f) AND delivered_at "
                           "IS NOT NULL",
                       t0);
    long ob_n = 0, ob_avg = 0, ob_p99 = 0;
    if (ob)
        sscanf(ob, "%ld|%ld|%ld", &ob_n, &ob_avg, &ob_p99);
    free(ob);
    long sess = e2e_sim_stat(&W, "https_sessions") - sess0, mt = e2e_sim_stat(&W, "mt") - mt0;
    long es5h = e2e_sql_long(&W, "SELECT count(*) FROM es5_request WHERE channel = 2") - es5h0;
    phases_from_log(d, N, log_off);
    sleep(2); /* backends flush their table statistics at most once a second */
    tabw *tw1 = tab_writes(&W);
    /* the state transition again, after the run: this shared box's speed drifts within minutes; the
     * ceiling uses the mean of both measurements */
    double tps_after = 0, db_us_after = db_measure(&tps_after);
    double tps_before = tps;
    db_us = (db_us + db_us_after) / 2;
    tps = 1e6 / db_us;

    /* ---- 5. the report ---- */
    double el = t1 - t0, rate = ok / el;
    double *lat = calloc((size_t)N, sizeof *lat), *ph[5];
    size_t nph[5] = {0};
    for (int i = 0; i < 5; i++)
        ph[i] = calloc((size_t)N, sizeof(double));
    size_t nl = 0;
    int ke_sd = 2; /* key establishment: the first two SendData (3A01, then 3A02) */
    for (int i = 0; i < N; i++) {
        dlr *x = &d[i];
        if (!x->ok)
            continue;
        lat[nl++] = (x->t_done - x->t_send) * 1000;
        int ci = es3_at(x, "ES3.CreateISDP", 0), s0 = es3_at(x, "ES3.SendData", 0),
            sk = es3_at(x, "ES3.SendData", ke_sd), pdc = es3_at(x, "ES3.ProfileDownloadCompleted", 0);
        if (ci < 0 || s0 < 0 || sk < 0 || pdc < 0)
            continue;
        double b[6] = {x->t_send, x->t_es3[ci], x->t_es3[s0], x->t_es3[sk], x->t_es3[pdc], x->t_done};
        for (int p = 0; p < 5; p++)
            ph[p][nph[p]++] = (b[p + 1] - b[p]) * 1000;
    }
    const char *phn[5] = {"GetEIS (ES2 in .. ES3.CreateISDP out)", "ISD-P creation", "key establishment",
                                 "profile transfer", ENABLE ? "completion + enable" : "completion"};
    printf("\n== bench-e2e: %d profile downloads over HTTPS (SCP81), %d in flight, EnableProfile=%s, %d workers\n", N,
           INFLIGHT, ENABLE ? "true" : "false", WORKERS);
    printf("   appliance, PostgreSQL, SoftHSM2, simulator (%d cards) and this driver on %ld cores\n", N + CALIB + 2,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("\n%-40s %10s\n", "result", "");
    printf("%-40s %10d of %d\n", "downloads succeeded", ok, N);
    printf("%-40s %10.1f s\n", "elapsed (first request .. last answer)", el);
    printf("%-40s %10.1f /s\n", "downloads per second", rate);
    printf("\n%-40s %10s %10s %8s\n", "latency (ms)", "p50", "p99", "n");
    double l50 = pct(lat, nl, 0.5), l99 = pct(lat, nl, 0.99);
    printf("%-40s %10.1f %10.1f %8zu\n", "per download (request .. MNO answer)", l50, l99, nl);
    for (int p = 0; p < 5; p++)
        printf("%-40s %10.1f %10.1f %8zu\n", phn[p], pct(ph[p], nph[p], 0.5), pct(ph[p], nph[p], 0.99), nph[p]);

    /* the ceiling (limits.md §5): box time per download */
    double hsm_us = 0;
    printf("\n%-34s %9s %9s %10s %12s\n", "HSM, per download", "ops", "bytes", "µs/op (2t)", "µs/download");
    for (int op = 0; op < OP_N; op++) {
        if (sc.n[op] <= 0)
            continue;
        double us = sc.n[op] * hc.us[op];
        hsm_us += us;
        printf("%-34s %9.2f %9.0f %10.1f %12.1f\n", op_name[op], sc.n[op], sc.bytes[op], hc.us[op], us);
    }
    printf("%-34s %9s %9s %10s %12.1f   (%s)\n", "HSM total", "", "", "", hsm_us,
           spy_calls_note ? "operations counted with pkcs11-spy in this run" : "operations: limits.md §5's list");
    /* write transactions (each assigned a transaction id, each a synchronous commit) net of the idle pollers' */
    double idle_w = ixid > 0 ? (double)ixid / idle_s : 0, idle_c = icom > 0 ? (double)icom / idle_s : 0;
    double per_write = ((double)writes - idle_w * el) / (ok ? ok : 1);
    double per_commit = ((double)commits - idle_c * el) / (ok ? ok : 1);
    if (per_write < 0)
        per_write = 0;
    double db_total = per_write * db_us;
    printf("\n%-34s %9.1f × %7.1f µs = %9.1f µs   (pgbench state transition, 4 clients, sync commit: %.0f tps "
           "before the run, %.0f after)\n",
           "DB write transactions / download", per_write, db_us, db_total, tps_before, tps_after);
    printf("%-34s %9.1f   (all commits, read-only included; idle pollers: %.1f writes/s, %.1f commits/s, "
           "subtracted)\n",
           "   commits per download", per_commit, idle_w, idle_c);
    tab_writes_report(tw0, tw1, ok ? ok : 1);
    tab_writes_free(tw0);
    tab_writes_free(tw1);
    double es_ex = 2.0;                                 /* ES2 request + the async answer, kept-alive */
    double psk = (double)sess / (ok ? ok : 1);          /* SCP81 sessions per download */
    double ram = (double)(es5h + sess) / (ok ? ok : 1); /* RAM-over-HTTP POSTs (one per script + the opening one) */
    double tls_total = (es_ex + ram) * tc.exch_us + psk * tc.hs_psk_us;
    printf("%-34s %9.1f × %7.1f µs + %.2f PSK handshakes × %.1f µs = %9.1f µs   (in-process OpenSSL, both ends; a "
           "full mutual handshake costs %.0f µs)\n",
           "TLS exchanges per download", es_ex + ram, tc.exch_us, psk, tc.hs_psk_us, tls_total, tc.hs_mutual_us);
    printf("%-34s %9.2f per download (push and ES5 SMS)\n", "SMS (MT) ", (double)mt / (ok ? ok : 1));
    double box = hsm_us + db_total + tls_total;
    double ceiling = 1e6 / box;
    printf("\n%-34s %9.1f µs = HSM %.0f + DB %.0f + TLS %.0f\n", "box time per download", box, hsm_us, db_total,
           tls_total);
    printf("%-34s %9.0f downloads/s\n", "ceiling (limits.md §5 method)", ceiling);
    printf("%-34s %9.1f downloads/s  =  %.2f of the ceiling (target >= 0.5)\n", "measured", rate, rate / ceiling);
    const char *bind = hsm_us >= db_total && hsm_us >= tls_total ? "the HSM" : db_total >= tls_total ? "PostgreSQL commits"
                                                                                                    : "TLS";
    printf("%-34s %9.1f per download, waiting %ld ms on average (p99 %ld ms) before delivery\n",
           "outbox messages (ES3 + answers)", (double)ob_n / (ok ? ok : 1), ob_avg, ob_p99);
    printf("%-34s %s (%.0f%% of the ceiling's box time)\n", "binds first in the ceiling", bind,
           100.0 * (hsm_us >= db_total && hsm_us >= tls_total ? hsm_us : db_total >= tls_total ? db_total : tls_total) / box);
    double cd[4] = {c1.smboxd - c0.smboxd, c1.pg - c0.pg, c1.sim - c0.sim, c1.bench - c0.bench};
    double idl[4] = {(i1.smboxd - i0.smboxd) / idle_s, (i1.pg - i0.pg) / idle_s, (i1.sim - i0.sim) / idle_s, 0};
    double busy = c1.total - c0.total, cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
    printf("\nCPU during the run (%.1f s × %.0f cores = %.1f core-s; busy %.1f core-s, %.0f%%):\n", el, cores, el * cores,
           busy, 100 * busy / (el * cores));
    static const char *cn[4] = {"smboxd", "PostgreSQL", "simulator", "bench driver (MNO)"};
    double net_sum = 0;
    for (int i = 0; i < 4; i++) {
        double net = cd[i] - idl[i] * el;
        net_sum += net > 0 ? net : 0;
        printf("   %-22s %7.2f core-s  %4.0f%%   %7.2f ms per download net of idle (idle: %.0f ms/s)\n", cn[i], cd[i],
               busy > 0 ? 100 * cd[i] / busy : 0, 1000 * (net > 0 ? net : 0) / (ok ? ok : 1), 1000 * idl[i]);
    }
    printf("   %-22s %7.2f core-s\n", "other", busy - cd[0] - cd[1] - cd[2] - cd[3]);
    printf("   the appliance's own side (smboxd + PostgreSQL, net of idle): %.1f ms of CPU per download -> at most %.0f "
           "downloads/s on %.0f cores with nothing else running\n",
           1000 * ((cd[0] - idl[0] * el) + (cd[1] - idl[1] * el)) / (ok ? ok : 1),
           cores / (((cd[0] - idl[0] * el) + (cd[1] - idl[1] * el)) / (ok ? ok : 1)), cores);
    (void)net_sum;
    /* what bound the measured run */
    double busy_frac = busy / (el * cores);
    printf("\nwhat bound this run: ");
    if (busy_frac < 0.6 && ob_avg > 100)
        printf("not a resource (the box was %.0f%% busy): the ES messages waited %ld ms on average in the outbox "
               "before delivery (%.1f delivered per second), so each ES3 round trip between the SM-DP and the SM-SR "
               "costs a pump period or more; see docs/e2e.md\n",
               100 * busy_frac, ob_avg, (double)ob_n / el);
    else if (busy_frac < 0.6)
        printf("not a resource (the box was %.0f%% busy): latency (in flight %d, p50 %.0f ms per download)\n",
               100 * busy_frac, INFLIGHT, l50);
    else
        printf("the CPU (%.0f%% busy): smboxd %.0f%%, PostgreSQL %.0f%%, simulator %.0f%% of it\n", 100 * busy_frac,
               100 * cd[0] / busy, 100 * cd[1] / busy, 100 * cd[2] / busy);

    for (int i = 0; i < 5; i++)
        free(ph[i]);
    free(lat);
    free(d);
    if (KEEP)
        fprintf(stderr, "bench_e2e: world kept in %s (smboxd and the simulator stopped)\n", W.dir);
    if (KEEP) {
        e2e_smboxd_stop(&W);
        e2e_sim_stop(&W);
    } else {
        e2e_teardown(&W);
    }
    return ok == N ? 0 : 1;
}
