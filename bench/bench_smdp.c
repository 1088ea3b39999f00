/* bench_smdp: SM-DP order throughput — profiles generated, personalised and sealed per second
 * for an order of N (default 1000) on the TS.48 v7 template — beside the bare HSM operations one
 * profile needs (Ki random, Ki import, OPc encrypt, key destroy, IV random, AES-GCM of the
 * package, two transport-key encryptions) and the software part alone (personalise: edit,
 * re-encode, decode-and-verify). Driven by bench/bench-smdp.sh (throw-away SoftHSM2 token, or
 * SMBOX_BENCH_{MODULE,TOKEN,PIN}). Each figure is the median of SMBOX_BENCH_REPS (3) runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/keyring.h"
#include "appliance/smdp/order.h"
#include "appliance/smdp/personalise.h"
#include "appliance/smdp/persodata.h"
#include "lib/hex.h"
#include "lib/log.h"

static hsm_sess *S;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const sm_err *err)
{
    fprintf(stderr, "bench_smdp: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static uint8_t *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, NULL);
    static uint8_t buf[1 << 20];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static sm_rc count_cb(const smdp_produced *p, void *arg, sm_err *err)
{
    (void)p;
    (void)err;
    (*(size_t *)arg)++;
    return SM_OK;
}

int main(void)
{
    sm_log_init("bench_smdp", SM_LOG_WARN, 2);
    const char *mod = getenv("SMBOX_BENCH_MODULE"), *tok = getenv("SMBOX_BENCH_TOKEN"),
               *pin = getenv("SMBOX_BENCH_PIN");
    if (!mod || !tok || !pin)
        die("SMBOX_BENCH_MODULE, SMBOX_BENCH_TOKEN and SMBOX_BENCH_PIN must be set (bench/bench-smdp.sh)", NULL);
    int reps = getenv("SMBOX_BENCH_REPS") ? atoi(getenv("SMBOX_BENCH_REPS")) : 3;
    unsigned long n = getenv("SMBOX_BENCH_ORDER") ? strtoul(getenv("SMBOX_BENCH_ORDER"), NULL, 10) : 1000;
    if (reps < 1 || reps > 15 || n < 1 || n > 100000)
        die("SMBOX_BENCH_REPS 1..15, SMBOX_BENCH_ORDER 1..100000", NULL);
    const char *src = getenv("SMBOX_SRCDIR") ? getenv("SMBOX_SRCDIR") : ".";
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/profiles/TS48v7_SAIP2.3_BERTLV_SUCI.der", src);

    hsm_config cfg = {.module_path = mod, .token_label = tok, .pin = pin, .pin_len = strlen(pin), .sessions = 1};
    hsm_ctx *ctx;
    sm_err err = {0};
    if (hsm_open(&cfg, &ctx, &err) != SM_OK || hsm_session_get(ctx, &S, &err) != SM_OK)
        die("opening the token", &err);
    smdp_order_keys k;
    hsm_keyspec tks = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT | HSM_U_DECRYPT | HSM_U_DERIVE};
    if (sm_keyring_ceremony(S, "bench", NULL, NULL, &err) != SM_OK || smdp_stock_key(S, "bench", &k.profile, &err) ||
        hsm_key_generate(S, &tks, &k.transport, &err) != SM_OK)
        die("keys", &err);
    k.transport_label = "bench-mno-bench";

    size_t dlen;
    uint8_t *der = load(path, &dlen);
    saip_pkg *tpl;
    if (saip_decode(der, dlen, &tpl, &err) != SM_OK)
        die("template", &err);
    char text[1024];
    snprintf(text, sizeof text,
             "smbox-order 1\nprofile-type BENCH\ntemplate TS48v7-SUCI\nmno bench\n"
             "iccid-start 89000123456789012341\nimsi-start 001010000000001\nmnc-digits 2\nquantity %lu\n"
             "op-enc 00112233445566778899aabbccddeeff\nend\n",
             n);
    smdp_order *o;
    if (smdp_order_parse(text, strlen(text), &o, &err) != SM_OK)
        die("order", &err);

    /* 1. the order run */
    double r_order[15], r_bare[15], r_soft[15];
    for (int r = 0; r < reps; r++) {
        size_t cnt = 0;
        sm_buf mno;
        double t0 = now();
        if (smdp_order_run(S, o, tpl, &k, count_cb, &cnt, &mno, &err) != SM_OK || cnt != n)
            die("order run", &err);
        r_order[r] = (double)n / (now() - t0);
        sm_buf_free(&mno);
    }

    /* 2. the bare HSM operations of one profile, n times */
    smdp_secbuf sb, pkg;
    if (smdp_secbuf_alloc(&sb, 64, &err) != SM_OK)
        die("secbuf", &err);
    smdp_perso v;
    memset(&v, 0, sizeof v);
    v.iccid = "89000123456789012358";
    v.imsi = "001010000000002";
    v.ki = sb.p;
    v.ki_len = 16;
    v.opc = sb.p + 16;
    v.opc_len = 16;
    if (smdp_personalise(tpl, &v, &pkg, &err) != SM_OK)
        die("personalise", &err);
    uint8_t *ct = malloc(pkg.len + 16);
    static const hsm_keyspec kis = {.type = HSM_KT_AES, .len = 16, .usage = HSM_U_ENCRYPT};
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (unsigned long i = 0; i < n; i++) {
            hsm_key kk;
            uint8_t iv[12], e[32];
            size_t cl;
            if (hsm_random(S, sb.p, 16, &err) || hsm_secret_import(S, &kis, sb.p, 16, &kk, &err) ||
                hsm_aes_ecb_encrypt(S, &kk, sb.p + 32, 16, sb.p + 16, &err) || hsm_key_destroy(S, &kk, &err) ||
                hsm_random(S, iv, 12, &err) ||
                hsm_aes_gcm_encrypt(S, &k.profile, iv, (const uint8_t *)"x", 1, pkg.p, pkg.len, ct, pkg.len + 16,
                                    &cl, &err) ||
                hsm_aes_ecb_encrypt(S, &k.transport, sb.p, 16, e, &err) ||
                hsm_aes_ecb_encrypt(S, &k.transport, sb.p + 16, 16, e + 16, &err))
                die("bare HSM operations", &err);
        }
        r_bare[r] = (double)n / (now() - t0);
    }

    /* 3. the software part alone: personalise (edits, re-encode, decode and compare) */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (unsigned long i = 0; i < n; i++) {
            smdp_secbuf out;
            if (smdp_personalise(tpl, &v, &out, &err) != SM_OK)
                die("personalise", &err);
            smdp_secbuf_free(&out);
        }
        r_soft[r] = (double)n / (now() - t0);
    }
    double po = median(r_order, reps), pb = median(r_bare, reps), ps = median(r_soft, reps);
    printf("bench_smdp: order of %lu on TS48v7_SAIP2.3_BERTLV_SUCI (%zu B), %s, median of %d\n", n, dlen,
           hsm_capabilities(ctx)->manufacturer, reps);
    printf("  %-58s %10.0f /s\n", "order run: generate + personalise + seal + MNO line", po);
    printf("  %-58s %10.0f /s\n", "bare HSM ops of one profile (rand, import, ECB, destroy,", pb);
    printf("  %-58s\n", "  rand, GCM of the package, 2 x ECB)");
    printf("  %-58s %10.0f /s\n", "personalise alone (software, locked memory)", ps);
    printf("  ratio order / bare HSM ops: %.2f   (HSM share of the run time: %.0f%%)\n", po / pb, 100.0 * po / pb);
    free(ct);
    smdp_secbuf_free(&pkg);
    smdp_secbuf_free(&sb);
    smdp_order_free(o);
    saip_free(tpl);
    hsm_session_put(S);
    hsm_close(ctx);
    return 0;
}
