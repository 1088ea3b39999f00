/* The ES interfaces as a daemon service. */
#include "appliance/net_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"
#include "lib/log.h"
#include "lib/secmem.h"

static net_tls *g_tls; /* one daemon per process */

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

/* Refused calls go to the audit trail through the worker's database connection; without one (the
 * database service not running) they are logged at NOTICE with sub=audit — never dropped. */
static void audit(void *ctx, void *worker, const es_audit_rec *r)
{
    (void)ctx;
    sm_worker *w = worker;
    char actor[200], action[128];
    if (r->peer->known)
        snprintf(actor, sizeof actor, "%s", r->peer->id);
    else
        snprintf(actor, sizeof actor, "cert:%s", r->peer->fingerprint);
    snprintf(action, sizeof action, "%s", r->qname);
    if (action[0] == 'E' && action[1] == 'S')
        action[0] = 'e', action[1] = 's';
    const char *object = r->fcid && *r->fcid ? r->fcid : r->message_id && *r->message_id ? r->message_id : "-";
    if (w && w->db) {
        sm_err err = {0};
        if (db_audit_appendf(w->db, &err, actor, action, object, "denied", "%s: %s (role %s, certificate %s)", r->event,
                             r->reason, es_role_name(r->peer->role), r->peer->subject) == SM_OK)
            return;
        char q[600];
        sm_log(SM_LOG_ERR, "audit", "append_failed", "error=%s", SM_LOGQ(q, err.msg));
    }
    char q1[300], q2[300];
    sm_log(SM_LOG_NOTICE, "audit", r->event, "actor=%s action=%s object=%s outcome=denied reason=%s subject=%s", actor,
           action, object, SM_LOGQ(q1, r->reason), SM_LOGQ(q2, r->peer->subject));
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
        if (!(p->subject && *p->subject) && !(p->san && *p->san) && !(p->fingerprint && *p->fingerprint))
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
        .hooks = {.audit = audit, .ctx = app},
    };
    es_server *srv = NULL;
    rc = es_server_start(app->base, &sc, &srv, err); /* copies the peers */
    free(peers);
    if (rc != SM_OK) {
        net_tls_free(g_tls);
        g_tls = NULL;
        return rc;
    }
    app->net = srv;
    sm_log(SM_LOG_NOTICE, "net", "listening", "listen=%s port=%d peers=%zu key=%s", cfg->es.listen, es_server_port(srv),
           cfg->es.npeers, devkey[0] ? "pem-file(DEVELOPMENT)" : "hsm");
    return SM_OK;
}

void sm_net_stop(sm_app *app)
{
    if (app->net) {
        es_server_stop(app->net, 10);
        app->net = NULL;
    }
    net_tls_free(g_tls);
    g_tls = NULL;
}

void sm_net_reload(sm_app *app, const sm_config *nc)
{
    if (app->net)
        es_server_set_rate(app->net, (double)nc->es.rate_per_second, (double)nc->es.rate_burst);
}

es_server *sm_net_server(sm_app *app) { return app->net; }
