/* The EIS repository (SM-SR): eUICCs, profiles, key sets, history. */
#include "db/eis_repo.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"
#include "lib/hex.h"

#define TS(col) "coalesce(to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"

#define EUICC_COLS                                                                                               \
    "eid, eum_id, " TS("production_date") ", platform_type, platform_version, rsp_version, isdp_loadfile_aid, " \
    "isdp_module_aid, ecasd_aid, ecasd_cert, caps, coalesce(cattp_version, ''), coalesce(http_version, ''), "   \
    "coalesce(secure_packet_version, ''), remaining_memory, available_memory, " TS("last_audit")                \
    ", smsr_id, isdr_aid, isdr_tar, isdr_sin, isdr_sdin, eum_signed, state, notif_seq, version"

#define PROFILE_COLS                                                                                          \
    "iccid, eid, isdp_aid, mno_id, state, fallback, emergency, coalesce(imsi, ''), coalesce(msisdn, ''), pol2, " \
    "coalesce(smdp_id, ''), coalesce(profile_type, ''), allocated_memory, coalesce(free_memory, -1), version"

DB_STMT(q_eis_get, 1, "SELECT " EUICC_COLS " FROM euicc WHERE eid = $1");
DB_STMT(q_eis_lock, 1, "SELECT " EUICC_COLS " FROM euicc WHERE eid = $1 FOR UPDATE");
DB_STMT(q_eis_ins, 22,
        "INSERT INTO euicc (eid, eum_id, production_date, platform_type, platform_version, rsp_version, "
        "isdp_loadfile_aid, isdp_module_aid, ecasd_aid, ecasd_cert, caps, cattp_version, http_version, "
        "secure_packet_version, remaining_memory, available_memory, smsr_id, isdr_aid, isdr_tar, isdr_sin, isdr_sdin, "
        "eum_signed) VALUES ($1, $2, nullif($3, '')::timestamptz, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''), "
        "nullif($13, ''), nullif($14, ''), $15, $16, $17, $18, $19, $20, $21, $22)");
DB_STMT(q_profiles, 2,
        "SELECT " PROFILE_COLS " FROM profile WHERE eid = $1 AND ($2 OR state <> 'creating') ORDER BY isdp_aid");
DB_STMT(q_eis_state, 3,
        "UPDATE euicc SET state = $3, version = version + 1, updated_at = now() "
        "WHERE eid = $1 AND ($2::text IS NULL OR state = $2) RETURNING 1");
DB_STMT(q_eis_mem, 3,
        "UPDATE euicc SET remaining_memory = $2, last_audit = CASE WHEN $3 THEN now() ELSE last_audit END, "
        "version = version + 1, updated_at = now() WHERE eid = $1");
DB_STMT(q_eis_notif, 2,
        "UPDATE euicc e SET notif_seq = $2 FROM (SELECT eid, notif_seq AS old FROM euicc WHERE eid = $1 FOR UPDATE) o "
        "WHERE e.eid = o.eid RETURNING o.old");
DB_STMT(q_eis_del, 1, "DELETE FROM euicc WHERE eid = $1");
DB_STMT(q_hist, 6,
        "INSERT INTO eis_history (eid, iccid, actor, action, op_type, detail) VALUES ($1, $2, $3, $4, $5, $6)");
DB_STMT(q_hist_list, 2,
        "SELECT id, " TS("at") ", coalesce(iccid, ''), actor, action, coalesce(op_type, ''), detail FROM eis_history "
        "WHERE eid = $1 ORDER BY id DESC LIMIT $2");
DB_STMT(q_prof_ins, 14,
        "INSERT INTO profile (iccid, eid, isdp_aid, mno_id, state, fallback, emergency, imsi, msisdn, pol2, smdp_id, "
        "profile_type, allocated_memory, free_memory) VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), "
        "nullif($9, ''), $10, nullif($11, ''), nullif($12, ''), $13, CASE WHEN $14 < 0 THEN NULL ELSE $14 END)");
DB_STMT(q_prof_get, 1, "SELECT " PROFILE_COLS " FROM profile WHERE iccid = $1");
DB_STMT(q_prof_msisdn, 1, "SELECT " PROFILE_COLS " FROM profile WHERE msisdn = $1 ORDER BY state = 'Enabled' DESC LIMIT 1");
DB_STMT(q_prof_state, 3,
        "UPDATE profile p SET state = $3, version = p.version + 1, updated_at = now() "
        "FROM (SELECT iccid, state AS old FROM profile WHERE iccid = $1 FOR UPDATE) o "
        "WHERE p.iccid = o.iccid AND ($2::text IS NULL OR o.old = $2) RETURNING p.eid, o.old");
DB_STMT(q_prof_done, 5,
        "UPDATE profile SET state = 'Disabled', profile_type = nullif($2, ''), imsi = nullif($3, ''), "
        "msisdn = nullif($4, ''), pol2 = $5, version = version + 1, updated_at = now() "
        "WHERE iccid = $1 AND state = 'Created' RETURNING eid");
DB_STMT(q_prof_fb_clear, 2,
        "UPDATE profile SET fallback = false, version = version + 1, updated_at = now() "
        "WHERE eid = $1 AND fallback AND iccid <> $2");
DB_STMT(q_prof_fb_set, 1,
        "UPDATE profile SET fallback = true, version = version + 1, updated_at = now() WHERE iccid = $1 "
        "RETURNING eid");
DB_STMT(q_prof_eid, 1, "SELECT eid FROM profile WHERE iccid = $1 FOR UPDATE");
DB_STMT(q_prof_addr, 3,
        "UPDATE profile SET imsi = nullif($2, ''), msisdn = nullif($3, ''), version = version + 1, updated_at = now() "
        "WHERE iccid = $1 RETURNING eid");
DB_STMT(q_prof_pol2, 2,
        "UPDATE profile SET pol2 = $2, version = version + 1, updated_at = now() WHERE iccid = $1 RETURNING eid");
DB_STMT(q_prof_del, 1, "DELETE FROM profile WHERE iccid = $1 RETURNING eid, state");
DB_STMT(q_ks_del, 2, "DELETE FROM euicc_keyset WHERE eid = $1 AND kvn = $2");
DB_STMT(q_ks_ins, 5, "INSERT INTO euicc_keyset (eid, kvn, sd, type, counter) VALUES ($1, $2, $3, $4, $5)");
DB_STMT(q_key_ins, 7,
        "INSERT INTO euicc_key (eid, kvn, key_index, key_type, wrapped, kcv, kek_label) VALUES ($1, $2, $3, $4, $5, "
        "$6, $7)");
DB_STMT(q_ks_get, 2,
        "SELECT s.kvn, s.sd, s.type, s.counter, k.key_index, k.key_type, k.wrapped, k.kcv, k.kek_label "
        "FROM euicc_keyset s LEFT JOIN euicc_key k ON k.eid = s.eid AND k.kvn = s.kvn "
        "WHERE s.eid = $1 AND s.kvn = $2 ORDER BY k.key_index");
DB_STMT(q_ks_list, 1, "SELECT kvn FROM euicc_keyset WHERE eid = $1 ORDER BY kvn");
DB_STMT(q_ks_next, 2,
        "UPDATE euicc_keyset SET counter = counter + 1 WHERE eid = $1 AND kvn = $2 RETURNING counter");

/* ---- helpers ------------------------------------------------------------------------------------- */

static sm_rc check_eid(const char *eid, char out[33], sm_err *err)
{
    if (!eid || strlen(eid) != 32)
        return sm_errf(err, SM_EINVAL, "EIS: an EID is 32 hex digits");
    for (int i = 0; i < 32; i++) {
        if (!isxdigit((unsigned char)eid[i]))
            return sm_errf(err, SM_EINVAL, "EIS: an EID is 32 hex digits");
        out[i] = (char)toupper((unsigned char)eid[i]);
    }
    out[32] = 0;
    return SM_OK;
}

static sm_rc check_iccid(const char *iccid, sm_err *err)
{
    size_t n = iccid ? strlen(iccid) : 0;
    if (n < 6 || n > 20 || iccid[0] != '8' || iccid[1] != '9')
        return sm_errf(err, SM_EINVAL, "EIS: an ICCID is 89 followed by 4 to 18 digits");
    for (size_t i = 2; i < n; i++)
        if (!isdigit((unsigned char)iccid[i]) && iccid[i] != 'f' && iccid[i] != 'F')
            return sm_errf(err, SM_EINVAL, "EIS: an ICCID is 89 followed by 4 to 18 digits");
    return SM_OK;
}

static void p_aid(db_params *p, const db_aid *a) { db_p_bytea(p, a->len ? a->b : NULL, a->len); }

static void get_aid(const db_res *r, int row, int col, db_aid *a)
{
    if (db_res_bytea_into(r, row, col, a->b, sizeof a->b, &a->len, NULL) != SM_OK)
        a->len = 0;
}

/* History row + audit entry: the two records every change leaves (same transaction). */
static sm_rc changed(db_conn *c, const char *actor, const char *eid, const char *iccid, const char *action,
                     const char *op_type, const char *detail, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_text(&p, iccid && *iccid ? iccid : NULL);
    db_p_text(&p, actor && *actor ? actor : "-");
    db_p_text(&p, action);
    db_p_text(&p, op_type && *op_type ? op_type : NULL);
    db_p_text(&p, detail ? detail : "");
    sm_rc rc = db_exec_later(c, &q_hist, &p, err); /* its failure fails the transaction at its next statement */
    if (rc != SM_OK)
        return rc;
    char act[64], obj[80], det[300];
    snprintf(act, sizeof act, "eis.%s", action);
    snprintf(obj, sizeof obj, "%s%s%s", eid, iccid && *iccid ? "/" : "", iccid && *iccid ? iccid : "");
    snprintf(det, sizeof det, "%s%s%s", op_type && *op_type ? "op=" : "", op_type && *op_type ? op_type : "",
             detail && *detail ? (op_type && *op_type ? " " : "") : "");
    strncat(det, detail ? detail : "", sizeof det - strlen(det) - 1);
    return db_audit_append(c, actor, act, obj, "ok", det, err);
}

static sm_rc row_euicc(const db_res *r, db_euicc *e, sm_err *err)
{
    memset(e, 0, sizeof *e);
    int i = 0;
    snprintf(e->eid, sizeof e->eid, "%s", db_res_text(r, 0, i++));
    snprintf(e->eum_id, sizeof e->eum_id, "%s", db_res_text(r, 0, i++));
    snprintf(e->production_date, sizeof e->production_date, "%s", db_res_text(r, 0, i++));
    snprintf(e->platform_type, sizeof e->platform_type, "%s", db_res_text(r, 0, i++));
    snprintf(e->platform_version, sizeof e->platform_version, "%s", db_res_text(r, 0, i++));
    snprintf(e->rsp_version, sizeof e->rsp_version, "%s", db_res_text(r, 0, i++));
    get_aid(r, 0, i++, &e->isdp_loadfile_aid);
    get_aid(r, 0, i++, &e->isdp_module_aid);
    get_aid(r, 0, i++, &e->ecasd_aid);
    sm_rc rc = db_res_bytea(r, 0, i++, &e->ecasd_cert, &e->ecasd_cert_len, err);
    e->caps = (int)db_res_int(r, 0, i++);
    snprintf(e->cattp_version, sizeof e->cattp_version, "%s", db_res_text(r, 0, i++));
    snprintf(e->http_version, sizeof e->http_version, "%s", db_res_text(r, 0, i++));
    snprintf(e->secure_packet_version, sizeof e->secure_packet_version, "%s", db_res_text(r, 0, i++));
    e->remaining_memory = db_res_int(r, 0, i++);
    e->available_memory = db_res_int(r, 0, i++);
    snprintf(e->last_audit, sizeof e->last_audit, "%s", db_res_text(r, 0, i++));
    snprintf(e->smsr_id, sizeof e->smsr_id, "%s", db_res_text(r, 0, i++));
    get_aid(r, 0, i++, &e->isdr_aid);
    get_aid(r, 0, i++, &e->isdr_tar);
    get_aid(r, 0, i++, &e->isdr_sin);
    get_aid(r, 0, i++, &e->isdr_sdin);
    if (rc == SM_OK)
        rc = db_res_bytea(r, 0, i, &e->eum_signed, &e->eum_signed_len, err);
    i++;
    snprintf(e->state, sizeof e->state, "%s", db_res_text(r, 0, i++));
    e->notif_seq = (int)db_res_int(r, 0, i++);
    e->version = db_res_int(r, 0, i++);
    return rc;
}

static void row_profile(const db_res *r, int row, db_profile *p)
{
    memset(p, 0, sizeof *p);
    int i = 0;
    snprintf(p->iccid, sizeof p->iccid, "%s", db_res_text(r, row, i++));
    snprintf(p->eid, sizeof p->eid, "%s", db_res_text(r, row, i++));
    get_aid(r, row, i++, &p->isdp_aid);
    snprintf(p->mno_id, sizeof p->mno_id, "%s", db_res_text(r, row, i++));
    snprintf(p->state, sizeof p->state, "%s", db_res_text(r, row, i++));
    p->fallback = db_res_bool(r, row, i++);
    p->emergency = db_res_bool(r, row, i++);
    snprintf(p->imsi, sizeof p->imsi, "%s", db_res_text(r, row, i++));
    snprintf(p->msisdn, sizeof p->msisdn, "%s", db_res_text(r, row, i++));
    p->pol2 = (int)db_res_int(r, row, i++);
    snprintf(p->smdp_id, sizeof p->smdp_id, "%s", db_res_text(r, row, i++));
    snprintf(p->profile_type, sizeof p->profile_type, "%s", db_res_text(r, row, i++));
    p->allocated_memory = db_res_int(r, row, i++);
    p->free_memory = db_res_int(r, row, i++);
    p->version = db_res_int(r, row, i++);
}

/* ---- eUICCs ------------------------------------------------------------------------------------- */

static sm_rc insert_profile(db_conn *c, const char *eid, const db_profile *pr, sm_err *err)
{
    sm_rc rc = check_iccid(pr->iccid, err);
    if (rc != SM_OK)
        return rc;
    if (!pr->isdp_aid.len || !pr->mno_id[0] || !pr->state[0])
        return sm_errf(err, SM_EINVAL, "EIS: profile %s needs an ISD-P AID, an MNO id and a state", pr->iccid);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, pr->iccid);
    db_p_text(&p, eid);
    p_aid(&p, &pr->isdp_aid);
    db_p_text(&p, pr->mno_id);
    db_p_text(&p, pr->state);
    db_p_bool(&p, pr->fallback);
    db_p_bool(&p, pr->emergency);
    db_p_text(&p, pr->imsi);
    db_p_text(&p, pr->msisdn);
    db_p_int(&p, pr->pol2);
    db_p_text(&p, pr->smdp_id);
    db_p_text(&p, pr->profile_type);
    db_p_int(&p, pr->allocated_memory);
    db_p_int(&p, pr->free_memory);
    return db_exec(c, &q_prof_ins, &p, NULL, err);
}

struct reg_args {
    const char *actor;
    const db_euicc *e;
    const char *eid;
    const db_profile *profiles;
    size_t n;
};

static sm_rc do_register(db_conn *c, void *arg, sm_err *err)
{
    struct reg_args *a = arg;
    const db_euicc *e = a->e;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_p_text(&p, e->eum_id);
    db_p_text(&p, e->production_date);
    db_p_text(&p, e->platform_type);
    db_p_text(&p, e->platform_version);
    db_p_text(&p, e->rsp_version);
    p_aid(&p, &e->isdp_loadfile_aid);
    p_aid(&p, &e->isdp_module_aid);
    p_aid(&p, &e->ecasd_aid);
    db_p_bytea(&p, e->ecasd_cert, e->ecasd_cert_len);
    db_p_int(&p, e->caps);
    db_p_text(&p, e->cattp_version);
    db_p_text(&p, e->http_version);
    db_p_text(&p, e->secure_packet_version);
    db_p_int(&p, e->remaining_memory);
    db_p_int(&p, e->available_memory);
    db_p_text(&p, e->smsr_id);
    p_aid(&p, &e->isdr_aid);
    p_aid(&p, &e->isdr_tar);
    p_aid(&p, &e->isdr_sin);
    p_aid(&p, &e->isdr_sdin);
    db_p_bytea(&p, e->eum_signed, e->eum_signed_len);
    sm_rc rc = db_exec(c, &q_eis_ins, &p, NULL, err);
    if (rc == SM_EEXIST)
        return sm_errf(err, SM_EEXIST, "EIS: eUICC %s is registered already", a->eid);
    for (size_t i = 0; rc == SM_OK && i < a->n; i++)
        rc = insert_profile(c, a->eid, &a->profiles[i], err);
    char det[120];
    snprintf(det, sizeof det, "eum=%s profiles=%zu", e->eum_id, a->n);
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, NULL, "register", NULL, det, err);
    return rc;
}

sm_rc db_eis_register(db_conn *c, const char *actor, const db_euicc *e, const db_profile *profiles, size_t n,
                      sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(e->eid, eid, err);
    if (rc != SM_OK)
        return rc;
    if (!e->eum_id[0] || !e->smsr_id[0])
        return sm_errf(err, SM_EINVAL, "EIS: an eUICC needs its EUM id and SM-SR id");
    struct reg_args a = {actor, e, eid, profiles, n};
    return db_tx(c, do_register, &a, err);
}

static sm_rc get_eis(db_conn *c, db_stmt *st, const char *eid_in, db_euicc *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_res *r = NULL;
    rc = db_exec(c, st, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 0)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: unknown eUICC %s", eid);
    if (rc == SM_OK)
        rc = row_euicc(r, out, err);
    db_res_free(r);
    return rc;
}

sm_rc db_eis_get(db_conn *c, const char *eid, db_euicc *out, sm_err *err) { return get_eis(c, &q_eis_get, eid, out, err); }

sm_rc db_eis_lock(db_conn *c, const char *eid, db_euicc *out, sm_err *err)
{
    if (!db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "EIS: locking an eUICC needs a transaction");
    return get_eis(c, &q_eis_lock, eid, out, err);
}

void db_euicc_clear(db_euicc *e)
{
    free(e->ecasd_cert);
    free(e->eum_signed);
    e->ecasd_cert = e->eum_signed = NULL;
    e->ecasd_cert_len = e->eum_signed_len = 0;
}

sm_rc db_eis_profiles(db_conn *c, const char *eid_in, bool include_creating, db_profile **out, size_t *n, sm_err *err)
{
    *out = NULL;
    *n = 0;
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_bool(&p, include_creating);
    db_res *r = NULL;
    rc = db_exec(c, &q_profiles, &p, &r, err);
    int rows = db_res_rows(r);
    if (rc == SM_OK && rows) {
        *out = calloc((size_t)rows, sizeof **out);
        if (!*out)
            rc = sm_errf(err, SM_ENOMEM, "EIS: out of memory");
        for (int i = 0; rc == SM_OK && i < rows; i++)
            row_profile(r, i, &(*out)[i]);
        if (rc == SM_OK)
            *n = (size_t)rows;
    }
    db_res_free(r);
    return rc;
}

struct state_args {
    const char *actor, *eid, *iccid, *from, *to, *op_type;
    int64_t v1;
    bool flag;
    int pol2;
    const char *s1, *s2, *s3;
};

static sm_rc do_eis_state(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_p_text(&p, a->from);
    db_p_text(&p, a->to);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_eis_state, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, a->from ? SM_ESTATE : SM_ENOTFOUND, "EIS: eUICC %s %s", a->eid,
                     a->from ? "is not in the expected state" : "is unknown");
    db_res_free(r);
    char det[80];
    snprintf(det, sizeof det, "state %s%s", a->from ? a->from : "", a->to);
    if (a->from)
        snprintf(det, sizeof det, "state %s->%s", a->from, a->to);
    else
        snprintf(det, sizeof det, "state ->%s", a->to);
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, NULL, "state", NULL, det, err);
    return rc;
}

sm_rc db_eis_set_state(db_conn *c, const char *actor, const char *eid_in, const char *from, const char *to, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .eid = eid, .from = from, .to = to};
    return db_tx(c, do_eis_state, &a, err);
}

static sm_rc do_eis_mem(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_p_int(&p, a->v1);
    db_p_bool(&p, a->flag);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_eis_mem, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: unknown eUICC %s", a->eid);
    db_res_free(r);
    char det[80];
    snprintf(det, sizeof det, "remaining_memory=%lld%s", (long long)a->v1, a->flag ? " audited" : "");
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, NULL, "memory", a->flag ? "0500" : NULL, det, err);
    return rc;
}

sm_rc db_eis_set_memory(db_conn *c, const char *actor, const char *eid_in, int64_t remaining, bool audited, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .eid = eid, .v1 = remaining, .flag = audited};
    return db_tx(c, do_eis_mem, &a, err);
}

sm_rc db_eis_note_notification(db_conn *c, const char *eid_in, int seq, bool *duplicate, sm_err *err)
{
    *duplicate = false;
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_int(&p, seq);
    db_res *r = NULL;
    rc = db_exec(c, &q_eis_notif, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: unknown eUICC %s", eid);
    if (rc == SM_OK)
        *duplicate = db_res_int(r, 0, 0) == seq;
    db_res_free(r);
    return rc;
}

static sm_rc do_eis_del(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_eis_del, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: unknown eUICC %s", a->eid);
    db_res_free(r);
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, NULL, "delete", NULL, "EIS removed", err);
    return rc;
}

sm_rc db_eis_delete(db_conn *c, const char *actor, const char *eid_in, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .eid = eid};
    return db_tx(c, do_eis_del, &a, err);
}

static sm_rc do_record(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    return changed(c, a->actor, a->eid, a->iccid, a->s1, a->op_type, a->s2, err);
}

sm_rc db_eis_record(db_conn *c, const char *actor, const char *eid_in, const char *iccid, const char *action,
                    const char *op_type, const char *detail, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    if (!action || !*action)
        return sm_errf(err, SM_EINVAL, "EIS: a history record needs an action");
    struct state_args a = {.actor = actor, .eid = eid, .iccid = iccid, .op_type = op_type, .s1 = action, .s2 = detail};
    return db_tx(c, do_record, &a, err);
}

sm_rc db_eis_history(db_conn *c, const char *eid_in, int max, db_eis_change **out, size_t *n, sm_err *err)
{
    *out = NULL;
    *n = 0;
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_int(&p, max > 0 ? max : 100);
    db_res *r = NULL;
    rc = db_exec(c, &q_hist_list, &p, &r, err);
    int rows = db_res_rows(r);
    if (rc == SM_OK && rows) {
        db_eis_change *v = calloc((size_t)rows, sizeof *v);
        if (!v)
            rc = sm_errf(err, SM_ENOMEM, "EIS: out of memory");
        for (int i = 0; rc == SM_OK && i < rows; i++) {
            v[i].id = db_res_int(r, i, 0);
            snprintf(v[i].at, sizeof v[i].at, "%s", db_res_text(r, i, 1));
            snprintf(v[i].iccid, sizeof v[i].iccid, "%s", db_res_text(r, i, 2));
            snprintf(v[i].actor, sizeof v[i].actor, "%s", db_res_text(r, i, 3));
            snprintf(v[i].action, sizeof v[i].action, "%s", db_res_text(r, i, 4));
            snprintf(v[i].op_type, sizeof v[i].op_type, "%s", db_res_text(r, i, 5));
            snprintf(v[i].detail, sizeof v[i].detail, "%s", db_res_text(r, i, 6));
        }
        *out = v;
        *n = rc == SM_OK ? (size_t)rows : 0;
    }
    db_res_free(r);
    return rc;
}

/* ---- profiles ------------------------------------------------------------------------------------ */

struct prof_args {
    const char *actor;
    const db_profile *p;
    char eid[33];
};

static sm_rc do_prof_add(db_conn *c, void *arg, sm_err *err)
{
    struct prof_args *a = arg;
    sm_rc rc = insert_profile(c, a->eid, a->p, err);
    if (rc == SM_EEXIST)
        return sm_errf(err, SM_EEXIST, "EIS: ICCID %s or its ISD-P AID is in use", a->p->iccid);
    char det[160];
    snprintf(det, sizeof det, "state %s mno=%s smdp=%s", a->p->state, a->p->mno_id, a->p->smdp_id);
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, a->p->iccid, "profile.add", NULL, det, err);
    return rc;
}

sm_rc db_profile_add(db_conn *c, const char *actor, const db_profile *pr, sm_err *err)
{
    struct prof_args a = {.actor = actor, .p = pr};
    sm_rc rc = check_eid(pr->eid, a.eid, err);
    if (rc != SM_OK)
        return rc;
    return db_tx(c, do_prof_add, &a, err);
}

static sm_rc get_profile(db_conn *c, db_stmt *st, const char *key, db_profile *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, key);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, st, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 0)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: no profile %s", key);
    if (rc == SM_OK)
        row_profile(r, 0, out);
    db_res_free(r);
    return rc;
}

sm_rc db_profile_get(db_conn *c, const char *iccid, db_profile *out, sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    return rc != SM_OK ? rc : get_profile(c, &q_prof_get, iccid, out, err);
}

sm_rc db_profile_by_msisdn(db_conn *c, const char *msisdn, db_profile *out, sm_err *err)
{
    if (!msisdn || !*msisdn)
        return sm_errf(err, SM_EINVAL, "EIS: empty MSISDN");
    return get_profile(c, &q_prof_msisdn, msisdn, out, err);
}

static sm_rc do_prof_state(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_p_text(&p, a->from);
    db_p_text(&p, a->to);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_prof_state, &p, &r, err);
    if (rc == SM_EEXIST) {
        sm_err_clear(err);
        rc = sm_errf(err, SM_EEXIST, "EIS: profile %s cannot become %s: the eUICC has another such profile", a->iccid,
                     a->to);
    } else if (rc == SM_OK && db_res_rows(r) != 1) {
        rc = sm_errf(err, a->from ? SM_ESTATE : SM_ENOTFOUND, "EIS: profile %s %s", a->iccid,
                     a->from ? "is not in the expected state" : "does not exist");
    }
    char eid[33] = "", det[80];
    if (rc == SM_OK) {
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
        snprintf(det, sizeof det, "state %s->%s", db_res_text(r, 0, 1), a->to);
    }
    db_res_free(r);
    if (rc == SM_OK)
        rc = changed(c, a->actor, eid, a->iccid, "profile.state", a->op_type, det, err);
    return rc;
}

static bool good_state(const char *s)
{
    return s && (!strcmp(s, "creating") || !strcmp(s, "Created") || !strcmp(s, "Disabled") || !strcmp(s, "Enabled"));
}

sm_rc db_profile_set_state(db_conn *c, const char *actor, const char *iccid, const char *from, const char *to,
                           const char *op_type, sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    if (rc != SM_OK)
        return rc;
    if (!good_state(to) || (from && !good_state(from)))
        return sm_errf(err, SM_EINVAL, "EIS: profile states are creating, Created, Disabled and Enabled");
    struct state_args a = {.actor = actor, .iccid = iccid, .from = from, .to = to, .op_type = op_type};
    return db_tx(c, do_prof_state, &a, err);
}

static sm_rc do_prof_done(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_p_text(&p, a->s1);
    db_p_text(&p, a->s2);
    db_p_text(&p, a->s3);
    db_p_int(&p, a->pol2);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_prof_done, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ESTATE, "EIS: profile %s is not in state Created", a->iccid);
    char eid[33] = "", det[200];
    if (rc == SM_OK)
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    snprintf(det, sizeof det, "state Created->Disabled type=%s pol2=%d", a->s1 ? a->s1 : "", a->pol2);
    if (rc == SM_OK)
        rc = changed(c, a->actor, eid, a->iccid, "profile.completed", NULL, det, err);
    return rc;
}

sm_rc db_profile_completed(db_conn *c, const char *actor, const char *iccid, const char *profile_type,
                           const char *imsi, const char *msisdn, int pol2, sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .iccid = iccid, .s1 = profile_type, .s2 = imsi, .s3 = msisdn, .pol2 = pol2};
    return db_tx(c, do_prof_done, &a, err);
}

static sm_rc do_prof_fb(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_prof_eid, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: no profile %s", a->iccid);
    char eid[33] = "";
    if (rc == SM_OK)
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_text(&p, eid);
        db_p_text(&p, a->iccid);
        rc = db_exec(c, &q_prof_fb_clear, &p, NULL, err);
    }
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_text(&p, a->iccid);
        rc = db_exec(c, &q_prof_fb_set, &p, NULL, err);
    }
    if (rc == SM_OK)
        rc = changed(c, a->actor, eid, a->iccid, "profile.fallback", "0700", "fallback attribute set", err);
    return rc;
}

sm_rc db_profile_set_fallback(db_conn *c, const char *actor, const char *iccid, sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .iccid = iccid};
    return db_tx(c, do_prof_fb, &a, err);
}

static sm_rc do_prof_addr(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_p_text(&p, a->s1);
    db_p_text(&p, a->s2);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_prof_addr, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: no profile %s", a->iccid);
    char eid[33] = "", det[80];
    if (rc == SM_OK)
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    snprintf(det, sizeof det, "imsi=%s msisdn=%s", a->s1 ? a->s1 : "", a->s2 ? a->s2 : "");
    if (rc == SM_OK)
        rc = changed(c, a->actor, eid, a->iccid, "profile.address", NULL, det, err);
    return rc;
}

sm_rc db_profile_set_address(db_conn *c, const char *actor, const char *iccid, const char *imsi, const char *msisdn,
                             sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .iccid = iccid, .s1 = imsi, .s2 = msisdn};
    return db_tx(c, do_prof_addr, &a, err);
}

static sm_rc do_prof_pol2(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_p_int(&p, a->pol2);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_prof_pol2, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: no profile %s", a->iccid);
    char eid[33] = "", det[40];
    if (rc == SM_OK)
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    snprintf(det, sizeof det, "pol2=%d", a->pol2);
    if (rc == SM_OK)
        rc = changed(c, a->actor, eid, a->iccid, "profile.pol2", NULL, det, err);
    return rc;
}

sm_rc db_profile_set_pol2(db_conn *c, const char *actor, const char *iccid, int pol2, sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .iccid = iccid, .pol2 = pol2};
    return db_tx(c, do_prof_pol2, &a, err);
}

static sm_rc do_prof_del(db_conn *c, void *arg, sm_err *err)
{
    struct state_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->iccid);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_prof_del, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: no profile %s", a->iccid);
    char eid[33] = "", det[60] = "";
    if (rc == SM_OK) {
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
        snprintf(det, sizeof det, "deleted in state %s", db_res_text(r, 0, 1));
    }
    db_res_free(r);
    if (rc == SM_OK)
        rc = changed(c, a->actor, eid, a->iccid, "profile.delete", a->op_type, det, err);
    return rc;
}

sm_rc db_profile_delete(db_conn *c, const char *actor, const char *iccid, const char *op_type, sm_err *err)
{
    sm_rc rc = check_iccid(iccid, err);
    if (rc != SM_OK)
        return rc;
    struct state_args a = {.actor = actor, .iccid = iccid, .op_type = op_type};
    return db_tx(c, do_prof_del, &a, err);
}

/* ---- key sets ------------------------------------------------------------------------------------ */

struct ks_args {
    const char *actor;
    char eid[33];
    const db_keyset *ks;
    int kvn;
};

static sm_rc do_ks_put(db_conn *c, void *arg, sm_err *err)
{
    struct ks_args *a = arg;
    const db_keyset *ks = a->ks;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_p_int(&p, ks->kvn);
    sm_rc rc = db_exec(c, &q_ks_del, &p, NULL, err);
    if (rc == SM_OK) {
        db_params_init(&p);
        db_p_text(&p, a->eid);
        db_p_int(&p, ks->kvn);
        db_p_text(&p, ks->sd[0] ? ks->sd : "ISD-R");
        db_p_text(&p, ks->type);
        db_p_int(&p, ks->counter);
        rc = db_exec(c, &q_ks_ins, &p, NULL, err);
    }
    for (size_t i = 0; rc == SM_OK && i < ks->nkeys; i++) {
        const db_key *k = &ks->keys[i];
        db_params_init(&p);
        db_p_text(&p, a->eid);
        db_p_int(&p, ks->kvn);
        db_p_int(&p, k->index);
        db_p_int(&p, k->key_type);
        db_p_bytea(&p, k->wrapped, k->wrapped_len);
        db_p_bytea(&p, k->kcv_len ? k->kcv : NULL, k->kcv_len);
        db_p_text(&p, k->kek_label);
        rc = db_exec(c, &q_key_ins, &p, NULL, err);
    }
    char det[80];
    snprintf(det, sizeof det, "kvn=%d type=%s keys=%zu (wrapped)", ks->kvn, ks->type, ks->nkeys);
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, NULL, "keyset.put", NULL, det, err);
    return rc;
}

sm_rc db_keyset_put(db_conn *c, const char *actor, const char *eid, const db_keyset *ks, sm_err *err)
{
    struct ks_args a = {.actor = actor, .ks = ks};
    sm_rc rc = check_eid(eid, a.eid, err);
    if (rc != SM_OK)
        return rc;
    if (ks->kvn < 1 || ks->kvn > 127 || !ks->type[0] || ks->nkeys > sizeof ks->keys / sizeof ks->keys[0])
        return sm_errf(err, SM_EINVAL, "EIS: a key set needs a version 1..127 and a type");
    for (size_t i = 0; i < ks->nkeys; i++) {
        const db_key *k = &ks->keys[i];
        /* the database only ever holds hsm_wrap output (RFC 5649: a multiple of 8 bytes, at least 24) */
        if (k->wrapped_len < 24 || k->wrapped_len % 8 != 0 || k->wrapped_len > sizeof k->wrapped || !k->kek_label[0])
            return sm_errf(err, SM_EINVAL, "EIS: key %d of key set %d is not a wrapped key blob", k->index, ks->kvn);
    }
    return db_tx(c, do_ks_put, &a, err);
}

sm_rc db_keyset_get(db_conn *c, const char *eid_in, int kvn, db_keyset *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_int(&p, kvn);
    db_res *r = NULL;
    rc = db_exec(c, &q_ks_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 0)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: eUICC %s has no key set %d", eid, kvn);
    for (int i = 0; rc == SM_OK && i < db_res_rows(r); i++) {
        out->kvn = (int)db_res_int(r, i, 0);
        snprintf(out->sd, sizeof out->sd, "%s", db_res_text(r, i, 1));
        snprintf(out->type, sizeof out->type, "%s", db_res_text(r, i, 2));
        out->counter = db_res_int(r, i, 3);
        if (db_res_null(r, i, 4))
            continue;
        if (out->nkeys >= sizeof out->keys / sizeof out->keys[0])
            break;
        db_key *k = &out->keys[out->nkeys++];
        k->index = (int)db_res_int(r, i, 4);
        k->key_type = (int)db_res_int(r, i, 5);
        rc = db_res_bytea_into(r, i, 6, k->wrapped, sizeof k->wrapped, &k->wrapped_len, err);
        if (rc == SM_OK)
            rc = db_res_bytea_into(r, i, 7, k->kcv, sizeof k->kcv, &k->kcv_len, err);
        snprintf(k->kek_label, sizeof k->kek_label, "%s", db_res_text(r, i, 8));
    }
    db_res_free(r);
    return rc;
}

sm_rc db_keyset_list(db_conn *c, const char *eid_in, int **kvns, size_t *n, sm_err *err)
{
    *kvns = NULL;
    *n = 0;
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_res *r = NULL;
    rc = db_exec(c, &q_ks_list, &p, &r, err);
    int rows = db_res_rows(r);
    if (rc == SM_OK && rows) {
        *kvns = calloc((size_t)rows, sizeof **kvns);
        if (!*kvns)
            rc = sm_errf(err, SM_ENOMEM, "EIS: out of memory");
        for (int i = 0; rc == SM_OK && i < rows; i++)
            (*kvns)[i] = (int)db_res_int(r, i, 0);
        if (rc == SM_OK)
            *n = (size_t)rows;
    }
    db_res_free(r);
    return rc;
}

sm_rc db_keyset_next_counter(db_conn *c, const char *eid_in, int kvn, int64_t *counter, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(eid_in, eid, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_int(&p, kvn);
    db_res *r = NULL;
    rc = db_exec(c, &q_ks_next, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: eUICC %s has no key set %d", eid, kvn);
    if (rc == SM_OK)
        *counter = db_res_int(r, 0, 0);
    db_res_free(r);
    return rc;
}

static sm_rc do_ks_del(db_conn *c, void *arg, sm_err *err)
{
    struct ks_args *a = arg;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, a->eid);
    db_p_int(&p, a->kvn);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_ks_del, &p, &r, err);
    if (rc == SM_OK && db_res_affected(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "EIS: eUICC %s has no key set %d", a->eid, a->kvn);
    db_res_free(r);
    char det[40];
    snprintf(det, sizeof det, "kvn=%d", a->kvn);
    if (rc == SM_OK)
        rc = changed(c, a->actor, a->eid, NULL, "keyset.delete", NULL, det, err);
    return rc;
}

sm_rc db_keyset_delete(db_conn *c, const char *actor, const char *eid, int kvn, sm_err *err)
{
    struct ks_args a = {.actor = actor, .kvn = kvn};
    sm_rc rc = check_eid(eid, a.eid, err);
    if (rc != SM_OK)
        return rc;
    return db_tx(c, do_ks_del, &a, err);
}

/* ---- bulk loads ------------------------------------------------------------------------------------- */

static const char *COPY_EUICC =
    "COPY euicc (eid, eum_id, production_date, platform_type, platform_version, rsp_version, isdp_loadfile_aid, "
    "isdp_module_aid, ecasd_aid, ecasd_cert, caps, cattp_version, http_version, secure_packet_version, "
    "remaining_memory, available_memory, smsr_id, isdr_aid, isdr_tar, isdr_sin, isdr_sdin, eum_signed) FROM STDIN";
static const char *COPY_PROFILE =
    "COPY profile (iccid, eid, isdp_aid, mno_id, state, fallback, emergency, imsi, msisdn, pol2, smdp_id, "
    "profile_type, allocated_memory, free_memory) FROM STDIN";

/* bytea in COPY text form ("\\x..." once COPY's own escaping is applied by db_copy_row) */
static char *hexfield(const uint8_t *b, size_t n, char *stackbuf, size_t cap)
{
    if (!b || !n)
        return NULL;
    char *out = 2 * n + 3 <= cap ? stackbuf : malloc(2 * n + 3);
    if (!out)
        return NULL;
    out[0] = '\\';
    out[1] = 'x';
    sm_hex_encode(b, n, out + 2);
    return out;
}

static const char *nz(const char *s) { return s && *s ? s : NULL; }

sm_rc db_eis_bulk_begin(db_conn *c, sm_err *err)
{
    if (!db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "EIS: a bulk load runs inside the caller's transaction");
    return db_copy_begin(c, COPY_EUICC, err);
}

sm_rc db_eis_bulk_add(db_conn *c, const db_euicc *e, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(e->eid, eid, err);
    if (rc != SM_OK)
        return rc;
    char a1[40], a2[40], a3[40], a4[40], a5[40], a6[40], a7[40], cb[1024], sb[1024], caps[16], rm[24], am[24];
    char *cert = hexfield(e->ecasd_cert, e->ecasd_cert_len, cb, sizeof cb);
    char *sig = hexfield(e->eum_signed, e->eum_signed_len, sb, sizeof sb);
    snprintf(caps, sizeof caps, "%d", e->caps);
    snprintf(rm, sizeof rm, "%lld", (long long)e->remaining_memory);
    snprintf(am, sizeof am, "%lld", (long long)e->available_memory);
    const char *f[22] = {
        eid, e->eum_id, nz(e->production_date), e->platform_type, e->platform_version, e->rsp_version,
        hexfield(e->isdp_loadfile_aid.b, e->isdp_loadfile_aid.len, a1, sizeof a1),
        hexfield(e->isdp_module_aid.b, e->isdp_module_aid.len, a2, sizeof a2),
        hexfield(e->ecasd_aid.b, e->ecasd_aid.len, a3, sizeof a3), cert, caps, nz(e->cattp_version),
        nz(e->http_version), nz(e->secure_packet_version), rm, am, e->smsr_id,
        hexfield(e->isdr_aid.b, e->isdr_aid.len, a4, sizeof a4), hexfield(e->isdr_tar.b, e->isdr_tar.len, a5, sizeof a5),
        hexfield(e->isdr_sin.b, e->isdr_sin.len, a6, sizeof a6),
        hexfield(e->isdr_sdin.b, e->isdr_sdin.len, a7, sizeof a7), sig,
    };
    rc = db_copy_row(c, f, 22, err);
    if (cert && cert != cb)
        free(cert);
    if (sig && sig != sb)
        free(sig);
    return rc;
}

/* every eUICC of the batch gets its history row (those created by this transaction) */
DB_STMT(q_bulk_hist, 1,
        "INSERT INTO eis_history (eid, actor, action, detail) SELECT eid, $1, 'register', 'bulk load' FROM euicc "
        "WHERE created_at = now()");

static sm_rc bulk_end(db_conn *c, const char *actor, const char *what, bool history, long *n, sm_err *err)
{
    long rows = 0;
    sm_rc rc = db_copy_end(c, &rows, err);
    if (n)
        *n = rows;
    if (rc == SM_OK && history) {
        db_params p;
        db_params_init(&p);
        db_p_text(&p, actor && *actor ? actor : "-");
        rc = db_exec(c, &q_bulk_hist, &p, NULL, err);
    }
    if (rc == SM_OK)
        rc = db_audit_appendf(c, err, actor, what, "-", "ok", "rows=%ld", rows);
    return rc;
}

sm_rc db_eis_bulk_end(db_conn *c, const char *actor, long *n, sm_err *err)
{
    return bulk_end(c, actor, "eis.bulk-register", true, n, err);
}

sm_rc db_profile_bulk_begin(db_conn *c, sm_err *err)
{
    if (!db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "EIS: a bulk load runs inside the caller's transaction");
    return db_copy_begin(c, COPY_PROFILE, err);
}

sm_rc db_profile_bulk_add(db_conn *c, const db_profile *p, sm_err *err)
{
    char eid[33];
    sm_rc rc = check_eid(p->eid, eid, err);
    if (rc == SM_OK)
        rc = check_iccid(p->iccid, err);
    if (rc != SM_OK)
        return rc;
    char aidb[40], pol2[16], alloc[24], fm[24];
    snprintf(pol2, sizeof pol2, "%d", p->pol2);
    snprintf(alloc, sizeof alloc, "%lld", (long long)p->allocated_memory);
    snprintf(fm, sizeof fm, "%lld", (long long)p->free_memory);
    const char *f[14] = {
        p->iccid, eid, hexfield(p->isdp_aid.b, p->isdp_aid.len, aidb, sizeof aidb), p->mno_id, p->state,
        p->fallback ? "t" : "f", p->emergency ? "t" : "f", nz(p->imsi), nz(p->msisdn), pol2, nz(p->smdp_id),
        nz(p->profile_type), alloc, p->free_memory < 0 ? NULL : fm,
    };
    return db_copy_row(c, f, 14, err);
}

sm_rc db_profile_bulk_end(db_conn *c, const char *actor, long *n, sm_err *err)
{
    return bulk_end(c, actor, "eis.bulk-profiles", false, n, err);
}
