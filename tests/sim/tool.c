/* tool: protocol steps on the command line (card side). */
#include "tests/sim/tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/ec.h"
#include "tests/sim/ecka.h"
#include "tests/sim/pki.h"
#include "tests/sim/prim.h"
#include "tests/sim/profile.h"
#include "tests/sim/scp03.h"
#include "tests/sim/scp80.h"

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int hexarg(int argc, char **argv, const char *name, sim_buf *out, int required)
{
    const char *v = opt(argc, argv, name);
    if (!v) {
        if (required)
            fprintf(stderr, "sim tool: %s is required\n", name);
        return required ? -1 : 1;
    }
    sim_err e = {0};
    if (sim_unhex_buf(v, strlen(v), out, &e)) {
        fprintf(stderr, "sim tool: %s: %s\n", name, e.msg);
        return -1;
    }
    return 0;
}

static int fixed(int argc, char **argv, const char *name, uint8_t *out, size_t n)
{
    sim_buf b;
    sim_buf_init(&b);
    int r = hexarg(argc, argv, name, &b, 1);
    if (r == 0 && b.len != n) {
        fprintf(stderr, "sim tool: %s must be %zu bytes\n", name, n);
        r = -1;
    }
    if (r == 0)
        memcpy(out, b.p, n);
    sim_buf_free_secure(&b);
    return r;
}

static void pr(const char *k, const uint8_t *p, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (!h)
        return;
    sim_hex(h, p, n);
    printf("%s=%s\n", k, h);
    free(h);
}

/* ecka: --ci-cert PEM --ecasd-key HEX32 [--curve 00] --cert HEX(7F21) --data HEX(3A02..5F37) [--rc HEX16] [--dr HEX16]
 *       [--sin HEX] [--sdin HEX] [--type 01] */
static int t_ecka(int argc, char **argv)
{
    const char *ci = opt(argc, argv, "--ci-cert");
    uint8_t d[32], curve = 0;
    sim_buf cert, data, resp;
    sim_buf_init(&cert); sim_buf_init(&data); sim_buf_init(&resp);
    sim_ecka_state st;
    memset(&st, 0, sizeof st);
    if (!ci || fixed(argc, argv, "--ecasd-key", d, 32) || hexarg(argc, argv, "--cert", &cert, 1) ||
        hexarg(argc, argv, "--data", &data, 1)) {
        fprintf(stderr, "usage: sim tool ecka --ci-cert PEM --ecasd-key HEX --cert HEX --data HEX [--rc HEX] [--dr HEX]\n");
        return 2;
    }
    if (opt(argc, argv, "--rc") && !fixed(argc, argv, "--rc", st.fixed_rc, 16))
        st.use_fixed_rc = 1;
    if (opt(argc, argv, "--dr") && !fixed(argc, argv, "--dr", st.fixed_dr, 16))
        st.use_fixed_dr = 1;
    if (opt(argc, argv, "--curve"))
        curve = (uint8_t)strtoul(opt(argc, argv, "--curve"), NULL, 16);
    uint8_t type = opt(argc, argv, "--type") ? (uint8_t)strtoul(opt(argc, argv, "--type"), NULL, 16) : 1;
    sim_buf sin, sdin;
    sim_buf_init(&sin); sim_buf_init(&sdin);
    hexarg(argc, argv, "--sin", &sin, 0);
    hexarg(argc, argv, "--sdin", &sdin, 0);
    EVP_PKEY *cik = NULL, *sk = NULL;
    sim_err e = {0};
    int rcode = 1;
    sim_ecka_result r;
    if (sim_pem_cert_pub(ci, &cik, NULL, &e) || sim_ec_priv_from_bytes(curve, d, &sk, &e))
        goto out;
    if (sim_ecka_certificate(&st, cik, type, cert.p, cert.len, &resp, &e))
        goto out;
    pr("rc", st.rc, 16);
    pr("response_3a01", resp.p, resp.len);
    sim_buf_reset(&resp);
    if (sim_ecka_establish(&st, sk, type == 1 ? 0x10 : 0x10, data.p, data.len, sin.p, sin.len, sdin.p, sdin.len, &r,
                           &resp, &e))
        goto out;
    pr("shs", r.shs, 32);
    printf("scenario=%02x\nqualifier=%02x\nkvn=%02x\nkey_id=%02x\n", r.scenario_param, r.qualifier, r.kvn, r.key_id);
    if (r.drlen)
        pr("dr", r.dr, r.drlen);
    pr("receipt_key", r.receipt_key, 16);
    for (int i = 0; i < r.nkeys; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i + 1);
        pr(k, r.keys[i], 16);
    }
    pr("receipt", r.receipt, 16);
    pr("response_3a02", resp.p, resp.len);
    rcode = 0;
out:
    if (rcode)
        fprintf(stderr, "sim tool ecka: %s\n", e.msg);
    sim_ecka_reset(&st);
    EVP_PKEY_free(cik);
    EVP_PKEY_free(sk);
    sim_buf_free(&cert); sim_buf_free(&data); sim_buf_free(&resp); sim_buf_free(&sin); sim_buf_free(&sdin);
    return rcode;
}

/* scp03t-open: --enc --mac HEX16 --aid HEX --seq N --host-challenge HEX8 : card side of 84 */
static int t_open(int argc, char **argv)
{
    sim_scp03_keys k;
    memset(&k, 0, sizeof k);
    k.klen = 16;
    k.kvn = 0x30;
    sim_buf aid;
    sim_buf_init(&aid);
    uint8_t hc[8];
    const char *seq = opt(argc, argv, "--seq");
    if (fixed(argc, argv, "--enc", k.enc, 16) || fixed(argc, argv, "--mac", k.mac, 16) ||
        hexarg(argc, argv, "--aid", &aid, 1) || fixed(argc, argv, "--host-challenge", hc, 8) || !seq) {
        fprintf(stderr, "usage: sim tool scp03t-open --enc HEX --mac HEX --aid HEX --seq N --host-challenge HEX\n");
        return 2;
    }
    k.seq = (uint32_t)strtoul(seq, NULL, 0) - 1;
    sim_scp03_sess s;
    uint8_t r32[32], ctx[16], hcr[8];
    sim_err e = {0};
    if (sim_scp03_init_update(&k, aid.p, aid.len, hc, NULL, &s, r32, &e)) {
        fprintf(stderr, "sim tool: %s\n", e.msg);
        return 1;
    }
    memcpy(ctx, hc, 8);
    memcpy(ctx + 8, s.card_ch, 8);
    sim_scp03_kdf(s.ch.smac, 16, 0x01, ctx, 16, 64, hcr, NULL);
    pr("card_challenge", s.card_ch, 8);
    pr("card_cryptogram", r32 + 21, 8);
    pr("host_cryptogram", hcr, 8);
    pr("s_enc", s.ch.senc, 16);
    pr("s_mac", s.ch.smac, 16);
    pr("s_rmac", s.ch.srmac, 16);
    pr("response_84", r32, 32);
    sim_buf_free(&aid);
    return 0;
}

/* scp03t-unwrap: --senc --smac --mcv HEX16 --ctr N(before) --tlv HEX */
static int t_unwrap(int argc, char **argv)
{
    sim_scp03_chain c;
    memset(&c, 0, sizeof c);
    c.klen = 16;
    sim_buf tlv, plain;
    sim_buf_init(&tlv); sim_buf_init(&plain);
    const char *ctr = opt(argc, argv, "--ctr");
    if (fixed(argc, argv, "--senc", c.senc, 16) || fixed(argc, argv, "--smac", c.smac, 16) ||
        fixed(argc, argv, "--mcv", c.mcv, 16) || hexarg(argc, argv, "--tlv", &tlv, 1)) {
        fprintf(stderr, "usage: sim tool scp03t-unwrap --senc HEX --smac HEX --mcv HEX [--ctr N] --tlv HEX\n");
        return 2;
    }
    c.ctr = ctr ? (uint32_t)strtoul(ctr, NULL, 0) : 0;
    sim_err e = {0};
    int r = 0;
    if (sim_scp03t_unwrap(&c, tlv.p, tlv.len, 1, &plain, &e)) {
        fprintf(stderr, "sim tool: %s\n", e.msg);
        r = 1;
    } else {
        pr("plain", plain.p, plain.len);
        pr("mcv", c.mcv, 16);
        printf("ctr=%u\n", c.ctr);
    }
    sim_buf_free(&tlv); sim_buf_free_secure(&plain);
    return r;
}

/* scp80-unwrap: --kic --kid HEX16 --kvn N [--last-cntr N] --packet HEX(CPL..) */
static int t_s80u(int argc, char **argv)
{
    sim_scp80_keyset k;
    memset(&k, 0, sizeof k);
    sim_buf pkt, plain;
    sim_buf_init(&pkt); sim_buf_init(&plain);
    const char *kvn = opt(argc, argv, "--kvn"), *lc = opt(argc, argv, "--last-cntr");
    if (fixed(argc, argv, "--kic", k.kic, 16) || fixed(argc, argv, "--kid", k.kid, 16) || !kvn ||
        hexarg(argc, argv, "--packet", &pkt, 1)) {
        fprintf(stderr, "usage: sim tool scp80-unwrap --kic HEX --kid HEX --kvn N [--last-cntr N] --packet HEX\n");
        return 2;
    }
    k.kvn = (uint8_t)strtoul(kvn, NULL, 0);
    k.cntr = lc ? strtoull(lc, NULL, 0) : 0;
    sim_scp80_cmd c;
    uint8_t st;
    int sec;
    sim_err e = {0};
    sim_rc rc = sim_scp80_unwrap(pkt.p, pkt.len, &k, 1, &c, &plain, &st, &sec, &e);
    printf("spi=%02x%02x\nkic=%02x\nkid=%02x\ntar=%02x%02x%02x\ncntr=%010llx\npcntr=%02x\nstatus=%02x\npor_secured=%d\n",
           c.spi[0], c.spi[1], c.kic, c.kid, c.tar[0], c.tar[1], c.tar[2], (unsigned long long)c.cntr, c.pcntr, st, sec);
    if (rc == SIM_OK)
        pr("data", plain.p + c.data_off, c.data_len);
    else
        printf("error=%s\n", e.msg);
    sim_buf_free(&pkt); sim_buf_free_secure(&plain);
    return rc ? 1 : 0;
}

/* scp80-por: --kic --kid HEX16 --spi HEX4 --tar HEX6 --cntr N --status HEX2 [--data HEX] */
static int t_s80p(int argc, char **argv)
{
    sim_scp80_keyset k;
    memset(&k, 0, sizeof k);
    uint8_t spi[2], tar[3], status;
    sim_buf data, out;
    sim_buf_init(&data); sim_buf_init(&out);
    const char *cntr = opt(argc, argv, "--cntr");
    if (fixed(argc, argv, "--kic", k.kic, 16) || fixed(argc, argv, "--kid", k.kid, 16) ||
        fixed(argc, argv, "--spi", spi, 2) || fixed(argc, argv, "--tar", tar, 3) ||
        fixed(argc, argv, "--status", &status, 1) || !cntr || hexarg(argc, argv, "--data", &data, 0) < 0) {
        fprintf(stderr, "usage: sim tool scp80-por --kic HEX --kid HEX --spi HEX --tar HEX --cntr N --status HEX [--data HEX]\n");
        return 2;
    }
    sim_err e = {0};
    if (sim_scp80_por_build(&k, spi, tar, strtoull(cntr, NULL, 0), status, data.p, data.len, 1, &out, &e)) {
        fprintf(stderr, "sim tool: %s\n", e.msg);
        return 1;
    }
    pr("por", out.p, out.len);
    sim_buf_free(&data); sim_buf_free(&out);
    return 0;
}

/* package: --file DER : what the card keeps */
static int t_pkg(int argc, char **argv)
{
    const char *f = opt(argc, argv, "--file");
    if (!f) {
        fprintf(stderr, "usage: sim tool package --file DER\n");
        return 2;
    }
    sim_buf b;
    sim_buf_init(&b);
    sim_pkg_info in;
    sim_err e = {0};
    if (sim_read_file(f, &b, &e) || sim_pkg_parse_all(b.p, b.len, &in, &e)) {
        fprintf(stderr, "sim tool: %s\n", e.msg);
        sim_buf_free(&b);
        return 1;
    }
    printf("iccid=%s\nimsi=%s\nversion=%u.%u\nprofile_type=%s\npes=%u\nfiles=%u\ncontent_bytes=%u\nalgorithm=%u\n"
           "pol1=%02x\nbytes=%zu\n", in.iccid, in.imsi, in.major, in.minor, in.profile_type, in.n_pes, in.n_files,
           in.content_bytes, in.algo, in.pol1, b.len);
    sim_buf_free(&b);
    return 0;
}

int sim_tool_main(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: sim tool ecka|scp03t-open|scp03t-unwrap|scp80-unwrap|scp80-por|package ...\n");
        return 2;
    }
    const char *c = argv[0];
    if (!strcmp(c, "ecka")) return t_ecka(argc, argv);
    if (!strcmp(c, "scp03t-open")) return t_open(argc, argv);
    if (!strcmp(c, "scp03t-unwrap")) return t_unwrap(argc, argv);
    if (!strcmp(c, "scp80-unwrap")) return t_s80u(argc, argv);
    if (!strcmp(c, "scp80-por")) return t_s80p(argc, argv);
    if (!strcmp(c, "package")) return t_pkg(argc, argv);
    fprintf(stderr, "sim tool: unknown step %s\n", c);
    return 2;
}
