/* bench: single-core simulator throughput with raw-OpenSSL ratios. */
#include "tests/sim/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/cert.h"
#include "tests/sim/ec.h"
#include "tests/sim/ecka.h"
#include "tests/sim/fleet.h"
#include "tests/sim/isdp.h"
#include "tests/sim/isdr.h"
#include "tests/sim/prim.h"
#include "tests/sim/tlv.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef int (*op_fn)(void *arg);

/* runs fn for about `seconds`; returns operations per second (negative if an operation failed) */
static double rate(op_fn fn, void *arg, double seconds)
{
    double t0 = now(), t;
    long n = 0;
    do {
        for (int i = 0; i < 16; i++, n++)
            if (fn(arg))
                return -1;
        t = now();
    } while (t - t0 < seconds);
    return (double)n / (t - t0);
}

/* ---- raw OpenSSL references ---- */
typedef struct raw {
    EVP_PKEY *k, *peer;
    uint8_t sig[64], msg[200], key[16], buf[12288];
    size_t len;
} raw;

static int raw_verify(void *a)
{
    raw *r = a;
    return sim_ecdsa_verify(r->k, r->msg, sizeof r->msg, r->sig, 64, NULL) != SIM_OK;
}

static int raw_ecdh(void *a)
{
    raw *r = a;
    uint8_t z[32];
    return sim_ecdh(r->k, r->peer, z, NULL) != SIM_OK;
}

static int raw_cbc_cmac(void *a)
{
    raw *r = a;
    uint8_t iv[16] = {0}, mac[16];
    return sim_aes_cbc(0, r->key, 16, iv, r->buf, r->len, r->buf, NULL) ||
           sim_cmac1(r->key, 16, r->buf, r->len, mac, NULL);
}

/* ---- key establishment, card side ---- */
typedef struct ke {
    sim_euicc *e;
    sim_buf cert, data;
} ke;

static int op_ke(void *a)
{
    ke *k = a;
    sim_ecka_state st;
    memset(&st, 0, sizeof st);
    st.use_fixed_rc = 1;
    memset(st.fixed_rc, 0x42, 16);
    sim_buf resp;
    sim_buf_init(&resp);
    sim_ecka_result r;
    EVP_PKEY *sk = sim_euicc_ecasd(k->e, NULL);
    int bad = !sk || sim_ecka_certificate(&st, k->e->ci, SIM_CERT_TYPE_SMDP, k->cert.p, k->cert.len, &resp, NULL) ||
              sim_ecka_establish(&st, sk, 0x10, k->data.p, k->data.len, NULL, 0, NULL, 0, &r, &resp, NULL);
    sim_ecka_reset(&st);
    sim_buf_free(&resp);
    return bad;
}

/* ---- SCP03t install ---- */
static const uint8_t BAID[16] = {0xA0, 0, 0, 5, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x77, 0};

typedef struct inst {
    sim_euicc *e;
    sim_scp03_keys keys;
    sim_buf stream; /* 84, 85, 86... TLVs */
    size_t size;
} inst;

static int op_install(void *a)
{
    inst *in = a;
    sim_profile *p = NULL;
    if (sim_euicc_add_profile(in->e, BAID, 16, 65536, &p, NULL))
        return 1;
    p->lcs = SIM_LCS_PERSONALIZED;
    p->has_scp03 = 1;
    p->scp03 = in->keys;
    sim_buf resp;
    sim_buf_init(&resp);
    size_t off = 0;
    int bad = 0;
    while (!bad && off < in->stream.len) {
        sim_tlv t;
        int lost;
        if (sim_tlv_read(in->stream.p, in->stream.len, &off, &t, NULL) ||
            sim_isdp_tlv(in->e, p, t.raw, t.rawlen, &resp, &lost, NULL))
            bad = 1;
        sim_buf_reset(&resp);
    }
    bad = bad || p->lcs != SIM_LCS_DISABLED;
    sim_buf_free(&resp);
    sim_euicc_remove(in->e, p);
    return bad;
}

/* precompute the OCE stream for session seq 1 with the simulator's own wrap functions */
static sim_rc build_stream(inst *in, const sim_buf *pkg, sim_err *err)
{
    sim_scp03_keys k = in->keys;
    sim_scp03_sess s;
    uint8_t hc[8] = {1, 2, 3, 4, 5, 6, 7, 8}, r32[32];
    sim_rc rc = sim_scp03_init_update(&k, BAID, 16, hc, NULL, &s, r32, err);
    if (rc)
        return rc;
    uint8_t v84[10] = {k.kvn, 0};
    memcpy(v84 + 2, hc, 8);
    sim_tlv_put(&in->stream, 0x84, v84, 10);
    uint8_t ctx[16], hcr[8];
    memcpy(ctx, hc, 8);
    memcpy(ctx + 8, s.card_ch, 8);
    if ((rc = sim_scp03_kdf(s.ch.smac, 16, 0x01, ctx, 16, 64, hcr, err)))
        return rc;
    uint8_t m[27] = {0};
    m[16] = 0x85; m[17] = 0x11; m[18] = 0x33;
    memcpy(m + 19, hcr, 8);
    uint8_t full[16];
    if ((rc = sim_cmac1(s.ch.smac, 16, m, sizeof m, full, err)))
        return rc;
    uint8_t v85[17] = {0x33};
    memcpy(v85 + 1, hcr, 8);
    memcpy(v85 + 9, full, 8);
    sim_tlv_put(&in->stream, 0x85, v85, 17);
    memcpy(s.ch.mcv, full, 16);
    s.ch.ctr = 0;
    for (size_t off = 0; off < pkg->len && !rc; off += 1000)
        rc = sim_scp03t_wrap(&s.ch, 0x86, pkg->p + off, pkg->len - off < 1000 ? pkg->len - off : 1000, 1, &in->stream, err);
    return rc ? rc : sim_buf_check(&in->stream, err);
}

/* ---- SCP80 ---- */
#define NPKT 4096
typedef struct s80 {
    sim_euicc *e;
    sim_buf pkt[NPKT];
    size_t i;
} s80;

static int op_scp80(void *a)
{
    s80 *s = a;
    if (s->i == NPKT) {
        s->i = 0;
        s->e->scp80[0].cntr = 0;
    }
    sim_buf por;
    sim_buf_init(&por);
    sim_push push;
    sim_rc rc = sim_isdr_sms(s->e, s->pkt[s->i].p, s->pkt[s->i].len, &por, &push, NULL, NULL);
    s->i++;
    int bad = rc != SIM_OK || por.len == 0;
    sim_buf_free(&por);
    return bad;
}

sim_rc sim_bench_run(double seconds, const char *profile_path, sim_err *err)
{
    char dir[] = "/tmp/simbench.XXXXXX";
    if (!mkdtemp(dir))
        return sim_errf(err, SIM_EIO, "bench: mkdtemp failed");
    sim_pki pki;
    sim_euicc *e = NULL;
    EVP_PKEY *dpkey = NULL, *eph = NULL;
    ke k;
    inst in;
    s80 *sp = calloc(1, sizeof *sp);
    raw r;
    memset(&r, 0, sizeof r);
    memset(&in, 0, sizeof in);
    sim_buf_init(&k.cert);
    sim_buf_init(&k.data);
    sim_buf pkg;
    sim_buf_init(&pkg);
    sim_rc rc;
    char path[256];
    if (!sp)
        return sim_errf(err, SIM_ENOMEM, "bench: out of memory");
    if ((rc = sim_pki_generate(dir, err)) || (rc = sim_pki_load(dir, &pki, err)))
        goto out0;
    sim_fleet_opts fo = {.count = 1};
    if ((rc = sim_fleet_make_card(&pki, &fo, 1, &e, err)))
        goto out;
    e->ci = pki.ci_pub;
    /* OCE inputs for key establishment (fixed RC so they can be replayed) */
    snprintf(path, sizeof path, "%s/smdp-gp.cert", dir);
    if ((rc = sim_read_file(path, &k.cert, err)))
        goto out;
    snprintf(path, sizeof path, "%s/smdp-gp.key", dir);
    if ((rc = sim_pem_key(path, &dpkey, err)) || (rc = sim_ec_keygen(SIM_CURVE_P256, &eph, err)))
        goto out;
    static const uint8_t crt[] = {0xA6, 0x15, 0x90, 0x02, 0x03, 0x09, 0x95, 0x01, 0x10, 0x80, 0x01, 0x88,
                                  0x81, 0x01, 0x10, 0x82, 0x01, 0x01, 0x83, 0x01, 0x30, 0x91, 0x00};
    sim_dgi_put(&k.data, 0x3A02, crt, sizeof crt);
    if ((rc = sim_gp_pubkey_tlv(eph, &k.data, err)))
        goto out;
    {
        sim_buf sd;
        sim_buf_init(&sd);
        sim_buf_put(&sd, k.data.p, k.data.len);
        uint8_t h[3] = {0x00, 0x85, 0x10}, rcv[16], sig[64];
        memset(rcv, 0x42, 16);
        sim_buf_put(&sd, h, 3);
        sim_buf_put(&sd, rcv, 16);
        rc = sim_ecdsa_sign(dpkey, sd.p, sd.len, sig, err);
        sim_buf_free(&sd);
        if (rc)
            goto out;
        sim_tlv_put(&k.data, 0x5F37, sig, 64);
    }
    k.e = e;
    if (op_ke(&k)) {
        rc = sim_errf(err, SIM_EVERIFY, "bench: key establishment inputs do not verify");
        goto out;
    }
    /* SCP03t stream */
    if ((rc = sim_read_file(profile_path, &pkg, err)))
        goto out;
    in.e = e;
    in.keys.kvn = 0x30;
    in.keys.klen = 16;
    memset(in.keys.enc, 0x11, 16);
    memset(in.keys.mac, 0x22, 16);
    memset(in.keys.dek, 0x33, 16);
    in.size = pkg.len;
    if ((rc = build_stream(&in, &pkg, err)))
        goto out;
    if (op_install(&in)) {
        rc = sim_errf(err, SIM_EVERIFY, "bench: the SCP03t stream does not install");
        goto out;
    }
    /* SCP80 packets: GET DATA FF21 in an expanded script, counters 1..NPKT */
    sp->e = e;
    static const uint8_t spi[2] = {0x16, 0x39}, script[] = {0xAA, 0x07, 0x22, 0x05, 0x80, 0xCA, 0xFF, 0x21, 0x00};
    const uint8_t udh[3] = {0x02, 0x70, 0x00};
    for (size_t i = 0; i < NPKT && !rc; i++) {
        sim_buf_init(&sp->pkt[i]);
        sim_buf_put(&sp->pkt[i], udh, 3);
        rc = sim_scp80_wrap(&e->scp80[0], spi, 0x12, 0x12, e->isdr_tar, i + 1, script, sizeof script, &sp->pkt[i], err);
    }
    if (rc)
        goto out;
    e->scp80[0].cntr = 0;
    /* raw references */
    if ((rc = sim_ec_keygen(SIM_CURVE_P256, &r.k, err)) || (rc = sim_ec_keygen(SIM_CURVE_P256, &r.peer, err)) ||
        (rc = sim_ecdsa_sign(r.k, r.msg, sizeof r.msg, r.sig, err)))
        goto out;
    memset(r.key, 7, 16);
    r.len = (pkg.len + 15) / 16 * 16;
    if (r.len > sizeof r.buf)
        r.len = sizeof r.buf;

    double v = rate(raw_verify, &r, seconds), dh = rate(raw_ecdh, &r, seconds), sym = rate(raw_cbc_cmac, &r, seconds);
    double kes = rate(op_ke, &k, seconds), ins = rate(op_install, &in, seconds), s80r = rate(op_scp80, sp, seconds);
    r.len = 64;
    double sym64 = rate(raw_cbc_cmac, &r, seconds);
    if (v < 0 || dh < 0 || sym < 0 || kes < 0 || ins < 0 || s80r < 0 || sym64 < 0) {
        rc = sim_errf(err, SIM_EVERIFY, "bench: an operation failed while measuring");
        goto out;
    }
    double ke_ideal = 1.0 / (2.0 / v + 1.0 / dh);            /* 2 ECDSA verifications + 1 ECDH */
    double s80_ideal = 1.0 / (2.0 / sym64);                   /* decipher+CC and PoR CC+cipher, 64-byte blocks */
    double dl = 1.0 / (1.0 / kes + 1.0 / ins);
    printf("sim bench: one core, %.1f s per measurement, profile %s (%zu bytes, %zu SCP03t segments of 1000 bytes)\n",
           seconds, profile_path, pkg.len, (pkg.len + 999) / 1000);
    printf("raw openssl: ecdsa-p256 verify %.0f/s, ecdh-p256 %.0f/s, aes-cbc+cmac over the package %.0f/s, "
           "aes-cbc+cmac 64 B %.0f/s\n", v, dh, sym, sym64);
    printf("key establishments (card side: cert verify, signature verify, ECDH, X9.63, receipt): %.0f/s = %.2f of "
           "the raw bound %.0f/s (2 verify + 1 ECDH)\n", kes, kes / ke_ideal, ke_ideal);
    printf("SCP03t profile installs (84+85+86 x %zu, decrypt, MAC chain, PE interpreter): %.0f/s = %.2f of the raw "
           "AES-CBC+CMAC bound %.0f/s\n", (pkg.len + 999) / 1000, ins, ins / sym, sym);
    printf("SCP80 packets (unwrap, counter, script, PoR build): %.0f/s = %.2f of the raw bound %.0f/s "
           "(2 x CBC+CMAC on 64 B)\n", s80r, s80r / s80_ideal, s80_ideal);
    printf("full downloads per core (key establishment + install): %.0f/s = %.1fx the appliance ceiling of ~900/s "
           "(target 3x: %s)\n", dl, dl / 900.0, dl >= 2700 ? "met" : "NOT met");
out:
    for (size_t i = 0; i < NPKT; i++)
        sim_buf_free(&sp->pkt[i]);
    sim_euicc_free(e);
    EVP_PKEY_free(dpkey);
    EVP_PKEY_free(eph);
    EVP_PKEY_free(r.k);
    EVP_PKEY_free(r.peer);
    sim_pki_free(&pki);
out0:
    free(sp);
    sim_buf_free(&k.cert);
    sim_buf_free(&k.data);
    sim_buf_free(&in.stream);
    sim_buf_free(&pkg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    return rc;
}
