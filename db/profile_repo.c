/* The SM-DP repository: profile types, encrypted stock, orders, MNO keys. */
#include "db/profile_repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"

DB_STMT(q_pt_put, 5,
        "INSERT INTO profile_type (name, mno_id, description, required_memory, template) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (name) DO UPDATE SET mno_id = EXCLUDED.mno_id, description = EXCLUDED.description, "
        "required_memory = EXCLUDED.required_memory, template = EXCLUDED.template");
DB_STMT(q_pt_get, 1, "SELECT name, mno_id, description, required_memory FROM profile_type WHERE name = $1");
DB_STMT(q_pt_tmpl, 1, "SELECT template FROM profile_type WHERE name = $1");
DB_STMT(q_st_add, 7,
        "INSERT INTO profile_stock (iccid, profile_type, imsi, msisdn, iv, ciphertext, key_label) "
        "VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6, $7)");
DB_STMT(q_st_reserve, 2,
        "UPDATE profile_stock s SET state = 'reserved', order_id = $2, updated_at = now() FROM "
        "(SELECT iccid FROM profile_stock WHERE profile_type = $1 AND state = 'available' ORDER BY iccid "
        "LIMIT 1 FOR UPDATE SKIP LOCKED) a WHERE s.iccid = a.iccid RETURNING s.iccid");
DB_STMT(q_st_reserve_iccid, 2,
        "UPDATE profile_stock SET state = 'reserved', order_id = $2, updated_at = now() "
        "WHERE iccid = $1 AND state = 'available'");
DB_STMT(q_st_get, 1,
        "SELECT iccid, profile_type, coalesce(imsi, ''), coalesce(msisdn, ''), state, coalesce(order_id, 0), iv, "
        "ciphertext, key_label FROM profile_stock WHERE iccid = $1");
DB_STMT(q_st_state, 3,
        "UPDATE profile_stock SET state = $3, order_id = CASE WHEN $3 = 'available' THEN NULL ELSE order_id END, "
        "updated_at = now() WHERE iccid = $1 AND ($2::text IS NULL OR state = $2)");
DB_STMT(q_st_avail, 1, "SELECT count(*) FROM profile_stock WHERE profile_type = $1 AND state = 'available'");
DB_STMT(q_ord_ins, 9,
        "INSERT INTO dp_order (requester, call_id, mno_id, eid, iccid, profile_type, smsr_id, enable, state) "
        "VALUES ($1, nullif($2, ''), $3, nullif($4, ''), nullif($5, ''), nullif($6, ''), nullif($7, ''), $8, "
        "coalesce(nullif($9, ''), 'new')) RETURNING id");
DB_STMT(q_ord_get, 1,
        "SELECT id, requester, coalesce(call_id, ''), mno_id, coalesce(eid, ''), coalesce(iccid, ''), "
        "coalesce(profile_type, ''), coalesce(smsr_id, ''), enable, state, coalesce(proc_id, 0) "
        "FROM dp_order WHERE id = $1");
DB_STMT(q_ord_upd, 5,
        "UPDATE dp_order SET state = coalesce($2, state), iccid = coalesce($3, iccid), "
        "proc_id = CASE WHEN $4::bigint > 0 THEN $4 ELSE proc_id END, result = coalesce($5, result), "
        "updated_at = now() WHERE id = $1");
DB_STMT(q_mk_put, 6,
        "INSERT INTO mno_key (mno_id, key_id, purpose, wrapped, kcv, kek_label) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (mno_id, key_id) DO UPDATE SET purpose = EXCLUDED.purpose, wrapped = EXCLUDED.wrapped, "
        "kcv = EXCLUDED.kcv, kek_label = EXCLUDED.kek_label, created_at = now()");
DB_STMT(q_mk_get, 2,
        "SELECT mno_id, key_id, purpose, wrapped, kcv, kek_label FROM mno_key WHERE mno_id = $1 AND key_id = $2");

static sm_rc audit(db_conn *c, const char *actor, const char *action, const char *object, const char *detail,
                   sm_err *err)
{
    return db_audit_append(c, actor, action, object, "ok", detail, err);
}

/* ---- types ----------------------------------------------------------------------------------------- */

struct pt_args {
    const char *actor;
    const db_ptype *t;
    const uint8_t *tmpl;
    size_t len;
};

static sm_rc do_pt_put(db_conn *c, void *arg, sm_err *err)
{
    struct pt_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->t->name);
    db_p_text(&p, a->t->mno_id);
    db_p_text(&p, a->t->description);
    db_p_int(&p, a->t->required_memory);
    db_p_bytea(&p, a->tmpl, a->len);
    sm_rc rc = db_exec(c, &q_pt_put, &p, NULL, err);
    char det[160];
    snprintf(det, sizeof det, "mno=%s template=%zu bytes", a->t->mno_id, a->len);
    return rc == SM_OK ? audit(c, a->actor, "smdp.ptype.put", a->t->name, det, err) : rc;
}

sm_rc db_ptype_put(db_conn *c, const char *actor, const db_ptype *t, const uint8_t *tmpl, size_t len, sm_err *err)
{
    if (!t->name[0] || !t->mno_id[0])
        return sm_errf(err, SM_EINVAL, "SM-DP: a profile type needs a name and an MNO");
    struct pt_args a = {actor, t, tmpl, len};
    return db_tx(c, do_pt_put, &a, err);
}

sm_rc db_ptype_get(db_conn *c, const char *name, db_ptype *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, name);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_pt_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no profile type %s", name);
    if (rc == SM_OK) {
        snprintf(out->name, sizeof out->name, "%s", db_res_text(r, 0, 0));
        snprintf(out->mno_id, sizeof out->mno_id, "%s", db_res_text(r, 0, 1));
        snprintf(out->description, sizeof out->description, "%s", db_res_text(r, 0, 2));
        out->required_memory = db_res_int(r, 0, 3);
    }
    db_res_free(r);
    return rc;
}

sm_rc db_ptype_template(db_conn *c, const char *name, uint8_t **out, size_t *len, sm_err *err)
{
    *out = NULL;
    *len = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, name);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_pt_tmpl, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no profile type %s", name);
    if (rc == SM_OK)
        rc = db_res_bytea(r, 0, 0, out, len, err);
    db_res_free(r);
    return rc;
}

/* ---- stock ----------------------------------------------------------------------------------------- */

struct st_args {
    const char *actor;
    const db_stock *s;
    const char *iccid, *type, *from, *to;
    int64_t order;
    char *out;
};

static sm_rc do_st_add(db_conn *c, void *arg, sm_err *err)
{
    struct st_args *a = arg;
    const db_stock *s = a->s;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, s->iccid);
    db_p_text(&p, s->profile_type);
    db_p_text(&p, s->imsi);
    db_p_text(&p, s->msisdn);
    db_p_bytea(&p, s->iv, sizeof s->iv);
    db_p_bytea(&p, s->ciphertext, s->len);
    db_p_text(&p, s->key_label);
    sm_rc rc = db_exec(c, &q_st_add, &p, NULL, err);
    char det[300];
    snprintf(det, sizeof det, "type=%s %zu bytes encrypted under %s", s->profile_type, s->len, s->key_label);
    return rc == SM_OK ? audit(c, a->actor, "smdp.stock.add", s->iccid, det, err) : rc;
}

sm_rc db_stock_add(db_conn *c, const char *actor, const db_stock *s, sm_err *err)
{
    /* AES-GCM output carries a 16-byte tag: anything shorter cannot be a protected profile */
    if (!s->iccid[0] || !s->profile_type[0] || !s->ciphertext || s->len <= 16 || !s->key_label[0])
        return sm_errf(err, SM_EINVAL, "SM-DP: a stock profile needs its ICCID, type, GCM ciphertext and key label");
    struct st_args a = {.actor = actor, .s = s};
    return db_tx(c, do_st_add, &a, err);
}

static sm_rc do_st_reserve(db_conn *c, void *arg, sm_err *err)
{
    struct st_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->type);
    db_p_int(&p, a->order);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_st_reserve, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no available profile of type %s", a->type);
    if (rc == SM_OK)
        snprintf(a->out, 21, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    char det[64];
    snprintf(det, sizeof det, "order=%lld", (long long)a->order);
    return rc == SM_OK ? audit(c, a->actor, "smdp.stock.reserve", a->out, det, err) : rc;
}

sm_rc db_stock_reserve(db_conn *c, const char *actor, const char *profile_type, int64_t order_id, char iccid[21],
                       sm_err *err)
{
    iccid[0] = 0;
    struct st_args a = {.actor = actor, .type = profile_type, .order = order_id, .out = iccid};
    return db_tx(c, do_st_reserve, &a, err);
}

static sm_rc do_st_reserve_iccid(db_conn *c, void *arg, sm_err *err)
{
    struct st_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_p_int(&p, a->order);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_st_reserve_iccid, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "SM-DP: profile %s is not available", a->iccid);
    db_res_free(r);
    char det[64];
    snprintf(det, sizeof det, "order=%lld", (long long)a->order);
    return rc == SM_OK ? audit(c, a->actor, "smdp.stock.reserve", a->iccid, det, err) : rc;
}

sm_rc db_stock_reserve_iccid(db_conn *c, const char *actor, const char *iccid, int64_t order_id, sm_err *err)
{
    struct st_args a = {.actor = actor, .iccid = iccid, .order = order_id};
    return db_tx(c, do_st_reserve_iccid, &a, err);
}

sm_rc db_stock_get(db_conn *c, const char *iccid, db_stock *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, iccid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_st_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no profile %s in stock", iccid);
    if (rc == SM_OK) {
        snprintf(out->iccid, sizeof out->iccid, "%s", db_res_text(r, 0, 0));
        snprintf(out->profile_type, sizeof out->profile_type, "%s", db_res_text(r, 0, 1));
        snprintf(out->imsi, sizeof out->imsi, "%s", db_res_text(r, 0, 2));
        snprintf(out->msisdn, sizeof out->msisdn, "%s", db_res_text(r, 0, 3));
        snprintf(out->state, sizeof out->state, "%s", db_res_text(r, 0, 4));
        out->order_id = db_res_int(r, 0, 5);
        size_t ivl = 0;
        rc = db_res_bytea_into(r, 0, 6, out->iv, sizeof out->iv, &ivl, err);
        if (rc == SM_OK)
            rc = db_res_bytea(r, 0, 7, &out->ciphertext, &out->len, err);
        snprintf(out->key_label, sizeof out->key_label, "%s", db_res_text(r, 0, 8));
    }
    db_res_free(r);
    return rc;
}

void db_stock_clear(db_stock *s)
{
    free(s->ciphertext);
    s->ciphertext = NULL;
    s->len = 0;
}

static sm_rc do_st_state(db_conn *c, void *arg, sm_err *err)
{
    struct st_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_p_text(&p, a->from);
    db_p_text(&p, a->to);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_st_state, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, a->from ? SM_ESTATE : SM_ENOTFOUND, "SM-DP: profile %s %s", a->iccid,
                     a->from ? "is not in the expected state" : "is not in stock");
    db_res_free(r);
    char det[64];
    snprintf(det, sizeof det, "state %s->%s", a->from ? a->from : "", a->to);
    return rc == SM_OK ? audit(c, a->actor, "smdp.stock.state", a->iccid, det, err) : rc;
}

sm_rc db_stock_set_state(db_conn *c, const char *actor, const char *iccid, const char *from, const char *to,
                         sm_err *err)
{
    static const char *states[] = {"available", "reserved", "installed", "retired", NULL};
    bool ok = false;
    for (int i = 0; to && states[i]; i++)
        ok |= !strcmp(states[i], to);
    if (!ok)
        return sm_errf(err, SM_EINVAL, "SM-DP: stock states are available, reserved, installed and retired");
    struct st_args a = {.actor = actor, .iccid = iccid, .from = from, .to = to};
    return db_tx(c, do_st_state, &a, err);
}

sm_rc db_stock_available(db_conn *c, const char *profile_type, long *n, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, profile_type);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_st_avail, &p, &r, err);
    if (rc == SM_OK)
        *n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return rc;
}

/* ---- orders ------------------------------------------------------------------------------------------- */

struct ord_args {
    const char *actor;
    const db_order *o;
    int64_t *id;
    int64_t oid;
    const char *state, *iccid;
    int64_t proc;
    const uint8_t *result;
    size_t len;
};

static sm_rc do_ord_create(db_conn *c, void *arg, sm_err *err)
{
    struct ord_args *a = arg;
    const db_order *o = a->o;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, o->requester);
    db_p_text(&p, o->call_id);
    db_p_text(&p, o->mno_id);
    db_p_text(&p, o->eid);
    db_p_text(&p, o->iccid);
    db_p_text(&p, o->profile_type);
    db_p_text(&p, o->smsr_id);
    db_p_bool(&p, o->enable);
    db_p_text(&p, o->state);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_ord_ins, &p, &r, err);
    int64_t id = rc == SM_OK ? db_res_int(r, 0, 0) : 0;
    db_res_free(r);
    if (a->id)
        *a->id = id;
    char obj[32], det[400];
    snprintf(obj, sizeof obj, "order:%lld", (long long)id);
    snprintf(det, sizeof det, "mno=%s eid=%s iccid=%s type=%s enable=%d", o->mno_id, o->eid, o->iccid,
             o->profile_type, o->enable);
    return rc == SM_OK ? audit(c, a->actor, "smdp.order.create", obj, det, err) : rc;
}

sm_rc db_order_create(db_conn *c, const char *actor, const db_order *o, int64_t *id, sm_err *err)
{
    if (!o->requester[0] || !o->mno_id[0])
        return sm_errf(err, SM_EINVAL, "SM-DP: an order needs a requester and an MNO");
    struct ord_args a = {.actor = actor, .o = o, .id = id};
    return db_tx(c, do_ord_create, &a, err);
}

sm_rc db_order_get(db_conn *c, int64_t id, db_order *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_ord_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no order %lld", (long long)id);
    if (rc == SM_OK) {
        out->id = db_res_int(r, 0, 0);
        snprintf(out->requester, sizeof out->requester, "%s", db_res_text(r, 0, 1));
        snprintf(out->call_id, sizeof out->call_id, "%s", db_res_text(r, 0, 2));
        snprintf(out->mno_id, sizeof out->mno_id, "%s", db_res_text(r, 0, 3));
        snprintf(out->eid, sizeof out->eid, "%s", db_res_text(r, 0, 4));
        snprintf(out->iccid, sizeof out->iccid, "%s", db_res_text(r, 0, 5));
        snprintf(out->profile_type, sizeof out->profile_type, "%s", db_res_text(r, 0, 6));
        snprintf(out->smsr_id, sizeof out->smsr_id, "%s", db_res_text(r, 0, 7));
        out->enable = db_res_bool(r, 0, 8);
        snprintf(out->state, sizeof out->state, "%s", db_res_text(r, 0, 9));
        out->proc_id = db_res_int(r, 0, 10);
    }
    db_res_free(r);
    return rc;
}

static sm_rc do_ord_upd(db_conn *c, void *arg, sm_err *err)
{
    struct ord_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, a->oid);
    db_p_text(&p, a->state);
    db_p_text(&p, a->iccid);
    db_p_int(&p, a->proc);
    db_p_bytea(&p, a->result, a->len);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_ord_upd, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no order %lld", (long long)a->oid);
    db_res_free(r);
    char obj[32], det[120];
    snprintf(obj, sizeof obj, "order:%lld", (long long)a->oid);
    snprintf(det, sizeof det, "state=%s iccid=%s", a->state ? a->state : "-", a->iccid ? a->iccid : "-");
    return rc == SM_OK ? audit(c, a->actor, "smdp.order.update", obj, det, err) : rc;
}

sm_rc db_order_update(db_conn *c, const char *actor, int64_t id, const char *state, const char *iccid,
                      int64_t proc_id, const uint8_t *result, size_t len, sm_err *err)
{
    struct ord_args a = {.actor = actor, .oid = id, .state = state, .iccid = iccid, .proc = proc_id, .result = result,
                         .len = len};
    return db_tx(c, do_ord_upd, &a, err);
}

/* ---- MNO keys ------------------------------------------------------------------------------------------ */

struct mk_args {
    const char *actor;
    const db_mnokey *k;
};

static sm_rc do_mk_put(db_conn *c, void *arg, sm_err *err)
{
    struct mk_args *a = arg;
    const db_mnokey *k = a->k;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, k->mno_id);
    db_p_text(&p, k->key_id);
    db_p_text(&p, k->purpose);
    db_p_bytea(&p, k->wrapped, k->wrapped_len);
    db_p_bytea(&p, k->kcv_len ? k->kcv : NULL, k->kcv_len);
    db_p_text(&p, k->kek_label);
    sm_rc rc = db_exec(c, &q_mk_put, &p, NULL, err);
    char obj[140], det[200];
    snprintf(obj, sizeof obj, "%s/%s", k->mno_id, k->key_id);
    snprintf(det, sizeof det, "purpose=%s wrapped under %s", k->purpose, k->kek_label);
    return rc == SM_OK ? audit(c, a->actor, "smdp.mnokey.put", obj, det, err) : rc;
}

sm_rc db_mnokey_put(db_conn *c, const char *actor, const db_mnokey *k, sm_err *err)
{
    if (!k->mno_id[0] || !k->key_id[0] || !k->kek_label[0] || k->wrapped_len < 24 || k->wrapped_len % 8 != 0 ||
        k->wrapped_len > sizeof k->wrapped)
        return sm_errf(err, SM_EINVAL, "SM-DP: an MNO key needs its ids, its KEK label and a wrapped key blob");
    struct mk_args a = {actor, k};
    return db_tx(c, do_mk_put, &a, err);
}

sm_rc db_mnokey_get(db_conn *c, const char *mno_id, const char *key_id, db_mnokey *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, mno_id);
    db_p_text(&p, key_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_mk_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "SM-DP: no key %s of MNO %s", key_id, mno_id);
    if (rc == SM_OK) {
        snprintf(out->mno_id, sizeof out->mno_id, "%s", db_res_text(r, 0, 0));
        snprintf(out->key_id, sizeof out->key_id, "%s", db_res_text(r, 0, 1));
        snprintf(out->purpose, sizeof out->purpose, "%s", db_res_text(r, 0, 2));
        rc = db_res_bytea_into(r, 0, 3, out->wrapped, sizeof out->wrapped, &out->wrapped_len, err);
        if (rc == SM_OK)
            rc = db_res_bytea_into(r, 0, 4, out->kcv, sizeof out->kcv, &out->kcv_len, err);
        snprintf(out->kek_label, sizeof out->kek_label, "%s", db_res_text(r, 0, 5));
    }
    db_res_free(r);
    return rc;
}
