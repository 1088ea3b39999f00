/* The SM-SR's own rows (migration 0010) and savepoints. */
#include "appliance/smsr/repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"
#include "db/eis_repo.h"

DB_STMT(q_sp, 0, "SAVEPOINT smsr_sp");
DB_STMT(q_sp_rel, 0, "RELEASE SAVEPOINT smsr_sp");
DB_STMT(q_sp_rb, 0, "ROLLBACK TO SAVEPOINT smsr_sp");

DB_STMT(q_eum_get, 1, "SELECT eum_id, certificate, coalesce(tk_id, '') FROM eum WHERE eum_id = $1");
DB_STMT(q_eum_put, 3,
        "INSERT INTO eum (eum_id, certificate, tk_id) VALUES ($1, $2, nullif($3, '')) ON CONFLICT (eum_id) DO UPDATE "
        "SET certificate = excluded.certificate, tk_id = coalesce(excluded.tk_id, eum.tk_id) "
        "RETURNING (xmax = 0)");

DB_STMT(q_sms, 2, "UPDATE euicc SET smsr_sms = $2 WHERE eid = $1");
DB_STMT(q_owner_set, 2,
        "UPDATE euicc SET owner_id = $2, version = version + 1, updated_at = now() WHERE eid = $1 RETURNING 1");
DB_STMT(q_owner_get, 1, "SELECT coalesce(owner_id, '') FROM euicc WHERE eid = $1");

DB_STMT(q_batch_seen, 1,
        "SELECT to_char(imported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM euicc_batch "
        "WHERE sha256 = $1 ORDER BY id LIMIT 1");
DB_STMT(q_batch_add, 8,
        "INSERT INTO euicc_batch (sha256, eum_id, tk_id, records, imported, unchanged, rejected, actor) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");

DB_STMT(q_op_put, 5, "INSERT INTO smsr_op (proc_id, eid, op, iccid, ctx) VALUES ($1, $2, $3, nullif($4, ''), $5)");
DB_STMT(q_op_get, 1,
        "SELECT proc_id, eid, op, coalesce(iccid, ''), ctx, coalesce(es5_req, 0), coalesce(notif_type, -1), notif_aid "
        "FROM smsr_op WHERE proc_id = $1");
DB_STMT(q_op_lock, 1,
        "SELECT proc_id, eid, op, coalesce(iccid, ''), ctx, coalesce(es5_req, 0), coalesce(notif_type, -1), notif_aid "
        "FROM smsr_op WHERE proc_id = $1 FOR UPDATE");
DB_STMT(q_op_es5, 2, "UPDATE smsr_op SET es5_req = $2 WHERE proc_id = $1");
DB_STMT(q_op_note, 3, "UPDATE smsr_op SET notif_type = $2, notif_aid = $3 WHERE proc_id = $1");
DB_STMT(q_op_del, 1, "DELETE FROM smsr_op WHERE proc_id = $1");
DB_STMT(q_op_pending, 1,
        "SELECT proc_id FROM smsr_op WHERE eid = $1 AND op IN ('Enable', 'Disable') AND es5_req IS NOT NULL "
        "AND notif_type IS NULL ORDER BY proc_id LIMIT 1 FOR UPDATE");
DB_STMT(q_op_before, 2,
        "SELECT 1 FROM smsr_op WHERE eid = $1 AND op IN ('Enable', 'Disable') AND proc_id < $2 LIMIT 1");

/* ---- savepoints --------------------------------------------------------------------------------- */

sm_rc smsr_sp_begin(db_conn *c, sm_err *err) { return db_exec(c, &q_sp, NULL, NULL, err); }
sm_rc smsr_sp_release(db_conn *c, sm_err *err) { return db_exec(c, &q_sp_rel, NULL, NULL, err); }

void smsr_sp_rollback(db_conn *c)
{
    sm_err e = {0};
    if (db_exec(c, &q_sp_rb, NULL, NULL, &e) == SM_OK)
        db_exec(c, &q_sp_rel, NULL, NULL, &e);
}

/* ---- EUMs --------------------------------------------------------------------------------------- */

sm_rc smsr_eum_get(db_conn *c, const char *eum_id, smsr_eum *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eum_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_eum_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 0)
        rc = sm_errf(err, SM_ENOTFOUND, "EUM %s is not registered at this SM-SR", eum_id);
    if (rc == SM_OK) {
        snprintf(out->eum_id, sizeof out->eum_id, "%s", db_res_text(r, 0, 0));
        snprintf(out->tk_id, sizeof out->tk_id, "%s", db_res_text(r, 0, 2));
        rc = db_res_bytea(r, 0, 1, &out->cert, &out->cert_len, err);
        if (rc == SM_OK && !out->cert)
            rc = sm_errf(err, SM_ENOTFOUND, "EUM %s has no certificate", eum_id);
    }
    db_res_free(r);
    if (rc != SM_OK)
        smsr_eum_clear(out);
    return rc;
}

void smsr_eum_clear(smsr_eum *e)
{
    free(e->cert);
    e->cert = NULL;
    e->cert_len = 0;
}

typedef struct eum_args {
    const char *actor, *eum_id, *tk_id;
    const uint8_t *cert;
    size_t len;
} eum_args;

static sm_rc do_eum_put(db_conn *c, void *arg, sm_err *err)
{
    eum_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eum_id);
    db_p_bytea(&p, a->cert, a->len);
    db_p_text(&p, a->tk_id ? a->tk_id : "");
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_eum_put, &p, &r, err);
    bool created = rc == SM_OK && db_res_rows(r) == 1 && db_res_bool(r, 0, 0);
    db_res_free(r);
    if (rc == SM_OK)
        rc = db_audit_appendf(c, err, a->actor, "smsr.eum.certificate", a->eum_id, created ? "created" : "replaced",
                              "certificate %zu bytes%s%s", a->len, a->tk_id ? " tk-id=" : "", a->tk_id ? a->tk_id : "");
    return rc;
}

sm_rc smsr_eum_put(db_conn *c, const char *actor, const char *eum_id, const uint8_t *cert, size_t len,
                   const char *tk_id, sm_err *err)
{
    eum_args a = {actor, eum_id, tk_id, cert, len};
    return db_tx(c, do_eum_put, &a, err);
}

/* ---- eUICC extras ------------------------------------------------------------------------------- */

sm_rc smsr_euicc_set_smsr_sms(db_conn *c, const char *eid, const char *smsr_sms, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_text(&p, smsr_sms && *smsr_sms ? smsr_sms : NULL);
    return db_exec(c, &q_sms, &p, NULL, err);
}

typedef struct owner_args {
    const char *actor, *eid, *owner;
} owner_args;

static sm_rc do_owner(db_conn *c, void *arg, sm_err *err)
{
    owner_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_p_text(&p, a->owner);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_owner_set, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: unknown eUICC %s", a->eid);
    db_res_free(r);
    char det[120];
    snprintf(det, sizeof det, "owner %s", a->owner ? a->owner : "(none)");
    if (rc == SM_OK)
        rc = db_eis_record(c, a->actor, a->eid, NULL, "owner", NULL, det, err);
    return rc;
}

sm_rc smsr_euicc_set_owner(db_conn *c, const char *actor, const char *eid, const char *owner, sm_err *err)
{
    owner_args a = {actor, eid, owner && *owner ? owner : NULL};
    return db_tx(c, do_owner, &a, err);
}

sm_rc smsr_euicc_owner(db_conn *c, const char *eid, char *owner, size_t cap, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_owner_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: unknown eUICC %s", eid);
    if (rc == SM_OK)
        snprintf(owner, cap, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    return rc;
}

/* ---- batch log ---------------------------------------------------------------------------------- */

sm_rc smsr_batch_logged(db_conn *c, const uint8_t sha256[32], char *when, size_t cap, bool *seen, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_bytea(&p, sha256, 32);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_batch_seen, &p, &r, err);
    *seen = rc == SM_OK && db_res_rows(r) > 0;
    if (*seen && when)
        snprintf(when, cap, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    return rc;
}

sm_rc smsr_batch_log_add(db_conn *c, const smsr_batch_log *l, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_bytea(&p, l->sha256, 32);
    db_p_text(&p, l->eum_id);
    db_p_text(&p, l->tk_id);
    db_p_int(&p, l->records);
    db_p_int(&p, l->imported);
    db_p_int(&p, l->unchanged);
    db_p_int(&p, l->rejected);
    db_p_text(&p, l->actor);
    return db_exec(c, &q_batch_add, &p, NULL, err);
}

/* ---- procedure context -------------------------------------------------------------------------- */

sm_rc smsr_op_put(db_conn *c, int64_t proc_id, const char *eid, const char *op, const char *iccid,
                  const uint8_t *ctx, size_t len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_p_text(&p, eid);
    db_p_text(&p, op);
    db_p_text(&p, iccid ? iccid : "");
    db_p_bytea(&p, ctx, len);
    return db_exec(c, &q_op_put, &p, NULL, err);
}

sm_rc smsr_op_get(db_conn *c, int64_t proc_id, bool lock, smsr_oprow *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    out->notif_type = -1;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, lock ? &q_op_lock : &q_op_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-SR: no context for procedure %lld", (long long)proc_id);
    if (rc == SM_OK) {
        out->proc_id = db_res_int(r, 0, 0);
        snprintf(out->eid, sizeof out->eid, "%s", db_res_text(r, 0, 1));
        snprintf(out->op, sizeof out->op, "%s", db_res_text(r, 0, 2));
        snprintf(out->iccid, sizeof out->iccid, "%s", db_res_text(r, 0, 3));
        rc = db_res_bytea(r, 0, 4, &out->ctx, &out->ctx_len, err);
        out->es5_req = db_res_int(r, 0, 5);
        out->notif_type = (int)db_res_int(r, 0, 6);
        if (rc == SM_OK && !db_res_null(r, 0, 7))
            rc = db_res_bytea_into(r, 0, 7, out->notif_aid, sizeof out->notif_aid, &out->notif_aid_len, err);
    }
    db_res_free(r);
    if (rc != SM_OK)
        smsr_oprow_clear(out);
    return rc;
}

void smsr_oprow_clear(smsr_oprow *r)
{
    free(r->ctx);
    r->ctx = NULL;
    r->ctx_len = 0;
}

sm_rc smsr_op_set_es5(db_conn *c, int64_t proc_id, int64_t req_id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_p_int(&p, req_id);
    return db_exec_later(c, &q_op_es5, &p, err);
}

sm_rc smsr_op_note(db_conn *c, int64_t proc_id, int type, const uint8_t *aid, size_t aid_len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_p_int(&p, type);
    db_p_bytea(&p, aid_len ? aid : NULL, aid_len);
    return db_exec(c, &q_op_note, &p, NULL, err);
}

sm_rc smsr_op_del(db_conn *c, int64_t proc_id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    return db_exec_later(c, &q_op_del, &p, err);
}

sm_rc smsr_op_switch_pending(db_conn *c, const char *eid, int64_t *proc_id, sm_err *err)
{
    *proc_id = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_op_pending, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1)
        *proc_id = db_res_int(r, 0, 0);
    db_res_free(r);
    return rc;
}

/* Whether a query of the eUICC's operations (eid, and proc_id when > 0) finds a row. */
static sm_rc any_op(db_conn *c, db_stmt *q, const char *eid, int64_t proc_id, bool *found, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    if (proc_id > 0)
        db_p_int(&p, proc_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, q, &p, &r, err);
    *found = rc == SM_OK && db_res_rows(r) > 0;
    db_res_free(r);
    return rc;
}

sm_rc smsr_op_switch_before(db_conn *c, const char *eid, int64_t proc_id, bool *older, sm_err *err)
{
    return any_op(c, &q_op_before, eid, proc_id, older, err);
}

DB_STMT(q_cleanup_pending, 1, "SELECT 1 FROM smsr_op WHERE eid = $1 AND op = 'Cleanup' LIMIT 1");

sm_rc smsr_op_cleanup_pending(db_conn *c, const char *eid, bool *pending, sm_err *err)
{
    return any_op(c, &q_cleanup_pending, eid, 0, pending, err);
}
