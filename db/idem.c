/* Idempotency keys: (requester, call id) -> first response. */
#include "db/idem.h"

#include <stdlib.h>
#include <string.h>

DB_STMT(q_proc, 3, "UPDATE idem SET proc_id = $3 WHERE requester = $1 AND call_id = $2");
/* Both keys of a call in one round trip: the second is taken only when the first is absent or fresh
 * (a replay of the first starts nothing, as before). DO UPDATE (not DO NOTHING) so each INSERT always
 * returns the row, even one committed by a concurrent transaction after this statement's snapshot;
 * xmax = 0 tells a fresh insert. The second INSERT reads the first's result, so the first runs (and
 * waits for a concurrent duplicate) first. */
DB_STMT(q_begin2, 3,
        "WITH a AS (INSERT INTO idem (requester, call_id) SELECT $1::text, $2::text WHERE $2::text IS NOT NULL "
        "ON CONFLICT (requester, call_id) DO UPDATE SET requester = EXCLUDED.requester "
        "RETURNING 1 AS k, (xmax = 0) AS fresh, state, response, coalesce(proc_id, 0) AS proc_id), "
        "b AS (INSERT INTO idem (requester, call_id) SELECT $1::text, $3::text WHERE $3::text IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM a WHERE NOT a.fresh) "
        "ON CONFLICT (requester, call_id) DO UPDATE SET requester = EXCLUDED.requester "
        "RETURNING 2 AS k, (xmax = 0) AS fresh, state, response, coalesce(proc_id, 0) AS proc_id) "
        "SELECT k, fresh, state, response, proc_id FROM a UNION ALL SELECT k, fresh, state, response, proc_id FROM b "
        "ORDER BY 1");
/* One UPDATE per key, each on the whole primary key: `call_id IN ($2, $3)` let a generic plan made
 * while the table was small scan every row of the requester (a bitmap scan on requester alone, found
 * by bench-e2e: 2,000 rows read per call after 200 downloads, growing without bound). */
DB_STMT(q_complete2, 4,
        "WITH a AS (UPDATE idem SET state = 'done', response = $4, completed_at = now() "
        "WHERE requester = $1 AND call_id = $2::text AND state = 'pending' RETURNING 1), "
        "b AS (UPDATE idem SET state = 'done', response = $4, completed_at = now() "
        "WHERE requester = $1 AND call_id = $3::text AND $3::text IS DISTINCT FROM $2::text AND state = 'pending' "
        "RETURNING 1) "
        "SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)");
DB_STMT(q_purge, 1, "DELETE FROM idem WHERE created_at < now() - make_interval(secs => $1)");

static sm_rc check_key(const char *requester, const char *call_id, sm_err *err)
{
    if (!requester || !*requester || !call_id || !*call_id)
        return sm_errf(err, SM_EINVAL, "idempotency: requester and call id are required");
    if (strlen(requester) > 256 || strlen(call_id) > 256)
        return sm_errf(err, SM_EINVAL, "idempotency: requester or call id longer than 256 characters");
    return SM_OK;
}

/* One key: the pair's statement with no second key (its checks refuse a missing or empty one). */
sm_rc db_idem_begin(db_conn *c, const char *requester, const char *call_id, db_idem *out, sm_err *err)
{
    int which = 0;
    return db_idem_begin2(c, requester, call_id, NULL, out, &which, err);
}

static const char *key_or_null(const char *k) { return k && *k ? k : NULL; }

sm_rc db_idem_begin2(db_conn *c, const char *requester, const char *key1, const char *key2, db_idem *out,
                     int *which, sm_err *err)
{
    memset(out, 0, sizeof *out);
    *which = 0;
    key1 = key_or_null(key1);
    key2 = key_or_null(key2);
    if (!key1 && !key2)
        return sm_errf(err, SM_EINVAL, "idempotency: requester and call id are required");
    sm_rc rc = check_key(requester, key1 ? key1 : key2, err);
    if (rc == SM_OK && key1 && key2)
        rc = check_key(requester, key2, err);
    if (rc != SM_OK)
        return rc;
    if (!db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "idempotency: db_idem_begin2 needs the request's transaction");
    db_params p;
    db_params_init(&p);
    db_p_text(&p, requester);
    db_p_text(&p, key1);
    db_p_text(&p, key2);
    db_res *r = NULL;
    rc = db_exec(c, &q_begin2, &p, &r, err);
    if (rc != SM_OK)
        return rc;
    int want = (key1 ? 1 : 0) + (key2 ? 1 : 0), n = db_res_rows(r);
    /* the row that decides: the first key's unless it was fresh, then the second's (if any) */
    int row = n == 2 && db_res_bool(r, 0, 1) ? 1 : 0;
    if (n < 1 || n > want || (n == 1 && key1 && key2 && db_res_bool(r, 0, 1))) {
        db_res_free(r);
        return sm_errf(err, SM_EINTERNAL, "idempotency: insert-or-return gave %d rows for %d keys", n, want);
    }
    if (db_res_bool(r, row, 1))
        out->state = DB_IDEM_NEW;
    else if (!strcmp(db_res_text(r, row, 2), "done"))
        out->state = DB_IDEM_DONE;
    else
        out->state = DB_IDEM_PENDING;
    if (out->state != DB_IDEM_NEW)
        *which = (int)db_res_int(r, row, 0) == 1 && key1 ? 1 : 2;
    out->proc_id = db_res_int(r, row, 4);
    if (out->state == DB_IDEM_DONE)
        rc = db_res_bytea(r, row, 3, &out->response, &out->response_len, err);
    db_res_free(r);
    return rc;
}

sm_rc db_idem_complete2(db_conn *c, const char *requester, const char *key1, const char *key2,
                        const uint8_t *response, size_t len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, requester);
    db_p_text(&p, key_or_null(key1));
    db_p_text(&p, key_or_null(key2));
    db_p_bytea(&p, response ? response : (const uint8_t *)"", response ? len : 0);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_complete2, &p, &r, err);
    if (rc == SM_OK && db_res_int(r, 0, 0) != (key_or_null(key1) ? 1 : 0) + (key_or_null(key2) ? 1 : 0))
        rc = sm_errf(err, SM_ESTATE, "idempotency: not every key of the request from %s was pending (%s %s)",
                     requester, key1 ? key1 : "-", key2 ? key2 : "-");
    db_res_free(r);
    return rc;
}

sm_rc db_idem_set_proc(db_conn *c, const char *requester, const char *call_id, int64_t proc_id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, requester);
    db_p_text(&p, call_id);
    db_p_int(&p, proc_id);
    return db_exec(c, &q_proc, &p, NULL, err);
}

sm_rc db_idem_complete(db_conn *c, const char *requester, const char *call_id, const uint8_t *response, size_t len,
                       sm_err *err)
{
    if (!call_id || !*call_id)
        return sm_errf(err, SM_ESTATE, "idempotency: no pending request without a call id from %s", requester);
    return db_idem_complete2(c, requester, call_id, NULL, response, len, err);
}

sm_rc db_idem_purge(db_conn *c, long max_age_s, long *removed, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, max_age_s);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_purge, &p, &r, err);
    if (rc == SM_OK && removed)
        *removed = db_res_affected(r);
    db_res_free(r);
    return rc;
}

void db_idem_clear(db_idem *r)
{
    free(r->response);
    memset(r, 0, sizeof *r);
}
