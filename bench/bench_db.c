/* bench_db: the db/ layer against plain pgbench on the same throw-away cluster, in the same run.
 *   1. the EIS repository with N eUICCs (default 1,000,000) and one profile each, bulk-loaded by COPY;
 *   2. GetEIS by EID (eUICC row + its profiles), one connection: p50/p99 latency, beside pgbench -S;
 *   3. procedure step transitions with 2 workers (db/proc engine), beside pgbench TPC-B;
 *   4. audit appends per second, 2 writers on their own chains and on one shared chain.
 * The cluster has PostgreSQL's default settings (fsync on), as in /work/shared/perf/limits.md §3.
 * Usage: bench_db [-n EUICCS] [-t SECONDS] [-k] (keep the cluster directory) */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db/audit.h"
#include "db/cluster.h"
#include "db/eis_repo.h"
#include "db/migrate.h"
#include "db/pg.h"
#include "db/proc.h"

static db_cluster CL;
static char DIR_[256], CI[600];
static int SECONDS = 10;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const sm_err *err)
{
    fprintf(stderr, "bench_db: %s: %s\n", what, err ? err->msg : "");
    if (CL.datadir[0]) {
        sm_err e = {0};
        db_cluster_stop(&CL, true, &e);
    }
    exit(1);
}

static void eid_of(long i, char out[33]) { snprintf(out, 33, "89049032%024ld", i); }

static uint64_t rng = 88172645463325252ULL;
static uint64_t xs(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Each measurement starts from the same state: no dirty pages waiting for a checkpoint. */
static db_conn *QC;
static void quiesce(void)
{
    sm_err err = {0};
    if (QC && db_exec_script(QC, "CHECKPOINT", &err) != SM_OK)
        die("checkpoint", &err);
}

/* ---- pgbench ---------------------------------------------------------------------------------------- */

typedef struct pgb {
    double tps;
    double lat_ms;
    double p50_ms, p99_ms;
} pgb;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* runs pgbench with args on the pgbench database; reads tps and latency from its output; with
 * per-transaction logging, p50/p99 from the log */
static pgb pgbench(const char *const *args, bool percentiles)
{
    char logf[400], prefix[400];
    snprintf(logf, sizeof logf, "%s/pgbench.out", DIR_);
    unlink(logf);
    snprintf(prefix, sizeof prefix, "--log-prefix=%s/pgblog", DIR_);
    const char *a[32];
    int n = 0;
    a[n++] = "-h";
    a[n++] = CL.datadir;
    a[n++] = "-U";
    a[n++] = CL.user;
    for (int i = 0; args[i] && n < 26; i++)
        a[n++] = args[i];
    if (percentiles) {
        a[n++] = "--log";
        a[n++] = prefix;
    }
    a[n++] = "pgbench";
    a[n] = NULL;
    char rmcmd[600];
    snprintf(rmcmd, sizeof rmcmd, "rm -f %s/pgblog*", DIR_);
    if (system(rmcmd) != 0)
        fprintf(stderr, "bench_db: could not clear old pgbench logs\n");
    pgb r = {0};
    quiesce();
    if (db_cluster_run(&CL, "pgbench", a, logf) != 0) {
        fprintf(stderr, "bench_db: pgbench failed, see %s\n", logf);
        return r;
    }
    FILE *f = fopen(logf, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "tps = ", 6))
            r.tps = atof(line + 6);
        if (!strncmp(line, "latency average = ", 18))
            r.lat_ms = atof(line + 18);
    }
    if (f)
        fclose(f);
    if (!percentiles)
        return r;
    /* pgbench --log lines: client_id transaction_no time_us script_no time_epoch time_us */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat %s/pgblog* 2>/dev/null", DIR_);
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, cnt = 0;
    double *v = malloc(cap * sizeof *v);
    while (p && v && fgets(line, sizeof line, p)) {
        long cid, tx, us;
        if (sscanf(line, "%ld %ld %ld", &cid, &tx, &us) == 3) {
            if (cnt == cap) {
                cap *= 2;
                double *nv = realloc(v, cap * sizeof *v);
                if (!nv)
                    break;
                v = nv;
            }
            v[cnt++] = (double)us / 1000.0;
        }
    }
    if (p)
        pclose(p);
    if (cnt) {
        qsort(v, cnt, sizeof *v, cmp_d);
        r.p50_ms = v[cnt / 2];
        r.p99_ms = v[(size_t)((double)cnt * 0.99)];
    }
    free(v);
    return r;
}

/* ---- 1. bulk load ------------------------------------------------------------------------------------ */

static void load(db_conn *c, long n, double *t_euicc, double *t_prof)
{
    sm_err err = {0};
    uint8_t cert[256];
    for (size_t i = 0; i < sizeof cert; i++)
        cert[i] = (uint8_t)(i * 31 + 7);
    cert[0] = 0x7f;
    cert[1] = 0x21;
    db_euicc e;
    memset(&e, 0, sizeof e);
    snprintf(e.eum_id, sizeof e.eum_id, "1.3.6.1.4.1.31746");
    snprintf(e.production_date, sizeof e.production_date, "2024-05-01T10:00:00Z");
    snprintf(e.platform_type, sizeof e.platform_type, "M2M-OS");
    snprintf(e.platform_version, sizeof e.platform_version, "1.2.3");
    snprintf(e.rsp_version, sizeof e.rsp_version, "3.1.0");
    snprintf(e.smsr_id, sizeof e.smsr_id, "1.3.6.1.4.1.99999.1.2");
    snprintf(e.http_version, sizeof e.http_version, "1.1.0");
    snprintf(e.secure_packet_version, sizeof e.secure_packet_version, "9.2.0");
    static const uint8_t aid[16] = {0xa0, 0, 0, 5, 0x59, 0x10, 0x10, 0xff, 0xff, 0xff, 0xff, 0x89, 0, 0, 1, 0};
    memcpy(e.isdr_aid.b, aid, 16);
    e.isdr_aid.len = 16;
    memcpy(e.ecasd_aid.b, aid, 16);
    e.ecasd_aid.len = 16;
    memcpy(e.isdr_tar.b, "\0\0\1", 3);
    e.isdr_tar.len = 3;
    e.ecasd_cert = cert;
    e.ecasd_cert_len = sizeof cert;
    e.caps = DB_CAP_HTTPS;
    e.remaining_memory = 500000;
    e.available_memory = 800000;
    double t0 = now_s();
    if (db_begin(c, &err) != SM_OK || db_eis_bulk_begin(c, &err) != SM_OK)
        die("bulk load", &err);
    for (long i = 0; i < n; i++) {
        eid_of(i, e.eid);
        if (db_eis_bulk_add(c, &e, &err) != SM_OK)
            die("bulk load", &err);
    }
    long rows = 0;
    if (db_eis_bulk_end(c, "bench", &rows, &err) != SM_OK || db_commit(c, &err) != SM_OK)
        die("bulk load", &err);
    *t_euicc = now_s() - t0;
    t0 = now_s();
    db_profile p;
    memset(&p, 0, sizeof p);
    memcpy(p.isdp_aid.b, aid, 16);
    p.isdp_aid.b[14] = 0x10;
    p.isdp_aid.len = 16;
    snprintf(p.mno_id, sizeof p.mno_id, "1.3.6.1.4.1.100");
    snprintf(p.state, sizeof p.state, "Enabled");
    snprintf(p.profile_type, sizeof p.profile_type, "3G_16K");
    p.fallback = true;
    p.allocated_memory = 40000;
    p.free_memory = -1;
    if (db_begin(c, &err) != SM_OK || db_profile_bulk_begin(c, &err) != SM_OK)
        die("bulk profiles", &err);
    for (long i = 0; i < n; i++) {
        eid_of(i, p.eid);
        char num[32];
        snprintf(num, sizeof num, "%015ld", i % 1000000000000000L);
        memcpy(p.iccid, "8901", 4);
        memcpy(p.iccid + 4, num, 16);
        snprintf(num, sizeof num, "%013ld", i % 10000000000000L);
        memcpy(p.msisdn, "49", 2);
        memcpy(p.msisdn + 2, num, 14);
        if (db_profile_bulk_add(c, &p, &err) != SM_OK)
            die("bulk profiles", &err);
    }
    if (db_profile_bulk_end(c, "bench", &rows, &err) != SM_OK || db_commit(c, &err) != SM_OK)
        die("bulk profiles", &err);
    if (db_exec_script(c, "VACUUM ANALYZE euicc", &err) != SM_OK ||
        db_exec_script(c, "VACUUM ANALYZE profile", &err) != SM_OK ||
        db_exec_script(c, "VACUUM ANALYZE eis_history", &err) != SM_OK)
        die("analyze", &err);
    *t_prof = now_s() - t0;
    /* flush the load's dirty pages now rather than during the latency measurement */
    if (db_exec_script(c, "CHECKPOINT", &err) != SM_OK)
        die("checkpoint", &err);
}

/* ---- 2. GetEIS --------------------------------------------------------------------------------------- */

static void geteis(db_conn *c, long n, int lookups, double *p50, double *p99)
{
    sm_err err = {0};
    double *v = malloc((size_t)lookups * sizeof *v);
    char eid[33];
    for (int i = -lookups / 10; i < lookups; i++) { /* the first tenth warms up */
        eid_of((long)(xs() % (uint64_t)n), eid);
        double t0 = now_s();
        db_euicc e;
        db_profile *pr = NULL;
        size_t np = 0;
        if (db_eis_get(c, eid, &e, &err) != SM_OK || db_eis_profiles(c, eid, false, &pr, &np, &err) != SM_OK)
            die("GetEIS", &err);
        double dt = now_s() - t0;
        if (np != 1)
            die("GetEIS: expected one profile", NULL);
        db_euicc_clear(&e);
        free(pr);
        if (i >= 0)
            v[i] = dt * 1000.0;
    }
    qsort(v, (size_t)lookups, sizeof *v, cmp_d);
    *p50 = v[lookups / 2];
    *p99 = v[(int)(lookups * 0.99)];
    free(v);
}

/* ---- 3. procedure transitions ------------------------------------------------------------------------- */

static atomic_int stop_flag;
static long NEUICC;

DB_STMT(q_step_upd, 1,
        "UPDATE euicc SET remaining_memory = remaining_memory - 1, version = version + 1, updated_at = now() "
        "WHERE eid = $1");
DB_STMT(q_step_hist, 2,
        "INSERT INTO eis_history (eid, actor, action, detail) VALUES ($1, 'bench', 'memory', $2)");

/* a step like limits.md's state transition: update one row by key, insert one history row */
static sm_rc plain_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    db_params pa;
    db_params_init(&pa);
    db_p_text(&pa, p->eid);
    sm_rc rc = db_exec(c, &q_step_upd, &pa, NULL, err);
    db_params_init(&pa);
    db_p_text(&pa, p->eid);
    db_p_text(&pa, p->step);
    if (rc == SM_OK)
        rc = db_exec(c, &q_step_hist, &pa, NULL, err);
    int s = atoi(p->step + 1);
    if (s >= 3) {
        nx->kind = DB_NEXT_DONE;
    } else {
        nx->kind = DB_NEXT_STEP;
        snprintf(nx->step, sizeof nx->step, "s%d", s + 1);
    }
    return rc;
}

/* the same through the EIS repository: update + history + audit entry */
static sm_rc audited_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    sm_rc rc = db_eis_set_memory(c, "bench", p->eid, 400000 + p->transitions, false, err);
    int s = atoi(p->step + 1);
    if (s >= 3) {
        nx->kind = DB_NEXT_DONE;
    } else {
        nx->kind = DB_NEXT_STEP;
        snprintf(nx->step, sizeof nx->step, "s%d", s + 1);
    }
    return rc;
}

struct wk {
    db_pool *pool;
    db_engine *e;
    const char *who;
    db_engine_stats st;
    sm_err err;
    sm_rc rc;
};

static void *engine_worker(void *arg)
{
    struct wk *w = arg;
    db_conn *c;
    w->rc = db_pool_take(w->pool, &c, &w->err);
    if (w->rc == SM_OK)
        w->rc = db_connect(c, &w->err);
    while (w->rc == SM_OK && !atomic_load(&stop_flag))
        w->rc = db_engine_run(w->e, c, w->who, 8, &w->st, &w->err);
    if (w->rc == SM_OK)
        db_pool_give(c);
    return NULL;
}

DB_STMT(q_mkprocs, 3,
        "INSERT INTO proc (kind, step, eid) SELECT $1, 's1', '89049032' || lpad(((g * 7919) % $3)::text, 24, '0') "
        "FROM generate_series(1, $2) g");

static double transitions(db_pool *pool, db_conn *c, const char *kind, db_step_fn fn)
{
    sm_err err = {0};
    db_params p;
    db_params_init(&p);
    db_p_text(&p, kind);
    db_p_int(&p, 60000);
    db_p_int(&p, NEUICC);
    if (db_exec(c, &q_mkprocs, &p, NULL, &err) != SM_OK ||
        db_exec_script(c, "VACUUM ANALYZE proc", &err) != SM_OK)
        die("creating procedures", &err);
    quiesce();
    db_engine *e = db_engine_new("bench", 60000);
    db_proc_kind k = {.kind = kind, .step = fn};
    if (db_engine_register(e, &k, &err) != SM_OK)
        die("engine", &err);
    struct wk w[2] = {{pool, e, "w0", {0}, {0}, SM_OK}, {pool, e, "w1", {0}, {0}, SM_OK}};
    pthread_t th[2];
    atomic_store(&stop_flag, 0);
    double t0 = now_s();
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, engine_worker, &w[i]);
    sleep((unsigned)SECONDS);
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    for (int i = 0; i < 2; i++)
        if (w[i].rc != SM_OK)
            die("engine worker", &w[i].err);
    db_engine_free(e);
    int steps = w[0].st.steps + w[1].st.steps;
    if (w[0].st.fenced + w[1].st.fenced + w[0].st.retried + w[1].st.retried)
        fprintf(stderr, "bench_db: note: %d fenced, %d retried\n", w[0].st.fenced + w[1].st.fenced,
                w[0].st.retried + w[1].st.retried);
    if (db_exec_script(c, "DELETE FROM proc", &err) != SM_OK)
        die("cleanup", &err);
    return steps / dt;
}

/* ---- 4. audit appends ---------------------------------------------------------------------------------- */

/* An audited action as the domain code does it: the entry, then the rest of the transaction (here one
 * UPDATE), then COMMIT. The chain head stays locked from the append to the commit. */
DB_STMT(q_act, 1, "UPDATE euicc SET version = version + 1 WHERE eid = $1");

struct ap {
    db_pool *pool;
    char lane[32]; /* "" = own numbered chain */
    long n;
    uint64_t seed;
    sm_err err;
    sm_rc rc;
};

static void *appender(void *arg)
{
    struct ap *a = arg;
    db_conn *c;
    a->rc = a->lane[0] ? db_pool_take_lane(a->pool, a->lane, &c, &a->err) : db_pool_take(a->pool, &c, &a->err);
    char eid[33];
    while (a->rc == SM_OK && !atomic_load(&stop_flag)) {
        a->seed ^= a->seed << 13, a->seed ^= a->seed >> 7, a->seed ^= a->seed << 17;
        eid_of((long)(a->seed % (uint64_t)NEUICC), eid);
        db_params p;
        db_params_init(&p);
        db_p_text(&p, eid);
        a->rc = db_begin(c, &a->err);
        if (a->rc == SM_OK)
            a->rc = db_audit_append(c, "mno:1.3.6.1.4.1.100", "es4.EnableProfile", eid, "ok",
                                    "FunctionCallIdentifier=bench", &a->err);
        if (a->rc == SM_OK)
            a->rc = db_exec(c, &q_act, &p, NULL, &a->err);
        if (a->rc == SM_OK)
            a->rc = db_commit(c, &a->err);
        else
            db_rollback(c);
        a->n++;
    }
    if (a->rc == SM_OK)
        db_pool_give(c);
    return NULL;
}

static double appends(db_pool *pool, int writers, bool shared)
{
    struct ap a[8];
    pthread_t th[8];
    quiesce();
    atomic_store(&stop_flag, 0);
    double t0 = now_s();
    for (int i = 0; i < writers; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].pool = pool;
        a[i].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
        snprintf(a[i].lane, sizeof a[i].lane, "%s", shared ? "bench/shared" : "");
        pthread_create(&th[i], NULL, appender, &a[i]);
    }
    sleep((unsigned)SECONDS);
    atomic_store(&stop_flag, 1);
    long n = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(th[i], NULL);
        if (a[i].rc != SM_OK)
            die("audit appender", &a[i].err);
        n += a[i].n;
    }
    return (double)n / (now_s() - t0);
}

/* ---- main ----------------------------------------------------------------------------------------------- */

static const char *ok(bool b) { return b ? "OK" : "MISSED"; }

int main(int argc, char **argv)
{
    long n = 1000000;
    int keep = 0, ch;
    while ((ch = getopt(argc, argv, "n:t:k")) != -1) {
        if (ch == 'n')
            n = atol(optarg);
        else if (ch == 't')
            SECONDS = atoi(optarg);
        else if (ch == 'k')
            keep = 1;
        else {
            fprintf(stderr, "usage: bench_db [-n EUICCS] [-t SECONDS] [-k]\n");
            return 2;
        }
    }
    NEUICC = n;
    const char *tmp = getenv("TMPDIR");
    snprintf(DIR_, sizeof DIR_, "%s/smbox-bench-db-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(DIR_))
        die("mkdtemp", NULL);
    chmod(DIR_, 0777); /* pgbench (as the server's user) writes its logs here */
    char data[300];
    snprintf(data, sizeof data, "%s/pg", DIR_);
    sm_err err = {0};
    if (db_cluster_setup(&CL, data, getenv("SMBOX_PG_BINDIR"), &err) != SM_OK || db_cluster_init(&CL, &err) != SM_OK ||
        db_cluster_start(&CL, NULL, &err) != SM_OK || db_cluster_createdb(&CL, "smbox", NULL, &err) != SM_OK ||
        db_cluster_createdb(&CL, "pgbench", NULL, &err) != SM_OK)
        die("cluster", &err);
    db_cluster_conninfo(&CL, "smbox", CI, sizeof CI);
    db_config cfg = {.conninfo = CI, .node = "bench", .size = 16};
    db_pool *pool = NULL;
    db_conn *c = NULL;
    if (db_pool_open(&cfg, &pool, &err) != SM_OK || db_pool_take_lane(pool, "bench/main", &c, &err) != SM_OK ||
        db_migrate(c, "bench", NULL, &err) != SM_OK)
        die("schema", &err);
    int v = 0;
    db_connect(c, &err);
    QC = c;
    v = db_server_version(c);
    printf("smbox bench-db: PostgreSQL %d.%d, throw-away cluster %s, default settings (fsync on), %ld nproc\n",
           v / 10000, v % 10000, CL.datadir, sysconf(_SC_NPROCESSORS_ONLN));
    printf("pgbench baselines run against the same cluster in this run (scale 10, %d s each)\n\n", SECONDS);
    fflush(stdout);

    double te = 0, tp = 0;
    load(c, n, &te, &tp);
    printf("load      %ld eUICCs by COPY (with history rows, audited):  %.1f s  (%.0f rows/s)   target < 60 s: %s\n",
           n, te, (double)n / te, ok(te < 60.0));
    printf("          %ld profiles by COPY, then VACUUM ANALYZE:         %.1f s\n", n, tp);
    fflush(stdout);

    const char *init[] = {"-i", "-s", "10", "-q", NULL};
    pgbench(init, false);
    double p50 = 0, p99 = 0;
    geteis(c, n, 20000, &p50, &p99);
    char t1[16];
    snprintf(t1, sizeof t1, "%d", SECONDS);
    const char *sel[] = {"-S", "-n", "-c", "1", "-j", "1", "-T", t1, NULL};
    pgb s = pgbench(sel, true);
    printf("GetEIS    by EID (eUICC + profiles, 2 statements), 1 connection, 20000 lookups:\n");
    printf("          p50 %.3f ms   p99 %.3f ms                          target p99 < 2 ms: %s\n", p50, p99,
           ok(p99 < 2.0));
    printf("          pgbench -S, 1 client: p50 %.3f ms  p99 %.3f ms  (%.0f tps)\n", s.p50_ms, s.p99_ms, s.tps);
    if (s.p50_ms > 0)
        printf("          ratio GetEIS/pgbench-S: p50 %.2fx  p99 %.2fx\n", p50 / s.p50_ms, p99 / s.p99_ms);
    fflush(stdout);

    const char *tpcb4[] = {"-n", "-c", "4", "-j", "2", "-T", t1, NULL};
    const char *tpcb2[] = {"-n", "-c", "2", "-j", "2", "-T", t1, NULL};
    pgb b4 = pgbench(tpcb4, false);
    pgb b2 = pgbench(tpcb2, false);
    double tr = transitions(pool, c, "bench.plain", plain_step);
    double tra = transitions(pool, c, "bench.audited", audited_step);
    printf("engine    procedure step transitions, 2 workers (claim batch 8, lease + fencing token):\n");
    printf("          step = UPDATE eUICC by key + INSERT history:   %.0f transitions/s\n", tr);
    printf("          step = db_eis_set_memory (+ audit entry):      %.0f transitions/s\n", tra);
    printf("          pgbench TPC-B -c4 -j2: %.0f tps; -c2 -j2: %.0f tps\n", b4.tps, b2.tps);
    if (b4.tps > 0)
        printf("          ratio vs TPC-B -c4: %.2f (audited %.2f); vs -c2: %.2f (audited %.2f)   target >= 0.5: %s\n",
               tr / b4.tps, tra / b4.tps, tr / b2.tps, tra / b2.tps, ok(tr / b4.tps >= 0.5));
    fflush(stdout);

    const char *tpcb8[] = {"-n", "-c", "8", "-j", "2", "-T", t1, NULL};
    pgb b8 = pgbench(tpcb8, false);
    double own2 = appends(pool, 2, false), sh2 = appends(pool, 2, true);
    double own8 = appends(pool, 8, false), sh8 = appends(pool, 8, true);
    printf("audit     audited actions/s (BEGIN; append; UPDATE eUICC; COMMIT):\n");
    printf("          2 writers: a chain each (the design) %.0f/s, one shared chain %.0f/s;  TPC-B -c2 %.0f tps\n"
           "                     ratio vs TPC-B: %.2f and %.2f\n",
           own2, sh2, b2.tps, b2.tps > 0 ? own2 / b2.tps : 0, b2.tps > 0 ? sh2 / b2.tps : 0);
    printf("          8 writers: a chain each (the design) %.0f/s, one shared chain %.0f/s;  TPC-B -c8 %.0f tps\n"
           "                     ratio vs TPC-B: %.2f and %.2f\n",
           own8, sh8, b8.tps, b8.tps > 0 ? own8 / b8.tps : 0, b8.tps > 0 ? sh8 / b8.tps : 0);
    db_audit_report rep;
    double t0 = now_s();
    if (db_audit_verify(c, &rep, &err) != SM_OK)
        die("verify", &err);
    printf("          smctl audit verify walks the %ld entries at %.0f entries/s\n", rep.entries,
           (double)rep.entries / (now_s() - t0));

    db_pool_give(c);
    db_pool_close(pool);
    if (db_cluster_stop(&CL, false, &err) != SM_OK)
        die("stop", &err);
    if (!keep) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_db: could not remove %s\n", DIR_);
    } else {
        printf("cluster kept in %s\n", DIR_);
    }
    return 0;
}
