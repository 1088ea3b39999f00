/* Idempotency keys: (requester, call id) -> first response. */
#include "db/idem.h"

#include <stdlib.h>
#include <string.h>

/* DO UPDATE (not DO NOTHING) so the statement always returns the row, even one committed by a
 * concurrent transaction after this statement's snapshot; xmax = 0 tells a fresh insert. */
DB_STMT(q_begin, 2,
        "INSERT INTO idem (requester, call_id) VALUES ($1, $2) "
        "ON CONFLICT (requester, call_id) DO UPDATE SET requester = EXCLUDED.requester "
        "RETURNING (xmax = 0) AS fresh, state, response, coalesce(proc_id, 0)");
DB_STMT(q_proc, 3, "UPDATE idem SET proc_id = $3 WHERE requester = $1 AND call_id = $2");
DB_STMT(q_complete, 3,
        "UPDATE idem SET state = 'done', response = $3, completed_at = now() "
        "WHERE requester = $1 AND call_id = $2 AND state = 'pending'");
DB_STMT(q_purge, 1, "DELETE FROM idem WHERE created_at < now() - make_interval(secs => $1)");

static sm_rc check_key(const char *requester, const char *call_id, sm_err *err)
{
    if (!requester || !*requester || !call_id || !*call_id)
        return sm_errf(err, SM_EINVAL, "idempotency: requester and call id are required");
    if (strlen(requester) > 256 || strlen(call_id) > 256)
        return sm_errf(err, SM_EINVAL, "idempotency: requester or call id longer than 256 characters");
    return SM_OK;
}

sm_rc db_idem_begin(db_conn *c, const char *requester, const char *call_id, db_idem *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    sm_rc rc = check_key(requester, call_id, err);
    if (rc != SM_OK)
        return rc;
    if (!db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "idempotency: db_idem_begin needs the request's transaction");
    db_params p;
    db_params_init(&p);
    db_p_text(&p, requester);
    db_p_text(&p, call_id);
    db_res *r = NULL;
    rc = db_exec(c, &q_begin, &p, &r, err);
    if (rc != SM_OK)
        return rc;
    if (db_res_rows(r) != 1) {
        db_res_free(r);
        return sm_errf(err, SM_EINTERNAL, "idempotency: insert-or-return gave no row");
    }
    if (db_res_bool(r, 0, 0))
        out->state = DB_IDEM_NEW;
    else if (!strcmp(db_res_text(r, 0, 1), "done"))
        out->state = DB_IDEM_DONE;
    else
        out->state = DB_IDEM_PENDING;
    out->proc_id = db_res_int(r, 0, 3);
    if (out->state == DB_IDEM_DONE)
        rc = db_res_bytea(r, 0, 2, &out->response, &out->response_len, err);
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
    db_params p;
    db_params_init(&p);
    db_p_text(&p, requester);
    db_p_text(&p, call_id);
    db_p_bytea(&p, response ? response : (const uint8_t *)"", response ? len : 0);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_complete, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "idempotency: no pending request %s from %s", call_id, requester);
    db_res_free(r);
    return rc;
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
