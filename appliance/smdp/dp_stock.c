/* SM-DP stock rows with their origin, batch orders, reservations. */
#include "appliance/smdp/dp_stock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"

DB_STMT(q_batch_add, 9,
        "INSERT INTO dp_batch (requester, mno_id, profile_type, template_id, quantity, first_iccid, last_iccid, "
        "sha256, mno_file) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id");
DB_STMT(q_batch_file, 3, "UPDATE dp_batch SET mno_file = $2, last_iccid = $3 WHERE id = $1");
DB_STMT(q_batch_get_file, 1, "SELECT mno_file FROM dp_batch WHERE id = $1");
DB_STMT(q_stock_add, 10,
        "INSERT INTO profile_stock (iccid, profile_type, imsi, msisdn, iv, ciphertext, key_label, template_id, "
        "batch_id, mno_id) VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6, $7, $8, $9, $10)");
DB_STMT(q_stock_info, 1,
        "SELECT iccid, profile_type, coalesce(template_id, ''), coalesce(mno_id, ''), coalesce(imsi, ''), "
        "coalesce(msisdn, ''), state, coalesce(batch_id, 0), coalesce(order_id, 0) FROM profile_stock WHERE iccid = $1");
DB_STMT(q_reserve_type, 3,
        "UPDATE profile_stock s SET state = 'reserved', order_id = $3, updated_at = now() FROM "
        "(SELECT iccid FROM profile_stock WHERE profile_type = $1 AND ($2::text IS NULL OR mno_id = $2) "
        "AND state = 'available' "
        "ORDER BY iccid LIMIT 1 FOR UPDATE SKIP LOCKED) a WHERE s.iccid = a.iccid RETURNING s.iccid");
DB_STMT(q_reserve_iccid, 2,
        "UPDATE profile_stock SET state = 'reserved', order_id = $2, updated_at = now() "
        "WHERE iccid = $1 AND state = 'available'");
DB_STMT(q_count, 2,
        "SELECT count(*) FILTER (WHERE state = 'available'), count(*) FILTER (WHERE state = 'reserved'), "
        "count(*) FILTER (WHERE state = 'installed'), count(*) FILTER (WHERE state = 'retired') "
        "FROM profile_stock WHERE profile_type = $1 AND ($2::text IS NULL OR mno_id = $2)");
DB_STMT(q_eum_cert, 1, "SELECT certificate FROM eum WHERE eum_id = $1");
DB_STMT(q_owner, 1, "SELECT coalesce(owner_id, '') FROM euicc WHERE eid = upper($1)");
DB_STMT(q_owned, 2, "SELECT EXISTS (SELECT 1 FROM profile_stock WHERE profile_type = $1 AND mno_id = $2)");

sm_rc dp_batch_add(db_conn *c, const char *actor, const dp_batch *b, int64_t *id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, b->requester);
    db_p_text(&p, b->mno_id);
    db_p_text(&p, b->profile_type);
    db_p_text(&p, b->template_id);
    db_p_int(&p, b->quantity);
    db_p_text(&p, b->first_iccid);
    db_p_text(&p, b->last_iccid);
    db_p_bytea(&p, b->sha256, 32);
    db_p_bytea(&p, (const uint8_t *)"", 0);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_batch_add, &p, &r, err);
    if (rc == SM_OK)
        *id = db_res_int(r, 0, 0);
    db_res_free(r);
    if (rc != SM_OK)
        return rc;
    char obj[40];
    snprintf(obj, sizeof obj, "batch:%lld", (long long)*id);
    return db_audit_appendf(c, err, actor, "smdp.batch.import", obj, "ok",
                            "mno=%s type=%s template=%s quantity=%lld iccids=%s..%s requester=%s", b->mno_id,
                            b->profile_type, b->template_id, (long long)b->quantity, b->first_iccid, b->last_iccid,
                            b->requester);
}

sm_rc dp_batch_set_file(db_conn *c, int64_t id, const char *last_iccid, const uint8_t *file, size_t len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_p_bytea(&p, file, len);
    db_p_text(&p, last_iccid);
    return db_exec(c, &q_batch_file, &p, NULL, err);
}

sm_rc dp_batch_file(db_conn *c, int64_t id, uint8_t **file, size_t *len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_batch_get_file, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no batch %lld", (long long)id);
    if (rc == SM_OK)
        rc = db_res_bytea(r, 0, 0, file, len, err);
    db_res_free(r);
    return rc;
}

sm_rc dp_stock_add(db_conn *c, const dp_stock_new *s, sm_err *err)
{
    if (!s->iccid || !s->profile_type || !s->template_id || !s->mno_id || !s->ct || s->ctlen <= 16 || !s->key_label)
        return sm_errf(err, SM_EINVAL, "SM-DP: a stock profile needs its ICCID, type, template, MNO and ciphertext");
    db_params p;
    db_params_init(&p);
    db_p_text(&p, s->iccid);
    db_p_text(&p, s->profile_type);
    db_p_text(&p, s->imsi ? s->imsi : "");
    db_p_text(&p, s->msisdn ? s->msisdn : "");
    db_p_bytea(&p, s->iv, 12);
    db_p_bytea(&p, s->ct, s->ctlen);
    db_p_text(&p, s->key_label);
    db_p_text(&p, s->template_id);
    db_p_int(&p, s->batch_id);
    db_p_text(&p, s->mno_id);
    sm_rc rc = db_exec(c, &q_stock_add, &p, NULL, err);
    if (rc == SM_EEXIST)
        sm_err_prefix(err, "ICCID %s is already in stock", s->iccid);
    return rc;
}

sm_rc dp_stock_info_get(db_conn *c, const char *iccid, dp_stock_info *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, iccid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_stock_info, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no profile %s in stock", iccid);
    if (rc == SM_OK) {
        snprintf(out->iccid, sizeof out->iccid, "%s", db_res_text(r, 0, 0));
        snprintf(out->profile_type, sizeof out->profile_type, "%s", db_res_text(r, 0, 1));
        snprintf(out->template_id, sizeof out->template_id, "%s", db_res_text(r, 0, 2));
        snprintf(out->mno_id, sizeof out->mno_id, "%s", db_res_text(r, 0, 3));
        snprintf(out->imsi, sizeof out->imsi, "%s", db_res_text(r, 0, 4));
        snprintf(out->msisdn, sizeof out->msisdn, "%s", db_res_text(r, 0, 5));
        snprintf(out->state, sizeof out->state, "%s", db_res_text(r, 0, 6));
        out->batch_id = db_res_int(r, 0, 7);
        out->order_id = db_res_int(r, 0, 8);
    }
    db_res_free(r);
    return rc;
}

sm_rc dp_stock_reserve_type(db_conn *c, const char *actor, const char *type, const char *mno, int64_t order_id,
                            char iccid[21], sm_err *err)
{
    iccid[0] = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, type);
    db_p_text(&p, mno);
    db_p_int(&p, order_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_reserve_type, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no available profile of type %s for %s", type, mno ? mno : "anyone");
    if (rc == SM_OK)
        snprintf(iccid, 21, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    if (rc != SM_OK)
        return rc;
    return db_audit_appendf(c, err, actor, "smdp.stock.reserve", iccid, "ok", "order=%lld type=%s",
                            (long long)order_id, type);
}

sm_rc dp_stock_reserve_iccid(db_conn *c, const char *actor, const char *iccid, int64_t order_id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, iccid);
    db_p_int(&p, order_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_reserve_iccid, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "SM-DP: profile %s is not available", iccid);
    db_res_free(r);
    if (rc != SM_OK)
        return rc;
    return db_audit_appendf(c, err, actor, "smdp.stock.reserve", iccid, "ok", "order=%lld", (long long)order_id);
}

sm_rc dp_stock_count(db_conn *c, const char *type, const char *mno, dp_stock_counts *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, type);
    db_p_text(&p, mno);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_count, &p, &r, err);
    if (rc == SM_OK) {
        out->available = (long)db_res_int(r, 0, 0);
        out->reserved = (long)db_res_int(r, 0, 1);
        out->installed = (long)db_res_int(r, 0, 2);
        out->retired = (long)db_res_int(r, 0, 3);
    }
    db_res_free(r);
    return rc;
}

sm_rc dp_stock_type_owned(db_conn *c, const char *type, const char *mno, bool *owned, sm_err *err)
{
    *owned = false;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, type);
    db_p_text(&p, mno);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_owned, &p, &r, err);
    if (rc == SM_OK)
        *owned = db_res_bool(r, 0, 0);
    db_res_free(r);
    return rc;
}

sm_rc dp_eum_certificate(db_conn *c, const char *eum_id, uint8_t **der, size_t *len, sm_err *err)
{
    *der = NULL;
    *len = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eum_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_eum_cert, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1 && !db_res_null(r, 0, 0))
        rc = db_res_bytea(r, 0, 0, der, len, err);
    db_res_free(r);
    return rc;
}

sm_rc dp_euicc_owner(db_conn *c, const char *eid, char owner[65], sm_err *err)
{
    owner[0] = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_owner, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-SR: unknown EID %s", eid);
    if (rc == SM_OK)
        snprintf(owner, 65, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    return rc;
}
