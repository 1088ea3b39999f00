/* The ES service: routing, identity, limits, authorisation, replay, handlers, answers. */
#include "net/es_server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "lib/hex.h"
#include "lib/log.h"
#include "net/handshake.h"
#include "net/http_server.h"
#include "net/limits.h"
#include "net/rest.h"
#include "net/soap.h"

#define SOAP_CTYPE "application/soap+xml; charset=utf-8"
#define JSON_CTYPE "application/json"
#define IDEM_MAX 20000
#define IDEM_TTL_S (24 * 3600)

typedef struct binding {
    es_handler_fn fn;
    void *arg;
} binding;

/* bounded in-memory replay store, used until the database hooks are wired: a hash table for
 * lookups and a FIFO for eviction of the oldest keys */
#define IDEM_BUCKETS 65536
typedef struct idem_ent {
    struct idem_ent *chain, *fifo;
    char *key, *val;
    time_t at;
} idem_ent;

struct es_server {
    struct event_base *base;
    es_server_config cfg;
    es_peer_entry *peers;
    net_hs_pool *hs;
    http_server *http;
    es_client *client;
    es_ratelimit *rl;
    binding (*bind)[3]; /* [function index][kind - 1] */
    pthread_mutex_t mu;
    idem_ent **idem_tab;
    idem_ent *idem_head, *idem_tail; /* oldest first */
    size_t idem_n;
    es_server_stats st;
    char *public_url, *smdp_id, *smsr_id;
    pthread_rwlock_t peers_lock; /* es.peers is replaced on reload (loop thread); notify reads it anywhere */
    unsigned peers_gen;
};

/* the identity of a connection, re-derived when the peer list changed */
typedef struct conn_peer {
    es_peer p;
    unsigned gen;
} conn_peer;

/* ---- replay store ------------------------------------------------------------------------------ */

static size_t idem_hash(const char *k)
{
    size_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h % IDEM_BUCKETS;
}

static idem_ent *idem_find(es_server *s, const char *k)
{
    for (idem_ent *e = s->idem_tab[idem_hash(k)]; e; e = e->chain)
        if (!strcmp(e->key, k))
            return e;
    return NULL;
}

static void idem_evict_oldest(es_server *s)
{
    idem_ent *e = s->idem_head;
    if (!e)
        return;
    s->idem_head = e->fifo;
    if (!s->idem_head)
        s->idem_tail = NULL;
    for (idem_ent **p = &s->idem_tab[idem_hash(e->key)]; *p; p = &(*p)->chain)
        if (*p == e) {
            *p = e->chain;
            break;
        }
    free(e->key);
    free(e->val);
    free(e);
    s->idem_n--;
}

static es_idem_state mem_begin(es_server *s, const char *k, char **out)
{
    pthread_mutex_lock(&s->mu);
    time_t now = time(NULL);
    while (s->idem_head && now - s->idem_head->at >= IDEM_TTL_S)
        idem_evict_oldest(s);
    idem_ent *e = idem_find(s, k);
    if (e) {
        es_idem_state st = ES_IDEM_PENDING;
        if (e->val && (*out = strdup(e->val)))
            st = ES_IDEM_DONE;
        pthread_mutex_unlock(&s->mu);
        return st;
    }
    e = calloc(1, sizeof *e);
    if (e && (e->key = strdup(k))) {
        e->at = now;
        size_t h = idem_hash(k);
        e->chain = s->idem_tab[h];
        s->idem_tab[h] = e;
        if (s->idem_tail)
            s->idem_tail->fifo = e;
        else
            s->idem_head = e;
        s->idem_tail = e;
        if (++s->idem_n > IDEM_MAX)
            idem_evict_oldest(s);
    } else {
        free(e);
    }
    pthread_mutex_unlock(&s->mu);
    return ES_IDEM_NEW;
}

static void mem_complete(es_server *s, const char *k, const char *v)
{
    pthread_mutex_lock(&s->mu);
    idem_ent *e = idem_find(s, k);
    if (e) {
        free(e->val);
        e->val = strdup(v);
    }
    pthread_mutex_unlock(&s->mu);
}

static es_idem_state mem_begin_key(es_server *s, const char *req, const char *key, char **out)
{
    char k[700];
    snprintf(k, sizeof k, "%s|%s", req, key);
    return mem_begin(s, k, out);
}

/* the call's keys (kf, km; "" = none): km is taken only when kf is absent or new; *which = whose state */
static es_idem_state idem_begin(es_server *s, void *w, const char *req, const char *kf, const char *km, char **out,
                                int *which)
{
    *which = 0;
    if (s->cfg.hooks.idem_begin)
        return s->cfg.hooks.idem_begin(s->cfg.hooks.ctx, w, req, kf, km, out, which);
    es_idem_state st = ES_IDEM_NEW;
    if (kf[0] && (st = mem_begin_key(s, req, kf, out)) != ES_IDEM_NEW)
        *which = 1;
    if (st == ES_IDEM_NEW && km[0] && (st = mem_begin_key(s, req, km, out)) != ES_IDEM_NEW)
        *which = 2;
    return st;
}

static void idem_complete(es_server *s, void *w, const char *req, const char *kf, const char *km, const char *val)
{
    if (s->cfg.hooks.idem_complete) {
        s->cfg.hooks.idem_complete(s->cfg.hooks.ctx, w, req, kf, km, val);
        return;
    }
    char k[700];
    for (int i = 0; i < 2; i++) {
        const char *key = i ? km : kf;
        if (!key[0])
            continue;
        snprintf(k, sizeof k, "%s|%s", req, key);
        mem_complete(s, k, val);
    }
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static char *dupz(const char *s) { return strdup(s ? s : ""); }

static void new_message_id(char *out, size_t cap)
{
    uint8_t r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    r[6] = (uint8_t)((r[6] & 0x0F) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3F) | 0x80);
    char h[33];
    sm_hex_encode(r, 16, h);
    snprintf(out, cap, "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* our identifier when we send kind of f: the provider answers, the other side requests/notifies */
static const char *our_id(es_server *s, const es_function *f, es_kind kind)
{
    bool as_provider = kind == ES_KIND_RESPONSE;
    unsigned role;
    if (as_provider)
        role = f->provider;
    else if (f->mode == ES_NOTIFY)
        role = f->iface == ES_IF_ES2 ? ES_R_SMDP : ES_R_SMSR; /* ES2 notifications come from the SM-DP */
    else
        role = f->iface == ES_IF_ES3 ? ES_R_SMDP : ES_R_SMSR;
    return (role & ES_R_SMDP) ? s->smdp_id : s->smsr_id;
}

static void fill_from(es_server *s, es_header *h, const es_function *f, es_kind kind)
{
    snprintf(h->from, sizeof h->from, "%s?EntityId=%s", s->public_url, our_id(s, f, kind));
}

static void audit(es_server *s, void *w, const char *event, const es_peer *p, const es_msg *m, const char *reason)
{
    char qn[96] = "?";
    if (m->fn)
        snprintf(qn, sizeof qn, "%s.%s%s", es_iface_name(m->fn->iface), m->fn->name,
                 m->kind == ES_KIND_RESPONSE ? "Response" : "");
    es_audit_rec rec = {.event = event, .peer = p, .qname = qn, .reason = reason, .message_id = m->hdr.message_id,
                        .fcid = m->hdr.fcid};
    if (s->cfg.hooks.audit) {
        s->cfg.hooks.audit(s->cfg.hooks.ctx, w, &rec);
        return;
    }
    char q1[300], q2[300], q3[300];
    sm_log(SM_LOG_NOTICE, "audit", event, "requester=%s role=%s subject=%s fingerprint=%s function=%s reason=%s "
                                          "message_id=%s",
           p->id[0] ? p->id : "-", es_role_name(p->role), SM_LOGQ(q1, p->subject), p->fingerprint, qn,
           SM_LOGQ(q2, reason), SM_LOGQ(q3, m->hdr.message_id[0] ? m->hdr.message_id : "-"));
}

/* ---- the job ----------------------------------------------------------------------------------- */

typedef struct es_job {
    es_server *s;
    http_conn *conn;
    es_binding b;
    es_iface iface;           /* SOAP endpoint */
    const es_function *rfn;   /* REST path */
    es_kind rkind;
    sm_buf in;
    es_peer peer;
    time_t received;
    /* answer */
    int http;
    sm_buf out;
    const char *ctype;
    bool close;
    /* asynchronous follow-up */
    es_msg async;
    char async_url[ES_URL_MAX];
} es_job;

static void answer_status(es_job *j, const es_msg *m, const es_status *st, int soap_http)
{
    /* a function-level answer: the function's response element (SOAP) or the status JSON (REST) */
    sm_err e = {0};
    if (j->b == ES_BIND_SOAP) {
        if (m->fn && m->kind == ES_KIND_REQUEST) {
            es_msg r = {.fn = m->fn, .kind = ES_KIND_RESPONSE, .status = *st};
            snprintf(r.hdr.relates_to, sizeof r.hdr.relates_to, "%s", m->hdr.message_id);
            new_message_id(r.hdr.message_id, sizeof r.hdr.message_id);
            fill_from(j->s, &r.hdr, m->fn, ES_KIND_RESPONSE);
            snprintf(r.hdr.to, sizeof r.hdr.to, "%s", m->hdr.from[0] ? m->hdr.from : WSA_NS "/anonymous");
            soap_encode(&r, &j->out, &e);
            j->http = soap_http;
        } else {
            char reason[400];
            snprintf(reason, sizeof reason, "%s %s/%s: %s", es_exec_name(st->exec), st->subject, st->reason, st->message);
            soap_encode_fault(es_status_http(st) >= 500 ? "Receiver" : "Sender", reason, m->hdr.message_id, &j->out);
            j->http = es_status_http(st) == 200 ? 400 : es_status_http(st);
        }
        j->ctype = SOAP_CTYPE;
    } else {
        rest_encode_status(st, m->hdr.message_id, &j->out);
        j->http = es_status_http(st);
        j->ctype = JSON_CTYPE;
    }
}

static void answer_response(es_job *j, es_msg *resp)
{
    sm_err e = {0};
    if (j->b == ES_BIND_SOAP) {
        soap_encode(resp, &j->out, &e);
        j->ctype = SOAP_CTYPE;
        j->http = 200;
    } else {
        rest_encode(resp, &j->out, &e);
        j->ctype = JSON_CTYPE;
        j->http = es_status_http(&resp->status);
    }
}

static void answer_ack(es_job *j)
{
    j->http = 202;
    j->ctype = NULL;
}

/* The call's transaction did not commit: nothing of it stays (its replay keys neither), so the answer
 * prepared must not say it was done. A request gets a failure (the same call may be sent again); an
 * asynchronous response or a notification gets 503, so that the sender's outbox retries it. */
static void uncommitted(es_job *j, const es_msg *m)
{
    __atomic_add_fetch(&j->s->st.uncommitted, 1, __ATOMIC_RELAXED);
    sm_buf_reset(&j->out);
    j->ctype = NULL;
    if (m->fn && m->kind == ES_KIND_REQUEST) {
        es_status st;
        es_status_fail(&st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR,
                       "the call could not be recorded (its database transaction did not commit); nothing was "
                       "done, and it may be sent again");
        answer_status(j, m, &st, 200);
    } else {
        j->http = 503;
    }
}

static bool authorise(es_job *j, void *w, const es_msg *m, es_status *st)
{
    es_server *s = j->s;
    const es_peer *p = &j->peer;
    char claimed[ES_ID_MAX];
    if (!p->known) {
        es_status_fail(st, ES_SUBJ_REQUESTER, ES_RSN_UNKNOWN, "the client certificate matches no es.peers entry");
        audit(s, w, "es_unknown_requester", p, m, st->message);
        return false;
    }
    if (!es_function_allows(m->fn, m->kind, p->role)) {
        es_status_fail(st, ES_SUBJ_REQUESTER, ES_RSN_NOT_ALLOWED, "a %s may not call %s.%s%s", es_role_name(p->role),
                       es_iface_name(m->fn->iface), m->fn->name, m->kind == ES_KIND_RESPONSE ? "Response" : "");
        audit(s, w, "es_not_allowed", p, m, st->message);
        return false;
    }
    if ((es_peer_from_entity(m->hdr.from, claimed, sizeof claimed) && strcmp(claimed, p->id)) ||
        (m->hdr.requester[0] && strcmp(m->hdr.requester, p->id))) {
        es_status_fail(st, ES_SUBJ_REQUESTER, ES_RSN_NOT_ALLOWED,
                       "the message names another requester than the authenticated one");
        audit(s, w, "es_requester_mismatch", p, m, st->message);
        return false;
    }
    return true;
}

static void prepare_async(es_job *j, void *w, const es_msg *req, const es_status *st, es_value *out,
                          const es_reply_to *rt)
{
    es_server *s = j->s;
    es_msg *a = &j->async;
    a->fn = req->fn;
    a->kind = ES_KIND_RESPONSE;
    a->status = *st;
    a->body = out;
    a->proc_start = j->received;
    a->proc_end = time(NULL);
    snprintf(a->hdr.relates_to, sizeof a->hdr.relates_to, "%s", rt->relates_to);
    new_message_id(a->hdr.message_id, sizeof a->hdr.message_id);
    fill_from(s, &a->hdr, req->fn, ES_KIND_RESPONSE);
    snprintf(a->hdr.to, sizeof a->hdr.to, "%s", rt->address);
    snprintf(j->async_url, sizeof j->async_url, "%s", rt->address);
    if (s->cfg.hooks.outbox_enqueue) {
        es_outbound o = {.url = j->async_url, .peer_id = rt->peer_id, .peer_role = rt->peer_role,
                         .binding = rt->binding, .msg = a};
        sm_err e = {0};
        if (s->cfg.hooks.outbox_enqueue(s->cfg.hooks.ctx, w, &o, &e) == SM_OK) {
            es_msg_clear(a);
            j->async_url[0] = 0;
        }
    }
}

static void make_reply_to(es_job *j, const es_msg *m, es_reply_to *rt)
{
    memset(rt, 0, sizeof *rt);
    snprintf(rt->qname, sizeof rt->qname, "%s.%s", es_iface_name(m->fn->iface), m->fn->name);
    rt->binding = j->b;
    snprintf(rt->relates_to, sizeof rt->relates_to, "%s", m->hdr.message_id);
    snprintf(rt->fcid, sizeof rt->fcid, "%s", m->hdr.fcid);
    snprintf(rt->peer_id, sizeof rt->peer_id, "%s", j->peer.id);
    rt->peer_role = j->peer.role;
    if (m->hdr.reply_to[0])
        snprintf(rt->address, sizeof rt->address, "%s", m->hdr.reply_to);
    else if (j->peer.endpoint[0])
        es_client_url(j->peer.endpoint, j->b, m->fn, ES_KIND_RESPONSE, rt->address, sizeof rt->address);
}

static void job_run(void *worker, void *arg)
{
    es_job *j = arg;
    es_server *s = j->s;
    es_msg m;
    es_status fst;
    sm_err err = {0};
    sm_rc rc;
    bool in_tx = false, ok = true;
    memset(&m, 0, sizeof m);
    if (j->b == ES_BIND_SOAP) {
        xml_limits lim = {.max_bytes = s->cfg.max_body_bytes, .max_depth = s->cfg.max_xml_depth,
                          .max_nodes = s->cfg.max_xml_nodes};
        soap_fault fault;
        rc = soap_decode((const char *)j->in.data, j->in.len, &lim, j->iface, &m, &fst, &fault, &err);
        if (rc != SM_OK) {
            soap_encode_fault(soap_fault_code(fault), err.msg, m.hdr.message_id, &j->out);
            j->ctype = SOAP_CTYPE;
            j->http = soap_fault_http(fault);
            j->close = fault == SOAP_FAULT_LIMIT;
            char q[600];
            sm_log(SM_LOG_INFO, "net", "soap_fault", "peer=%s error=%s", j->peer.id[0] ? j->peer.id : j->peer.fingerprint,
                   SM_LOGQ(q, err.msg));
            goto out;
        }
    } else {
        json_limits lim = {.max_bytes = s->cfg.max_body_bytes, .max_depth = s->cfg.max_xml_depth,
                           .max_nodes = s->cfg.max_xml_nodes};
        rc = rest_decode((const char *)j->in.data, j->in.len, &lim, j->rfn, j->rkind, &m, &fst, &err);
        if (rc != SM_OK) {
            es_status st;
            es_status_fail(&st, ES_SUBJ_FUNCTION, rc == SM_ELIMIT ? ES_RSN_SIZE_EXCEEDED : ES_RSN_INVALID, "%s", err.msg);
            rest_encode_status(&st, NULL, &j->out);
            j->ctype = JSON_CTYPE;
            j->http = rc == SM_ELIMIT ? 413 : 400;
            j->close = rc == SM_ELIMIT;
            goto out;
        }
    }
    es_status st;
    es_status_ok(&st);
    if (!es_function_served(m.fn, m.kind)) {
        es_status_fail(&st, ES_SUBJ_FUNCTION, ES_RSN_UNSUPPORTED, "%s.%s is not served by this appliance",
                       es_iface_name(m.fn->iface), m.fn->name);
        answer_status(j, &m, &st, 200);
        goto out;
    }
    if (!authorise(j, worker, &m, &st)) {
        __atomic_add_fetch(&s->st.refused_auth, 1, __ATOMIC_RELAXED);
        answer_status(j, &m, &st, 200);
        goto out;
    }
    if (fst.exec != ES_EXEC_SUCCESS) {
        answer_status(j, &m, &fst, 200);
        goto out;
    }
    const binding *bd = &s->bind[m.fn - es_functions][m.kind - 1];
    if (!bd->fn) {
        es_status_unsupported(&st, m.fn);
        answer_status(j, &m, &st, 200);
        goto out;
    }
    if (s->cfg.hooks.call_begin)
        in_tx = s->cfg.hooks.call_begin(s->cfg.hooks.ctx, worker);
    /* replay: the same FunctionCallIdentifier or MessageID from the same requester */
    char kf[300] = "", km[300] = "";
    if (m.kind == ES_KIND_REQUEST && m.hdr.fcid[0])
        snprintf(kf, sizeof kf, "fcid:%s", m.hdr.fcid);
    if (m.hdr.message_id[0])
        snprintf(km, sizeof km, "mid:%s", m.hdr.message_id);
    char *stored = NULL;
    es_idem_state ist = ES_IDEM_NEW;
    int which = 0;
    if (kf[0] || km[0])
        ist = idem_begin(s, worker, j->peer.id, kf, km, &stored, &which);
    if (ist == ES_IDEM_DONE && which == 2 && kf[0])
        idem_complete(s, worker, j->peer.id, kf, "", stored);
    if (ist == ES_IDEM_PENDING) {
        __atomic_add_fetch(&s->st.replayed, 1, __ATOMIC_RELAXED);
        if (m.kind == ES_KIND_REQUEST && m.fn->mode == ES_SYNC) {
            es_status_fail(&st, ES_SUBJ_PROVIDER, ES_RSN_BUSY, "an identical call is being processed");
            answer_status(j, &m, &st, 200);
        } else {
            answer_ack(j);
        }
        goto out;
    }
    if (ist == ES_IDEM_DONE) {
        __atomic_add_fetch(&s->st.replayed, 1, __ATOMIC_RELAXED);
        char qn[100];
        snprintf(qn, sizeof qn, "%s.%s|", es_iface_name(m.fn->iface), m.fn->name);
        if (strncmp(stored, qn, strlen(qn))) {
            es_status_fail(&st, ES_SUBJ_FUNCTION, ES_RSN_ALREADY_IN_USE,
                           "FunctionCallIdentifier or MessageID already used for another function");
            answer_status(j, &m, &st, 200);
        } else if (!strcmp(stored + strlen(qn), "ack")) {
            answer_ack(j);
        } else {
            es_msg r;
            es_status rst;
            json_limits big = {.max_bytes = 1u << 26, .max_depth = 128, .max_nodes = 10000000};
            if (rest_decode(stored + strlen(qn), strlen(stored + strlen(qn)), &big, m.fn, ES_KIND_RESPONSE, &r, &rst,
                            &err) == SM_OK) {
                new_message_id(r.hdr.message_id, sizeof r.hdr.message_id);
                snprintf(r.hdr.relates_to, sizeof r.hdr.relates_to, "%s", m.hdr.message_id);
                fill_from(s, &r.hdr, m.fn, ES_KIND_RESPONSE);
                answer_response(j, &r);
                es_msg_clear(&r);
            } else {
                es_status_fail(&st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "stored answer unreadable");
                answer_status(j, &m, &st, 200);
            }
        }
        free(stored);
        goto out;
    }
    es_call call;
    memset(&call, 0, sizeof call);
    call.fn = m.fn;
    call.kind = m.kind;
    call.binding = j->b;
    call.caller = j->peer;
    call.hdr = m.hdr;
    call.in = m.body;
    call.in_status = m.status;
    call.out = es_struct_new();
    es_status_ok(&call.status);
    call.worker = worker;
    call.in_tx = in_tx;
    call.received = j->received;
    if (m.kind == ES_KIND_REQUEST && m.fn->mode == ES_ASYNC)
        make_reply_to(j, &m, &call.reply);
    if (m.kind == ES_KIND_REQUEST && es_call_expired(&call, time(NULL)))
        es_status_expired(&call.status); /* waited out its ValidityPeriod in the queue: not started */
    else
        bd->fn(&call, bd->arg);
    char qn[100];
    snprintf(qn, sizeof qn, "%s.%s|", es_iface_name(m.fn->iface), m.fn->name);
    if (m.kind != ES_KIND_REQUEST) {
        /* notifications and async responses: acknowledged at HTTP level */
        answer_ack(j);
        sm_buf v;
        sm_buf_init(&v);
        sm_buf_printf(&v, "%sack", qn);
        sm_buf_append_byte(&v, 0);
        if (km[0] && !v.failed)
            idem_complete(s, worker, j->peer.id, "", km, (const char *)v.data);
        sm_buf_free(&v);
        es_value_free(call.out);
        goto out;
    }
    es_status vst;
    if (!call.deferred && call.status.exec < ES_EXEC_FAILED && !es_validate(m.fn->out, call.out, &vst)) {
        char q[300];
        sm_log(SM_LOG_ERR, "net", "handler_output_invalid", "function=%s.%s error=%s", es_iface_name(m.fn->iface),
               m.fn->name, SM_LOGQ(q, vst.message));
        es_status_fail(&call.status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "internal error preparing the answer");
        es_value_free(call.out);
        call.out = es_struct_new();
    }
    es_msg r = {.fn = m.fn, .kind = ES_KIND_RESPONSE, .status = call.status, .body = call.out,
                .proc_start = j->received, .proc_end = time(NULL)};
    sm_buf v;
    sm_buf_init(&v);
    sm_buf_append_str(&v, qn);
    if (m.fn->mode == ES_ASYNC) {
        /* once a call reached its handler, its outcome (success or not) is the asynchronous response;
         * only refusals before it (identity, role, format, unsupported) are answered on the spot */
        {
            answer_ack(j);
            sm_buf_append_str(&v, "ack");
            if (!call.deferred) {
                if (!call.reply.address[0]) {
                    char q[200];
                    sm_log(SM_LOG_ERR, "net", "async_no_destination",
                           "function=%s.%s requester=%s msg=%s", es_iface_name(m.fn->iface), m.fn->name, j->peer.id,
                           SM_LOGQ(q, "no ReplyTo and no endpoint configured for the peer; response dropped"));
                    es_value_free(call.out);
                } else {
                    prepare_async(j, worker, &m, &call.status, call.out, &call.reply);
                }
            } else {
                es_value_free(call.out);
            }
        }
    } else {
        new_message_id(r.hdr.message_id, sizeof r.hdr.message_id);
        snprintf(r.hdr.relates_to, sizeof r.hdr.relates_to, "%s", m.hdr.message_id);
        fill_from(s, &r.hdr, m.fn, ES_KIND_RESPONSE);
        snprintf(r.hdr.to, sizeof r.hdr.to, "%s", m.hdr.from[0] ? m.hdr.from : WSA_NS "/anonymous");
        answer_response(j, &r);
        rest_encode(&r, &v, &err);
        es_value_free(call.out);
    }
    sm_buf_append_byte(&v, 0);
    if (!v.failed && (kf[0] || km[0]))
        idem_complete(s, worker, j->peer.id, kf, km, (const char *)v.data);
    sm_buf_free(&v);
out:
    if (in_tx && !s->cfg.hooks.call_end(s->cfg.hooks.ctx, worker, ok) && ok)
        uncommitted(j, &m);
    es_msg_clear(&m);
}

static void async_sent(const es_client_result *r, void *arg)
{
    (void)arg;
    (void)r;
}

static void job_done(void *arg)
{
    es_job *j = arg;
    http_conn_respond(j->conn, j->http, j->ctype, j->out.data, j->out.len, NULL, j->close);
    http_conn_release(j->conn);
    if (j->async.fn && j->async_url[0]) {
        __atomic_add_fetch(&j->s->st.async_sent, 1, __ATOMIC_RELAXED);
        es_client_send(j->s->client, j->async_url, j->peer.id[0] ? j->peer.id : NULL, j->b, &j->async, async_sent,
                       NULL);
    }
    es_msg_clear(&j->async);
    sm_buf_free(&j->in);
    sm_buf_free(&j->out);
    free(j);
}

/* ---- loop side --------------------------------------------------------------------------------- */

static bool is_rest_target(const char *t) { return !strncmp(t, "/gsma/rest/", 11); }

static void refuse(http_conn *c, bool rest, int http, const char *subj, const char *rsn, const char *msg,
                   const char *extra, bool close)
{
    sm_buf b;
    sm_buf_init(&b);
    es_status st;
    es_status_fail(&st, subj, rsn, "%s", msg);
    if (rest)
        rest_encode_status(&st, NULL, &b);
    else {
        char reason[400];
        snprintf(reason, sizeof reason, "Failed %s/%s: %s", subj, rsn, msg);
        soap_encode_fault(http >= 500 || http == 429 ? "Receiver" : "Sender", reason, NULL, &b);
    }
    http_conn_respond(c, http, rest ? JSON_CTYPE : SOAP_CTYPE, b.data, b.len, extra, close);
    sm_buf_free(&b);
}

static es_iface soap_iface(const char *t)
{
    /* /gsma/soap/es2 or the WSDL service locations /esim-messaging/3/ES2/... */
    if (!strncasecmp(t, "/gsma/soap/", 11) && strlen(t) == 14)
        return es_iface_parse(t + 11, 3);
    if (!strncmp(t, "/esim-messaging/3/", 18) && strlen(t) >= 21 && (t[21] == '/' || !t[21]))
        return es_iface_parse(t + 18, 3);
    return (es_iface)0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_request(http_conn *c, http_msg *req, void *arg)
{
    es_server *s = arg;
    __atomic_add_fetch(&s->st.requests, 1, __ATOMIC_RELAXED);
    bool rest = is_rest_target(req->target);
    conn_peer *cp = http_conn_data(c);
    if (!cp || cp->gen != s->peers_gen) {
        if (!cp) {
            cp = calloc(1, sizeof *cp);
            if (!cp) {
                refuse(c, rest, 503, ES_SUBJ_PROVIDER, ES_RSN_BUSY, "out of memory", NULL, true);
                return;
            }
            http_conn_set_data(c, cp, free);
        }
        net_cert_info ci;
        if (!net_tls_peer_info(http_conn_ssl(c), &ci)) {
            refuse(c, rest, 403, ES_SUBJ_REQUESTER, ES_RSN_UNKNOWN, "no verified client certificate", NULL, true);
            return;
        }
        es_peer_list pl = {s->peers, s->cfg.peers.n};
        es_peer_identify(&pl, &ci, &cp->p);
        cp->gen = s->peers_gen;
    }
    es_peer *p = &cp->p;
    char key[200];
    snprintf(key, sizeof key, "%s%s", p->known ? "id:" : "fp:", p->known ? p->id : p->fingerprint);
    if (!es_ratelimit_take(s->rl, key, now_s())) {
        __atomic_add_fetch(&s->st.rate_limited, 1, __ATOMIC_RELAXED);
        char q[200];
        sm_log(SM_LOG_WARN, "net", "rate_limited", "requester=%s", SM_LOGQ(q, key));
        refuse(c, rest, 429, ES_SUBJ_PROVIDER, ES_RSN_BUSY, "request rate over the limit for this requester",
               "Retry-After: 1\r\n", true);
        return;
    }
    if (strcmp(req->method, "POST")) {
        refuse(c, rest, 405, ES_SUBJ_FUNCTION, ES_RSN_UNSUPPORTED, "only POST", "Allow: POST\r\n", false);
        return;
    }
    es_job *j = calloc(1, sizeof *j);
    if (!j) {
        refuse(c, rest, 503, ES_SUBJ_PROVIDER, ES_RSN_BUSY, "out of memory", NULL, true);
        return;
    }
    j->s = s;
    j->conn = c;
    j->peer = *p;
    j->received = time(NULL);
    sm_buf_init(&j->out);
    if (rest) {
        j->b = ES_BIND_REST;
        if (!rest_parse_path(req->target, &j->rfn, &j->rkind)) {
            free(j);
            refuse(c, true, 404, ES_SUBJ_FUNCTION, ES_RSN_UNKNOWN_OBJ, "no such function", NULL, false);
            return;
        }
    } else {
        j->b = ES_BIND_SOAP;
        j->iface = soap_iface(req->target);
        if (!j->iface) {
            free(j);
            refuse(c, false, 404, ES_SUBJ_FUNCTION, ES_RSN_UNKNOWN_OBJ, "no ES endpoint at this path", NULL, false);
            return;
        }
    }
    j->in = req->body; /* take the body */
    sm_buf_init(&req->body);
    http_conn_hold(c);
    if (s->cfg.exec.submit(s->cfg.exec.ctx, job_run, job_done, j) != SM_OK) {
        http_conn_release(c);
        sm_buf_free(&j->in);
        free(j);
        __atomic_add_fetch(&s->st.busy, 1, __ATOMIC_RELAXED);
        refuse(c, rest, 503, ES_SUBJ_PROVIDER, ES_RSN_BUSY, "all workers are busy", "Retry-After: 1\r\n", false);
    }
}

/* ---- in-process delivery (net/es_local.h) ----------------------------------------------------- */

sm_rc es_server_dispatch(es_server *s, void *worker, const es_peer *caller, const char *target, const void *body,
                         size_t len, int *http, sm_buf *answer, sm_err *err)
{
    *http = 0;
    if (!caller || !caller->known || !caller->id[0])
        return sm_errf(err, SM_EINVAL, "es server: an in-process message needs a known caller");
    if (len > s->cfg.max_body_bytes)
        return sm_errf(err, SM_ELIMIT, "es server: in-process message of %zu bytes over es.max_body_bytes", len);
    es_job *j = calloc(1, sizeof *j);
    if (!j)
        return sm_errf(err, SM_ENOMEM, "es server: out of memory");
    j->s = s;
    j->peer = *caller;
    j->received = time(NULL);
    sm_buf_init(&j->in);
    sm_buf_init(&j->out);
    sm_rc rc = SM_OK;
    if (is_rest_target(target)) {
        j->b = ES_BIND_REST;
        if (!rest_parse_path(target, &j->rfn, &j->rkind))
            rc = sm_errf(err, SM_ENOTFOUND, "es server: no ES function at %s", target);
    } else {
        j->b = ES_BIND_SOAP;
        if (!(j->iface = soap_iface(target)))
            rc = sm_errf(err, SM_ENOTFOUND, "es server: no ES endpoint at %s", target);
    }
    if (rc == SM_OK && (sm_buf_append(&j->in, body, len) || j->in.failed))
        rc = sm_errf(err, SM_ENOMEM, "es server: out of memory");
    if (rc == SM_OK) {
        __atomic_add_fetch(&s->st.requests, 1, __ATOMIC_RELAXED);
        job_run(worker, j);
        *http = j->http;
        if (answer && j->out.len && sm_buf_append(answer, j->out.data, j->out.len))
            rc = sm_errf(err, SM_ENOMEM, "es server: out of memory");
        /* an async response prepared without the durable outbox goes out through the client */
        if (j->async.fn && j->async_url[0]) {
            __atomic_add_fetch(&s->st.async_sent, 1, __ATOMIC_RELAXED);
            sm_err e2 = {0};
            es_client_post(s->client, j->async_url, j->peer.id[0] ? j->peer.id : NULL, j->b, &j->async, NULL, NULL,
                           &e2);
        }
    }
    es_msg_clear(&j->async);
    sm_buf_free(&j->in);
    sm_buf_free(&j->out);
    free(j);
    return rc;
}

static void on_error(int status, const char *why, const char *target, sm_buf *body, const char **ctype, void *arg)
{
    (void)arg;
    es_status st;
    const char *rsn = status == 413 || status == 431 ? ES_RSN_SIZE_EXCEEDED : ES_RSN_INVALID;
    es_status_fail(&st, ES_SUBJ_FUNCTION, rsn, "%s", why);
    if (target && is_rest_target(target)) {
        rest_encode_status(&st, NULL, body);
        *ctype = JSON_CTYPE;
    } else {
        soap_encode_fault(status >= 500 ? "Receiver" : "Sender", why, NULL, body);
        *ctype = SOAP_CTYPE;
    }
}

/* ---- lifecycle --------------------------------------------------------------------------------- */


static void free_peer_array(es_peer_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free((char *)v[i].id);
        free((char *)v[i].subject);
        free((char *)v[i].san);
        free((char *)v[i].fingerprint);
        free((char *)v[i].endpoint);
    }
    free(v);
}

static es_peer_entry *dup_peers(const es_peer_list *l)
{
    es_peer_entry *v = calloc(l->n ? l->n : 1, sizeof *v);
    for (size_t i = 0; v && i < l->n; i++) {
        const es_peer_entry *e = &l->v[i];
        v[i] = (es_peer_entry){dupz(e->id), e->role, dupz(e->subject), dupz(e->san), dupz(e->fingerprint),
                               dupz(e->endpoint)};
        if (!v[i].id || !v[i].subject || !v[i].san || !v[i].fingerprint || !v[i].endpoint) {
            free_peer_array(v, i + 1);
            return NULL;
        }
    }
    return v;
}

static void free_peers(es_server *s)
{
    free_peer_array(s->peers, s->cfg.peers.n);
    s->peers = NULL;
}

sm_rc es_server_set_peers(es_server *s, const es_peer_list *l, sm_err *err)
{
    es_peer_entry *v = dup_peers(l);
    if (!v)
        return sm_errf(err, SM_ENOMEM, "es server: out of memory copying es.peers");
    pthread_rwlock_wrlock(&s->peers_lock);
    es_peer_entry *old = s->peers;
    size_t oldn = s->cfg.peers.n;
    s->peers = v;
    s->cfg.peers.v = v;
    s->cfg.peers.n = l->n;
    s->peers_gen++;
    pthread_rwlock_unlock(&s->peers_lock);
    free_peer_array(old, oldn);
    sm_log(SM_LOG_NOTICE, "net", "peers_reloaded", "peers=%zu", l->n);
    return SM_OK;
}

static void server_free(es_server *s)
{
    http_server_free(s->http);
    es_client_free(s->client);
    net_hs_pool_stop(s->hs);
    es_ratelimit_free(s->rl);
    free_peers(s);
    free(s->bind);
    while (s->idem_tab && s->idem_head)
        idem_evict_oldest(s);
    free(s->idem_tab);
    pthread_mutex_destroy(&s->mu);
    pthread_rwlock_destroy(&s->peers_lock);
    free(s->public_url);
    free(s->smdp_id);
    free(s->smsr_id);
    free(s);
}

sm_rc es_server_start(struct event_base *base, const es_server_config *cfg, es_server **out, sm_err *err)
{
    *out = NULL;
    if (!cfg->exec.submit)
        return sm_errf(err, SM_EINVAL, "es server: no executor");
    es_server *s = calloc(1, sizeof *s);
    if (!s)
        return sm_errf(err, SM_ENOMEM, "es server: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->base = base;
    s->cfg = *cfg;
    s->public_url = dupz(cfg->public_url);
    s->smdp_id = dupz(cfg->smdp_id);
    s->smsr_id = dupz(cfg->smsr_id);
    s->bind = calloc(es_nfunctions, sizeof *s->bind);
    s->idem_tab = calloc(IDEM_BUCKETS, sizeof *s->idem_tab);
    pthread_rwlock_init(&s->peers_lock, NULL);
    s->peers = dup_peers(&cfg->peers);
    s->rl = es_ratelimit_new(cfg->rate_per_second, cfg->rate_burst);
    if (!s->bind || !s->idem_tab || !s->peers || !s->rl || !s->public_url || !s->smdp_id || !s->smsr_id) {
        server_free(s);
        return sm_errf(err, SM_ENOMEM, "es server: out of memory");
    }
    s->cfg.peers.v = s->peers;
    if (!s->cfg.max_body_bytes)
        s->cfg.max_body_bytes = 4u << 20;
    if (!s->cfg.max_header_bytes)
        s->cfg.max_header_bytes = 16384;
    if (!s->cfg.max_xml_depth)
        s->cfg.max_xml_depth = 32;
    if (!s->cfg.max_xml_nodes)
        s->cfg.max_xml_nodes = 20000;
    sm_rc rc = net_hs_pool_start(base, cfg->handshake_threads ? cfg->handshake_threads : 2, &s->hs, err);
    if (rc == SM_OK) {
        es_client_config cc = {.base = base, .ssl_ctx = net_tls_client_ctx(cfg->tls), .hs = s->hs,
                               .peers = &s->cfg.peers, .timeout_s = cfg->client_timeout_s,
                               .retries = cfg->client_retries, .backoff_ms = cfg->client_backoff_ms,
                               .max_body = s->cfg.max_body_bytes};
        rc = es_client_new(&cc, &s->client, err);
    }
    if (rc == SM_OK) {
        http_server_config hc = {.listen = cfg->listen, .ssl_ctx = net_tls_server_ctx(cfg->tls), .hs = s->hs,
                                 .lim = {.max_header_bytes = s->cfg.max_header_bytes,
                                         .max_body_bytes = s->cfg.max_body_bytes},
                                 .idle_timeout_s = cfg->idle_timeout_s, .request_timeout_s = cfg->request_timeout_s,
                                 .handshake_timeout_s = cfg->handshake_timeout_s, .max_conns = cfg->max_conns,
                                 .on_request = on_request, .on_error = on_error, .arg = s};
        rc = http_server_start(base, &hc, &s->http, err);
    }
    if (rc != SM_OK) {
        server_free(s);
        return rc;
    }
    *out = s;
    return SM_OK;
}

sm_rc es_server_bind(es_server *s, const char *qname, es_kind kind, es_handler_fn fn, void *arg, sm_err *err)
{
    const es_function *f = es_function_by_qname(qname);
    if (!f)
        return sm_errf(err, SM_ENOTFOUND, "es server: no function %s in the table", qname);
    if (!es_function_served(f, kind))
        return sm_errf(err, SM_EINVAL, "es server: %s is not served for this kind of message", qname);
    s->bind[f - es_functions][kind - 1] = (binding){fn, arg};
    return SM_OK;
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

void es_server_stop(es_server *s, int timeout_s)
{
    if (!s)
        return;
    es_server_stats st;
    es_server_get_stats(s, &st);
    sm_log(SM_LOG_INFO, "net", "stats", "requests=%lu refused_auth=%lu rate_limited=%lu busy=%lu replayed=%lu "
                                        "uncommitted=%lu async_sent=%lu handshakes=%lu handshake_busy_us_mean=%lu "
                                        "handshake_busy_us_max=%lu",
           st.requests, st.refused_auth, st.rate_limited, st.busy, st.replayed, st.uncommitted, st.async_sent, st.handshakes,
           st.handshakes ? st.handshake_busy_us_total / st.handshakes : 0, st.handshake_busy_us_max);
    http_server_shutdown(s->http);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct event *tick = evtimer_new(s->base, drain_tick, NULL);
    /* finish in-flight requests: their completions come back through the loop */
    while (tick && http_server_inflight(s->http) > 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= timeout_s) {
            sm_log(SM_LOG_WARN, "net", "stop_timeout", "inflight=%u", http_server_inflight(s->http));
            break;
        }
        struct timeval tv = {0, 50000};
        evtimer_add(tick, &tv);
        event_base_loop(s->base, EVLOOP_ONCE);
    }
    /* let the last answers reach the wire */
    for (int i = 0; tick && i < 4; i++) {
        struct timeval tv = {0, 20000};
        evtimer_add(tick, &tv);
        event_base_loop(s->base, EVLOOP_ONCE);
    }
    if (tick)
        event_free(tick);
    server_free(s);
}

int es_server_port(const es_server *s) { return http_server_port(s->http); }
es_client *es_server_client(es_server *s) { return s->client; }
void es_server_set_rate(es_server *s, double rate, double burst) { es_ratelimit_set(s->rl, rate, burst); }

void es_server_get_stats(es_server *s, es_server_stats *out)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *out = s->st;
    net_hs_stats h;
    net_hs_get_stats(s->hs, &h);
    out->handshakes = h.handshakes;
    out->handshake_busy_us_total = h.busy_us_total;
    out->handshake_busy_us_max = h.busy_us_max;
}

static sm_rc send_out(es_server *s, void *worker, const char *url, const char *peer_id, es_role role, es_binding b,
                      es_msg *m, sm_err *err)
{
    if (worker && s->cfg.hooks.outbox_enqueue) {
        es_outbound o = {.url = url, .peer_id = peer_id, .peer_role = role, .binding = b, .msg = m};
        return s->cfg.hooks.outbox_enqueue(s->cfg.hooks.ctx, worker, &o, err);
    }
    return es_client_post(s->client, url, peer_id, b, m, NULL, NULL, err);
}

sm_rc es_server_reply_async(es_server *s, void *worker, const es_reply_to *r, const es_status *st,
                            const es_value *out, sm_err *err)
{
    const es_function *f = es_function_by_qname(r->qname);
    if (!f)
        return sm_errf(err, SM_EINVAL, "es server: no function %s", r->qname);
    if (!r->address[0])
        return sm_errf(err, SM_ECONFIG, "es server: no address for the response of %s", r->qname);
    es_msg m = {.fn = f, .kind = ES_KIND_RESPONSE, .status = *st, .body = (es_value *)out, .proc_end = time(NULL)};
    snprintf(m.hdr.relates_to, sizeof m.hdr.relates_to, "%s", r->relates_to);
    new_message_id(m.hdr.message_id, sizeof m.hdr.message_id);
    fill_from(s, &m.hdr, f, ES_KIND_RESPONSE);
    snprintf(m.hdr.to, sizeof m.hdr.to, "%s", r->address);
    return send_out(s, worker, r->address, r->peer_id[0] ? r->peer_id : NULL, r->peer_role, r->binding, &m, err);
}

sm_rc es_server_notify(es_server *s, void *worker, const char *qname, const char *peer_id, es_binding b,
                       const es_value *body, sm_err *err)
{
    const es_function *f = es_function_by_qname(qname);
    if (!f || f->mode != ES_NOTIFY)
        return sm_errf(err, SM_EINVAL, "es server: %s is not a notification", qname ? qname : "?");
    char url[ES_URL_MAX] = "";
    es_role role = ES_ROLE_NONE;
    pthread_rwlock_rdlock(&s->peers_lock);
    es_peer_list pl = {s->peers, s->cfg.peers.n};
    const es_peer_entry *e = es_peer_find(&pl, peer_id);
    if (e && e->endpoint && *e->endpoint) {
        es_client_url(e->endpoint, b, f, ES_KIND_NOTIFICATION, url, sizeof url);
        role = e->role;
    }
    pthread_rwlock_unlock(&s->peers_lock);
    if (!url[0])
        return sm_errf(err, SM_ECONFIG, "es server: peer %s has no endpoint configured", peer_id ? peer_id : "?");
    es_msg m = {.fn = f, .kind = ES_KIND_NOTIFICATION, .body = (es_value *)body};
    new_message_id(m.hdr.message_id, sizeof m.hdr.message_id);
    fill_from(s, &m.hdr, f, ES_KIND_NOTIFICATION);
    snprintf(m.hdr.to, sizeof m.hdr.to, "%s", url);
    return send_out(s, worker, url, peer_id, role, b, &m, err);
}
