/* The ES layer's database hooks. */
#include "appliance/es_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/workers.h"
#include "db/audit.h"
#include "db/idem.h"
#include "lib/log.h"
#include "net/es_answer.h"
#include "net/es_local.h"
#include "net/rest.h"
#include "net/soap.h"

#define OUTBOX_MAGIC "smbox-es-outbox/1\n"

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

static db_conn *wdb(void *worker)
{
    sm_worker *w = worker;
    return w ? w->db : NULL;
}

static bool h_call_begin(void *ctx, void *worker)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    sm_err err = {0};
    if (!c || db_in_tx(c))
        return false;
    if (db_begin(c, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "db_begin_failed", "error=%s", SM_LOGQ(q, err.msg));
        return false;
    }
    return true;
}

/* An outbox message being delivered in-process on this thread: the call it makes marks it delivered in
 * the call's own transaction and leaves that transaction open; the sender wakes the procedure that sent
 * it (when it answers a request) in the same transaction and commits. One commit for the peer's work,
 * the delivery and the wake-up; a delivery whose transaction did not commit is retried, not taken as
 * done. */
static _Thread_local struct {
    const db_outbox_item *it;
    bool pending;            /* the message's call has not ended yet */
    bool open;               /* its call ended with its transaction left open for the sender */
    bool recorded;           /* ... and marked the message delivered in it */
} t_local;

static bool h_call_end(void *ctx, void *worker, bool ok)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    if (!c || !db_in_tx(c))
        return true;
    bool local = t_local.pending;
    t_local.pending = false;
    if (!ok) {
        db_rollback(c);
        return true;
    }
    if (local) {
        sm_err e2 = {0};
        /* sent ahead with the sender's COMMIT: a lease taken over meanwhile fails that commit, and the
         * call's effects go with it (the new holder delivers the message): exactly once */
        t_local.recorded = db_outbox_complete_in_tx(c, t_local.it, &e2) == SM_OK;
        t_local.open = true; /* the sender commits, and handles a failed commit */
        return true;
    }
    sm_err err = {0};
    if (db_commit(c, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "db_commit_failed", "error=%s", SM_LOGQ(q, err.msg));
        return false;
    }
    return true;
}

/* Replay keys. Not for an in-process delivery from our own outbox: that message is delivered exactly
 * once by its row's fenced completion in the call's own transaction (h_call_end), and its ids are our
 * own; two statements (and a stored answer) per message saved. */
static es_idem_state h_idem_begin(void *ctx, void *worker, const char *requester, const char *kf, const char *km,
                                  char **stored, int *which)
{
    (void)ctx;
    if (t_local.pending)
        return ES_IDEM_NEW;
    db_conn *c = wdb(worker);
    db_idem r;
    memset(&r, 0, sizeof r);
    sm_err err = {0};
    if (!c || db_idem_begin2(c, requester, kf, km, &r, which, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "idem_failed", "requester=%s error=%s", requester, SM_LOGQ(q, c ? err.msg : "no database"));
        return ES_IDEM_NEW;
    }
    es_idem_state st = r.state == DB_IDEM_DONE ? ES_IDEM_DONE : r.state == DB_IDEM_PENDING ? ES_IDEM_PENDING : ES_IDEM_NEW;
    if (st == ES_IDEM_DONE) {
        *stored = malloc(r.response_len + 1);
        if (*stored) {
            memcpy(*stored, r.response, r.response_len);
            (*stored)[r.response_len] = 0;
        } else {
            st = ES_IDEM_PENDING;
        }
    }
    db_idem_clear(&r);
    return st;
}

static void h_idem_complete(void *ctx, void *worker, const char *requester, const char *kf, const char *km,
                            const char *stored)
{
    (void)ctx;
    if (t_local.pending)
        return;
    db_conn *c = wdb(worker);
    sm_err err = {0};
    if (c && db_idem_complete2(c, requester, kf, km, (const uint8_t *)stored, strlen(stored), &err) != SM_OK &&
        err.code != SM_ESTATE) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "idem_complete_failed", "requester=%s error=%s", requester, SM_LOGQ(q, err.msg));
    }
}

/* outbox payload: OUTBOX_MAGIC, binding, URL, action, empty line, then the encoded message */
sm_rc sm_es_outbox_add(db_conn *c, const es_outbound *o, int64_t proc_id, sm_err *err)
{
    if (!c)
        return sm_errf(err, SM_ESTATE, "outbox: no database connection");
    const es_msg *m = o->msg;
    sm_buf body, p;
    sm_buf_init(&body);
    sm_buf_init(&p);
    sm_rc rc = o->binding == ES_BIND_SOAP ? soap_encode(m, &body, err) : rest_encode(m, &body, err);
    if (rc == SM_OK) {
        const char *action = m->hdr.action[0] ? m->hdr.action : m->kind == ES_KIND_RESPONSE ? m->fn->resp_action
                                                                                             : m->fn->req_action;
        sm_buf_printf(&p, OUTBOX_MAGIC "%s\n%s\n%s\n\n", o->binding == ES_BIND_SOAP ? "soap" : "rest", o->url,
                      action ? action : "");
        sm_buf_append(&p, body.data, body.len);
        char kind[128];
        snprintf(kind, sizeof kind, "%s.%s%s", es_iface_name(m->fn->iface), m->fn->name,
                 m->kind == ES_KIND_RESPONSE ? "Response" : "");
        db_outbox_msg om = {.dest_role = es_role_name(o->peer_role), .dest_id = o->peer_id ? o->peer_id : "",
                            .kind = kind, .relates_to = m->hdr.relates_to[0] ? m->hdr.relates_to : NULL,
                            .payload = p.data, .len = p.len, .proc_id = proc_id};
        rc = p.failed ? sm_errf(err, SM_ENOMEM, "outbox: out of memory") : db_outbox_add(c, &om, NULL, err);
    }
    sm_buf_free(&body);
    sm_buf_free(&p);
    return rc;
}

static sm_rc h_outbox(void *ctx, void *worker, const es_outbound *o, sm_err *err)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    if (!c)
        return sm_errf(err, SM_ESTATE, "outbox: the worker has no database connection");
    return sm_es_outbox_add(c, o, 0, err);
}

typedef struct pump_arg {
    const sm_es_pump_env *env;
    db_conn *c;
    bool recorded;           /* the message being sent was marked delivered in its delivery's transaction */
} pump_arg;

/* A request a procedure sent (proc_id set, a request function): the function, or NULL. */
static const es_function *proc_request(const db_outbox_item *it)
{
    if (it->proc_id <= 0 || !it->kind)
        return NULL;
    const es_function *f = es_function_by_qname(it->kind);
    return f && f->mode != ES_NOTIFY ? f : NULL;
}

/* Decodes our own stored message (its MessageID, and the message for a decoding client call). */
static sm_rc decode_own(const es_function *f, bool soap, const char *p, size_t len, es_msg *m, sm_err *err)
{
    es_status st;
    sm_rc rc;
    if (soap) {
        xml_limits lim = {.max_bytes = len + 1, .max_depth = 64, .max_nodes = 1000000};
        soap_fault fault;
        rc = soap_decode(p, len, &lim, f->iface, m, &st, &fault, err);
    } else {
        json_limits lim = {.max_bytes = len + 1, .max_depth = 64, .max_nodes = 1000000};
        rc = rest_decode(p, len, &lim, f, ES_KIND_REQUEST, m, &st, err);
    }
    if (rc == SM_OK && (m->fn != f || m->kind != ES_KIND_REQUEST))
        rc = sm_errf(err, SM_EPARSE, "outbox: stored message is not a %s request", f->name);
    return rc;
}

/* Tells the procedure that sent request m what the peer answered (HTTP status, decoded answer or the
 * failure's status): it wakes with an es_answer. Accepted asynchronous requests (202, no body) wait
 * for their callback instead. */
static void wake_requester(pump_arg *pa, const db_outbox_item *it, const es_msg *req, int http, const es_msg *ans,
                           const es_status *fail)
{
    if (!pa->c)
        return;
    if (!ans->fn && !fail && req->fn->mode == ES_ASYNC)
        return;
    es_answer a = {.fn = req->fn, .http = http, .body = ans->fn ? ans->body : NULL};
    snprintf(a.relates_to, sizeof a.relates_to, "%s", req->hdr.message_id);
    if (ans->fn)
        a.status = ans->status;
    else if (fail)
        a.status = *fail;
    else
        es_status_ok(&a.status);
    sm_err e = {0};
    sm_rc rc = es_answer_wake(pa->c, it->proc_id, &a, &e);
    if (rc == SM_OK) {
        if (pa->env->kick) /* once the wake-up is committed (it may ride on a local call's transaction) */
            db_on_commit(pa->c, pa->env->kick, pa->env->kick_arg);
    } else if (rc != SM_ESTATE) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "answer_wake_failed", "proc=%lld outbox=%lld error=%s", (long long)it->proc_id,
               (long long)it->id, SM_LOGQ(q, e.msg));
    }
}

/* Decodes the answer a local delivery gave a request (the same as the HTTPS client does). */
static void decode_answer(const es_function *f, bool soap, int http, const sm_buf *b, es_msg *ans, es_status *fail,
                          bool *failed)
{
    memset(ans, 0, sizeof *ans);
    *failed = false;
    if (http / 100 == 2 && b->len) {
        sm_err e = {0};
        es_status st;
        sm_rc rc;
        if (soap) {
            xml_limits lim = {.max_bytes = b->len + 1, .max_depth = 64, .max_nodes = 1000000};
            soap_fault fault;
            rc = soap_decode((const char *)b->data, b->len, &lim, f->iface, ans, &st, &fault, &e);
        } else {
            json_limits lim = {.max_bytes = b->len + 1, .max_depth = 64, .max_nodes = 1000000};
            rc = rest_decode((const char *)b->data, b->len, &lim, f, ES_KIND_RESPONSE, ans, &st, &e);
        }
        if (rc != SM_OK || ans->fn != f) {
            es_msg_clear(ans);
            es_status_fail(fail, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "undecodable answer: %.180s", e.msg);
            *failed = true;
        }
    } else if (http / 100 != 2) {
        es_status_fail(fail, ES_SUBJ_FUNCTION, ES_RSN_NO_RESPONSE, "HTTP %d", http);
        if (!soap && b->len) {
            /* a REST refusal carries the GSMA status */
            es_msg tmp;
            es_status st;
            sm_err e = {0};
            json_limits lim = {.max_bytes = b->len + 1, .max_depth = 16, .max_nodes = 10000};
            if (rest_decode((const char *)b->data, b->len, &lim, f, ES_KIND_RESPONSE, &tmp, &st, &e) == SM_OK &&
                tmp.status.exec != ES_EXEC_SUCCESS)
                *fail = tmp.status;
            es_msg_clear(&tmp);
        }
        *failed = true;
    }
}

/* db_outbox_pump's sender: runs on a worker, delivers in-process (local: URLs) or through the client
 * (blocking on the worker); answers to procedures' requests wake them */
static sm_rc outbox_send(const db_outbox_item *it, void *arg, bool *permanent, sm_err *err)
{
    pump_arg *pa = arg;
    const sm_es_pump_env *env = pa->env;
    *permanent = false;
    if (env->stopping && atomic_load(env->stopping))
        return sm_errf(err, SM_ESTATE, "stopping");
    size_t ml = strlen(OUTBOX_MAGIC);
    const char *d = (const char *)it->payload;
    if (it->len < ml || memcmp(d, OUTBOX_MAGIC, ml)) {
        *permanent = true;
        return sm_errf(err, SM_EPARSE, "outbox item %lld: not an ES message", (long long)it->id);
    }
    char hdr[3][ES_URL_MAX];
    size_t off = ml;
    for (int i = 0; i < 3; i++) {
        const char *nl = memchr(d + off, '\n', it->len - off);
        if (!nl || (size_t)(nl - (d + off)) >= sizeof hdr[i]) {
            *permanent = true;
            return sm_errf(err, SM_EPARSE, "outbox item %lld: bad header", (long long)it->id);
        }
        memcpy(hdr[i], d + off, (size_t)(nl - (d + off)));
        hdr[i][nl - (d + off)] = 0;
        off = (size_t)(nl - d) + 1;
    }
    if (off >= it->len || d[off] != '\n') {
        *permanent = true;
        return sm_errf(err, SM_EPARSE, "outbox item %lld: bad header", (long long)it->id);
    }
    off++;
    int http = 0;
    bool soap = !strcmp(hdr[0], "soap");
    es_binding b = soap ? ES_BIND_SOAP : ES_BIND_REST;
    const char *peer = it->dest_id && *it->dest_id ? it->dest_id : NULL;
    const es_function *rf = proc_request(it);
    es_msg req, ans;
    memset(&req, 0, sizeof req);
    memset(&ans, 0, sizeof ans);
    if (rf && decode_own(rf, soap, d + off, it->len - off, &req, err) != SM_OK) {
        es_msg_clear(&req);
        *permanent = true;
        return SM_EPARSE;
    }
    sm_rc rc;
    es_status fst;
    bool failed = false, open = false;
    if (es_local_url(hdr[1])) {
        es_peer caller;
        sm_buf answer;
        sm_buf_init(&answer);
        rc = env->server ? es_local_caller(env->smdp_id, env->smsr_id, es_role_parse(it->dest_role), &caller, err)
                         : sm_errf(err, SM_ESTATE, "local delivery: no ES server in this process");
        if (rc == SM_OK) {
            t_local.it = it;
            t_local.pending = true;
            t_local.open = t_local.recorded = false;
            rc = es_local_deliver(env->server, sm_worker_current(), &caller, hdr[1], d + off, it->len - off, &http,
                                  &answer, err);
            open = t_local.open;
            pa->recorded = t_local.recorded;
            t_local.it = NULL;
            t_local.pending = t_local.open = t_local.recorded = false;
        }
        if (rc == SM_OK && http / 100 != 2)
            rc = sm_errf(err, SM_EPROTO, "local delivery: %s answered HTTP %d", hdr[1], http);
        if (rf && http)
            decode_answer(rf, soap, http, &answer, &ans, &fst, &failed);
        sm_buf_free(&answer);
        if (rc != SM_OK && (http == 0 || (http >= 400 && http < 500 && http != 408 && http != 429)))
            *permanent = true;
    } else if (rf) {
        rc = es_client_call(env->client, hdr[1], peer, b, &req, &ans, &http, err);
        if (rc != SM_OK && http) {
            es_status_fail(&fst, ES_SUBJ_FUNCTION, ES_RSN_NO_RESPONSE, "HTTP %d", http);
            failed = true;
        }
        if (rc != SM_OK && http >= 400 && http < 500 && http != 408 && http != 429)
            *permanent = true;
    } else {
        rc = es_client_call_raw(env->client, hdr[1], peer, b, hdr[2], d + off, it->len - off, &http, err);
        if (rc != SM_OK && http >= 400 && http < 500 && http != 408 && http != 429)
            *permanent = true; /* the peer refused the message itself */
    }
    /* a procedure's request: an answer, or a refusal it will never get past, goes back to it now
     * (transient failures are retried by the outbox; the procedure keeps waiting) */
    if (rf && (rc == SM_OK || *permanent)) {
        if (!failed && rc != SM_OK && !ans.fn) {
            es_status_fail(&fst, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the request could not be delivered: %.200s",
                           err->msg);
            failed = true;
        }
        wake_requester(pa, it, &req, http, &ans, failed ? &fst : NULL);
    }
    if (open) {
        /* the local call's transaction, with the delivery and the wake-up */
        sm_err cerr = {0};
        if (db_commit(pa->c, &cerr) != SM_OK) {
            pa->recorded = false;
            char q[600];
            if (db_outbox_lease_lost(pa->c, cerr.msg)) {
                /* another pump took the message over: the call was rolled back; that pump delivers it */
                sm_log(SM_LOG_NOTICE, "net", "outbox_lease_lost", "outbox=%lld", (long long)it->id);
                rc = sm_errf(err, SM_ESTATE, "local delivery: %.300s; the call was rolled back", cerr.msg);
            } else {
                sm_log(SM_LOG_ERR, "net", "db_commit_failed", "outbox=%lld error=%s", (long long)it->id,
                       SM_LOGQ(q, cerr.msg));
                if (rc == SM_OK)
                    rc = sm_errf(err, SM_EDB, "local delivery: the call's transaction did not commit: %.300s",
                                 cerr.msg);
            }
        }
    }
    es_msg_clear(&ans);
    es_msg_clear(&req);
    return rc;
}

sm_rc sm_es_outbox_pump_env(db_conn *c, const char *owner, const sm_es_pump_env *env, int *sent, int *failed,
                            sm_err *err)
{
    /* db_outbox_pump's loop, except that a local delivery records itself in its call's transaction */
    pump_arg pa = {env, c, false};
    db_outbox_opts o = {.batch = env->batch, .lease_ms = env->lease_ms};
    int ns = 0, nf = 0;
    db_outbox_item *items = NULL;
    size_t n = 0;
    sm_rc rc = db_outbox_claim(c, owner, &o, &items, &n, err);
    for (size_t i = 0; rc == SM_OK && i < n; i++) {
        sm_err serr = {0};
        bool permanent = false;
        pa.recorded = false;
        sm_rc s = outbox_send(&items[i], &pa, &permanent, &serr);
        if (s == SM_OK) {
            ns++;
            if (!pa.recorded)
                rc = db_outbox_complete(c, &items[i], err);
        } else {
            nf++;
            rc = db_outbox_fail(c, &items[i], serr.msg[0] ? serr.msg : sm_rc_name(s), permanent, &o, err);
        }
        if (rc == SM_ESTATE) /* the lease was taken over: the new holder sends it again (at least once) */
            rc = SM_OK;
    }
    db_outbox_items_free(items, n);
    if (sent)
        *sent = ns;
    if (failed)
        *failed = nf;
    return rc;
}

sm_rc sm_es_outbox_pump(db_conn *c, const char *owner, es_client *client, atomic_bool *stopping, int *sent,
                        int *failed, sm_err *err)
{
    sm_es_pump_env env = {.client = client, .stopping = stopping};
    return sm_es_outbox_pump_env(c, owner, &env, sent, failed, err);
}

void sm_es_db_hooks(es_hooks *h, bool db)
{
    h->audit = audit;
    if (!db)
        return;
    h->call_begin = h_call_begin;
    h->call_end = h_call_end;
    h->idem_begin = h_idem_begin;
    h->idem_complete = h_idem_complete;
    h->outbox_enqueue = h_outbox;
}
