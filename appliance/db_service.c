/* The database as a daemon service: pool, migrations, worker connections, audit checkpoints. */
#include "appliance/db_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "appliance/dbconf.h"
#include "db/audit.h"
#include "db/idem.h"
#include "db/migrate.h"
#include "lib/hex.h"
#include "lib/log.h"

#define TICK_SECONDS 5
#define IDEM_RETENTION_S (30L * 24 * 3600) /* FunctionCallIdentifier dedup window */
#define IDEM_PURGE_EVERY_S 3600

/* one daemon per process: the pool exists before the service starts (worker hooks run first) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static db_pool *g_pool;

static struct {
    sm_dbconf dc;
    bool started_cluster;
    db_conn *main;           /* start-up and shutdown work on the loop thread */
    struct event *tick;
    bool tick_busy;
    db_audit_signer signer;  /* session filled in per use */
    time_t last_purge;
    char actor[128];
} S;

struct tick_job {
    db_audit_policy pol;
    bool purge;
};

static void make_pool(void) { g_pool = db_pool_new(); }

sm_rc sm_db_worker_init(sm_worker *w, void *ctx, sm_err *err)
{
    (void)ctx;
    pthread_once(&g_once, make_pool);
    if (!g_pool)
        return sm_errf(err, SM_ENOMEM, "db: out of memory");
    db_conn *c = NULL;
    sm_rc rc = db_pool_take(g_pool, &c, err);
    w->db = c;
    return rc;
}

void sm_db_worker_fini(sm_worker *w, void *ctx)
{
    (void)ctx;
    if (w->db)
        db_pool_give(w->db);
    w->db = NULL;
}

static void tick_job(sm_worker *w, void *arg)
{
    struct tick_job *j = arg;
    if (!w->db)
        return;
    sm_err err = {0};
    char q[600];
    db_audit_signer s = S.signer;
    s.sess = w->hsm;
    if (db_audit_checkpoint(w->db, &s, &j->pol, NULL, &err) != SM_OK)
        sm_log(SM_LOG_ERR, "audit", "checkpoint_failed", "error=%s", SM_LOGQ(q, err.msg));
    if (j->purge) {
        long n = 0;
        sm_err_clear(&err);
        if (db_idem_purge(w->db, IDEM_RETENTION_S, &n, &err) != SM_OK)
            sm_log(SM_LOG_WARN, "db", "idem_purge_failed", "error=%s", SM_LOGQ(q, err.msg));
        else if (n)
            sm_log(SM_LOG_INFO, "db", "idem_purged", "keys=%ld", n);
    }
}

static void tick_done(void *arg)
{
    free(arg);
    S.tick_busy = false;
}

static void on_tick(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    sm_app *app = arg;
    if (S.tick_busy || !app->workers)
        return;
    struct tick_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    /* the policy is read here, on the loop thread (a reload may replace the configuration) */
    j->pol.every = app->cfg->database.audit_checkpoint_entries;
    j->pol.max_age_s = app->cfg->database.audit_checkpoint_seconds;
    time_t now = time(NULL);
    if (now - S.last_purge >= IDEM_PURGE_EVERY_S) {
        j->purge = true;
        S.last_purge = now;
    }
    S.tick_busy = true;
    if (sm_workers_submit(app->workers, tick_job, tick_done, j) != SM_OK) {
        free(j);
        S.tick_busy = false;
    }
}

sm_rc sm_db_start(sm_app *app, sm_err *err)
{
    const sm_config *cfg = app->cfg;
    char q[600];
    sm_rc rc = sm_dbconf_resolve(cfg, &S.dc, err);
    if (rc == SM_OK && S.dc.embedded) {
        rc = sm_dbconf_embedded_up(&S.dc, &S.started_cluster, err);
        if (rc == SM_OK)
            sm_log(SM_LOG_NOTICE, "db", "embedded", "datadir=%s started=%d", S.dc.cl.datadir, S.started_cluster);
    }
    pthread_once(&g_once, make_pool);
    if (rc == SM_OK && !g_pool)
        rc = sm_errf(err, SM_ENOMEM, "db: out of memory");
    db_pool *p = NULL;
    if (rc == SM_OK)
        rc = sm_dbconf_pool(cfg, &S.dc, g_pool, 0, "smboxd", &p, err);
    char lane[160];
    snprintf(lane, sizeof lane, "%s/main", cfg->node.name);
    if (rc == SM_OK)
        rc = db_pool_take_lane(g_pool, lane, &S.main, err);
    if (rc == SM_OK)
        rc = db_connect(S.main, err);
    snprintf(S.actor, sizeof S.actor, "node:%s", cfg->node.name);
    int applied = 0;
    if (rc == SM_OK)
        rc = db_migrate(S.main, S.actor, &applied, err);
    if (rc == SM_OK)
        rc = db_schema_check(S.main, err);
    if (rc == SM_OK)
        rc = db_audit_signer_init(&S.signer, app->loop_hsm, &app->keys.key[AK_AUDIT], &app->keys.pub[AK_AUDIT],
                                  app->keys.label[AK_AUDIT], err);
    char fp[65] = "";
    if (rc == SM_OK) {
        uint8_t d[32];
        SHA256(S.signer.pub, S.signer.publen, d);
        sm_hex_encode(d, sizeof d, fp);
        rc = db_audit_appendf(S.main, err, S.actor, "daemon.start", cfg->node.name, "ok",
                              "pid=%ld workers=%ld migrations_applied=%d schema=%d audit_key=%s", (long)getpid(),
                              cfg->workers.threads, applied, db_schema_latest(), fp);
    }
    if (rc != SM_OK) {
        sm_err_prefix(err, "database %s", S.dc.embedded ? S.dc.cl.datadir : db_pool_target(g_pool));
        if (S.main)
            db_pool_give(S.main);
        S.main = NULL;
        if (S.started_cluster) {
            sm_err e2 = {0};
            db_cluster_stop(&S.dc.cl, false, &e2);
        }
        return rc;
    }
    app->db = g_pool;
    S.last_purge = 0;
    S.tick = event_new(app->base, -1, EV_PERSIST, on_tick, app);
    struct timeval tv = {TICK_SECONDS, 0};
    if (S.tick)
        event_add(S.tick, &tv);
    sm_log(SM_LOG_NOTICE, "db", "ready", "target=%s schema=%d applied=%d audit_key=%.16s", SM_LOGQ(q, db_pool_target(g_pool)),
           db_schema_latest(), applied, fp);
    return SM_OK;
}

void sm_db_stop(sm_app *app)
{
    if (S.tick) {
        event_del(S.tick);
        event_free(S.tick);
        S.tick = NULL;
    }
    sm_err err = {0};
    char q[600];
    if (S.main) {
        /* the trail up to the shutdown is signed before we go */
        db_audit_signer s = S.signer;
        s.sess = app->loop_hsm;
        if (db_audit_append(S.main, S.actor, "daemon.stop", app->cfg->node.name, "ok", NULL, &err) != SM_OK ||
            db_audit_checkpoint(S.main, &s, NULL, NULL, &err) != SM_OK)
            sm_log(SM_LOG_ERR, "audit", "stop_record_failed", "error=%s", SM_LOGQ(q, err.msg));
        db_pool_give(S.main);
        S.main = NULL;
    }
    app->db = NULL;
    if (S.started_cluster) {
        sm_err_clear(&err);
        if (db_cluster_stop(&S.dc.cl, false, &err) != SM_OK)
            sm_log(SM_LOG_ERR, "db", "embedded_stop_failed", "error=%s", SM_LOGQ(q, err.msg));
        S.started_cluster = false;
    }
}
