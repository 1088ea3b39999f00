/* The es5 daemon service: settings, the delivery driver (a timer and a kick that run delivery passes
 * on the workers, then send their SMS from the loop), the SMPP client and its MO messages (PoRs and
 * notifications, handled on the workers and acknowledged to the SMSC once recorded), the SCP81 admin
 * server (admin.c) and the node's status row. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appliance/es5/internal.h"
#include "lib/log.h"
#include "lib/secmem.h"
#include "net/smpp.h"
#include "net/smpp_client.h"

#define REASM_SLOTS 64
#define REASM_TTL_S 60
#define REPORT_EVERY_S 2
#define PURGE_EVERY_S 600

typedef struct reasm {
    bool used;
    char src[21];
    uint16_t ref;
    uint8_t total, got;
    bool resp;
    time_t first;
    scp80_sms part[SCP80_PARTS_MAX];
    bool have[SCP80_PARTS_MAX];
} reasm;

static struct {
    es5_ctx x;
    struct event *poll, *kick;
    smpp_client *smpp;
    char smpp_server[256];
    unsigned passes, max_passes;
    bool again, stopping;
    _Atomic int jobs;
    _Atomic bool kicked;
    time_t last_report, last_purge;
    reasm re[REASM_SLOTS];
    _Atomic unsigned long sms_sent, sms_failed, mo_por, mo_cmd, mo_dropped;
} S;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* es5_kick against start/stop */

bool es5_stopping(void) { return S.stopping; }

/* ---- jobs ------------------------------------------------------------------------------------- */

typedef struct jwrap {
    sm_job_fn fn;
    sm_done_fn done;
    void *arg;
} jwrap;

static void jrun(sm_worker *w, void *a)
{
    jwrap *j = a;
    j->fn(w, j->arg);
}

static void jdone(void *a)
{
    jwrap *j = a;
    if (j->done)
        j->done(j->arg);
    free(j);
    atomic_fetch_sub(&S.jobs, 1);
}

sm_rc es5_job(sm_job_fn fn, sm_done_fn done, void *arg)
{
    if (!es5_running)
        return SM_ESTATE;
    jwrap *j = malloc(sizeof *j);
    if (!j)
        return SM_ENOMEM;
    *j = (jwrap){fn, done, arg};
    atomic_fetch_add(&S.jobs, 1);
    sm_rc rc = sm_workers_submit(S.x.app->workers, jrun, jdone, j);
    if (rc != SM_OK) {
        atomic_fetch_sub(&S.jobs, 1);
        free(j);
    }
    return rc;
}

/* ---- delivery passes ---------------------------------------------------------------------------- */

typedef struct pass {
    es5_send *sends;
    int worked;
    sm_rc rc;
    char error[SM_ERR_MSG];
    bool report, purge;
    char link[16];
    char stats[200];
    int conns;
} pass;

static void schedule(void);

static void pass_run(sm_worker *w, void *arg)
{
    pass *p = arg;
    sm_err err = {0};
    char who[16];
    snprintf(who, sizeof who, "w%d", w->id);
    if (!w->db) {
        p->rc = sm_errf(&err, SM_ESTATE, "es5: worker %d has no database connection", w->id);
    } else {
        p->rc = es5_deliver_pass(w->db, w->hsm, &S.x, who, &p->sends, &p->worked, &err);
        if (p->report && p->rc == SM_OK)
            p->rc = es5q_node_report(w->db, S.x.set.node, p->link, S.smpp_server, p->conns, p->stats, &err);
        long n = 0;
        if (p->purge && p->rc == SM_OK && (p->rc = es5q_purge(w->db, S.x.set.retention_s, &n, &err)) == SM_OK && n)
            sm_log(SM_LOG_INFO, "es5", "purged", "requests=%ld", n);
    }
    if (p->rc != SM_OK)
        snprintf(p->error, sizeof p->error, "%s", err.msg);
}

static void sent_cb(void *arg, sm_rc rc, uint32_t status, const char *message_id)
{
    (void)message_id;
    int64_t req = (int64_t)(intptr_t)arg;
    if (rc == SM_OK) {
        atomic_fetch_add(&S.sms_sent, 1);
        return;
    }
    atomic_fetch_add(&S.sms_failed, 1);
    /* the request's timer sends the same packet again */
    sm_log(SM_LOG_INFO, "es5", "sms_not_accepted", "req=%lld rc=%s status=%08X", (long long)req, sm_rc_name(rc),
           status);
}

typedef struct send_ctx {
    const es5_send *s;
} send_ctx;

static void send_part(void *arg, const uint8_t *ud, size_t n)
{
    send_ctx *sc = arg;
    sm_err err = {0};
    if (!S.smpp || smpp_client_submit(S.smpp, sc->s->msisdn, ud, n, sent_cb, (void *)(intptr_t)sc->s->req, &err) !=
                       SM_OK) {
        atomic_fetch_add(&S.sms_failed, 1);
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_INFO, "es5", "sms_not_queued", "req=%lld why=%s", (long long)sc->s->req,
               SM_LOGQ(q, S.smpp ? err.msg : "no SMPP client"));
    }
}

static void pass_done(void *arg)
{
    pass *p = arg;
    S.passes--;
    /* the transactions committed: the packets may leave now, in the order they were built */
    es5_send *rev = NULL;
    for (es5_send *s = p->sends, *n; s; s = n) {
        n = s->next;
        s->next = rev;
        rev = s;
    }
    for (es5_send *s = rev; s; s = s->next) {
        send_ctx sc = {s};
        es5_sms_split(s->packet, s->len, send_part, &sc, NULL);
    }
    es5_sends_free(rev);
    if (p->rc != SM_OK) {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_WARN, "es5", "pass_failed", "error=%s", SM_LOGQ(q, p->error));
    } else if (p->worked > 0) {
        S.again = true;
    }
    free(p);
    if (S.again)
        schedule();
}

static void schedule(void)
{
    while (!S.stopping && S.passes < S.max_passes) {
        pass *p = calloc(1, sizeof *p);
        if (!p)
            return;
        time_t now = time(NULL);
        if (now - S.last_report >= REPORT_EVERY_S) {
            S.last_report = now;
            p->report = true;
            smpp_client_stats st = {0};
            if (S.smpp)
                smpp_client_get_stats(S.smpp, &st);
            snprintf(p->link, sizeof p->link, "%s", S.smpp ? smpp_link_name(st.link) : "none");
            p->conns = (int)es5_admin_conns();
            snprintf(p->stats, sizeof p->stats,
                     "sms_sent=%lu sms_failed=%lu por=%lu mo=%lu mo_dropped=%lu binds=%lu smpp_queued=%u",
                     atomic_load(&S.sms_sent), atomic_load(&S.sms_failed), atomic_load(&S.mo_por),
                     atomic_load(&S.mo_cmd), atomic_load(&S.mo_dropped), st.binds, st.queued);
        }
        if (now - S.last_purge >= PURGE_EVERY_S) {
            S.last_purge = now;
            p->purge = true;
        }
        if (es5_job(pass_run, pass_done, p) != SM_OK) {
            free(p);
            return; /* the next poll tries again */
        }
        S.passes++;
        if (!S.again)
            break; /* a probing pass is enough while idle */
        S.again = false;
    }
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (S.passes == 0)
        schedule();
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    atomic_store(&S.kicked, false);
    S.again = true;
    schedule();
}

void es5_kick_internal(void)
{
    pthread_mutex_lock(&g_mu);
    if (es5_running && S.kick && !atomic_exchange(&S.kicked, true))
        event_active(S.kick, EV_TIMEOUT, 0);
    pthread_mutex_unlock(&g_mu);
}

void es5_kick(sm_app *app)
{
    (void)app;
    es5_kick_internal();
}

/* ---- MO messages --------------------------------------------------------------------------------- */

typedef struct mo_job {
    bool resp;
    char src[21];
    uint64_t ack;
    sm_rc rc;
    bool kick;
    char error[SM_ERR_MSG];
    size_t len;
    uint8_t ud[];
} mo_job;

static void mo_run(sm_worker *w, void *arg)
{
    mo_job *j = arg;
    sm_err err = {0};
    if (!w->db)
        j->rc = sm_errf(&err, SM_ESTATE, "es5: worker without a database connection");
    else if (j->resp)
        j->rc = es5_por_received(w->db, w->hsm, &S.x, j->src, j->ud, j->len, &j->kick, &err);
    else
        j->rc = es5_mo_command(w->db, w->hsm, &S.x, j->src, j->ud, j->len, &j->kick, &err);
    if (j->rc != SM_OK)
        snprintf(j->error, sizeof j->error, "%s", err.msg);
}

static void mo_done(void *arg)
{
    mo_job *j = arg;
    /* a message the database could not take is refused for now: the SMSC delivers it again; one that
     * can never be processed (malformed, failed verification) is acknowledged and dropped */
    bool transient = j->rc == SM_EDB || j->rc == SM_EHSM || j->rc == SM_ESESSION || j->rc == SM_ENOMEM;
    if (j->rc != SM_OK) {
        char q[SM_ERR_MSG + 8];
        sm_log(transient ? SM_LOG_WARN : SM_LOG_NOTICE, "es5", j->resp ? "por_failed" : "mo_failed",
               "msisdn=%s transient=%d error=%s", j->src, transient, SM_LOGQ(q, j->error));
        if (!transient)
            atomic_fetch_add(&S.mo_dropped, 1);
    }
    if (S.smpp)
        smpp_client_ack(S.smpp, j->ack, transient ? SMPP_RX_T_APPN : SMPP_ROK);
    if (j->kick)
        on_kick(-1, 0, NULL);
    free(j);
}

static void dispatch(const char *src, bool resp, const uint8_t *ud, size_t len, uint64_t ack)
{
    mo_job *j = calloc(1, sizeof *j + len);
    if (!j) {
        smpp_client_ack(S.smpp, ack, SMPP_RX_T_APPN);
        return;
    }
    j->resp = resp;
    snprintf(j->src, sizeof j->src, "%s", src);
    j->ack = ack;
    memcpy(j->ud, ud, len);
    j->len = len;
    atomic_fetch_add(resp ? &S.mo_por : &S.mo_cmd, 1);
    if (es5_job(mo_run, mo_done, j) != SM_OK) {
        smpp_client_ack(S.smpp, ack, SMPP_RX_T_APPN); /* busy: the SMSC tries again later */
        free(j);
    }
}

/* Concatenated MO parts, joined in memory (one node: parts spread over several nodes' binds are not
 * joined; docs/es5.md). */
static void reassemble(const smpp_mo *mo, const scp80_udh *h, uint64_t ack)
{
    time_t now = time(NULL);
    reasm *slot = NULL, *oldest = NULL, *free_slot = NULL;
    for (int i = 0; i < REASM_SLOTS; i++) {
        reasm *r = &S.re[i];
        if (r->used && now - r->first > REASM_TTL_S)
            r->used = false;
        if (!r->used) {
            if (!free_slot)
                free_slot = r;
            continue;
        }
        if (!strcmp(r->src, mo->src) && r->ref == h->ref && r->total == h->total)
            slot = r;
        if (!oldest || r->first < oldest->first)
            oldest = r;
    }
    if (!slot) {
        slot = free_slot ? free_slot : oldest;
        memset(slot, 0, sizeof *slot);
        slot->used = true;
        snprintf(slot->src, sizeof slot->src, "%s", mo->src);
        slot->ref = h->ref;
        slot->total = h->total;
        slot->first = now;
    }
    if (h->total > SCP80_PARTS_MAX || mo->len > SCP80_UD_MAX) {
        slot->used = false;
        atomic_fetch_add(&S.mo_dropped, 1);
        smpp_client_ack(S.smpp, ack, SMPP_ROK);
        return;
    }
    slot->resp = slot->resp || h->resp_packet;
    if (!slot->have[h->seq - 1]) {
        memcpy(slot->part[slot->got].ud, mo->ud, mo->len);
        slot->part[slot->got].len = mo->len;
        slot->have[h->seq - 1] = true;
        slot->got++;
    }
    if (slot->got < slot->total) {
        smpp_client_ack(S.smpp, ack, SMPP_ROK); /* kept in memory; the last part is acknowledged when processed */
        return;
    }
    sm_buf all;
    sm_buf_init(&all);
    const uint8_t udh[3] = {0x02, (uint8_t)(slot->resp ? 0x71 : 0x70), 0x00};
    sm_buf_append(&all, udh, 3);
    sm_err err = {0};
    if (scp80_sms_join(slot->part, slot->got, &all, &err) == SM_OK && !all.failed)
        dispatch(slot->src, slot->resp, all.data, all.len, ack);
    else
        smpp_client_ack(S.smpp, ack, SMPP_ROK);
    slot->used = false;
    sm_buf_free(&all);
}

static void on_mo(void *arg, const smpp_mo *mo, uint64_t ack)
{
    (void)arg;
    if (mo->receipt) {
        char id[65], stat[16];
        if (smpp_receipt_parse(mo->ud, mo->len, id, sizeof id, stat, sizeof stat))
            sm_log(SM_LOG_DEBUG, "es5", "delivery_receipt", "msisdn=%s id=%s stat=%s", mo->src, id, stat);
        smpp_client_ack(S.smpp, ack, SMPP_ROK);
        return;
    }
    scp80_udh h;
    sm_err err = {0};
    if (!(mo->esm_class & SMPP_ESM_UDHI) || !mo->len ||
        scp80_sms_parse_udh(mo->ud, mo->len, &h, &err) != SM_OK || (!h.resp_packet && !h.cmd_packet && !h.concat)) {
        atomic_fetch_add(&S.mo_dropped, 1);
        sm_log(SM_LOG_NOTICE, "es5", "mo_dropped", "msisdn=%s why=\"not a secured packet (no UDH 70/71)\"", mo->src);
        smpp_client_ack(S.smpp, ack, SMPP_ROK);
        return;
    }
    if (h.concat) {
        reassemble(mo, &h, ack);
        return;
    }
    dispatch(mo->src, h.resp_packet, mo->ud, mo->len, ack);
}

/* ---- start / stop ------------------------------------------------------------------------------- */

static sm_rc settings(const sm_config *cfg, es5_settings *s, sm_err *err)
{
    memset(s, 0, sizeof *s);
    const __typeof__(cfg->es5) *e = &cfg->es5;
    s->validity_s = e->validity_s;
    s->por_timeout_ms = e->por_timeout_ms;
    s->retry_max_ms = e->retry_max_ms;
    s->session_wait_ms = e->session_wait_ms;
    s->script_timeout_ms = e->script_timeout_s * 1000;
    s->lease_ms = e->lease_ms;
    s->poll_ms = e->poll_ms;
    s->admin_idle_ms = e->admin_idle_ms;
    s->admin_hold_ms = e->admin_hold_ms;
    s->dedup_s = e->notification_dedup_s;
    s->retention_s = e->retention_s;
    s->sms_max_parts = (int)e->sms_max_parts;
    s->prefer_sms = e->prefer_channel && !strcmp(e->prefer_channel, "sms");
    s->push_id_text = e->push_identity && !strcmp(e->push_identity, "text");
    s->sms_on = e->smpp_server && *e->smpp_server;
    s->https_on = e->admin_listen && *e->admin_listen;
    snprintf(s->node, sizeof s->node, "%s", cfg->node.name);
    snprintf(s->actor, sizeof s->actor, "node:%s", cfg->node.name);
    if (s->sms_on && (!e->sms_source_addr || !*e->sms_source_addr))
        return sm_errf(err, SM_ECONFIG, "es5.smpp_server is set but es5.sms_source_addr (our SMS address) is not");
    if (s->https_on) {
        const char *u = e->admin_url;
        if (!u || strncmp(u, "https://", 8) != 0)
            return sm_errf(err, SM_ECONFIG, "es5.admin_listen is set but es5.admin_url is not an https:// URL");
        const char *h = u + 8, *slash = strchr(h, '/');
        size_t hl = slash ? (size_t)(slash - h) : strlen(h);
        if (hl == 0 || hl >= sizeof s->admin_host || (slash && strlen(slash) >= sizeof s->admin_path))
            return sm_errf(err, SM_ECONFIG, "es5.admin_url %s: bad host or path", u);
        memcpy(s->admin_host, h, hl);
        s->admin_host[hl] = 0;
        snprintf(s->admin_path, sizeof s->admin_path, "%s", slash ? slash : "/");
        for (const char *p = s->admin_path; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F || *p == '?')
                return sm_errf(err, SM_ECONFIG, "es5.admin_url: the path must be plain visible ASCII without a query");
        if (s->admin_path[1] && s->admin_path[strlen(s->admin_path) - 1] == '/')
            s->admin_path[strlen(s->admin_path) - 1] = 0;
    }
    return SM_OK;
}

sm_rc es5_start(sm_app *app, sm_err *err)
{
    if (!app->db)
        return sm_errf(err, SM_ESTATE, "es5: the database service is not running");
    memset(&S, 0, sizeof S);
    S.x.app = app;
    S.x.kek = app->keys.key[AK_KEK];
    sm_rc rc = settings(app->cfg, &S.x.set, err);
    if (rc != SM_OK)
        return rc;
    long workers = app->cfg->workers.threads;
    S.max_passes = workers > 1 ? (unsigned)(workers - 1) : 1;
    S.poll = event_new(app->base, -1, EV_PERSIST, on_poll, NULL);
    S.kick = event_new(app->base, -1, 0, on_kick, NULL);
    struct timeval tv = {S.x.set.poll_ms / 1000, (S.x.set.poll_ms % 1000) * 1000};
    if (!S.poll || !S.kick || event_add(S.poll, &tv) != 0)
        rc = sm_errf(err, SM_ENOMEM, "es5: cannot create its timers");
    pthread_mutex_lock(&g_mu);
    es5_running = &S.x;
    pthread_mutex_unlock(&g_mu);
    atomic_store(&es5_default_validity_s, S.x.set.validity_s);
    const __typeof__(app->cfg->es5) *e = &app->cfg->es5;
    if (rc == SM_OK && S.x.set.sms_on) {
        char *pw = NULL;
        size_t pwl = 0;
        char pwfile[4096] = "";
        bool have_pw = (e->smpp_password_file && *e->smpp_password_file) || (e->smpp_password_env && *e->smpp_password_env);
        if (e->smpp_password_file && *e->smpp_password_file)
            sm_config_var_path(app->cfg, e->smpp_password_file, pwfile, sizeof pwfile);
        if (have_pw)
            rc = sm_config_secret(pwfile, e->smpp_password_env, "SMPP password", &pw, &pwl, err);
        smpp_client_config sc = {
            .server = e->smpp_server,
            .system_id = e->smpp_system_id ? e->smpp_system_id : "",
            .password = pw ? pw : "",
            .system_type = e->smpp_system_type ? e->smpp_system_type : "",
            .source_addr = e->sms_source_addr,
            .source_ton = 1,
            .source_npi = 1,
            .dest_ton = 1,
            .dest_npi = 1,
            .enquire_link_s = (int)e->smpp_enquire_link_s,
            .response_timeout_s = (int)e->smpp_response_timeout_s,
            .reconnect_max_ms = (int)e->smpp_reconnect_max_s * 1000,
            .window = (unsigned)e->smpp_window,
            .delivery_receipts = e->smpp_delivery_receipts,
        };
        snprintf(S.smpp_server, sizeof S.smpp_server, "%s", e->smpp_server);
        if (rc == SM_OK)
            rc = smpp_client_start(app->base, &sc, on_mo, NULL, &S.smpp, err);
        if (pw)
            sm_secmem_free(pw, pwl + 1);
    }
    if (rc == SM_OK && S.x.set.https_on)
        rc = es5_admin_start(app, &S.x, err);
    if (rc != SM_OK) {
        es5_stop(app);
        return rc;
    }
    sm_log(SM_LOG_INFO, "es5", "started", "sms=%s admin=%s admin_url_host=%s passes=%u validity_s=%ld",
           S.x.set.sms_on ? e->smpp_server : "off", S.x.set.https_on ? e->admin_listen : "off",
           S.x.set.https_on ? S.x.set.admin_host : "-", S.max_passes, S.x.set.validity_s);
    return SM_OK;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void drain(sm_app *app)
{
    struct event *t = evtimer_new(app->base, tick, NULL);
    for (int i = 0; t && atomic_load(&S.jobs) > 0 && i < 3000; i++) {
        struct timeval tv = {0, 10000};
        evtimer_add(t, &tv);
        event_base_loop(app->base, EVLOOP_ONCE);
    }
    if (t)
        event_free(t);
}

void es5_stop(sm_app *app)
{
    if (!es5_running)
        return;
    S.stopping = true;
    if (S.poll)
        event_del(S.poll);
    /* passes and MO jobs finish (their transactions commit or roll back) and come back */
    drain(app);
    es5_admin_stop();
    drain(app);
    if (atomic_load(&S.jobs) > 0)
        sm_log(SM_LOG_WARN, "es5", "stop_timeout", "jobs=%d", atomic_load(&S.jobs));
    smpp_client_stats st = {0};
    if (S.smpp) {
        smpp_client_get_stats(S.smpp, &st);
        smpp_client_stop(S.smpp);
        S.smpp = NULL;
    }
    pthread_mutex_lock(&g_mu);
    es5_running = NULL;
    if (S.poll)
        event_free(S.poll);
    if (S.kick)
        event_free(S.kick);
    S.poll = S.kick = NULL;
    pthread_mutex_unlock(&g_mu);
    sm_log(SM_LOG_INFO, "es5", "stopped", "sms_sent=%lu sms_failed=%lu por=%lu mo=%lu mo_dropped=%lu binds=%lu",
           atomic_load(&S.sms_sent), atomic_load(&S.sms_failed), atomic_load(&S.mo_por), atomic_load(&S.mo_cmd),
           atomic_load(&S.mo_dropped), st.binds);
}
