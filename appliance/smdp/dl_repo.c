/* Download procedure rows and ISD-P key sets. */
#include "appliance/smdp/dl_repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"

DB_STMT(q_create, 12,
        "INSERT INTO dp_download (proc_id, order_id, origin, requester, call_id, mno_id, eid, smsr_id, req_iccid, "
        "req_type, enable, reply) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), nullif($10, ''), $11, $12)");
DB_STMT(q_load, 1,
        "SELECT proc_id, order_id, origin, requester, call_id, mno_id, eid, smsr_id, coalesce(req_iccid, ''), "
        "coalesce(req_type, ''), enable, reply, coalesce(iccid, ''), coalesce(template_id, ''), "
        "coalesce(profile_type, ''), phase, es3_seq, coalesce(expect_mid, ''), coalesce(expect_fn, ''), isdp_aid, "
        "data_sent, ke_attempts, ke_state, coalesce(kvn, 0), scp_seq, coalesce(octet_length(script), 0), "
        "script_state, chunk, coalesce(fail_status, ''), coalesce(warning, ''), coalesce(outcome, '') "
        "FROM dp_download WHERE proc_id = $1");
/* script only when it changed ($22): rewriting the same 13 KB re-toasted, re-compressed and re-logged it
 * at every step */
DB_STMT(q_save, 22,
        "WITH u AS (UPDATE dp_download SET iccid = nullif($2, ''), template_id = nullif($3, ''), "
        "profile_type = nullif($4, ''), phase = $5, es3_seq = $6, expect_mid = nullif($7, ''), "
        "expect_fn = nullif($8, ''), isdp_aid = $9, data_sent = $10, ke_attempts = $11, ke_state = $12, "
        "kvn = CASE WHEN $13::int > 0 THEN $13::int END, scp_seq = $14, "
        "script = CASE WHEN $22 THEN $15 ELSE script END, script_state = $16, chunk = $17, "
        "fail_status = nullif($18, ''), warning = nullif($19, ''), outcome = nullif($20, ''), mno_id = $21, "
        "updated_at = now() WHERE proc_id = $1 RETURNING 1) "
        "SELECT coalesce((SELECT '1' FROM u), 'download: procedure ' || $1 || ' has no download row')::int");
DB_STMT(q_script, 1, "SELECT script FROM dp_download WHERE proc_id = $1 AND script IS NOT NULL");
DB_STMT(q_peer, 1, "SELECT smsr_id, coalesce(expect_mid, '') FROM dp_download WHERE proc_id = $1");
DB_STMT(q_find, 2,
        "SELECT d.proc_id FROM dp_download d WHERE d.requester = $1 AND d.call_id = $2 ORDER BY d.proc_id DESC "
        "LIMIT 1");
DB_STMT(q_keys_put, 11,
        "INSERT INTO dp_isdp_keyset (eid, isdp_aid, iccid, kvn, enc, mac, dek, kcv, kek_label, scp_seq, proc_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (eid, isdp_aid) DO UPDATE SET "
        "iccid = EXCLUDED.iccid, kvn = EXCLUDED.kvn, enc = EXCLUDED.enc, mac = EXCLUDED.mac, dek = EXCLUDED.dek, "
        "kcv = EXCLUDED.kcv, kek_label = EXCLUDED.kek_label, scp_seq = EXCLUDED.scp_seq, proc_id = EXCLUDED.proc_id, "
        "created_at = now()");
DB_STMT(q_keys_get, 2,
        "SELECT eid, iccid, kvn, enc, mac, dek, kcv, kek_label, scp_seq, coalesce(proc_id, 0) FROM dp_isdp_keyset "
        "WHERE eid = $1 AND isdp_aid = $2");
DB_STMT(q_keys_seq, 3, "UPDATE dp_isdp_keyset SET scp_seq = $3 WHERE eid = $1 AND isdp_aid = $2");
DB_STMT(q_keys_del, 2, "DELETE FROM dp_isdp_keyset WHERE eid = $1 AND isdp_aid = $2");

sm_rc dp_reply_encode(const es_reply_to *r, char *out, size_t cap, sm_err *err)
{
    const char *f[] = {r->qname, r->relates_to, r->fcid, r->address, r->peer_id};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (strchr(f[i], '\n'))
            return sm_errf(err, SM_EINVAL, "reply address: a field with a line break");
    int n = snprintf(out, cap, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n", r->qname, r->binding == ES_BIND_REST ? "rest" : "soap",
                     r->relates_to, r->fcid, r->address, r->peer_id, es_role_name(r->peer_role));
    if (n < 0 || (size_t)n >= cap)
        return sm_errf(err, SM_EINVAL, "reply address too long");
    return SM_OK;
}

static bool field(const uint8_t *p, size_t len, size_t *off, char *out, size_t cap)
{
    const uint8_t *nl = memchr(p + *off, '\n', len - *off);
    if (!nl || (size_t)(nl - (p + *off)) >= cap)
        return false;
    size_t n = (size_t)(nl - (p + *off));
    memcpy(out, p + *off, n);
    out[n] = 0;
    *off += n + 1;
    return true;
}

sm_rc dp_reply_decode(const uint8_t *p, size_t len, es_reply_to *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    size_t off = 0;
    char b[8], role[16];
    if (!field(p, len, &off, out->qname, sizeof out->qname) || !field(p, len, &off, b, sizeof b) ||
        !field(p, len, &off, out->relates_to, sizeof out->relates_to) ||
        !field(p, len, &off, out->fcid, sizeof out->fcid) || !field(p, len, &off, out->address, sizeof out->address) ||
        !field(p, len, &off, out->peer_id, sizeof out->peer_id) || !field(p, len, &off, role, sizeof role) ||
        off != len)
        return sm_errf(err, SM_EPARSE, "download: stored reply address unreadable");
    out->binding = strcmp(b, "rest") ? ES_BIND_SOAP : ES_BIND_REST;
    out->peer_role = es_role_parse(role);
    return SM_OK;
}

sm_rc dp_dl_create(db_conn *c, const dp_dl *d, sm_err *err)
{
    char reply[2048] = "";
    if (d->has_reply) {
        sm_rc rc = dp_reply_encode(&d->reply, reply, sizeof reply, err);
        if (rc != SM_OK)
            return rc;
    }
    db_params p;
    db_params_init(&p);
    db_p_int(&p, d->proc_id);
    db_p_int(&p, d->order_id);
    db_p_text(&p, d->origin);
    db_p_text(&p, d->requester);
    db_p_text(&p, d->call_id);
    db_p_text(&p, d->mno_id);
    db_p_text(&p, d->eid);
    db_p_text(&p, d->smsr_id);
    db_p_text(&p, d->req_iccid);
    db_p_text(&p, d->req_type);
    db_p_bool(&p, d->enable);
    db_p_bytea(&p, d->has_reply ? (const uint8_t *)reply : NULL, strlen(reply));
    return db_exec(c, &q_create, &p, NULL, err);
}

#define COPY(dst, col) snprintf((dst), sizeof(dst), "%s", db_res_text(r, 0, (col)))

sm_rc dp_dl_load(db_conn *c, int64_t proc_id, dp_dl *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_load, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "download: procedure %lld has no download row", (long long)proc_id);
    if (rc != SM_OK) {
        db_res_free(r);
        return rc;
    }
    out->proc_id = db_res_int(r, 0, 0);
    out->order_id = db_res_int(r, 0, 1);
    COPY(out->origin, 2);
    COPY(out->requester, 3);
    COPY(out->call_id, 4);
    COPY(out->mno_id, 5);
    COPY(out->eid, 6);
    COPY(out->smsr_id, 7);
    COPY(out->req_iccid, 8);
    COPY(out->req_type, 9);
    out->enable = db_res_bool(r, 0, 10);
    if (!db_res_null(r, 0, 11)) {
        uint8_t buf[2048];
        size_t bl = 0;
        rc = db_res_bytea_into(r, 0, 11, buf, sizeof buf, &bl, err);
        if (rc == SM_OK)
            rc = dp_reply_decode(buf, bl, &out->reply, err);
        out->has_reply = rc == SM_OK;
    }
    COPY(out->iccid, 12);
    COPY(out->template_id, 13);
    COPY(out->profile_type, 14);
    COPY(out->phase, 15);
    out->es3_seq = (int)db_res_int(r, 0, 16);
    COPY(out->expect_mid, 17);
    COPY(out->expect_fn, 18);
    if (rc == SM_OK && !db_res_null(r, 0, 19))
        rc = db_res_bytea_into(r, 0, 19, out->isdp_aid, sizeof out->isdp_aid, &out->isdp_aid_len, err);
    out->data_sent = db_res_bool(r, 0, 20);
    out->ke_attempts = (int)db_res_int(r, 0, 21);
    if (rc == SM_OK && !db_res_null(r, 0, 22))
        rc = db_res_bytea_into(r, 0, 22, out->ke_state, sizeof out->ke_state, &out->ke_state_len, err);
    out->kvn = (int)db_res_int(r, 0, 23);
    out->scp_seq = (int)db_res_int(r, 0, 24);
    out->script = NULL;
    out->script_len = (size_t)db_res_int(r, 0, 25);
    out->script_dirty = false;
    if (rc == SM_OK)
        rc = db_res_bytea(r, 0, 26, &out->script_state, &out->script_state_len, err);
    out->chunk = (int)db_res_int(r, 0, 27);
    COPY(out->fail_status, 28);
    COPY(out->warning, 29);
    COPY(out->outcome, 30);
    db_res_free(r);
    if (rc != SM_OK)
        dp_dl_clear(out);
    return rc;
}

sm_rc dp_dl_save(db_conn *c, const dp_dl *d, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, d->proc_id);
    db_p_text(&p, d->iccid);
    db_p_text(&p, d->template_id);
    db_p_text(&p, d->profile_type);
    db_p_text(&p, d->phase);
    db_p_int(&p, d->es3_seq);
    db_p_text(&p, d->expect_mid);
    db_p_text(&p, d->expect_fn);
    db_p_bytea(&p, d->isdp_aid_len ? d->isdp_aid : NULL, d->isdp_aid_len);
    db_p_bool(&p, d->data_sent);
    db_p_int(&p, d->ke_attempts);
    db_p_bytea(&p, d->ke_state_len ? d->ke_state : NULL, d->ke_state_len);
    db_p_int(&p, d->kvn);
    db_p_int(&p, d->scp_seq);
    db_p_bytea(&p, d->script_dirty && d->script_len ? d->script : NULL, d->script_dirty ? d->script_len : 0);
    db_p_bytea(&p, d->script_state_len ? d->script_state : NULL, d->script_state_len);
    db_p_int(&p, d->chunk);
    db_p_text(&p, d->fail_status);
    db_p_text(&p, d->warning);
    db_p_text(&p, d->outcome);
    db_p_text(&p, d->mno_id);
    db_p_bool(&p, d->script_dirty);
    /* with the step's next statement or its COMMIT: a row that is gone fails the transaction there */
    return db_exec_later(c, &q_save, &p, err);
}

sm_rc dp_dl_script(db_conn *c, dp_dl *d, sm_err *err)
{
    if (d->script || !d->script_len)
        return SM_OK;
    return db_bytea_by_id(c, &q_script, d->proc_id, d->script_len, "protected profile of download", &d->script, err);
}

void dp_dl_clear(dp_dl *d)
{
    free(d->script);
    free(d->script_state);
    d->script = d->script_state = NULL;
    d->script_len = d->script_state_len = 0;
}

sm_rc dp_dl_peer(db_conn *c, int64_t proc_id, char smsr_id[65], char expect_mid[128], sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, proc_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_peer, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "download: no procedure %lld", (long long)proc_id);
    if (rc == SM_OK) {
        snprintf(smsr_id, 65, "%s", db_res_text(r, 0, 0));
        snprintf(expect_mid, 128, "%s", db_res_text(r, 0, 1));
    }
    db_res_free(r);
    return rc;
}

sm_rc dp_dl_find_call(db_conn *c, const char *requester, const char *call_id, int64_t *proc_id, sm_err *err)
{
    *proc_id = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, requester);
    db_p_text(&p, call_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_find, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1)
        *proc_id = db_res_int(r, 0, 0);
    db_res_free(r);
    return rc;
}

sm_rc dp_isdp_keys_put(db_conn *c, const char *actor, const dp_isdp_keys *k, sm_err *err)
{
    for (int i = 0; i < 3; i++)
        if (k->wrapped_len[i] < 24 || k->wrapped_len[i] % 8 || k->wrapped_len[i] > sizeof k->wrapped[i])
            return sm_errf(err, SM_EINVAL, "ISD-P key set: key %d is not a wrapped key", i + 1);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, k->eid);
    db_p_bytea(&p, k->aid, k->aid_len);
    db_p_text(&p, k->iccid);
    db_p_int(&p, k->kvn);
    for (int i = 0; i < 3; i++)
        db_p_bytea(&p, k->wrapped[i], k->wrapped_len[i]);
    db_p_bytea(&p, k->kcv, 9);
    db_p_text(&p, k->kek_label);
    db_p_int(&p, k->scp_seq);
    db_p_int(&p, k->proc_id);
    sm_rc rc = db_exec(c, &q_keys_put, &p, NULL, err);
    if (rc != SM_OK)
        return rc;
    return db_audit_appendf(c, err, actor, "smdp.isdp.keyset", k->iccid, "ok",
                            "eid=%s kvn=%d kcv=%02x%02x%02x/%02x%02x%02x/%02x%02x%02x wrapped under %s", k->eid, k->kvn,
                            k->kcv[0], k->kcv[1], k->kcv[2], k->kcv[3], k->kcv[4], k->kcv[5], k->kcv[6], k->kcv[7],
                            k->kcv[8], k->kek_label);
}

sm_rc dp_isdp_keys_get(db_conn *c, const char *eid, const uint8_t *aid, size_t aid_len, dp_isdp_keys *out,
                       sm_err *err)
{
    memset(out, 0, sizeof *out);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_bytea(&p, aid, aid_len);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_keys_get, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "no ISD-P key set for %s", eid);
    if (rc == SM_OK) {
        snprintf(out->eid, sizeof out->eid, "%s", db_res_text(r, 0, 0));
        snprintf(out->iccid, sizeof out->iccid, "%s", db_res_text(r, 0, 1));
        memcpy(out->aid, aid, aid_len < 16 ? aid_len : 16);
        out->aid_len = aid_len < 16 ? aid_len : 16;
        out->kvn = (int)db_res_int(r, 0, 2);
        for (int i = 0; rc == SM_OK && i < 3; i++)
            rc = db_res_bytea_into(r, 0, 3 + i, out->wrapped[i], sizeof out->wrapped[i], &out->wrapped_len[i], err);
        size_t kl = 0;
        if (rc == SM_OK)
            rc = db_res_bytea_into(r, 0, 6, out->kcv, sizeof out->kcv, &kl, err);
        snprintf(out->kek_label, sizeof out->kek_label, "%s", db_res_text(r, 0, 7));
        out->scp_seq = (int)db_res_int(r, 0, 8);
        out->proc_id = db_res_int(r, 0, 9);
    }
    db_res_free(r);
    return rc;
}

sm_rc dp_isdp_keys_set_seq(db_conn *c, const char *eid, const uint8_t *aid, size_t aid_len, int seq, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_bytea(&p, aid, aid_len);
    db_p_int(&p, seq);
    return db_exec(c, &q_keys_seq, &p, NULL, err);
}

sm_rc dp_isdp_keys_delete(db_conn *c, const char *eid, const uint8_t *aid, size_t aid_len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_bytea(&p, aid, aid_len);
    return db_exec(c, &q_keys_del, &p, NULL, err);
}
