/* The procedure engine: claims with leases, fenced step transactions, retries, expiry. */
#include "db/proc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/backoff.h"
#include "lib/buf.h"
#include "lib/log.h"

#define MAX_KINDS 64

struct db_engine {
    char owner[128];
    long lease_ms;
    db_proc_kind kinds[MAX_KINDS];
    size_t nkinds;
    char kinds_array[2048]; /* text[] literal of the kind names, a claim parameter */
};

DB_STMT(q_create, 9,
        "INSERT INTO proc (kind, step, eid, iccid, requester, call_id, data, deadline, next_run_at) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::bigint > 0 THEN now() + make_interval(secs => $8::float8) END, "
        "now() + make_interval(secs => $9::float8 / 1000)) RETURNING id");
DB_STMT(q_wake, 4,
        "UPDATE proc SET state = 'ready', next_run_at = now(), step = coalesce($2, step), "
        "data = CASE WHEN $3 THEN $4 ELSE data END, updated_at = now() WHERE id = $1 AND state = 'waiting'");
DB_STMT(q_get, 1,
        "SELECT id, kind, step, state, attempts, transitions, coalesce(lease_owner, ''), coalesce(last_error, ''), "
        "result FROM proc WHERE id = $1");
/* due: ready and its time has come; running with an expired lease (next_run_at = lease expiry);
 * waiting past its deadline (next_run_at = deadline) */
DB_STMT(q_claim, 4,
        "WITH due AS (SELECT id FROM proc WHERE state IN ('ready', 'running', 'waiting') AND next_run_at <= now() "
        "AND kind = ANY ($3::text[]) ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
        "UPDATE proc p SET state = 'running', lease_owner = $1, lease_token = nextval('proc_lease_token'), "
        "lease_expires = now() + make_interval(secs => $4::float8 / 1000), "
        "next_run_at = now() + make_interval(secs => $4::float8 / 1000), attempts = p.attempts + 1 "
        "FROM due WHERE p.id = due.id "
        "RETURNING p.id, p.lease_token, p.kind, p.step, coalesce(p.eid, ''), coalesce(p.iccid, ''), "
        "coalesce(p.requester, ''), coalesce(p.call_id, ''), p.attempts, p.transitions, "
        "coalesce((extract(epoch FROM p.deadline) * 1000000)::bigint, 0), "
        "(p.deadline IS NOT NULL AND p.deadline <= now()), p.data");
/* what q_lock and q_next fail with (cast to int) when the lease is no longer ours: fenced_error */
#define NOT_LEASED_SQL "'engine: procedure ' || $1 || ' is no longer leased to this node'"
/* Locks the row if the lease is still ours, and fails the transaction (the text cast to int fails naming
 * it, as q_next's does) if it is not. A step sends it ahead with its BEGIN (db_exec_ahead): the step's
 * first statement (or its COMMIT) reports a lost lease, and nothing of the step stays. */
DB_STMT(q_lock, 3,
        "SELECT coalesce((SELECT '1' FROM proc WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 "
        "AND state = 'running' FOR UPDATE), " NOT_LEASED_SQL ")::int");
/* the fenced outcome: only the lease holder may write it. The step's transaction holds the row (q_lock,
 * FOR UPDATE) since it found the lease its own, so the update cannot miss: it goes with the COMMIT
 * (db_exec_later), and fails the transaction (the text cast to int fails naming it) if it ever did. */
DB_STMT(q_next, 10,
        "WITH u AS (UPDATE proc SET step = $4, state = $5, attempts = 0, transitions = transitions + 1, "
        "next_run_at = CASE WHEN $5 = 'waiting' THEN coalesce(deadline, 'infinity') "
        "ELSE least(now() + make_interval(secs => $6::float8 / 1000), coalesce(deadline, 'infinity')) END, "
        "data = CASE WHEN $7 THEN $8 ELSE data END, result = coalesce($9, result), last_error = $10, "
        "lease_owner = NULL, lease_token = NULL, lease_expires = NULL, updated_at = now() "
        "WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND state = 'running' RETURNING 1) "
        "SELECT coalesce((SELECT '1' FROM u), " NOT_LEASED_SQL ")::int");
DB_STMT(q_retry, 5,
        "UPDATE proc SET state = 'ready', "
        "next_run_at = least(now() + make_interval(secs => $4::float8 / 1000), coalesce(deadline, 'infinity')), "
        "last_error = $5, lease_owner = NULL, lease_token = NULL, lease_expires = NULL, updated_at = now() "
        "WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND state = 'running'");
DB_STMT(q_end, 5,
        "UPDATE proc SET state = $4, last_error = $5, lease_owner = NULL, lease_token = NULL, lease_expires = NULL, "
        "updated_at = now() WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND state = 'running'");

static bool good_kind(const char *k)
{
    if (!k || !*k || strlen(k) > 63)
        return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_' ||
              *k == '.' || *k == '-'))
            return false;
    return true;
}

db_engine *db_engine_new(const char *owner, long lease_ms)
{
    db_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->owner, sizeof e->owner, "%s", owner && *owner ? owner : "smbox");
    e->lease_ms = lease_ms > 0 ? lease_ms : 30000;
    snprintf(e->kinds_array, sizeof e->kinds_array, "{}");
    return e;
}

void db_engine_free(db_engine *e) { free(e); }

sm_rc db_engine_register(db_engine *e, const db_proc_kind *k, sm_err *err)
{
    if (!good_kind(k->kind) || !k->step)
        return sm_errf(err, SM_EINVAL, "engine: a kind needs a name [A-Za-z0-9_.-]{1,63} and a step handler");
    if (e->nkinds >= MAX_KINDS)
        return sm_errf(err, SM_ELIMIT, "engine: more than %d procedure kinds", MAX_KINDS);
    for (size_t i = 0; i < e->nkinds; i++)
        if (!strcmp(e->kinds[i].kind, k->kind))
            return sm_errf(err, SM_EEXIST, "engine: kind %s registered twice", k->kind);
    size_t used = strlen(e->kinds_array);
    if (used + strlen(k->kind) + 4 >= sizeof e->kinds_array)
        return sm_errf(err, SM_ELIMIT, "engine: kind names too long");
    e->kinds[e->nkinds++] = *k;
    /* {a,b,c}: names are restricted to characters that need no quoting in an array literal */
    e->kinds_array[used - 1] = 0;
    snprintf(e->kinds_array + used - 1, sizeof e->kinds_array - used + 1, "%s%s}", e->nkinds > 1 ? "," : "",
             k->kind);
    return SM_OK;
}

static const db_proc_kind *find_kind(const db_engine *e, const char *kind)
{
    for (size_t i = 0; i < e->nkinds; i++)
        if (!strcmp(e->kinds[i].kind, kind))
            return &e->kinds[i];
    return NULL;
}

sm_rc db_proc_create(db_conn *c, const db_proc_new *n, int64_t *id, sm_err *err)
{
    if (!good_kind(n->kind) || !n->step || !*n->step || strlen(n->step) >= DB_STEP_MAX)
        return sm_errf(err, SM_EINVAL, "engine: a procedure needs a valid kind and first step");
    db_params p;
    db_params_init(&p);
    db_p_text(&p, n->kind);
    db_p_text(&p, n->step);
    db_p_text(&p, n->eid);
    db_p_text(&p, n->iccid);
    db_p_text(&p, n->requester);
    db_p_text(&p, n->call_id);
    db_p_bytea(&p, n->data, n->data_len);
    db_p_int(&p, n->validity_s);
    db_p_int(&p, n->delay_ms);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_create, &p, &r, err);
    if (rc == SM_OK && id)
        *id = db_res_int(r, 0, 0);
    db_res_free(r);
    return rc;
}

sm_rc db_proc_wake(db_conn *c, int64_t id, const char *step, const uint8_t *data, size_t len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_p_text(&p, step);
    db_p_bool(&p, data != NULL);
    db_p_bytea(&p, data, len);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_wake, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "engine: procedure %lld is not waiting", (long long)id);
    db_res_free(r);
    return rc;
}

sm_rc db_proc_get(db_conn *c, int64_t id, db_proc_info *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "engine: no procedure %lld", (long long)id);
    if (rc == SM_OK) {
        out->id = db_res_int(r, 0, 0);
        snprintf(out->kind, sizeof out->kind, "%s", db_res_text(r, 0, 1));
        snprintf(out->step, sizeof out->step, "%s", db_res_text(r, 0, 2));
        snprintf(out->state, sizeof out->state, "%s", db_res_text(r, 0, 3));
        out->attempts = (int)db_res_int(r, 0, 4);
        out->transitions = (int)db_res_int(r, 0, 5);
        snprintf(out->lease_owner, sizeof out->lease_owner, "%s", db_res_text(r, 0, 6));
        snprintf(out->last_error, sizeof out->last_error, "%s", db_res_text(r, 0, 7));
        rc = db_res_bytea(r, 0, 8, &out->result, &out->result_len, err);
    }
    db_res_free(r);
    return rc;
}

void db_proc_info_clear(db_proc_info *i)
{
    free(i->result);
    memset(i, 0, sizeof *i);
}

void db_claims_free(db_claim *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].eid);
        free(v[i].iccid);
        free(v[i].requester);
        free(v[i].call_id);
        free(v[i].data);
    }
    free(v);
}

sm_rc db_engine_claim(db_engine *e, db_conn *c, const char *who, int max, db_claim **out, size_t *n, sm_err *err)
{
    *out = NULL;
    *n = 0;
    if (e->nkinds == 0)
        return SM_OK;
    char owner[160];
    snprintf(owner, sizeof owner, "%s/%s", e->owner, who && *who ? who : "-");
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    /* a claim lost in a server crash only makes the procedure due again: no need to wait for the flush */
    rc = db_tx_async_commit(c, err);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, owner);
    db_p_int(&p, max > 0 ? max : 1);
    db_p_text(&p, e->kinds_array);
    db_p_int(&p, e->lease_ms);
    db_res *r = NULL;
    if (rc == SM_OK)
        rc = db_exec(c, &q_claim, &p, &r, err);
    int rows = db_res_rows(r);
    db_claim *v = rows ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rc == SM_OK && rows && !v)
        rc = sm_errf(err, SM_ENOMEM, "engine: out of memory");
    size_t got = 0;
    for (int i = 0; rc == SM_OK && i < rows; i++, got++) {
        db_claim *cl = &v[i];
        cl->id = db_res_int(r, i, 0);
        cl->token = db_res_int(r, i, 1);
        snprintf(cl->owner, sizeof cl->owner, "%s", owner);
        snprintf(cl->kind, sizeof cl->kind, "%s", db_res_text(r, i, 2));
        snprintf(cl->step, sizeof cl->step, "%s", db_res_text(r, i, 3));
        cl->eid = strdup(db_res_text(r, i, 4));
        cl->iccid = strdup(db_res_text(r, i, 5));
        cl->requester = strdup(db_res_text(r, i, 6));
        cl->call_id = strdup(db_res_text(r, i, 7));
        cl->attempt = (int)db_res_int(r, i, 8);
        cl->transitions = (int)db_res_int(r, i, 9);
        cl->deadline_us = db_res_int(r, i, 10);
        cl->overdue = db_res_bool(r, i, 11);
        rc = db_res_bytea(r, i, 12, &cl->data, &cl->data_len, err);
        if (rc == SM_OK && (!cl->eid || !cl->iccid || !cl->requester || !cl->call_id))
            rc = sm_errf(err, SM_ENOMEM, "engine: out of memory");
    }
    db_res_free(r);
    if (rc == SM_OK)
        rc = db_commit(c, err);
    else
        db_rollback(c);
    if (rc != SM_OK) {
        db_claims_free(v, got);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return SM_OK;
}

static void fenced_params(db_params *p, const db_claim *cl)
{
    db_params_init(p);
    db_p_int(p, cl->id);
    db_p_text(p, cl->owner);
    db_p_int(p, cl->token);
}

/* The failure q_lock and q_next make when the lease is no longer ours. */
static bool fenced_error(const db_conn *c, const char *msg)
{
    return db_refused_with(c, msg, "engine: procedure ") && strstr(msg, "is no longer leased to this node");
}

/* Locks the row if the lease is still ours; false = fenced (the transaction then failed: roll it back). */
static sm_rc lock_ours(db_conn *c, const db_claim *cl, bool *ours, sm_err *err)
{
    db_params p;
    fenced_params(&p, cl);
    sm_rc rc = db_exec(c, &q_lock, &p, NULL, err);
    *ours = rc == SM_OK;
    if (rc != SM_OK && fenced_error(c, err->msg)) {
        sm_err_clear(err);
        rc = SM_OK;
    }
    return rc;
}

/* Ends a procedure (expired / failed) with the kind's hook, in one fenced transaction. */
static sm_rc end_proc(db_engine *e, db_conn *c, const db_claim *cl, const db_proc *pv, const char *state,
                      const char *why, db_engine_stats *st, sm_err *err)
{
    const db_proc_kind *k = find_kind(e, cl->kind);
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    bool ours = false;
    rc = lock_ours(c, cl, &ours, err);
    if (rc == SM_OK && ours) {
        db_end_fn hook = !k ? NULL : !strcmp(state, "expired") ? k->expired : k->failed;
        if (hook)
            rc = hook(c, pv, why, k->arg, err);
        if (rc == SM_OK) {
            db_params p;
            fenced_params(&p, cl);
            db_p_text(&p, state);
            db_p_text(&p, why);
            db_res *r = NULL;
            rc = db_exec(c, &q_end, &p, &r, err);
            if (rc == SM_OK && db_res_affected(r) != 1)
                ours = false;
            db_res_free(r);
        }
    }
    if (rc == SM_OK && ours)
        rc = db_commit(c, err);
    else
        db_rollback(c);
    if (rc != SM_OK)
        return rc;
    if (!ours) {
        if (st)
            st->fenced++;
        return SM_OK;
    }
    if (st) {
        if (!strcmp(state, "expired"))
            st->expired++;
        else
            st->failed++;
    }
    char q[300];
    sm_log(SM_LOG_NOTICE, "engine", state, "proc=%lld kind=%s step=%s why=%s", (long long)cl->id, cl->kind, cl->step,
           SM_LOGQ(q, why));
    return SM_OK;
}

static const char *next_state(db_next_kind k)
{
    switch (k) {
    case DB_NEXT_STEP:
        return "ready";
    case DB_NEXT_WAIT:
        return "waiting";
    case DB_NEXT_DONE:
        return "done";
    case DB_NEXT_FAIL:
        return "failed";
    }
    return NULL;
}

sm_rc db_engine_execute(db_engine *e, db_conn *c, const db_claim *cl, db_engine_stats *st, sm_err *err)
{
    const db_proc_kind *k = find_kind(e, cl->kind);
    db_proc pv = {
        .id = cl->id,
        .kind = cl->kind,
        .step = cl->step,
        .eid = cl->eid,
        .iccid = cl->iccid,
        .requester = cl->requester,
        .call_id = cl->call_id,
        .attempt = cl->attempt,
        .transitions = cl->transitions,
        .deadline_us = cl->deadline_us,
        .data = cl->data,
        .data_len = cl->data_len,
        .owner = cl->owner,
        .token = cl->token,
    };
    if (!k)
        return sm_errf(err, SM_EINTERNAL, "engine: claimed a procedure of unknown kind %s", cl->kind);
    if (cl->overdue)
        return end_proc(e, c, cl, &pv, "expired", "validity period expired", st, err);
    int max = k->max_attempts > 0 ? k->max_attempts : 8;
    if (cl->attempt > max) {
        char why[160];
        snprintf(why, sizeof why, "step %s did not complete after %d attempts", cl->step, max);
        return end_proc(e, c, cl, &pv, "failed", why, st, err);
    }

    db_next nx;
    memset(&nx, 0, sizeof nx);
    sm_err herr = {0};
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    bool ours = true;
    {
        db_params p;
        fenced_params(&p, cl);
        rc = db_exec_ahead(c, &q_lock, &p, err);
    }
    if (rc != SM_OK) {
        bool fenced = fenced_error(c, err->msg);
        db_rollback(c);
        if (fenced) {
            if (st)
                st->fenced++;
            return SM_OK;
        }
        return rc;
    }
    sm_rc hrc = k->step(c, &pv, &nx, k->arg, &herr);
    if (hrc != SM_OK && fenced_error(c, herr.msg)) {
        /* the lock sent ahead found the lease gone: fenced, nothing of the step stays (rolled back) */
        ours = false;
        hrc = SM_OK;
    }
    const char *state = hrc == SM_OK ? next_state(nx.kind) : NULL;
    if (hrc == SM_OK && ours && !state)
        hrc = sm_errf(&herr, SM_EINTERNAL, "handler of %s/%s returned no next action", cl->kind, cl->step);
    if (hrc == SM_OK && (nx.kind == DB_NEXT_STEP || nx.kind == DB_NEXT_WAIT) && !nx.step[0])
        snprintf(nx.step, sizeof nx.step, "%s", cl->step);
    bool committed = false;
    if (hrc == SM_OK && ours) {
        db_params p;
        fenced_params(&p, cl);
        db_p_text(&p, nx.kind == DB_NEXT_STEP || nx.kind == DB_NEXT_WAIT ? nx.step : cl->step);
        db_p_text(&p, state);
        db_p_int(&p, nx.delay_ms > 0 ? nx.delay_ms : 0);
        db_p_bool(&p, nx.set_data);
        db_p_bytea(&p, nx.data, nx.data_len);
        db_p_bytea(&p, nx.result, nx.result_len);
        db_p_text(&p, nx.kind == DB_NEXT_FAIL ? (nx.error[0] ? nx.error : "failed") : NULL);
        hrc = db_exec_later(c, &q_next, &p, &herr);
        if (hrc == SM_OK) {
            hrc = db_commit(c, &herr);
            committed = hrc == SM_OK;
        }
        if (hrc != SM_OK && fenced_error(c, herr.msg)) {
            /* q_lock or q_next found the lease gone: fenced, nothing of the step stays (rolled back) */
            ours = false;
            hrc = SM_OK;
        }
    }
    free(nx.data);
    free(nx.result);
    if (!committed)
        db_rollback(c);
    if (committed) {
        if (st)
            st->steps++;
        return SM_OK;
    }
    if (hrc == SM_OK && !ours) {
        if (st)
            st->fenced++;
        return SM_OK;
    }
    /* the step failed (handler error, or the database refused its effects): rolled back; schedule a
     * retry in a new transaction, or give up */
    if (cl->attempt >= max) {
        char why[700];
        if (snprintf(why, sizeof why, "step %s failed %d times; last: %s", cl->step, cl->attempt, herr.msg) < 0)
            why[0] = 0;
        return end_proc(e, c, cl, &pv, "failed", why, st, err);
    }
    long delay = db_backoff_ms(cl->attempt, k->backoff_base_ms > 0 ? k->backoff_base_ms : 500,
                               k->backoff_max_ms > 0 ? k->backoff_max_ms : 300000);
    db_params p;
    fenced_params(&p, cl);
    db_p_int(&p, delay);
    db_p_text(&p, herr.msg[0] ? herr.msg : "failed");
    db_res *r = NULL;
    rc = db_exec(c, &q_retry, &p, &r, err);
    bool recorded = rc == SM_OK && db_res_affected(r) == 1;
    db_res_free(r);
    if (rc != SM_OK)
        return rc;
    if (st) {
        if (recorded)
            st->retried++;
        else
            st->fenced++;
    }
    char q[600];
    sm_log(SM_LOG_INFO, "engine", "step_retry", "proc=%lld kind=%s step=%s attempt=%d delay_ms=%ld error=%s",
           (long long)cl->id, cl->kind, cl->step, cl->attempt, delay, SM_LOGQ(q, herr.msg));
    return SM_OK;
}

sm_rc db_engine_run(db_engine *e, db_conn *c, const char *who, int max, db_engine_stats *st, sm_err *err)
{
    db_claim *v = NULL;
    size_t n = 0;
    sm_rc rc = db_engine_claim(e, c, who, max, &v, &n, err);
    if (rc != SM_OK)
        return rc;
    if (st)
        st->claimed += (int)n;
    for (size_t i = 0; i < n && rc == SM_OK; i++)
        rc = db_engine_execute(e, c, &v[i], st, err);
    db_claims_free(v, n);
    return rc;
}
