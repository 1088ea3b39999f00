/* The outbox: transactional enqueue, leased claims, at-least-once delivery with backoff. */
#include "db/outbox.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/backoff.h"
#include "lib/log.h"

#define ADD_SQL                                                                                              \
    "INSERT INTO outbox (dest_role, dest_id, kind, relates_to, payload, proc_id, max_attempts) "              \
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
/* the NOTIFY rides on the INSERT (no round trip of its own); PostgreSQL sends it at commit, once per
 * transaction for equal payloads */
DB_STMT(q_add, 8, "WITH m AS (" ADD_SQL ") SELECT m.id, pg_notify('" DB_OUTBOX_CHANNEL "', $8) FROM m");
/* a process that pumps its own commits (a commit hook is set) does not notify: it delivers the message
 * itself at once, and a NOTIFY would cost every listening node a wake-up (and the committing transaction
 * the server's notification-queue lock) for a message they could only race it for */
DB_STMT(q_add_quiet, 7, ADD_SQL);
DB_STMT(q_claim, 3,
        "WITH due AS (SELECT id FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= now() "
        "ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
        "UPDATE outbox o SET state = 'sending', lease_owner = $1, lease_token = nextval('proc_lease_token'), "
        "attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $3::float8 / 1000) "
        "FROM due WHERE o.id = due.id "
        "RETURNING o.id, o.dest_role, o.dest_id, o.kind, o.relates_to, o.payload, o.attempts, o.max_attempts, "
        "coalesce(o.proc_id, 0), o.lease_token");
#define DONE_SQL                                                                                             \
    "UPDATE outbox SET state = 'delivered', delivered_at = now(), lease_owner = NULL, last_error = NULL "     \
    "WHERE id = $1 AND lease_token = $2 AND state = 'sending'"
DB_STMT(q_done, 2, DONE_SQL);
#define LEASE_LOST_TEXT "is no longer leased to this node"
DB_STMT(q_done_in_tx, 2,
        "WITH u AS (" DONE_SQL " RETURNING 1) "
        "SELECT coalesce((SELECT '1' FROM u), 'outbox: message ' || $1 || ' " LEASE_LOST_TEXT "')::int");
DB_STMT(q_fail, 5,
        "UPDATE outbox SET state = CASE WHEN $4 OR attempts >= max_attempts THEN 'dead' ELSE 'pending' END, "
        "next_attempt_at = now() + make_interval(secs => $5::float8 / 1000), last_error = $3, lease_owner = NULL "
        "WHERE id = $1 AND lease_token = $2 AND state = 'sending' RETURNING state");
DB_STMT(q_count, 0, "SELECT state, count(*) FROM outbox GROUP BY state");

static const char *ROLES[] = {"mno", "m2msp", "eum", "smdp", "smsr", NULL};

/* the commit hook: set at start-up (before workers queue messages), read by every worker */
typedef struct commit_hook {
    void (*fn)(void *);
    void *arg;
} commit_hook;
static commit_hook g_hook_slot;
static _Atomic(commit_hook *) g_hook;

void db_outbox_on_commit(void (*fn)(void *), void *arg)
{
    atomic_store(&g_hook, NULL);
    if (!fn)
        return;
    g_hook_slot = (commit_hook){fn, arg};
    atomic_store(&g_hook, &g_hook_slot);
}

static void run_hook(void *arg)
{
    commit_hook *h = arg;
    if (h && h->fn)
        h->fn(h->arg);
}

void db_outbox_origin(const db_pool *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%ld", db_pool_node(p), (long)getpid());
}

sm_rc db_outbox_add(db_conn *c, const db_outbox_msg *m, int64_t *id, sm_err *err)
{
    bool ok = false;
    for (int i = 0; m->dest_role && ROLES[i]; i++)
        if (!strcmp(ROLES[i], m->dest_role))
            ok = true;
    if (!ok || !m->dest_id || !*m->dest_id || !m->kind || !*m->kind || !m->payload)
        return sm_errf(err, SM_EINVAL, "outbox: a message needs a destination role, id, kind and payload");
    db_params p;
    db_params_init(&p);
    db_p_text(&p, m->dest_role);
    db_p_text(&p, m->dest_id);
    db_p_text(&p, m->kind);
    db_p_text(&p, m->relates_to);
    db_p_bytea(&p, m->payload, m->len);
    if (m->proc_id)
        db_p_int(&p, m->proc_id);
    else
        db_p_null(&p);
    db_p_int(&p, m->max_attempts > 0 ? m->max_attempts : 20);
    commit_hook *h = atomic_load(&g_hook);
    char origin[200];
    if (!h) {
        db_outbox_origin(db_conn_pool(c), origin, sizeof origin);
        db_p_text(&p, origin);
    }
    db_res *r = NULL;
    /* without the id, nothing is read back: the row goes with the transaction's next statement */
    sm_rc rc = id ? db_exec(c, h ? &q_add_quiet : &q_add, &p, &r, err)
                  : db_exec_later(c, h ? &q_add_quiet : &q_add, &p, err);
    if (rc == SM_OK && id)
        *id = db_res_int(r, 0, 0);
    db_res_free(r);
    if (rc == SM_OK && h)
        db_on_commit(c, run_hook, h);
    return rc;
}

void db_outbox_items_free(db_outbox_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].dest_role);
        free(items[i].dest_id);
        free(items[i].kind);
        free(items[i].relates_to);
        free(items[i].payload);
    }
    free(items);
}

sm_rc db_outbox_claim(db_conn *c, const char *owner, const db_outbox_opts *o, db_outbox_item **items, size_t *n,
                      sm_err *err)
{
    *items = NULL;
    *n = 0;
    int batch = o && o->batch > 0 ? o->batch : 16;
    long lease = o && o->lease_ms > 0 ? o->lease_ms : 60000;
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    /* losing a claim in a server crash is harmless: the message is simply due again */
    rc = db_tx_async_commit(c, err);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, owner);
    db_p_int(&p, batch);
    db_p_int(&p, lease);
    db_res *r = NULL;
    if (rc == SM_OK)
        rc = db_exec(c, &q_claim, &p, &r, err);
    int rows = db_res_rows(r);
    db_outbox_item *v = rows ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rc == SM_OK && rows && !v)
        rc = sm_errf(err, SM_ENOMEM, "outbox: out of memory");
    size_t got = 0;
    for (int i = 0; rc == SM_OK && i < rows; i++, got++) {
        db_outbox_item *it = &v[i];
        it->id = db_res_int(r, i, 0);
        it->dest_role = strdup(db_res_text(r, i, 1));
        it->dest_id = strdup(db_res_text(r, i, 2));
        it->kind = strdup(db_res_text(r, i, 3));
        it->relates_to = db_res_null(r, i, 4) ? NULL : strdup(db_res_text(r, i, 4));
        rc = db_res_bytea(r, i, 5, &it->payload, &it->len, err);
        it->attempt = (int)db_res_int(r, i, 6);
        it->max_attempts = (int)db_res_int(r, i, 7);
        it->proc_id = db_res_int(r, i, 8);
        it->token = db_res_int(r, i, 9);
        if (rc == SM_OK && (!it->dest_role || !it->dest_id || !it->kind))
            rc = sm_errf(err, SM_ENOMEM, "outbox: out of memory");
    }
    db_res_free(r);
    if (rc == SM_OK)
        rc = db_commit(c, err);
    else
        db_rollback(c);
    if (rc != SM_OK) {
        db_outbox_items_free(v, got);
        return rc;
    }
    *items = v;
    *n = (size_t)rows;
    return SM_OK;
}

sm_rc db_outbox_complete(db_conn *c, const db_outbox_item *it, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, it->id);
    db_p_int(&p, it->token);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_done, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "outbox: message %lld: lease lost before it was marked delivered",
                     (long long)it->id);
    db_res_free(r);
    return rc;
}

sm_rc db_outbox_complete_in_tx(db_conn *c, const db_outbox_item *it, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, it->id);
    db_p_int(&p, it->token);
    return db_exec_later(c, &q_done_in_tx, &p, err);
}

bool db_outbox_lease_lost(const db_conn *c, const char *errmsg)
{
    return db_refused_with(c, errmsg, "outbox: message ") && strstr(errmsg, LEASE_LOST_TEXT);
}

sm_rc db_outbox_fail(db_conn *c, const db_outbox_item *it, const char *why, bool permanent, const db_outbox_opts *o,
                     sm_err *err)
{
    long base = o && o->backoff_base_ms > 0 ? o->backoff_base_ms : 1000;
    long max = o && o->backoff_max_ms > 0 ? o->backoff_max_ms : 3600000;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, it->id);
    db_p_int(&p, it->token);
    db_p_text(&p, why ? why : "failed");
    db_p_bool(&p, permanent);
    db_p_int(&p, db_backoff_ms(it->attempt, base, max));
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_fail, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "outbox: message %lld: lease lost before the failure was recorded",
                     (long long)it->id);
    else if (rc == SM_OK && !strcmp(db_res_text(r, 0, 0), "dead")) {
        char q[300];
        sm_log(SM_LOG_WARN, "outbox", "dead", "id=%lld kind=%s dest=%s attempts=%d error=%s", (long long)it->id,
               it->kind, it->dest_id, it->attempt, SM_LOGQ(q, why ? why : ""));
    }
    db_res_free(r);
    return rc;
}

sm_rc db_outbox_pump(db_conn *c, const char *owner, db_outbox_sender send, void *arg, const db_outbox_opts *o,
                     int *sent, int *failed, sm_err *err)
{
    if (sent)
        *sent = 0;
    if (failed)
        *failed = 0;
    db_outbox_item *items = NULL;
    size_t n = 0;
    sm_rc rc = db_outbox_claim(c, owner, o, &items, &n, err);
    if (rc != SM_OK)
        return rc;
    for (size_t i = 0; i < n && rc == SM_OK; i++) {
        sm_err serr = {0};
        bool permanent = false;
        sm_rc s = send(&items[i], arg, &permanent, &serr);
        if (s == SM_OK) {
            rc = db_outbox_complete(c, &items[i], err);
            if (rc == SM_ESTATE) /* delivered anyway; the takeover will send a duplicate */
                rc = SM_OK;
            if (sent)
                (*sent)++;
        } else {
            rc = db_outbox_fail(c, &items[i], serr.msg[0] ? serr.msg : sm_rc_name(s), permanent, o, err);
            if (rc == SM_ESTATE)
                rc = SM_OK;
            if (failed)
                (*failed)++;
        }
    }
    db_outbox_items_free(items, n);
    return rc;
}

sm_rc db_outbox_count(db_conn *c, db_outbox_counts *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_count, NULL, &r, err);
    for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
        const char *s = db_res_text(r, i, 0);
        long v = (long)db_res_int(r, i, 1);
        if (!strcmp(s, "pending"))
            out->pending = v;
        else if (!strcmp(s, "sending"))
            out->sending = v;
        else if (!strcmp(s, "delivered"))
            out->delivered = v;
        else if (!strcmp(s, "dead"))
            out->dead = v;
    }
    db_res_free(r);
    return rc;
}
