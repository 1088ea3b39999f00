/* Shared helpers of the SM-SR's ES handlers and procedures: workers, answers, notifications, POL2,
 * lookups with their GSMA status codes, procedure start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/smsr/internal.h"
#include "appliance/smsr/repo.h"
#include "lib/log.h"

sm_worker *smsr_worker(db_conn *c, sm_worker *tmp)
{
    sm_worker *w = sm_worker_current();
    if (w && w->db == c)
        return w;
    memset(tmp, 0, sizeof *tmp);
    tmp->id = -1;
    tmp->db = c;
    tmp->hsm = w ? w->hsm : NULL;
    return tmp;
}

db_conn *smsr_call_db(es_call *call)
{
    sm_worker *w = call->worker;
    return w && call->in_tx ? w->db : NULL;
}

void smsr_aid_hex(const db_aid *a, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < a->len && o + 3 <= cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02X", a->b[i]);
}

bool smsr_aid_parse(const char *hex, db_aid *out)
{
    size_t n = hex ? strlen(hex) : 0;
    memset(out, 0, sizeof *out);
    if (n < 10 || n > 32 || n % 2)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
            return false;
        out->b[i] = (uint8_t)v;
    }
    out->len = n / 2;
    return true;
}

/* ---- answers and notifications ------------------------------------------------------------------- */

sm_rc smsr_reply(const smsr_ctx *x, db_conn *c, const smsr_opctx *o, const es_status *st, const es_value *out,
                 sm_err *err)
{
    if (!o->has_reply)
        return SM_OK;
    char q[300];
    if (!x->srv) {
        sm_log(SM_LOG_WARN, "smsr", "answer_not_sent", "function=%s requester=%s status=%s msg=%s", o->reply.qname,
               o->reply.peer_id, es_exec_name(st->exec), SM_LOGQ(q, "no ES server in this process"));
        return SM_OK;
    }
    sm_worker tmp;
    sm_err e = {0};
    sm_rc rc = es_server_reply_async(x->srv, smsr_worker(c, &tmp), &o->reply, st, out, &e);
    if (rc == SM_ECONFIG) {
        /* no ReplyTo and no endpoint for the peer: nowhere to send it (logged; never retried) */
        sm_log(SM_LOG_ERR, "smsr", "answer_no_destination", "function=%s requester=%s status=%s msg=%s",
               o->reply.qname, o->reply.peer_id, es_exec_name(st->exec), SM_LOGQ(q, e.msg));
        return SM_OK;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "answering %s: %s", o->reply.qname, e.msg);
    return SM_OK;
}

static void now_ts(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static sm_rc notify_one(const smsr_ctx *x, db_conn *c, const char *qname, const char *peer, const db_profile *p,
                        bool with_mno, sm_err *err)
{
    es_value *b = es_struct_new();
    char ts[32];
    now_ts(ts, sizeof ts);
    if (!b || !es_add_str(b, "Eid", p->eid) || !es_add_str(b, "Iccid", p->iccid) ||
        (with_mno && !es_add_str(b, "Mno-id", p->mno_id)) || !es_add_str(b, "CompletionTimestamp", ts)) {
        es_value_free(b);
        return sm_errf(err, SM_ENOMEM, "notification: out of memory");
    }
    sm_worker tmp;
    sm_err e = {0};
    sm_rc rc = es_server_notify(x->srv, smsr_worker(c, &tmp), qname, peer, ES_BIND_SOAP, b, &e);
    es_value_free(b);
    char q[300];
    if (rc == SM_ECONFIG) {
        sm_log(SM_LOG_INFO, "smsr", "notification_skipped", "function=%s peer=%s eid=%s iccid=%s msg=%s", qname, peer,
               p->eid, p->iccid, SM_LOGQ(q, e.msg));
        return SM_OK;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "notifying %s (%s): %s", peer, qname, e.msg);
    sm_log(SM_LOG_INFO, "smsr", "notification_queued", "function=%s peer=%s eid=%s iccid=%s", qname, peer, p->eid,
           p->iccid);
    return SM_OK;
}

sm_rc smsr_fanout(const smsr_ctx *x, db_conn *c, const db_profile *p, smsr_event ev, const char *skip, sm_err *err)
{
    if (!x->srv)
        return SM_OK;
    const char *what = ev == SMSR_EV_ENABLED ? "Enabled" : ev == SMSR_EV_DISABLED ? "Disabled" : "Deleted";
    char q3[80], q4[80];
    snprintf(q3, sizeof q3, "ES3.HandleProfile%sNotification", what);
    snprintf(q4, sizeof q4, "ES4.HandleProfile%sNotification", what);
    const char *sk = skip ? skip : "";
    sm_rc rc = SM_OK;
    if (p->mno_id[0] && strcmp(p->mno_id, sk))
        rc = notify_one(x, c, q4, p->mno_id, p, false, err);
    if (rc == SM_OK && p->smdp_id[0] && strcmp(p->smdp_id, sk))
        rc = notify_one(x, c, q3, p->smdp_id, p, true, err);
    char owner[65] = "";
    sm_err e = {0};
    if (rc == SM_OK && smsr_euicc_owner(c, p->eid, owner, sizeof owner, &e) == SM_OK && owner[0] && strcmp(owner, sk) &&
        strcmp(owner, p->mno_id))
        rc = notify_one(x, c, q4, owner, p, false, err);
    return rc;
}

/* ---- POL2 ------------------------------------------------------------------------------------------ */

bool smsr_pol2_decode(const es_value *pol2, int *bits, es_status *st)
{
    *bits = 0;
    size_t n = es_count(pol2, "Rule");
    for (size_t i = 0; i < n; i++) {
        const es_value *r = es_item(pol2, "Rule", i);
        const char *a = es_str(r, "Action"), *q = es_str(r, "Qualification"), *s = es_str(r, "Subject");
        int b = 0;
        if (s && !strcmp(s, "PROFILE") && a && q) {
            if (!strcmp(q, "Not-Allowed"))
                b = !strcmp(a, "ENABLE") ? DB_POL2_ENABLE_NOT_ALLOWED : !strcmp(a, "DISABLE") ? DB_POL2_DISABLE_NOT_ALLOWED
                    : !strcmp(a, "DELETE")                              ? DB_POL2_DELETE_NOT_ALLOWED
                                                                        : 0;
            else if (!strcmp(q, "Auto-Delete") && !strcmp(a, "DISABLE"))
                b = DB_POL2_DISABLE_AUTO_DELETE;
        }
        if (!b) {
            es_status_fail(st, SMSR_SUBJ_POL2, ES_RSN_INVALID, "POL2 rule %zu (%s %s %s) is not one smbox can enforce",
                           i + 1, s ? s : "?", a ? a : "?", q ? q : "?");
            return false;
        }
        *bits |= b;
    }
    return true;
}

void smsr_pol2_encode(int bits, es_value *parent)
{
    es_value *p = es_add_struct(parent, "pol2");
    if (!p)
        return;
    static const struct {
        int bit;
        const char *action, *qual;
    } R[] = {{DB_POL2_ENABLE_NOT_ALLOWED, "ENABLE", "Not-Allowed"},
             {DB_POL2_DISABLE_NOT_ALLOWED, "DISABLE", "Not-Allowed"},
             {DB_POL2_DELETE_NOT_ALLOWED, "DELETE", "Not-Allowed"},
             {DB_POL2_DISABLE_AUTO_DELETE, "DISABLE", "Auto-Delete"}};
    es_value *list = NULL;
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        if (!(bits & R[i].bit))
            continue;
        if (!list && !(list = es_add_list(p, "Rule")))
            return;
        es_value *r = es_add_struct(list, NULL);
        if (r) {
            es_add_str(r, "Subject", "PROFILE");
            es_add_str(r, "Action", R[i].action);
            es_add_str(r, "Qualification", R[i].qual);
        }
    }
}

/* ---- callers and lookups ------------------------------------------------------------------------------ */

bool smsr_may_manage(db_conn *c, const smsr_caller *who, const db_profile *p)
{
    if (who->iface == ES_IF_ES3)
        return p->smdp_id[0] && !strcmp(p->smdp_id, who->id);
    if (who->role == ES_ROLE_MNO)
        return !strcmp(p->mno_id, who->id);
    if (who->role != ES_ROLE_M2MSP)
        return false;
    /* the eUICC owner: its standing authorisation stands in for the MNO's PLMA (not implemented) */
    char owner[65] = "";
    sm_err err = {0};
    return smsr_euicc_owner(c, p->eid, owner, sizeof owner, &err) == SM_OK && owner[0] && !strcmp(owner, who->id);
}

bool smsr_get_euicc(db_conn *c, const char *eid, bool lock, db_euicc *e, es_status *st)
{
    sm_err err = {0};
    sm_rc rc = lock ? db_eis_lock(c, eid, e, &err) : db_eis_get(c, eid, e, &err);
    if (rc == SM_ENOTFOUND || rc == SM_EINVAL) {
        es_status_fail(st, ES_SUBJ_EID, ES_RSN_UNKNOWN_OBJ, "unknown eUICC %s", eid);
        snprintf(st->subject_id, sizeof st->subject_id, "%s", eid);
        return false;
    }
    if (rc != SM_OK) {
        es_status_fail(st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the EIS could not be read");
        sm_log(SM_LOG_ERR, "smsr", "eis_read_failed", "eid=%s error=\"%s\"", eid, err.msg);
        return false;
    }
    if (strcmp(e->state, "active")) {
        db_euicc_clear(e);
        es_status_fail(st, ES_SUBJ_PROVIDER, ES_RSN_BUSY, "an SM-SR change of eUICC %s is in progress", eid);
        return false;
    }
    return true;
}

bool smsr_get_profile(db_conn *c, const smsr_caller *who, const char *eid, const char *iccid, db_profile *p,
                      es_status *st)
{
    sm_err err = {0};
    sm_rc rc = db_profile_get(c, iccid, p, &err);
    if (rc == SM_OK && !strcmp(p->state, "creating"))
        rc = SM_ENOTFOUND; /* hidden until its ISD-P exists */
    if (rc == SM_ENOTFOUND || rc == SM_EINVAL) {
        es_status_fail(st, ES_SUBJ_ICCID, ES_RSN_UNKNOWN_OBJ, "unknown profile %s", iccid);
        snprintf(st->subject_id, sizeof st->subject_id, "%s", iccid);
        return false;
    }
    if (rc != SM_OK) {
        es_status_fail(st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the EIS could not be read");
        return false;
    }
    if (strcasecmp(p->eid, eid)) {
        es_status_fail(st, ES_SUBJ_ICCID, SMSR_RSN_INVALID_DEST, "profile %s is not on eUICC %s", iccid, eid);
        snprintf(st->subject_id, sizeof st->subject_id, "%s", iccid);
        return false;
    }
    if (!smsr_may_manage(c, who, p)) {
        es_status_fail(st, ES_SUBJ_ICCID, ES_RSN_NOT_ALLOWED, "%s %s may not manage profile %s%s",
                       es_role_name(who->role), who->id, iccid,
                       who->role == ES_ROLE_M2MSP ? " (not the eUICC owner)" : "");
        snprintf(st->subject_id, sizeof st->subject_id, "%s", iccid);
        return false;
    }
    return true;
}

/* ---- starting procedures ---------------------------------------------------------------------------- */

static sm_rc start(const smsr_ctx *x, db_conn *c, const char *kind, smsr_opctx *o, const char *eid,
                   const char *requester, const char *call_id, long validity, const uint8_t *data, size_t len,
                   int64_t *proc_id, sm_err *err)
{
    db_proc_new n = {.kind = kind, .step = "send", .eid = eid, .iccid = o->iccid[0] ? o->iccid : NULL,
                     .requester = requester, .call_id = call_id, .data = data, .data_len = len,
                     .validity_s = validity};
    sm_rc rc = db_proc_create(c, &n, proc_id, err);
    sm_buf b;
    sm_buf_init(&b);
    if (rc == SM_OK)
        rc = smsr_opctx_encode(o, &b, err);
    if (rc == SM_OK)
        rc = smsr_op_put(c, *proc_id, eid, o->op, o->iccid, b.data, b.len, err);
    sm_buf_free(&b);
    if (rc == SM_OK && x->kick)
        x->kick(x->kick_arg);
    return rc;
}

sm_rc smsr_start(const smsr_ctx *x, db_conn *c, es_call *call, const char *kind, smsr_opctx *o, const char *eid,
                 const uint8_t *data, size_t len, int64_t *proc_id, sm_err *err)
{
    long v = x->default_validity_s;
    if (call->hdr.validity > 0) {
        v = call->hdr.validity - (long)(time(NULL) - call->received);
        if (v < 1)
            v = 1;
    }
    o->has_reply = true;
    o->reply = call->reply;
    snprintf(o->caller, sizeof o->caller, "%s", call->caller.id);
    o->caller_role = call->caller.role;
    o->iface = call->fn->iface;
    sm_rc rc = start(x, c, kind, o, eid, call->caller.id, call->hdr.fcid, v, data, len, proc_id, err);
    if (rc == SM_OK)
        call->deferred = true;
    return rc;
}

sm_rc smsr_start_internal(const smsr_ctx *x, db_conn *c, const char *kind, smsr_opctx *o, const char *eid,
                          int64_t *proc_id, sm_err *err)
{
    o->has_reply = false;
    snprintf(o->caller, sizeof o->caller, "%s", x->smsr_id);
    o->caller_role = ES_ROLE_SMSR;
    o->iface = 0;
    return start(x, c, kind, o, eid, x->smsr_id, NULL, x->default_validity_s, NULL, 0, proc_id, err);
}
