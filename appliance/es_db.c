/* The ES layer's database hooks. */
#include "appliance/es_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/workers.h"
#include "db/audit.h"
#include "db/idem.h"
#include "lib/log.h"
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

static void h_call_end(void *ctx, void *worker, bool ok)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    if (!c || !db_in_tx(c))
        return;
    if (!ok) {
        db_rollback(c);
        return;
    }
    sm_err err = {0};
    if (db_commit(c, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "db_commit_failed", "error=%s", SM_LOGQ(q, err.msg));
    }
}

static es_idem_state h_idem_begin(void *ctx, void *worker, const char *requester, const char *key, char **stored)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    db_idem r;
    memset(&r, 0, sizeof r);
    sm_err err = {0};
    if (!c || db_idem_begin(c, requester, key, &r, &err) != SM_OK) {
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

static void h_idem_complete(void *ctx, void *worker, const char *requester, const char *key, const char *stored)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    sm_err err = {0};
    if (c && db_idem_complete(c, requester, key, (const uint8_t *)stored, strlen(stored), &err) != SM_OK &&
        err.code != SM_ESTATE) {
        char q[600];
        sm_log(SM_LOG_ERR, "net", "idem_complete_failed", "requester=%s error=%s", requester, SM_LOGQ(q, err.msg));
    }
}

/* outbox payload: OUTBOX_MAGIC, binding, URL, action, empty line, then the encoded message */
static sm_rc h_outbox(void *ctx, void *worker, const es_outbound *o, sm_err *err)
{
    (void)ctx;
    db_conn *c = wdb(worker);
    if (!c)
        return sm_errf(err, SM_ESTATE, "outbox: the worker has no database connection");
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
                            .payload = p.data, .len = p.len};
        rc = p.failed ? sm_errf(err, SM_ENOMEM, "outbox: out of memory") : db_outbox_add(c, &om, NULL, err);
    }
    sm_buf_free(&body);
    sm_buf_free(&p);
    return rc;
}

typedef struct pump_arg {
    es_client *client;
    atomic_bool *stopping;
} pump_arg;

/* db_outbox_pump's sender: runs on a worker, delivers through the client (blocking on the worker) */
static sm_rc outbox_send(const db_outbox_item *it, void *arg, bool *permanent, sm_err *err)
{
    pump_arg *pa = arg;
    *permanent = false;
    if (pa->stopping && atomic_load(pa->stopping))
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
    sm_rc rc = es_client_call_raw(pa->client, hdr[1], it->dest_id && *it->dest_id ? it->dest_id : NULL,
                                  strcmp(hdr[0], "soap") ? ES_BIND_REST : ES_BIND_SOAP, hdr[2], d + off, it->len - off,
                                  &http, err);
    if (rc != SM_OK && http >= 400 && http < 500 && http != 408 && http != 429)
        *permanent = true; /* the peer refused the message itself */
    return rc;
}

sm_rc sm_es_outbox_pump(db_conn *c, const char *owner, es_client *client, atomic_bool *stopping, int *sent,
                        int *failed, sm_err *err)
{
    pump_arg pa = {client, stopping};
    return db_outbox_pump(c, owner, outbox_send, &pa, NULL, sent, failed, err);
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
