/* The ES interfaces as a daemon service. */
#include "appliance/net_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>

#include "appliance/engine_service.h"
#include "appliance/es_db.h"
#include "db/outbox.h"
#include "lib/log.h"
#include "lib/secmem.h"
#include "net/es_local.h"

#define PUMP_BATCH 8         /* messages a pump job claims at once */
#define LISTEN_RETRY_MIN_MS 500
#define LISTEN_RETRY_MAX_MS 30000

/* one daemon per process */
static net_tls *g_tls;
static pthread_mutex_t g_kick_mu = PTHREAD_MUTEX_INITIALIZER;
/* The outbox pump. Jobs on the worker pool deliver what is due, up to max_pumps at once (the claim
 * skips rows another job or node holds); a job that found messages is followed by another at once, so
 * the queue drains. What starts them: a commit on this node that queued messages (db_outbox_on_commit
 * -> kick), another node's commit (NOTIFY smbox_outbox on a listening session driven by the loop), and
 * the poll timer (es.outbox_poll_ms: messages due after a back-off, notifications lost while the
 * listener was reconnecting). Loop-thread state unless atomic. */
static struct {
    sm_app *app;
    struct event *pump_timer, *kick, *listen_ev, *listen_retry;
    atomic_bool stopping;
    unsigned running, max_running;
    bool again;              /* a job found messages, or a kick came while jobs ran: run more */
    db_listener *listener;
    bool listen_opening;     /* a worker is connecting the listener */
    long listen_retry_ms;
    char owner[160];
    char origin[200];        /* our own notifications' payload (ignored: the commit hook kicked already) */
} g_svc;

/* executor over the worker pool */
typedef struct xjob {
    void (*job)(void *, void *);
    void (*done)(void *);
    void *arg;
} xjob;

static void xrun(sm_worker *w, void *a)
{
    xjob *x = a;
    x->job(w, x->arg);
}

static void xdone(void *a)
{
    xjob *x = a;
    x->done(x->arg);
    free(x);
}

static sm_rc xsubmit(void *ctx, void (*job)(void *, void *), void (*done)(void *), void *arg)
{
    xjob *x = malloc(sizeof *x);
    if (!x)
        return SM_ENOMEM;
    *x = (xjob){job, done, arg};
    sm_rc rc = sm_workers_submit(ctx, xrun, xdone, x);
    if (rc != SM_OK)
        free(x);
    return rc;
}

typedef struct pump_job {
    int sent, failed;
} pump_job;

/* a procedure woke up with a peer's answer: run the engine now rather than at its next poll */
static void pump_kick(void *arg) { sm_engine_kick(arg); }

static void pump_run(sm_worker *w, void *arg)
{
    pump_job *j = arg;
    if (!w->db || atomic_load(&g_svc.stopping))
        return;
    sm_err err = {0};
    sm_app *app = g_svc.app;
    sm_es_pump_env env = {.client = app->net ? es_server_client(app->net) : NULL, .server = app->net,
                          .smdp_id = app->cfg->gsma.smdp_id, .smsr_id = app->cfg->gsma.smsr_id,
                          .stopping = &g_svc.stopping, .kick = pump_kick, .kick_arg = app, .batch = PUMP_BATCH,
                          .lease_ms = app->cfg->workers.lease_ms};
    if (!app->net || sm_es_outbox_pump_env(w->db, g_svc.owner, &env, &j->sent, &j->failed, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_WARN, "net", "outbox_pump_failed", "error=%s", SM_LOGQ(q, err.msg));
    }
}

static void pump_schedule(void);

static void pump_done(void *arg)
{
    pump_job *j = arg;
    if (j->sent || j->failed) {
        sm_log(SM_LOG_DEBUG, "net", "outbox_pumped", "sent=%d failed=%d", j->sent, j->failed);
        g_svc.again = true; /* there may be more: drain without waiting for the poll */
    }
    free(j);
    g_svc.running--;
    if (g_svc.again)
        pump_schedule();
}

/* Starts pump jobs up to the limit (loop thread): one probing job on a poll, as many as allowed while
 * there is work. */
static void pump_schedule(void)
{
    while (!atomic_load(&g_svc.stopping) && g_svc.running < g_svc.max_running) {
        pump_job *j = calloc(1, sizeof *j);
        if (!j)
            return;
        if (sm_workers_submit(g_svc.app->workers, pump_run, pump_done, j) != SM_OK) {
            free(j);
            return; /* queue full or stopping: the next poll retries */
        }
        g_svc.running++;
        if (!g_svc.again)
            break;
        g_svc.again = false;
    }
}

static void on_pump_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (g_svc.running == 0)
        pump_schedule();
}

static void on_pump_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    g_svc.again = true;
    pump_schedule();
}

/* db_outbox_on_commit: any thread, right after a transaction that queued messages committed */
static void outbox_committed(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_kick_mu); /* against pump_events_free on the loop thread */
    if (g_svc.kick && !atomic_load(&g_svc.stopping))
        event_active(g_svc.kick, EV_TIMEOUT, 0);
    pthread_mutex_unlock(&g_kick_mu);
}

/* ---- the listening session (other nodes' messages) ---- */

static void listen_reopen_later(void);

/* the listening session is gone or unusable: close it, open a new one later */
static void listen_drop(void)
{
    if (g_svc.listen_ev)
        event_free(g_svc.listen_ev);
    g_svc.listen_ev = NULL;
    db_listener_close(g_svc.listener);
    g_svc.listener = NULL;
    listen_reopen_later();
}

static void on_listen_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    int n = 0;
    sm_err err = {0};
    if (db_listener_read(g_svc.listener, g_svc.origin, &n, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_WARN, "net", "outbox_listen_lost", "error=%s", SM_LOGQ(q, err.msg));
        listen_drop();
        return;
    }
    if (n > 0) {
        g_svc.again = true;
        pump_schedule();
    }
}

typedef struct listen_job {
    db_listener *l;
    char error[SM_ERR_MSG];
} listen_job;

static void listen_open_run(sm_worker *w, void *arg)
{
    (void)w;
    listen_job *j = arg;
    sm_err err = {0};
    if (atomic_load(&g_svc.stopping))
        return;
    if (db_listener_open(g_svc.app->db, DB_OUTBOX_CHANNEL, &j->l, &err) != SM_OK)
        snprintf(j->error, sizeof j->error, "%s", err.msg);
}

static void listen_open_done(void *arg)
{
    listen_job *j = arg;
    g_svc.listen_opening = false;
    if (atomic_load(&g_svc.stopping) || !j->l) {
        if (j->error[0]) {
            char q[SM_ERR_MSG + 8];
            sm_log(SM_LOG_WARN, "net", "outbox_listen_failed", "retry_ms=%ld error=%s", g_svc.listen_retry_ms,
                   SM_LOGQ(q, j->error));
        }
        db_listener_close(j->l);
        free(j);
        if (!atomic_load(&g_svc.stopping))
            listen_reopen_later();
        return;
    }
    g_svc.listener = j->l;
    free(j);
    g_svc.listen_ev = event_new(g_svc.app->base, db_listener_fd(g_svc.listener), EV_READ | EV_PERSIST, on_listen_read,
                                NULL);
    if (!g_svc.listen_ev || event_add(g_svc.listen_ev, NULL) != 0) {
        listen_drop();
        return;
    }
    g_svc.listen_retry_ms = LISTEN_RETRY_MIN_MS;
    sm_log(SM_LOG_INFO, "net", "outbox_listening", "channel=%s backend_pid=%d", DB_OUTBOX_CHANNEL,
           db_listener_backend_pid(g_svc.listener));
    /* what other nodes queued while nobody listened */
    g_svc.again = true;
    pump_schedule();
}

static void listen_open(void)
{
    if (g_svc.listen_opening || g_svc.listener || atomic_load(&g_svc.stopping))
        return;
    listen_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    g_svc.listen_opening = true;
    if (sm_workers_submit(g_svc.app->workers, listen_open_run, listen_open_done, j) != SM_OK) {
        free(j);
        g_svc.listen_opening = false;
        listen_reopen_later();
    }
}

static void on_listen_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    listen_open();
}

static void listen_reopen_later(void)
{
    if (!g_svc.listen_retry || atomic_load(&g_svc.stopping))
        return;
    long ms = g_svc.listen_retry_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(g_svc.listen_retry, &tv);
    g_svc.listen_retry_ms = ms * 2 > LISTEN_RETRY_MAX_MS ? LISTEN_RETRY_MAX_MS : ms * 2;
}

/* Starts the pump's timer, kick and listener (loop thread, database service running). */
static sm_rc pump_start(sm_app *app, sm_err *err)
{
    const sm_config *cfg = app->cfg;
    long workers = cfg->workers.threads;
    long pumps = cfg->es.outbox_pumps > 0 ? cfg->es.outbox_pumps : workers > 1 ? workers - 1 : 1;
    g_svc.max_running = (unsigned)pumps;
    g_svc.listen_retry_ms = LISTEN_RETRY_MIN_MS;
    db_outbox_origin(app->db, g_svc.origin, sizeof g_svc.origin);
    g_svc.pump_timer = event_new(app->base, -1, EV_PERSIST, on_pump_timer, NULL);
    g_svc.kick = event_new(app->base, -1, 0, on_pump_kick, NULL);
    g_svc.listen_retry = evtimer_new(app->base, on_listen_retry, NULL);
    long ms = cfg->es.outbox_poll_ms > 0 ? cfg->es.outbox_poll_ms : 500;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!g_svc.pump_timer || !g_svc.kick || !g_svc.listen_retry || evtimer_add(g_svc.pump_timer, &tv) != 0)
        return sm_errf(err, SM_ENOMEM, "net: cannot create the outbox pump's events");
    db_outbox_on_commit(outbox_committed, NULL);
    listen_open();
    sm_log(SM_LOG_INFO, "net", "outbox_pump", "pumps=%u poll_ms=%ld batch=%d", g_svc.max_running, ms, PUMP_BATCH);
    /* messages left by an earlier run */
    g_svc.again = true;
    pump_schedule();
    return SM_OK;
}

static void pump_events_free(void)
{
    db_outbox_on_commit(NULL, NULL);
    pthread_mutex_lock(&g_kick_mu);
    struct event **evs[] = {&g_svc.pump_timer, &g_svc.kick, &g_svc.listen_ev, &g_svc.listen_retry};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        if (*evs[i])
            event_free(*evs[i]);
        *evs[i] = NULL;
    }
    pthread_mutex_unlock(&g_kick_mu);
}

static char *pin_for_engine(const sm_config *cfg, size_t *len, sm_err *err)
{
    char pinfile[4096];
    sm_config_var_path(cfg, cfg->hsm.pin_env && *cfg->hsm.pin_env ? NULL : cfg->hsm.pin_file, pinfile, sizeof pinfile);
    char *pin = NULL;
    if (sm_config_secret(pinfile, cfg->hsm.pin_env, "HSM PIN", &pin, len, err) != SM_OK)
        return NULL;
    return pin;
}

sm_rc sm_net_start(sm_app *app, sm_err *err)
{
    const sm_config *cfg = app->cfg;
    char cert[4096], ca[4096], devkey[4096] = "";
    sm_config_var_path(cfg, cfg->es.tls_cert_file, cert, sizeof cert);
    sm_config_var_path(cfg, cfg->es.tls_ca_file, ca, sizeof ca);
    if (cfg->es.tls_dev_key_file && *cfg->es.tls_dev_key_file)
        sm_config_var_path(cfg, cfg->es.tls_dev_key_file, devkey, sizeof devkey);
    size_t pinlen = 0;
    char *pin = NULL;
    if (!devkey[0] && !(pin = pin_for_engine(cfg, &pinlen, err)))
        return SM_EPIN;
    char label[HSM_LABEL_MAX + 1];
    if (cfg->es.tls_key_label && *cfg->es.tls_key_label)
        snprintf(label, sizeof label, "%s", cfg->es.tls_key_label);
    else
        sm_keyring_label(cfg->hsm.key_prefix, AK_TLS, label, sizeof label);
    net_tls_config tc = {.cert_file = cert, .ca_file = ca, .p11_module = cfg->hsm.module,
                         .token_label = cfg->hsm.token_label, .key_label = label, .pin = pin,
                         .dev_key_file = devkey[0] ? devkey : NULL};
    sm_rc rc = net_tls_new(&tc, &g_tls, err);
    if (pin)
        sm_secmem_free(pin, pinlen + 1);
    if (rc != SM_OK) {
        sm_err_prefix(err, "ES TLS (run `smctl es dev-pki` for a development certificate)");
        return rc;
    }
    es_peer_entry *peers = calloc(cfg->es.npeers ? cfg->es.npeers : 1, sizeof *peers);
    if (!peers) {
        net_tls_free(g_tls);
        g_tls = NULL;
        return sm_errf(err, SM_ENOMEM, "net: out of memory");
    }
    for (size_t i = 0; i < cfg->es.npeers; i++) {
        const sm_cfg_peer *p = &cfg->es.peers[i];
        peers[i] = (es_peer_entry){p->id, es_role_parse(p->role), p->subject, p->san, p->fingerprint, p->endpoint};
        if (!(p->subject && *p->subject) && !(p->san && *p->san) && !(p->fingerprint && *p->fingerprint) &&
            !es_local_endpoint(p->endpoint))
            sm_log(SM_LOG_WARN, "net", "peer_unmatchable", "id=%s msg=\"no subject, san or fingerprint: it can be "
                                                           "called but never call\"", p->id);
    }
    es_server_config sc = {
        .listen = cfg->es.listen,
        .tls = g_tls,
        .peers = {peers, cfg->es.npeers},
        .max_body_bytes = (size_t)cfg->es.max_body_bytes,
        .max_header_bytes = (size_t)cfg->es.max_header_bytes,
        .max_xml_depth = (unsigned)cfg->es.max_xml_depth,
        .max_xml_nodes = (unsigned long)cfg->es.max_xml_nodes,
        .rate_per_second = (double)cfg->es.rate_per_second,
        .rate_burst = (double)cfg->es.rate_burst,
        .idle_timeout_s = (int)cfg->es.idle_timeout_s,
        .request_timeout_s = (int)cfg->es.request_timeout_s,
        .handshake_timeout_s = (int)cfg->es.handshake_timeout_s,
        .max_conns = (unsigned)cfg->es.max_connections,
        .handshake_threads = (unsigned)cfg->es.handshake_threads,
        .public_url = cfg->es.public_url,
        .smdp_id = cfg->gsma.smdp_id,
        .smsr_id = cfg->gsma.smsr_id,
        .client_timeout_s = (int)cfg->es.client_timeout_s,
        .client_retries = (int)cfg->es.client_retries,
        .client_backoff_ms = (int)cfg->es.client_backoff_ms,
        .exec = {xsubmit, app->workers},
    };
    bool db = app->db != NULL; /* the database service started before us */
    sm_es_db_hooks(&sc.hooks, db);
    if (!db) {
        sm_log(SM_LOG_WARN, "net", "no_database",
               "msg=\"replay keys kept in memory, refusals audited to the log, async responses sent without the "
               "durable outbox\"");
    }
    es_server *srv = NULL;
    rc = es_server_start(app->base, &sc, &srv, err); /* copies the peers */
    free(peers);
    if (rc != SM_OK) {
        net_tls_free(g_tls);
        g_tls = NULL;
        return rc;
    }
    for (size_t i = 0; i < sm_nes_binders; i++) {
        if (sm_es_binders[i] && (rc = sm_es_binders[i](app, srv, err)) != SM_OK) {
            sm_err_prefix(err, "binding ES handlers");
            es_server_stop(srv, 1);
            net_tls_free(g_tls);
            g_tls = NULL;
            return rc;
        }
    }
    app->net = srv;
    memset(&g_svc, 0, sizeof g_svc);
    g_svc.app = app;
    snprintf(g_svc.owner, sizeof g_svc.owner, "%s/es", cfg->node.name);
    if (db && (rc = pump_start(app, err)) != SM_OK) {
        pump_events_free();
        app->net = NULL;
        es_server_stop(srv, 1);
        net_tls_free(g_tls);
        g_tls = NULL;
        return rc;
    }
    sm_log(SM_LOG_NOTICE, "net", "listening", "listen=%s port=%d peers=%zu key=%s", cfg->es.listen, es_server_port(srv),
           cfg->es.npeers, devkey[0] ? "pem-file(DEVELOPMENT)" : "hsm");
    return SM_OK;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

void sm_net_stop(sm_app *app)
{
    atomic_store(&g_svc.stopping, true);
    pump_events_free();
    /* a pump job may be delivering through the client: let it end before the client goes */
    struct event *t = evtimer_new(app->base, tick, NULL);
    for (int i = 0; t && (g_svc.running || g_svc.listen_opening) && i < 400; i++) {
        struct timeval tv = {0, 50000};
        evtimer_add(t, &tv);
        event_base_loop(app->base, EVLOOP_ONCE);
    }
    if (t)
        event_free(t);
    db_listener_close(g_svc.listener);
    g_svc.listener = NULL;
    if (app->net) {
        es_server_stop(app->net, 10);
        app->net = NULL;
    }
    net_tls_free(g_tls);
    g_tls = NULL;
}

void sm_net_reload(sm_app *app, const sm_config *nc)
{
    if (!app->net)
        return;
    es_server_set_rate(app->net, (double)nc->es.rate_per_second, (double)nc->es.rate_burst);
    es_peer_entry *peers = calloc(nc->es.npeers ? nc->es.npeers : 1, sizeof *peers);
    if (!peers)
        return;
    for (size_t i = 0; i < nc->es.npeers; i++) {
        const sm_cfg_peer *p = &nc->es.peers[i];
        peers[i] = (es_peer_entry){p->id, es_role_parse(p->role), p->subject, p->san, p->fingerprint, p->endpoint};
    }
    es_peer_list l = {peers, nc->es.npeers};
    sm_err err = {0};
    if (es_server_set_peers(app->net, &l, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "peers_reload_failed", "error=%s", SM_LOGQ(q, err.msg));
    }
    free(peers);
}

es_server *sm_net_server(sm_app *app) { return app->net; }
