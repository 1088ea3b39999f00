/* The ES interfaces as a daemon service. */
#include "appliance/net_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>

#include "appliance/engine_service.h"
#include "appliance/es_db.h"
#include "lib/log.h"
#include "lib/secmem.h"
#include "net/es_local.h"

#define PUMP_INTERVAL_MS 500

/* one daemon per process */
static net_tls *g_tls;
static struct {
    sm_app *app;
    struct event *pump_timer;
    atomic_bool stopping;
    bool pump_running;
    char owner[160];
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
                          .stopping = &g_svc.stopping, .kick = pump_kick, .kick_arg = app};
    if (!app->net || sm_es_outbox_pump_env(w->db, g_svc.owner, &env, &j->sent, &j->failed, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_WARN, "net", "outbox_pump_failed", "error=%s", SM_LOGQ(q, err.msg));
    }
}

static void pump_done(void *arg)
{
    pump_job *j = arg;
    if (j->sent || j->failed)
        sm_log(SM_LOG_INFO, "net", "outbox_pumped", "sent=%d failed=%d", j->sent, j->failed);
    free(j);
    g_svc.pump_running = false;
}

static void on_pump_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sm_app *app = arg;
    if (g_svc.pump_running || atomic_load(&g_svc.stopping))
        return;
    pump_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    g_svc.pump_running = true;
    if (sm_workers_submit(app->workers, pump_run, pump_done, j) != SM_OK) {
        free(j);
        g_svc.pump_running = false;
    }
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
    if (db) {
        g_svc.pump_timer = event_new(app->base, -1, EV_PERSIST, on_pump_timer, app);
        struct timeval tv = {0, PUMP_INTERVAL_MS * 1000};
        if (g_svc.pump_timer)
            evtimer_add(g_svc.pump_timer, &tv);
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
    if (g_svc.pump_timer) {
        event_free(g_svc.pump_timer);
        g_svc.pump_timer = NULL;
    }
    /* a pump job may be delivering through the client: let it end before the client goes */
    struct event *t = evtimer_new(app->base, tick, NULL);
    for (int i = 0; t && g_svc.pump_running && i < 400; i++) {
        struct timeval tv = {0, 50000};
        evtimer_add(t, &tv);
        event_base_loop(app->base, EVLOOP_ONCE);
    }
    if (t)
        event_free(t);
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
