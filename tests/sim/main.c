/* main: the `sim` command line: pki, fleet, run, show, tool, bench. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/sim/batch.h"
#include "tests/sim/bench.h"
#include "tests/sim/pki.h"
#include "tests/sim/state.h"
#include "tests/sim/tool.h"
#include "tests/sim/world.h"

static void usage(void)
{
    fputs("usage:\n"
          "  sim pki --out DIR [--smdp-pub HEX] [--smsr-pub HEX] [--tls-pub HEX]\n"
          "  sim fleet --count N --out DIR [--pki DIR] [--first-serial N] [--memory BYTES] [--sr-sms ADDR]\n"
          "            [--msisdn-prefix DIGITS] [--no-es1] [--sms-only N]\n"
          "  sim run --state DIR [--smpp-listen ADDR:PORT] [--sm-sr-url https://HOST:PORT/PATH] [--ctl PATH]\n"
          "          [--notif-retry-ms MS] [--refresh-ms MS] [--attach-spread-ms MS] [--no-first-attach] [-v]\n"
          "  sim show [--state DIR] EID\n"
          "  sim ctl --ctl PATH COMMAND [ARGS...]   (one control command to a running `sim run`)\n"
          "  sim tool ecka|scp03t-open|scp03t-unwrap|scp80-unwrap|scp80-por|package ...\n"
          "  sim bench [--seconds S] [--profile DER]\n",
          stderr);
}

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

static int fail(const sim_err *e)
{
    fprintf(stderr, "sim: %s\n", e->msg);
    return 1;
}

static int cmd_pki(int argc, char **argv)
{
    const char *out = opt(argc, argv, "--out");
    if (!out) {
        usage();
        return 2;
    }
    sim_err e = {0};
    /* public keys held elsewhere (the appliance's HSM, printed by `smctl hsm init`): 04||X||Y in hex */
    static const char *const names[3] = {"--smdp-pub", "--smsr-pub", "--tls-pub"};
    uint8_t pts[3][65];
    const uint8_t *given[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        const char *h = opt(argc, argv, names[i]);
        size_t l = 0;
        if (!h)
            continue;
        if (sim_unhex(h, pts[i], sizeof pts[i], &l, &e) || l != 65 || pts[i][0] != 0x04) {
            fprintf(stderr, "sim: %s wants an uncompressed P-256 point (65 bytes, 04||X||Y, hex)\n", names[i]);
            return 2;
        }
        given[i] = pts[i];
    }
    sim_pki_given g = {given[0], given[1], given[2]};
    if (sim_pki_generate2(out, &g, &e))
        return fail(&e);
    printf("pki written to %s (manifest: %s/manifest)\n", out, out);
    return 0;
}

static int cmd_fleet(int argc, char **argv)
{
    const char *out = opt(argc, argv, "--out"), *cnt = opt(argc, argv, "--count"), *pkidir = opt(argc, argv, "--pki");
    if (!out || !cnt) {
        usage();
        return 2;
    }
    sim_fleet_opts o = {0};
    o.count = strtoul(cnt, NULL, 10);
    o.first_serial = opt(argc, argv, "--first-serial") ? strtoull(opt(argc, argv, "--first-serial"), NULL, 10) : 1;
    o.mem_total = opt(argc, argv, "--memory") ? (uint32_t)strtoul(opt(argc, argv, "--memory"), NULL, 10) : 0;
    o.sr_sms = opt(argc, argv, "--sr-sms");
    o.msisdn_prefix = opt(argc, argv, "--msisdn-prefix");
    sim_err e = {0};
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "sim: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    char pd[1024], sd[1024];
    if (!pkidir) {
        snprintf(pd, sizeof pd, "%s/pki", out);
        char man[1100];
        snprintf(man, sizeof man, "%s/manifest", pd);
        if (access(man, R_OK) != 0 && sim_pki_generate(pd, &e))
            return fail(&e);
        pkidir = pd;
    }
    sim_pki pki;
    if (sim_pki_load(pkidir, &pki, &e))
        return fail(&e);
    sim_fleet f;
    sim_fleet_init(&f);
    snprintf(sd, sizeof sd, "%s/state", out);
    int rc = 0;
    f.sms_only = opt(argc, argv, "--sms-only") ? strtoul(opt(argc, argv, "--sms-only"), NULL, 10) : 0;
    if (f.sms_only > o.count)
        f.sms_only = o.count;
    if (sim_fleet_create(&f, &pki, &o, &e) || sim_batch_write(&f, &pki, out, !flag(argc, argv, "--no-es1"), &e) ||
        sim_state_save(&f, sd, &e))
        rc = fail(&e);
    else
        printf("%zu eUICCs: batch %s/euicc-batch.txt, state %s, pki %s\n", f.n, out, sd, pkidir);
    sim_fleet_free(&f);
    sim_pki_free(&pki);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    const char *state = opt(argc, argv, "--state");
    if (!state) {
        usage();
        return 2;
    }
    sim_world w;
    sim_world_init(&w);
    w.verbose = flag(argc, argv, "-v");
    if (opt(argc, argv, "--notif-retry-ms"))
        w.notif_retry_ms = (uint32_t)strtoul(opt(argc, argv, "--notif-retry-ms"), NULL, 10);
    if (opt(argc, argv, "--refresh-ms"))
        w.refresh_ms = (uint32_t)strtoul(opt(argc, argv, "--refresh-ms"), NULL, 10);
    if (opt(argc, argv, "--attach-spread-ms"))
        w.attach_spread_ms = (uint32_t)strtoul(opt(argc, argv, "--attach-spread-ms"), NULL, 10);
    w.first_attach = !flag(argc, argv, "--no-first-attach");
    sim_err e = {0};
    if (sim_world_open(&w, state, opt(argc, argv, "--smpp-listen"), opt(argc, argv, "--sm-sr-url"),
                       opt(argc, argv, "--ctl"), &e)) {
        sim_world_close(&w);
        return fail(&e);
    }
    fprintf(stderr, "sim: running %zu devices, smpp %s, sm-sr %s:%u\n", w.fleet.n,
            opt(argc, argv, "--smpp-listen") ? opt(argc, argv, "--smpp-listen") : "off", w.sr_host[0] ? w.sr_host : "-",
            w.sr_port);
    event_base_dispatch(w.base);
    sim_world_close(&w);
    return 0;
}

/* one command on the control socket of a running simulator; prints the answer; status 1 on ERR */
static int cmd_ctl(int argc, char **argv)
{
    const char *path = opt(argc, argv, "--ctl");
    char line[1024] = "";
    size_t l = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--ctl")) {
            i++;
            continue;
        }
        int k = snprintf(line + l, sizeof line - l, "%s%s", l ? " " : "", argv[i]);
        if (k < 0 || (size_t)k >= sizeof line - l) {
            fprintf(stderr, "sim: command too long\n");
            return 2;
        }
        l += (size_t)k;
    }
    if (!path || !l) {
        usage();
        return 2;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "sim: bad control socket path %s\n", path);
        if (fd >= 0)
            close(fd);
        return 1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "sim: cannot reach %s: %s\n", path, strerror(errno));
        close(fd);
        return 1;
    }
    line[l++] = '\n';
    if (write(fd, line, l) != (ssize_t)l) {
        close(fd);
        return 1;
    }
    /* print until the final line (OK... / ERR...) */
    char buf[4096], cur[2048];
    size_t cl = 0;
    int rc = -1;
    ssize_t r;
    while (rc < 0 && (r = read(fd, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)r, stdout);
        for (ssize_t i = 0; i < r && rc < 0; i++) {
            if (buf[i] != '\n') {
                if (cl < sizeof cur - 1)
                    cur[cl++] = buf[i];
                continue;
            }
            cur[cl] = 0;
            if (!strncmp(cur, "OK", 2))
                rc = 0;
            else if (!strncmp(cur, "ERR", 3))
                rc = 1;
            cl = 0;
        }
    }
    close(fd);
    return rc < 0 ? 1 : rc;
}

static int cmd_show(int argc, char **argv)
{
    const char *state = opt(argc, argv, "--state");
    if (!state)
        state = getenv("SIM_STATE") ? getenv("SIM_STATE") : "state";
    const char *eid = argc > 0 ? argv[argc - 1] : NULL;
    if (!eid || eid[0] == '-') {
        usage();
        return 2;
    }
    sim_fleet f;
    sim_fleet_init(&f);
    sim_err e = {0};
    if (sim_state_load(&f, state, &e))
        return fail(&e);
    sim_euicc *c = sim_fleet_by_eid(&f, eid);
    int rc = 0;
    if (!c) {
        fprintf(stderr, "sim: no eUICC %s in %s\n", eid, state);
        rc = 1;
    } else {
        sim_buf b;
        sim_buf_init(&b);
        sim_state_show(c, &b, NULL);
        fwrite(b.p, 1, b.len, stdout);
        sim_buf_free(&b);
    }
    sim_fleet_free(&f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *c = argv[1];
    int n = argc - 2;
    char **a = argv + 2;
    if (!strcmp(c, "pki")) return cmd_pki(n, a);
    if (!strcmp(c, "fleet")) return cmd_fleet(n, a);
    if (!strcmp(c, "run")) return cmd_run(n, a);
    if (!strcmp(c, "show")) return cmd_show(n, a);
    if (!strcmp(c, "ctl")) return cmd_ctl(n, a);
    if (!strcmp(c, "tool")) return sim_tool_main(n, a);
    if (!strcmp(c, "bench")) {
        const char *s = opt(n, a, "--seconds"), *p = opt(n, a, "--profile");
        sim_err e = {0};
        if (sim_bench_run(s ? atof(s) : 2.0, p ? p : "tests/profiles/TS48v7_SAIP2.3_NoBERTLV.der", &e))
            return fail(&e);
        return 0;
    }
    usage();
    return 2;
}
