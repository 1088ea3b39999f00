/* Cross-check of the two independent implementations of each protocol step: the card simulator's
 * `sim tool` (tests/sim, plain OpenSSL) against the appliance's `smctl tool` (crypto/ through the
 * HSM), on the same inputs:
 *   1. SCP03 pseudo-random card challenge, session keys S-ENC/S-MAC/S-RMAC, card and host
 *      cryptograms and the 84 response (sim scp03t-open vs smctl scp03-kdf);
 *   2. SCP03t 86 segments (smctl scp03t-wrap -> sim scp03t-unwrap): plaintext, MCV, counter; a
 *      tampered TLV is refused;
 *   3. SCP80 command packets (smctl scp80-wrap -> sim scp80-unwrap) and PoRs (sim scp80-por ->
 *      smctl scp80-unwrap-por) with the ISD-R's security (SPI 1639, AES, TAR 000001); a wrong key
 *      fails on each side;
 *   4. key establishment, GP Amd E scenario #3 (smctl keyest plays both sides -> sim ecka on the
 *      same DGIs): CRT fields, receipt byte for byte, the simulator's keys against smctl's KCVs.
 * Both binaries run through testenv_sh with stdout/stderr captured to files; when they disagree
 * the failure names the field, the first differing byte offset and both byte values. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/gpcert.h"
#include "lib/hex.h"
#include "tests/support/testenv.h"

static char DIR_[256];        /* temporary directory: captured outputs, PKI, certificates */
static char SMCTL[512], SIM[512];
static unsigned NRUN;

/* ---- running the two tools --------------------------------------------------------------------- */

typedef struct res {
    int status;
    char *out, *err;
    char cmd[160];            /* the start of the command line, for messages */
} res;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    size_t cap = 4096, n = 0, r;
    char *b = malloc(cap);
    assert_non_null(b);
    while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    fclose(f);
    b[n] = 0;
    return b;
}

static void res_free(res *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs one command line through testenv_sh, stdout and stderr captured to files in DIR_. */
static void run(res *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run(res *r, const char *fmt, ...)
{
    char cmd[8192], o[320], e[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    unsigned k = ++NRUN;
    snprintf(o, sizeof o, "%s/run-%u.out", DIR_, k);
    snprintf(e, sizeof e, "%s/run-%u.err", DIR_, k);
    /* testenv_sh formats into 4096 bytes: never let a long value be cut off silently */
    if (n < 0 || (size_t)n + strlen(o) + strlen(e) + 16 >= 4096)
        fail_msg("command line of %d bytes too long for testenv_sh: %.80s...", n, cmd);
    r->status = testenv_sh("%s >'%s' 2>'%s'", cmd, o, e);
    r->out = slurp(o);
    r->err = slurp(e);
    /* for messages: the binary's name without its directory, then the arguments */
    size_t b = strcspn(cmd, " ");
    const char *base = cmd;
    for (size_t j = 0; j < b; j++)
        if (cmd[j] == '/')
            base = cmd + j + 1;
    snprintf(r->cmd, sizeof r->cmd, "%.150s", base);
}

static void assert_ran(const res *r)
{
    if (r->status != 0)
        fail_msg("`%.100s` exited %d\nstdout: %s\nstderr: %s", r->cmd, r->status, r->out, r->err);
}

/* Value of a `name: value` (smctl) or `name=value` (sim) line, up to the first blank; NULL when absent. */
static char *field(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, nl) != 0)
            continue;
        const char *v = NULL;
        if (p[nl] == '=')
            v = p + nl + 1;
        else if (p[nl] == ':' && p[nl + 1] == ' ')
            v = p + nl + 2;
        if (!v)
            continue;
        size_t l = strcspn(v, " \t\r\n");
        char *s = malloc(l + 1);
        assert_non_null(s);
        memcpy(s, v, l);
        s[l] = 0;
        return s;
    }
    return NULL;
}

/* A field that must be there. */
static char *need(const res *r, const char *name)
{
    char *v = field(r->out, name);
    if (!v)
        fail_msg("`%.100s` printed no %s\nstdout: %s\nstderr: %s", r->cmd, name, r->out, r->err);
    return v;
}

/* ---- comparing -------------------------------------------------------------------------------- */

/* First differing byte of two hex strings (case-insensitive), or -1 when equal. Lengths in bytes. */
static long hex_diff(const char *a, const char *b, size_t *alen, size_t *blen)
{
    size_t la = strlen(a) / 2, lb = strlen(b) / 2;
    *alen = la;
    *blen = lb;
    for (size_t i = 0; i < la || i < lb; i++) {
        if (i >= la || i >= lb)
            return (long)i;
        if (tolower((unsigned char)a[2 * i]) != tolower((unsigned char)b[2 * i]) ||
            tolower((unsigned char)a[2 * i + 1]) != tolower((unsigned char)b[2 * i + 1]))
            return (long)i;
    }
    return strlen(a) % 2 == strlen(b) % 2 ? -1 : (long)(la < lb ? la : lb);
}

/* The failure text for two hex values of one field; returns 0 when they are equal. */
static int describe_diff(char *msg, size_t cap, const char *step, const char *fld, const char *what_a,
                         const char *a, const char *what_b, const char *b)
{
    size_t la, lb;
    long i = hex_diff(a, b, &la, &lb);
    if (i < 0)
        return 0;
    char va[8] = "(end)", vb[8] = "(end)";
    if ((size_t)i < la)
        snprintf(va, sizeof va, "%.2s", a + 2 * i);
    if ((size_t)i < lb)
        snprintf(vb, sizeof vb, "%.2s", b + 2 * i);
    snprintf(msg, cap, "%s: %s differs at byte %ld: %s %s, %s %s (%s %zu bytes, %s %zu bytes)", step, fld, i, what_a,
             va, what_b, vb, what_a, la, what_b, lb);
    return 1;
}

static void same_as(const char *step, const char *fld, const char *what_a, const char *a, const char *what_b,
                    const char *b)
{
    char msg[512];
    if (describe_diff(msg, sizeof msg, step, fld, what_a, a, what_b, b)) {
        if (strlen(a) <= 160 && strlen(b) <= 160)
            fail_msg("%s\n  %s: %s\n  %s: %s", msg, what_a, a, what_b, b);
        fail_msg("%s", msg);
    }
}

/* sim's value against smctl's. */
static void same(const char *step, const char *fld, const char *sim, const char *smctl)
{
    same_as(step, fld, "sim", sim, "smctl", smctl);
}

static void hexs(const uint8_t *p, size_t n, char *out)
{
    sm_hex_encode(p, n, out);
}

/* Deterministic test bytes. */
static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = 0x9E3779B9u * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 11);
    }
}

static int binaries(void)
{
    return access(SMCTL, X_OK) == 0 && access(SIM, X_OK) == 0;
}

/* The comparison itself: the first differing byte, its offset and both values are named. */
static void test_diff_reporting(void **state)
{
    size_t la, lb;
    assert_int_equal(hex_diff("00112233", "00112233", &la, &lb), -1);
    assert_int_equal(hex_diff("00112233", "00112244", &la, &lb), 3);
    assert_int_equal(hex_diff("AB", "ab", &la, &lb), -1);
    assert_int_equal(hex_diff("0011", "001122", &la, &lb), 2);
    assert_int_equal(la, 2);
    assert_int_equal(lb, 3);
    char msg[512];
    assert_int_equal(describe_diff(msg, sizeof msg, "step", "mcv", "sim", "aabbcc", "smctl", "aabbcc"), 0);
    assert_int_equal(describe_diff(msg, sizeof msg, "step", "mcv", "sim", "aabbcc", "smctl", "aabbcd"), 1);
    assert_string_equal(msg, "step: mcv differs at byte 2: sim cc, smctl cd (sim 3 bytes, smctl 3 bytes)");
    assert_int_equal(describe_diff(msg, sizeof msg, "s", "plain", "sim", "aa", "smctl", "aabb"), 1);
    assert_string_equal(msg, "s: plain differs at byte 1: sim (end), smctl bb (sim 1 bytes, smctl 2 bytes)");
}

/* ---- 1. SCP03 session opening ----------------------------------------------------------------- */

typedef struct scp03_set {
    const char *enc, *mac, *aid;
    unsigned long seq;
    const char *host;
} scp03_set;

static char *smctl_kdf(const char *key, const char *constant, const char *context, unsigned bits)
{
    res r;
    run(&r, "%s tool scp03-kdf --key %s --constant %s --context %s --bits %u", SMCTL, key, constant, context, bits);
    assert_ran(&r);
    size_t l = strcspn(r.out, "\r\n");
    char *v = malloc(l + 1);
    assert_non_null(v);
    memcpy(v, r.out, l);
    v[l] = 0;
    if (l != bits / 4)
        fail_msg("`%.100s` printed %zu hex digits, not %u: %s", r.cmd, l, bits / 4, r.out);
    res_free(&r);
    return v;
}

static void test_scp03_open(void **state)
{
    if (!binaries())
        skip();
    static const scp03_set sets[] = {
        /* the first session after key establishment (seq 000001) with a typical ISD-P AID */
        {"404142434445464748494a4b4c4d4e4f", "505152535455565758595a5b5c5d5e5f", "a0000005591010ffffffff8900001000", 1,
         "0011223344556677"},
        /* sequence counter crossing two bytes, another AID */
        {"8f2a61c07e3d95b4c1e0f7a6d5c4b3a2", "1e2d3c4b5a69788796a5b4c3d2e1f00f", "a0000005591010ffffffff8900001200",
         65536, "f0e1d2c3b4a59687"},
        /* the last sequence counter, a short AID (context length 3 + 9) */
        {"c3b2a1908f7e6d5c4b3a29180706f5e4", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "a00000055910100001", 0xFFFFFF,
         "8000000000000001"},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        const scp03_set *s = &sets[i];
        char step[64];
        snprintf(step, sizeof step, "SCP03 set %zu", i + 1);
        res r;
        run(&r, "%s tool scp03t-open --enc %s --mac %s --aid %s --seq %lu --host-challenge %s", SIM, s->enc, s->mac,
            s->aid, s->seq, s->host);
        assert_ran(&r);
        char *cc = need(&r, "card_challenge"), *ccr = need(&r, "card_cryptogram"), *hcr = need(&r, "host_cryptogram"),
             *senc = need(&r, "s_enc"), *smac = need(&r, "s_mac"), *srmac = need(&r, "s_rmac"),
             *r84 = need(&r, "response_84");
        /* smctl, step by step, each step on its own previous results */
        char ctx[128];
        snprintf(ctx, sizeof ctx, "%06lx%s", s->seq, s->aid);
        char *t_cc = smctl_kdf(s->enc, "02", ctx, 64);
        same(step, "card challenge (KDF 02, seq||AID)", cc, t_cc);
        char hc[40];
        snprintf(hc, sizeof hc, "%s%s", s->host, t_cc);
        char *t_senc = smctl_kdf(s->enc, "04", hc, 128), *t_smac = smctl_kdf(s->mac, "06", hc, 128),
             *t_srmac = smctl_kdf(s->mac, "07", hc, 128);
        same(step, "S-ENC (KDF 04)", senc, t_senc);
        same(step, "S-MAC (KDF 06)", smac, t_smac);
        same(step, "S-RMAC (KDF 07)", srmac, t_srmac);
        char *t_ccr = smctl_kdf(t_smac, "00", hc, 64), *t_hcr = smctl_kdf(t_smac, "01", hc, 64);
        same(step, "card cryptogram (KDF 00)", ccr, t_ccr);
        same(step, "host cryptogram (KDF 01)", hcr, t_hcr);
        /* INITIALIZE UPDATE response: 10 x 00 | KVN 30 | SCP 03 | i=70 | card challenge | cryptogram | seq */
        char exp84[80];
        snprintf(exp84, sizeof exp84, "00000000000000000000" "300370%s%s%06lx", t_cc, t_ccr, s->seq);
        same_as(step, "84 response", "sim", r84, "expected from smctl", exp84);
        free(cc), free(ccr), free(hcr), free(senc), free(smac), free(srmac), free(r84);
        free(t_cc), free(t_senc), free(t_smac), free(t_srmac), free(t_ccr), free(t_hcr);
        res_free(&r);
    }
}

/* ---- 2. SCP03t segments ------------------------------------------------------------------------- */

/* smctl wraps data as an 86 TLV with counter ctr and MCV *t_mcv, the simulator unwraps it with its
 * own MCV *s_mcv and counter ctr-1 (its counter before the segment); both MCVs move on. */
static void segment(const char *step, const char *senc, const char *smac, char *t_mcv, char *s_mcv,
                    unsigned long ctr, size_t len, unsigned seed, char *tlv_out, size_t tlv_cap)
{
    uint8_t data[1024];
    char dhex[2 * sizeof data + 1], cstr[24];
    assert_true(len <= sizeof data);
    fill(data, len, seed);
    hexs(data, len, dhex);
    res w, u;
    run(&w, "%s tool scp03t-wrap --senc %s --smac %s --mcv %s --counter %lu --data %s", SMCTL, senc, smac, t_mcv, ctr,
        dhex);
    assert_ran(&w);
    char *tlv = need(&w, "tlv"), *tmcv = need(&w, "mcv"), *tctr = need(&w, "counter");
    snprintf(cstr, sizeof cstr, "%lu", ctr);
    assert_string_equal(tctr, cstr);
    /* the TLV: 86, its length, whole blocks of ciphertext and an 8-byte MAC */
    size_t pad = (len / 16 + 1) * 16, vlen = pad + 8, hl = vlen < 128 ? 2 : vlen < 256 ? 3 : 4;
    if (strlen(tlv) != 2 * (hl + vlen) || strncmp(tlv, "86", 2) != 0)
        fail_msg("%s: smctl's TLV for %zu bytes is %zu bytes, not 86 with %zu bytes: %.40s", step, len, strlen(tlv) / 2,
                 vlen, tlv);
    run(&u, "%s tool scp03t-unwrap --senc %s --smac %s --mcv %s --ctr %lu --tlv %s", SIM, senc, smac, s_mcv, ctr - 1,
        tlv);
    assert_ran(&u);
    char *plain = need(&u, "plain"), *smcv = need(&u, "mcv"), *sctr = need(&u, "ctr");
    same_as(step, "plaintext", "sim", plain, "input", dhex);
    same(step, "new MCV", smcv, tmcv);
    same_as(step, "counter", "sim", sctr, "smctl", tctr);
    strcpy(t_mcv, tmcv);
    strcpy(s_mcv, smcv);
    if (tlv_out)
        snprintf(tlv_out, tlv_cap, "%s", tlv);
    free(tlv), free(tmcv), free(tctr), free(plain), free(smcv), free(sctr);
    res_free(&w);
    res_free(&u);
}

/* The simulator must refuse a TLV; nothing deciphered may be printed. */
static void refused(const char *what, const char *senc, const char *smac, const char *mcv, unsigned long ctr_before,
                    const char *tlv)
{
    res u;
    run(&u, "%s tool scp03t-unwrap --senc %s --smac %s --mcv %s --ctr %lu --tlv %s", SIM, senc, smac, mcv, ctr_before,
        tlv);
    if (u.status == 0 || strstr(u.out, "plain="))
        fail_msg("the simulator accepted a tampered segment (%s): exit %d\nstdout: %s", what, u.status, u.out);
    res_free(&u);
}

static void test_scp03t_segments(void **state)
{
    if (!binaries())
        skip();
    static const struct {
        const char *senc, *smac, *mcv;
        unsigned long ctr;   /* counter of the first segment */
    } sets[] = {
        {"2c2e2e852bf4bea108aaab92ca8a535b", "b94d29c5ebe8c097f33c4f553bcfb0bf", "00000000000000000000000000000000", 1},
        {"7b0d3f5e91a2c4e6f8091a2b3c4d5e6f", "e1d2c3b4a5968778695a4b3c2d1e0f00", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", 254},
        {"00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100", "8899aabbccddeeff0011223344556677",
         0xFFFFFFFBul},
    };
    static const size_t sizes[] = {1, 15, 16, 17, 1007};
    char tlv17[128] = "";
    char mcv_before17[33] = "";
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char t_mcv[33], s_mcv[33];
        strcpy(t_mcv, sets[i].mcv);
        strcpy(s_mcv, sets[i].mcv);
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            char step[96];
            unsigned long ctr = sets[i].ctr + j;
            snprintf(step, sizeof step, "SCP03t set %zu, segment of %zu bytes, counter %lu", i + 1, sizes[j], ctr);
            int keep = i == 0 && sizes[j] == 17;
            if (keep)
                strcpy(mcv_before17, s_mcv);
            segment(step, sets[i].senc, sets[i].smac, t_mcv, s_mcv, ctr, sizes[j], (unsigned)(10 * i + j),
                    keep ? tlv17 : NULL, sizeof tlv17);
        }
    }
    /* tampering with set 1's 17-byte segment (counter 4): the untampered TLV passes, each change is refused */
    const char *senc = sets[0].senc, *smac = sets[0].smac;
    assert_int_equal(strlen(tlv17), 2 * (2 + 32 + 8));
    res ok;
    run(&ok, "%s tool scp03t-unwrap --senc %s --smac %s --mcv %s --ctr 3 --tlv %s", SIM, senc, smac, mcv_before17,
        tlv17);
    assert_ran(&ok);
    res_free(&ok);
    char t[sizeof tlv17 + 4];
    static const struct {
        size_t hexpos;
        const char *what;
    } flips[] = {{4, "first ciphertext byte"}, {40, "a byte of the last ciphertext block"},
                 {83, "last MAC byte"}, {68, "first MAC byte"}, {1, "tag 86 -> 87"}};
    for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
        strcpy(t, tlv17);
        char *c = &t[flips[k].hexpos];
        *c = *c == '7' ? '6' : *c == '6' ? '7' : *c == '0' ? '1' : '0';
        assert_string_not_equal(t, tlv17);
        refused(flips[k].what, senc, smac, mcv_before17, 3, t);
    }
    /* the right TLV under a wrong chaining value or a wrong S-MAC */
    refused("wrong MCV", senc, smac, "00000000000000000000000000000001", 3, tlv17);
    refused("wrong S-MAC", senc, senc, mcv_before17, 3, tlv17);
    /* one byte shorter (MAC truncated), one byte longer */
    strcpy(t, tlv17);
    t[strlen(t) - 2] = 0;
    assert_int_equal(t[3], '8');
    t[3] = '7'; /* length 28 -> 27 */
    refused("MAC cut short", senc, smac, mcv_before17, 3, t);
    snprintf(t, sizeof t, "%s00", tlv17);
    refused("trailing byte", senc, smac, mcv_before17, 3, t);
}

/* ---- 3. SCP80 ------------------------------------------------------------------------------------ */

typedef struct scp80_set {
    unsigned kvn;
    const char *kic, *kid;
    unsigned long long cntr, last;   /* the command's counter and the card's last accepted one */
    size_t len;
} scp80_set;

static const scp80_set S80[] = {
    {1, "8a1b2c3d4e5f60718293a4b5c6d7e8f9", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", 1, 0, 7},
    {1, "8a1b2c3d4e5f60718293a4b5c6d7e8f9", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", 0x100, 0xFF, 18},
    {3, "3c0f9e8d7c6b5a4938271605f4e3d2c1", "c1d2e3f405162738495a6b7c8d9e0f3c", 0x0102030405ull, 0x0102030400ull, 137},
    {15, "e0e1e2e3e4e5e6e7e8e9eaebecedeeef", "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 0xFFFFFFFFFEull, 0x10, 1},
};

static void test_scp80_command(void **state)
{
    if (!binaries())
        skip();
    for (size_t i = 0; i < sizeof S80 / sizeof S80[0]; i++) {
        const scp80_set *s = &S80[i];
        char step[64], kb[12], cntr[24], dhex[2 * 256 + 1];
        uint8_t data[256];
        snprintf(step, sizeof step, "SCP80 command %zu (KVN %u, %zu bytes)", i + 1, s->kvn, s->len);
        snprintf(kb, sizeof kb, "%02x", (s->kvn << 4) | 2);
        snprintf(cntr, sizeof cntr, "%010llx", s->cntr);
        fill(data, s->len, 100 + (unsigned)i);
        hexs(data, s->len, dhex);
        res w, u;
        run(&w, "%s tool scp80-wrap --spi 1639 --kic %s --kid %s --tar 000001 --cntr %s --kic-key %s --kid-key %s "
                "--data %s", SMCTL, kb, kb, cntr, s->kic, s->kid, dhex);
        assert_ran(&w);
        char pkt[1024];
        snprintf(pkt, sizeof pkt, "%.*s", (int)strcspn(w.out, "\r\n"), w.out);
        run(&u, "%s tool scp80-unwrap --kic %s --kid %s --kvn %u --last-cntr %llu --packet %s", SIM, s->kic, s->kid,
            s->kvn, s->last, pkt);
        assert_ran(&u);
        char *st = need(&u, "status"), *d = need(&u, "data"), *spi = need(&u, "spi"), *kic = need(&u, "kic"),
             *kid = need(&u, "kid"), *tar = need(&u, "tar"), *c = need(&u, "cntr");
        same_as(step, "status", "sim", st, "expected", "00");
        same_as(step, "data", "sim", d, "smctl input", dhex);
        same_as(step, "SPI", "sim", spi, "smctl input", "1639");
        same_as(step, "KIc", "sim", kic, "smctl input", kb);
        same_as(step, "KID", "sim", kid, "smctl input", kb);
        same_as(step, "TAR", "sim", tar, "smctl input", "000001");
        same_as(step, "counter", "sim", c, "smctl input", cntr);
        free(st), free(d), free(spi), free(kic), free(kid), free(tar), free(c);
        res_free(&u);
        /* a wrong KID, a wrong KIc: CC failure (PoR status 01); the same counter again: 02 */
        static const struct {
            int which;
            const char *status;
        } bad[] = {{1, "01"}, {2, "01"}, {3, "02"}};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            const char *kic_key = bad[k].which == 2 ? s->kid : s->kic, *kid_key = bad[k].which == 1 ? s->kic : s->kid;
            unsigned long long last = bad[k].which == 3 ? s->cntr : s->last;
            run(&u, "%s tool scp80-unwrap --kic %s --kid %s --kvn %u --last-cntr %llu --packet %s", SIM, kic_key,
                kid_key, s->kvn, last, pkt);
            char *bst = field(u.out, "status");
            if (u.status == 0 || !bst || strcmp(bst, bad[k].status) != 0 || strstr(u.out, "data="))
                fail_msg("%s: the simulator did not refuse with status %s (case %d): exit %d\n%s", step, bad[k].status,
                         bad[k].which, u.status, u.out);
            free(bst);
            res_free(&u);
        }
        res_free(&w);
    }
}

static void test_scp80_por(void **state)
{
    if (!binaries())
        skip();
    static const struct {
        const char *status;
        size_t len;
    } pors[] = {{"00", 9}, {"00", 0}, {"02", 0}, {"00", 40}};
    for (size_t i = 0; i < sizeof S80 / sizeof S80[0]; i++) {
        const scp80_set *s = &S80[i];
        char kb[12], cntr[24];
        snprintf(kb, sizeof kb, "%02x", (s->kvn << 4) | 2);
        snprintf(cntr, sizeof cntr, "%010llx", s->cntr);
        for (size_t j = 0; j < sizeof pors / sizeof pors[0]; j++) {
            char step[80], dhex[2 * 64 + 1], darg[2 * 64 + 16] = "";
            uint8_t data[64];
            snprintf(step, sizeof step, "SCP80 PoR %zu.%zu (KVN %u, status %s, %zu bytes)", i + 1, j + 1, s->kvn,
                     pors[j].status, pors[j].len);
            fill(data, pors[j].len, 200 + (unsigned)(10 * i + j));
            hexs(data, pors[j].len, dhex);
            if (pors[j].len)
                snprintf(darg, sizeof darg, "--data %s", dhex);
            res p, u;
            run(&p, "%s tool scp80-por --kic %s --kid %s --spi 1639 --tar 000001 --cntr %llu --status %s %s", SIM, s->kic,
                s->kid, s->cntr, pors[j].status, darg);
            assert_ran(&p);
            char *por = need(&p, "por");
            run(&u, "%s tool scp80-unwrap-por --spi 1639 --kic %s --kid %s --tar 000001 --cntr %s --kic-key %s "
                    "--kid-key %s --por %s", SMCTL, kb, kb, cntr, s->kic, s->kid, por);
            assert_ran(&u);
            char *st = need(&u, "status"), *c = need(&u, "cntr"), *cc = need(&u, "cc"), *d = need(&u, "data");
            same_as(step, "status", "smctl", st, "sim input", pors[j].status);
            same_as(step, "counter", "smctl", c, "sim input", cntr);
            same_as(step, "data", "smctl", d, "sim input", dhex);
            if (strcmp(cc, "verified") != 0)
                fail_msg("%s: smctl says cc: %s", step, cc);
            free(st), free(c), free(cc), free(d);
            res_free(&u);
            /* a wrong KID, a wrong KIc: smctl refuses the PoR */
            for (int k = 0; k < 2; k++) {
                run(&u, "%s tool scp80-unwrap-por --spi 1639 --kic %s --kid %s --tar 000001 --cntr %s --kic-key %s "
                        "--kid-key %s --por %s", SMCTL, kb, kb, cntr, k ? s->kid : s->kic, k ? s->kid : s->kic, por);
                if (u.status != 1 || strstr(u.out, "status:"))
                    fail_msg("%s: smctl accepted the PoR under a wrong %s: exit %d\n%s", step, k ? "KIc" : "KID",
                             u.status, u.out);
                res_free(&u);
            }
            free(por);
            res_free(&p);
        }
    }
}

/* ---- 4. key establishment ------------------------------------------------------------------------- */

static testenv_hsm T;
static int T_up;

/* The private scalar of a PEM key file, and optionally its public point. */
static void pem_scalar(const char *path, uint8_t d[32])
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
    assert_int_equal(BN_bn2binpad(bn, d, 32), 32);
    BN_clear_free(bn);
    EVP_PKEY_free(k);
}

static void pem_ski(const char *path, uint8_t ski[20])
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    const ASN1_OCTET_STRING *s = X509_get0_subject_key_id(x);
    assert_non_null(s);
    assert_int_equal(ASN1_STRING_length(s), 20);
    memcpy(ski, ASN1_STRING_get0_data(s), 20);
    X509_free(x);
}

/* An ECASD key pair made with OpenSSL: scalar and uncompressed point. */
static void ecasd_keygen(const char *group, uint8_t d[32], uint8_t pub[65])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
    assert_non_null(k);
    BIGNUM *bn = NULL;
    size_t pl = 0;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
    assert_int_equal(BN_bn2binpad(bn, d, 32), 32);
    assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, 65, &pl), 1);
    assert_int_equal(pl, 65);
    assert_int_equal(pub[0], 0x04);
    BN_clear_free(bn);
    EVP_PKEY_free(k);
}

/* Issues the 7F21 ECASD certificate with the EUM's key (imported into a throw-away SoftHSM2 token)
 * and writes it as hex to path. */
static void issue_ecasd_cert(const uint8_t eum_d[32], const uint8_t eum_ski[20], const uint8_t pub[65],
                             hsm_curve curve, unsigned serial, const char *path)
{
    hsm_ctx *ctx = testenv_hsm_open(&T, 1);
    hsm_sess *s = NULL;
    sm_err err = {0};
    assert_int_equal(hsm_session_get(ctx, &s, &err), SM_OK);
    hsm_keyspec sp = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN};
    hsm_key ca;
    if (hsm_ec_import_private(s, &sp, eum_d, 32, &ca, &err) != SM_OK)
        fail_msg("importing the EUM test key: %s", err.msg);
    uint8_t ser[8] = {0x45, 0x43, 0x41, 0x53, 0x44, 0, 0, (uint8_t)serial};
    uint8_t subj[16];
    fill(subj, sizeof subj, 300 + serial);
    gpcert_tbs t = {.serial = ser, .serial_len = sizeof ser, .ca_id = eum_ski, .ca_id_len = 20,
                    .subject_id = subj, .subject_id_len = sizeof subj, .key_usage = GPCERT_KU_KEY_AGREEMENT,
                    .key_usage_len = 2, .has_effective = true, .effective = {2020, 1, 1}, .expiry = {2099, 12, 31},
                    .has_disc = true, .cert_type = -1, .aki = eum_ski, .aki_len = 20, .pubkey = pub,
                    .pubkey_len = 65, .curve = curve};
    sm_buf cert;
    sm_buf_init(&cert);
    if (gpcert_issue(s, &ca, &t, &cert, &err) != SM_OK)
        fail_msg("gpcert_issue: %s", err.msg);
    gpcert c;
    assert_int_equal(gpcert_parse(cert.data, cert.len, &c, &err), SM_OK);
    char *h = malloc(2 * cert.len + 2);
    assert_non_null(h);
    hexs(cert.data, cert.len, h);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", h);
    fclose(f);
    free(h);
    sm_buf_free(&cert);
    hsm_key_destroy(s, &ca, NULL);
    hsm_session_put(s);
    hsm_close(ctx);
}

/* Value of a one-byte-tag TLV inside the A6 CRT (hex), as hex; NULL when absent. */
static char *crt_get(const char *crt_hex, unsigned tag)
{
    uint8_t b[256];
    size_t n = testenv_unhex(crt_hex, b, sizeof b);
    if (n < 2 || b[0] != 0xA6 || (size_t)b[1] + 2 != n)
        fail_msg("smctl's CRT is not one short A6 TLV: %s", crt_hex);
    for (size_t o = 2; o + 2 <= n;) {
        size_t l = b[o + 1];
        if (o + 2 + l > n)
            fail_msg("smctl's CRT: TLV at offset %zu runs past the end: %s", o, crt_hex);
        if (b[o] == tag) {
            char *v = malloc(2 * l + 1);
            assert_non_null(v);
            hexs(b + o + 2, l, v);
            return v;
        }
        o += 2 + l;
    }
    return NULL;
}

static void kcv(const char *key_hex, char out[7])
{
    uint8_t k[16], one[16], e[32];
    assert_int_equal(testenv_unhex(key_hex, k, sizeof k), 16);
    memset(one, 1, 16);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_true(x && EVP_EncryptInit_ex(x, EVP_aes_128_ecb(), NULL, k, NULL) == 1 &&
                EVP_CIPHER_CTX_set_padding(x, 0) == 1 && EVP_EncryptUpdate(x, e, &l, one, 16) == 1 && l == 16);
    EVP_CIPHER_CTX_free(x);
    hexs(e, 3, out);
}

static char *read_hex_file(const char *path)
{
    char *t = slurp(path);
    char *w = t;
    for (char *p = t; *p; p++)
        if (!isspace((unsigned char)*p))
            *w++ = *p;
    *w = 0;
    if (!*t)
        fail_msg("%s is empty or missing", path);
    return t;
}

typedef struct keyest_case {
    const char *what;
    const char *group;      /* ECASD curve (OpenSSL name) */
    hsm_curve curve;
    const char *sim_curve;  /* sim's --curve */
    const char *entity;     /* smdp or smsr: whose GP certificate signs */
    const char *sim_type;   /* sim's --type: 01 SM-DP, 02 SM-SR */
    const char *kind;       /* smctl --kind */
    const char *kvn;
    const char *dr;         /* NULL: no derivation random */
    const char *rc;
    const char *keys[3];    /* smctl's KCV names */
} keyest_case;

static void test_keyest(void **state)
{
    if (!binaries())
        skip();
    char pki[300], path[400], ci[400];
    res r;
    snprintf(pki, sizeof pki, "%s/pki", DIR_);
    run(&r, "%s pki --out %s", SIM, pki);
    assert_ran(&r);
    res_free(&r);
    snprintf(ci, sizeof ci, "%s/ci.crt", pki);
    uint8_t eum_d[32], eum_ski[20];
    snprintf(path, sizeof path, "%s/eum1.key", pki);
    pem_scalar(path, eum_d);
    snprintf(path, sizeof path, "%s/eum1.crt", pki);
    pem_ski(path, eum_ski);
    if (!T_up) {
        assert_int_equal(testenv_hsm_setup(&T), 0);
        T_up = 1;
    }
    static const keyest_case cases[] = {
        {"ES8 ISD-P key set, P-256", "P-256", HSM_CURVE_P256, "00", "smdp", "01", "isdp", "30", NULL,
         "00112233445566778899aabbccddeeff", {"kcv-enc", "kcv-mac", "kcv-dek"}},
        {"ES8 ISD-P key set with a derivation random, KVN 31", "P-256", HSM_CURVE_P256, "00", "smdp", "01", "isdp",
         "31", "a1a2a3a4a5a6a7a8a9aaabacadaeafb0", "f0e0d0c0b0a090807060504030201000",
         {"kcv-enc", "kcv-mac", "kcv-dek"}},
        {"ES5 ISD-R SCP80 key set, brainpoolP256r1 ECASD", "brainpoolP256r1", HSM_CURVE_BP256R1, "03", "smsr", "02",
         "scp80", "02", NULL, "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", {"kcv-kic", "kcv-kid", "kcv-dek"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const keyest_case *c = &cases[i];
        char step[120];
        snprintf(step, sizeof step, "key establishment %zu (%s)", i + 1, c->what);
        uint8_t ed[32], epub[65], sd[32];
        char ek[65], sdk[65], ecert[400], sdcert[400], kvn_opt[32] = "", dr_opt[64] = "";
        ecasd_keygen(c->group, ed, epub);
        hexs(ed, 32, ek);
        snprintf(ecert, sizeof ecert, "%s/ecasd-%zu.hex", DIR_, i + 1);
        issue_ecasd_cert(eum_d, eum_ski, epub, c->curve, (unsigned)i + 1, ecert);
        snprintf(sdcert, sizeof sdcert, "%s/%s-gp.cert.hex", pki, c->entity);
        snprintf(path, sizeof path, "%s/%s-gp.key", pki, c->entity);
        pem_scalar(path, sd);
        hexs(sd, 32, sdk);
        snprintf(kvn_opt, sizeof kvn_opt, "--kvn %s", c->kvn);
        if (c->dr)
            snprintf(dr_opt, sizeof dr_opt, "--dr %s", c->dr);
        run(&r, "%s tool keyest --ecasd-cert %s --sd-cert %s --sd-key %s --ecasd-key %s --kind %s %s --rc %s %s",
            SMCTL, ecert, sdcert, sdk, ek, c->kind, kvn_opt, c->rc, dr_opt);
        assert_ran(&r);
        char *d3a02 = need(&r, "dgi-3a02"), *t_rc = need(&r, "rc"), *crt = need(&r, "crt"),
             *t_receipt = need(&r, "receipt"), *chk = need(&r, "receipt-check");
        assert_string_equal(chk, "verified");
        char *t_kcv[3];
        for (int k = 0; k < 3; k++)
            t_kcv[k] = need(&r, c->keys[k]);
        char *sdhex = read_hex_file(sdcert);
        res s;
        run(&s, "%s tool ecka --ci-cert %s --ecasd-key %s --curve %s --type %s --cert %s --data %s --rc %s %s", SIM,
            ci, ek, c->sim_curve, c->sim_type, sdhex, d3a02, c->rc, dr_opt);
        assert_ran(&s);
        char *s_rc = need(&s, "rc"), *s_r3a01 = need(&s, "response_3a01"), *s_receipt = need(&s, "receipt"),
             *s_r3a02 = need(&s, "response_3a02"), *s_scen = need(&s, "scenario"), *s_qual = need(&s, "qualifier"),
             *s_kvn = need(&s, "kvn"), *s_kid = need(&s, "key_id");
        same(step, "RC", s_rc, t_rc);
        char exp[128];
        snprintf(exp, sizeof exp, "8510%s", t_rc);
        same_as(step, "3A01 response", "sim", s_r3a01, "expected from smctl", exp);
        /* what the card read from the CRT smctl sent */
        char *t_90 = crt_get(crt, 0x90), *t_95 = crt_get(crt, 0x95), *t_83 = crt_get(crt, 0x83),
             *t_82 = crt_get(crt, 0x82);
        assert_non_null(t_90);
        assert_non_null(t_95);
        assert_non_null(t_83);
        assert_non_null(t_82);
        same(step, "CRT 90 scenario parameter", s_scen, t_90 + 2);
        same(step, "CRT 95 key usage qualifier", s_qual, t_95);
        same(step, "CRT 83 KVN", s_kvn, t_83);
        same_as(step, "KVN", "smctl CRT", t_83, "requested", c->kvn);
        same(step, "CRT 82 key id", s_kid, t_82);
        if (c->dr) {
            char *s_dr = need(&s, "dr");
            same_as(step, "DR", "sim", s_dr, "given", c->dr);
            free(s_dr);
        }
        same(step, "receipt", s_receipt, t_receipt);
        snprintf(exp, sizeof exp, "%s%s8610%s", c->dr ? "8510" : "", c->dr ? c->dr : "", t_receipt);
        same_as(step, "3A02 response", "sim", s_r3a02, "expected from smctl", exp);
        for (int k = 0; k < 3; k++) {
            char name[16], kc[7], fld[64];
            snprintf(name, sizeof name, "key%d", k + 1);
            char *key = need(&s, name);
            kcv(key, kc);
            snprintf(fld, sizeof fld, "KCV of %s (%s)", name, c->keys[k]);
            same(step, fld, kc, t_kcv[k]);
            free(key);
        }
        res_free(&s);
        /* the card checks smctl's signature: another RC, or one changed byte of the ephemeral key, is refused */
        run(&s, "%s tool ecka --ci-cert %s --ecasd-key %s --curve %s --type %s --cert %s --data %s --rc %s %s", SIM,
            ci, ek, c->sim_curve, c->sim_type, sdhex, d3a02, "ffeeddccbbaa99887766554433221100", dr_opt);
        if (s.status == 0 || strstr(s.out, "receipt="))
            fail_msg("%s: the simulator accepted the 3A02 data with another RC\n%s", step, s.out);
        res_free(&s);
        char *bad = strdup(d3a02), *b0 = strstr(bad, "7f4946b04104"); /* 7F49 { B0 41 04 X Y, F0 01 curve } */
        assert_non_null(b0);
        b0[20] = b0[20] == '0' ? '1' : '0';                            /* in X */
        run(&s, "%s tool ecka --ci-cert %s --ecasd-key %s --curve %s --type %s --cert %s --data %s --rc %s %s", SIM,
            ci, ek, c->sim_curve, c->sim_type, sdhex, bad, c->rc, dr_opt);
        if (s.status == 0 || strstr(s.out, "receipt="))
            fail_msg("%s: the simulator accepted 3A02 data with a changed ephemeral key\n%s", step, s.out);
        res_free(&s);
        free(bad);
        free(s_rc), free(s_r3a01), free(s_receipt), free(s_r3a02), free(s_scen), free(s_qual), free(s_kvn),
            free(s_kid);
        free(t_90), free(t_95), free(t_83), free(t_82);
        for (int k = 0; k < 3; k++)
            free(t_kcv[k]);
        free(sdhex), free(d3a02), free(t_rc), free(crt), free(t_receipt), free(chk);
        res_free(&r);
    }
}

/* ---- setup ------------------------------------------------------------------------------------ */

static int setup(void **state)
{
    const char *bin = getenv("SMBOX_BIN_DIR");
    if (bin && *bin) {
        snprintf(SMCTL, sizeof SMCTL, "%s/smctl", bin);
        snprintf(SIM, sizeof SIM, "%s/../sim/sim", bin);
    }
    return testenv_mkdtemp(DIR_, sizeof DIR_, "smbox-xcheck");
}

static int teardown(void **state)
{
    if (T_up)
        testenv_hsm_teardown(&T);
    testenv_rmtree(DIR_);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_reporting), cmocka_unit_test(test_scp03_open),
        cmocka_unit_test(test_scp03t_segments), cmocka_unit_test(test_scp80_command),
        cmocka_unit_test(test_scp80_por),      cmocka_unit_test(test_keyest),
    };
    return cmocka_run_group_tests_name("sim_vs_tool", tests, setup, teardown);
}
