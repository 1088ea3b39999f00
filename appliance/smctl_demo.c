/* smctl demo download: one ES2.DownloadProfile as the development MNO would send it — over the real ES
 * interface with the MNO's TLS certificate (its endpoint listening for the asynchronous answer), or
 * in-process when that certificate is not configured — then the procedure's steps as they happen, the
 * final answer, and the card's state (the EIS, and the simulator's own view through its control socket). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "appliance/smctl.h"
#include "appliance/smctl_demo_net.h"
#include "appliance/smdp/download.h"
#include "appliance/smdp/dl_repo.h"
#include "appliance/smdp/smdp.h"
#include "db/eis_repo.h"
#include "lib/hex.h"

DB_STMT(q_pick_eid, 2,
        "SELECT e.eid FROM euicc e WHERE e.smsr_id = $1 AND e.state = 'active' AND NOT EXISTS (SELECT 1 FROM profile p "
        "WHERE p.eid = e.eid AND p.smdp_id = $2) ORDER BY (e.caps & 2) DESC, e.eid LIMIT 1");
DB_STMT(q_pick_type, 1,
        "SELECT profile_type, count(*) FROM profile_stock WHERE state = 'available' AND mno_id = $1 "
        "GROUP BY profile_type ORDER BY count(*) DESC, profile_type LIMIT 1");
DB_STMT(q_watch, 1,
        "SELECT p.state, p.step, coalesce(d.expect_fn, ''), d.chunk, coalesce(d.iccid, ''), coalesce(p.last_error, '') "
        "FROM proc p JOIN dp_download d ON d.proc_id = p.id WHERE p.id = $1");

void smctl_demo_help(FILE *out)
{
    fprintf(out,
            "  download [--eid EID] [--iccid ICCID | --type TYPE] [--no-enable] [--in-process] [--timeout S]\n"
            "           [--sim-ctl PATH]\n"
            "           ES2.DownloadProfile as the development MNO (smdp.demo_mno_id): over the ES interface with\n"
            "           its TLS certificate (smdp.demo_mno_cert_file/_key_file; its es.peers endpoint listens for\n"
            "           the answer), else in-process; prints every step of the procedure as it happens, the\n"
            "           final answer and the card's state (EIS; the simulator's view through its control socket,\n"
            "           default <node.var_dir>/sim.sock). Defaults: the first eUICC of this SM-SR without a\n"
            "           profile of this SM-DP, the MNO's profile type with most stock, enabled. smboxd must run.\n");
}

typedef struct demo_opts {
    const char *eid, *iccid, *type, *sim_ctl;
    bool enable, in_process;
    long timeout_s;
} demo_opts;

static const char *step_text(const char *step)
{
    static const struct {
        const char *step, *text;
    } t[] = {
        {"reserve", "choose and reserve the profile in stock"},
        {"eis", "ES3.GetEIS: eligibility, eUICC certificate chain CI -> EUM -> ECASD"},
        {"cleaned", "ISD-P clean-up: an ISD-P this SM-DP left behind is deleted"},
        {"isdp", "ES3.CreateISDP: the SM-SR creates the ISD-P on the card"},
        {"ke_rc", "key establishment: STORE DATA 3A01 (CERT.DP.ECDSA) -> the card's challenge"},
        {"ke_receipt", "key establishment: STORE DATA 3A02 (ephemeral key, signature) -> receipt"},
        {"load", "SCP03t: protected profile segments through ES3.SendData"},
        {"completed", "ES3.ProfileDownloadCompleted: Created -> Disabled in the EIS"},
        {"enabled", "ES3.EnableProfile: the card switches to the new profile"},
        {"cleanup_done", "error management: ES3.DeleteISDP"},
        {"respond", "the final ES2.DownloadProfile answer to the MNO"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].step, step))
            return t[i].text;
    return "";
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool file_ok(const sm_config *cfg, const char *rel, char *out, size_t cap)
{
    struct stat st;
    if (!rel || !*rel)
        return false;
    sm_config_var_path(cfg, rel, out, cap);
    return stat(out, &st) == 0;
}

/* ---- picking what to download ---------------------------------------------------------------- */

static int pick(smctl_ctx *c, db_conn *db, demo_opts *o, char eid[33], char type[101])
{
    const sm_config *cfg = c->cfg;
    sm_err err = {0};
    db_res *r = NULL;
    if (o->eid) {
        snprintf(eid, 33, "%s", o->eid);
    } else {
        db_params p;
        db_params_init(&p);
        db_p_text(&p, cfg->gsma.smsr_id);
        db_p_text(&p, cfg->gsma.smdp_id);
        if (db_exec(db, &q_pick_eid, &p, &r, &err) != SM_OK)
            return smctl_fail("%s", err.msg);
        if (db_res_rows(r) != 1) {
            db_res_free(r);
            return smctl_fail("no eUICC of this SM-SR without a profile of this SM-DP (give --eid)");
        }
        snprintf(eid, 33, "%s", db_res_text(r, 0, 0));
        db_res_free(r);
    }
    type[0] = 0;
    if (o->type)
        snprintf(type, 101, "%s", o->type);
    if (o->iccid || o->type)
        return 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, cfg->smdp.demo_mno_id);
    r = NULL;
    if (db_exec(db, &q_pick_type, &p, &r, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    if (db_res_rows(r) != 1) {
        db_res_free(r);
        return smctl_fail("no profile of %s in stock (smctl order import)", cfg->smdp.demo_mno_id);
    }
    snprintf(type, 101, "%s", db_res_text(r, 0, 0));
    printf("profile type %s: %lld available for %s\n", type, (long long)db_res_int(r, 0, 1), cfg->smdp.demo_mno_id);
    db_res_free(r);
    return 0;
}

/* ---- sending --------------------------------------------------------------------------------------- */

static int send_in_process(smctl_ctx *c, db_conn *db, const demo_opts *o, const char *eid, const char *type,
                           const char *fcid, int64_t *proc)
{
    const sm_config *cfg = c->cfg;
    smdp_ctx x;
    sm_err err = {0};
    smdp_ctx_init(&x, cfg, &err);
    smdp_dl_request r = {.origin = "local", .requester = cfg->smdp.demo_mno_id, .call_id = fcid,
                         .mno_id = cfg->smdp.demo_mno_id, .eid = eid, .smsr_id = cfg->gsma.smsr_id,
                         .iccid = o->iccid, .profile_type = type[0] ? type : NULL, .enable = o->enable,
                         .validity_s = o->timeout_s};
    sm_rc rc = db_begin(db, &err);
    if (rc == SM_OK && (rc = smdp_download_start(&x, db, &r, proc, &err)) == SM_OK)
        rc = db_commit(db, &err);
    if (rc != SM_OK)
        db_rollback(db);
    smdp_ctx_free(&x);
    if (rc != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("ES2.DownloadProfile entered in-process (no MNO certificate configured): procedure %lld\n", (long long)*proc);
    return 0;
}

static int send_https(smctl_ctx *c, const demo_tls *t, const demo_opts *o, const char *eid, const char *type,
                      const char *fcid)
{
    const sm_config *cfg = c->cfg;
    char body[1024], what[160], answer[1024];
    if (o->iccid)
        snprintf(what, sizeof what, "\"Iccid\":\"%s\"", o->iccid);
    else
        snprintf(what, sizeof what, "\"ProfileType\":\"%s\"", type);
    snprintf(body, sizeof body,
             "{\"header\":{\"functionCallIdentifier\":\"%s\",\"messageId\":\"%s\",\"validityPeriod\":%ld},"
             "\"body\":{\"Eid\":\"%s\",\"SmSr-id\":\"%s\",%s,\"EnableProfile\":%s}}",
             fcid, fcid, o->timeout_s, eid, cfg->gsma.smsr_id, what, o->enable ? "true" : "false");
    int status = 0;
    sm_err err = {0};
    if (demo_post(t, cfg->es.listen, "/gsma/rest/es2/DownloadProfile", body, &status, answer, sizeof answer, &err) !=
        SM_OK)
        return smctl_fail("%s", err.msg);
    printf("POST https://%s/gsma/rest/es2/DownloadProfile as %s (its TLS certificate): HTTP %d\n", cfg->es.listen,
           cfg->smdp.demo_mno_id, status);
    if (status != 202)
        return smctl_fail("the ES interface did not accept the request: %s", answer);
    return 0;
}

/* ---- watching ---------------------------------------------------------------------------------------- */

static int watch(db_conn *db, int64_t proc, long timeout_s, char state[16], char iccid[21])
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char last[64] = "";
    int last_chunk = -1;
    while (since(&t0) < (double)timeout_s) {
        db_params p;
        db_params_init(&p);
        db_p_int(&p, proc);
        db_res *r = NULL;
        sm_err err = {0};
        if (db_exec(db, &q_watch, &p, &r, &err) != SM_OK)
            return smctl_fail("%s", err.msg);
        if (db_res_rows(r) == 1) {
            const char *st = db_res_text(r, 0, 0), *step = db_res_text(r, 0, 1), *fn = db_res_text(r, 0, 2);
            int chunk = (int)db_res_int(r, 0, 3);
            snprintf(iccid, 21, "%s", db_res_text(r, 0, 4));
            snprintf(state, 16, "%s", st);
            if (strcmp(last, step) || (!strcmp(step, "load") && chunk != last_chunk)) {
                printf("  %6.1fs  %-12s %s", since(&t0), step, step_text(step));
                if (!strcmp(step, "load"))
                    printf(" (part %d)", chunk + 1);
                if (!strcmp(st, "waiting") && *fn)
                    printf("  [waiting for %s]", fn);
                printf("\n");
                fflush(stdout);
                snprintf(last, sizeof last, "%s", step);
                last_chunk = chunk;
            }
            bool end = !strcmp(st, "done") || !strcmp(st, "failed") || !strcmp(st, "expired");
            if (end && strcmp(st, "done") && db_res_text(r, 0, 5)[0])
                printf("  %6.1fs  %s: %s\n", since(&t0), st, db_res_text(r, 0, 5));
            db_res_free(r);
            if (end)
                return 0;
        } else {
            db_res_free(r);
        }
        nap(100);
    }
    return smctl_fail("the download did not end within %ld s (is smboxd running?)", timeout_s);
}

/* The simulator's own view of the card (docs/simulator.md control protocol: `profiles EID`). */
static void sim_view(const char *path, const char *eid)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t pl = strlen(path);
    if (pl >= sizeof a.sun_path)
        return;
    memcpy(a.sun_path, path, pl + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        printf("the card (simulator): no control socket at %s\n", path);
        return;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char cmd[64];
    int n = snprintf(cmd, sizeof cmd, "profiles %s\n", eid);
    printf("the card (simulator, %s):\n", path);
    if (write(fd, cmd, (size_t)n) == n) {
        char buf[8192];
        size_t len = 0;
        ssize_t r;
        while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
            len += (size_t)r;
            buf[len] = 0;
            if (strstr(buf, "\nOK") || !strncmp(buf, "OK", 2) || strstr(buf, "ERR"))
                break;
        }
        buf[len] = 0;
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
            printf("  %s\n", l);
    }
    close(fd);
}

static void eis_view(db_conn *db, const char *eid)
{
    db_profile *v = NULL;
    size_t n = 0;
    sm_err err = {0};
    if (db_eis_profiles(db, eid, false, &v, &n, &err) != SM_OK) {
        printf("the card (EIS): %s\n", err.msg);
        return;
    }
    printf("the card (EIS at the SM-SR): %zu profile%s\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char aid[40];
        sm_hex_encode(v[i].isdp_aid.b, v[i].isdp_aid.len, aid);
        printf("  %-20s %-9s ISD-P %s  MNO %s%s\n", v[i].iccid, v[i].state, aid, v[i].mno_id,
               v[i].fallback ? "  fall-back" : "");
    }
    free(v);
}

static int download(smctl_ctx *c, int argc, char **argv)
{
    demo_opts o = {.enable = true, .timeout_s = 300};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--eid") && i + 1 < argc)
            o.eid = argv[++i];
        else if (!strcmp(argv[i], "--iccid") && i + 1 < argc)
            o.iccid = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc)
            o.type = argv[++i];
        else if (!strcmp(argv[i], "--sim-ctl") && i + 1 < argc)
            o.sim_ctl = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            o.timeout_s = atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-enable"))
            o.enable = false;
        else if (!strcmp(argv[i], "--in-process"))
            o.in_process = true;
        else
            return smctl_fail("usage: smctl demo download [--eid EID] [--iccid ICCID | --type TYPE] [--no-enable] "
                              "[--in-process] [--timeout S] [--sim-ctl PATH]");
    }
    if (o.timeout_s < 10)
        o.timeout_s = 10;
    const sm_config *cfg = smctl_config(c);
    db_conn *db = cfg ? smctl_db(c) : NULL;
    if (!db)
        return 1;
    char eid[33], type[101];
    if (pick(c, db, &o, eid, type) != 0)
        return 1;
    char fcid[64];
    snprintf(fcid, sizeof fcid, "demo-%ld-%ld", (long)time(NULL), (long)getpid());
    printf("ES2.DownloadProfile: EID %s, %s %s, SM-SR %s, enable %s, FunctionCallIdentifier %s\n", eid,
           o.iccid ? "ICCID" : "ProfileType", o.iccid ? o.iccid : type, cfg->gsma.smsr_id, o.enable ? "yes" : "no",
           fcid);
    char cert[4096], key[4096], ca[4096];
    bool https = !o.in_process && file_ok(cfg, cfg->smdp.demo_mno_cert_file, cert, sizeof cert) &&
                 file_ok(cfg, cfg->smdp.demo_mno_key_file, key, sizeof key) &&
                 file_ok(cfg, cfg->es.tls_ca_file, ca, sizeof ca);
    demo_tls t = {cert, key, ca};
    demo_listener *l = NULL;
    int64_t proc = 0;
    int rc = 0;
    if (https) {
        /* the MNO's endpoint (es.peers) takes the asynchronous answer */
        for (size_t i = 0; i < cfg->es.npeers; i++) {
            const sm_cfg_peer *p = &cfg->es.peers[i];
            if (!strcmp(p->id, cfg->smdp.demo_mno_id) && p->endpoint && !strncmp(p->endpoint, "https://", 8)) {
                char hp[300];
                snprintf(hp, sizeof hp, "%.*s", (int)strcspn(p->endpoint + 8, "/"), p->endpoint + 8);
                sm_err err = {0};
                if (demo_listen(&t, hp, &l, &err) == SM_OK)
                    printf("the MNO's endpoint %s listens for the answer\n", p->endpoint);
                else
                    printf("the MNO's endpoint: %s (the answer is read from the database instead)\n", err.msg);
            }
        }
        rc = send_https(c, &t, &o, eid, type, fcid);
        for (int i = 0; !rc && !proc && i < 100; i++) {
            sm_err err = {0};
            if (dp_dl_find_call(db, cfg->smdp.demo_mno_id, fcid, &proc, &err) != SM_OK)
                rc = smctl_fail("%s", err.msg);
            else if (!proc)
                nap(100);
        }
        if (!rc && !proc)
            rc = smctl_fail("smboxd accepted the request but started no download (see its log)");
    } else {
        rc = send_in_process(c, db, &o, eid, type, fcid, &proc);
    }
    char state[16] = "", iccid[21] = "";
    if (!rc)
        rc = watch(db, proc, o.timeout_s, state, iccid);
    if (!rc) {
        db_proc_info in;
        memset(&in, 0, sizeof in);
        sm_err err = {0};
        smdp_dl_outcome out;
        if (db_proc_get(db, proc, &in, &err) == SM_OK && smdp_download_outcome(in.result, in.result_len, &out, &err) == SM_OK)
            printf("result: %s, %s%s%s%s%s%s%s%s%s\n", out.outcome, es_exec_name(out.status.exec),
                   out.status.subject[0] ? " " : "", out.status.subject, out.status.subject[0] ? "/" : "",
                   out.status.reason, out.status.message[0] ? " " : "", out.status.message,
                   out.iccid[0] ? ", ICCID " : "", out.iccid);
        else
            printf("result: procedure %s\n", state);
        db_proc_info_clear(&in);
        char msg[4096];
        if (l && demo_listener_wait(l, fcid, 15000, msg, sizeof msg))
            printf("the MNO's endpoint received: %.300s\n", msg);
        else if (l)
            printf("the MNO's endpoint received no answer yet (the outbox retries)\n");
        eis_view(db, eid);
        char sock[4096];
        if (o.sim_ctl)
            snprintf(sock, sizeof sock, "%s", o.sim_ctl);
        else
            sm_config_var_path(cfg, "sim.sock", sock, sizeof sock);
        sim_view(sock, eid);
    }
    demo_listener_stop(l);
    smctl_audit_cmd(c, argc, argv, rc ? "failed" : state);
    return rc ? 1 : strcmp(state, "done") ? 3 : 0;
}

int smctl_demo_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "download"))
        return download(c, argc, argv);
    smctl_demo_help(stderr);
    return 2;
}
