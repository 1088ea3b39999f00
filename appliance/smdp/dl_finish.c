/* Download steps after the loading: completion, optional enabling, error management (ES3.DeleteISDP),
 * the final answer; and the end of a download the engine ends (validity expired, attempts exhausted).
 *
 * What becomes of the profile (docs/sm-dp.md, "profile state after a failure"): a profile whose
 * protected package never left the SM-DP goes back to stock (available); once a segment was sent, the
 * card may hold it (even after a successful ISD-P deletion the SM-DP cannot prove it never ran), so it is
 * retired, never offered again, and the requester gets its ICCID in the failed answer. */
#include "appliance/smdp/dl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/workers.h"
#include "db/audit.h"
#include "db/profile_repo.h"
#include "lib/log.h"

sm_rc dl_delete_isdp(dl_run *r, const char *iccid, const char *wait_step, sm_err *err)
{
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", r->d->eid);
    es_add_str(b, "Iccid", iccid);
    return dl_send(r, "ES3.DeleteISDP", b, wait_step, err);
}

sm_rc dl_completed(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        return dl_failed(r, &st, err);
    }
    sm_rc rc = db_stock_set_state(r->c, d->requester, d->iccid, "reserved", "installed", err);
    if (rc != SM_OK)
        return rc;
    if (!d->enable) {
        dl_goto(r, "respond");
        return SM_OK;
    }
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", d->eid);
    es_add_str(b, "Iccid", d->iccid);
    return dl_send(r, "ES3.EnableProfile", b, "enabled", err);
}

sm_rc dl_enabled(dl_run *r, sm_err *err)
{
    (void)err;
    dp_dl *d = r->d;
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        /* installed, but not enabled: Executed-WithWarning (procedures.md §3.E), the profile stays Disabled */
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        es_status w;
        es_status_set(&w, ES_EXEC_WARNING, st.subject, st.reason,
                      "the profile is installed and Disabled; enabling failed: %s %s/%s %.120s", es_exec_name(st.exec),
                      st.subject, st.reason, st.message);
        dl_status_put(d->warning, sizeof d->warning, &w);
    }
    dl_goto(r, "respond");
    return SM_OK;
}

sm_rc dl_cleanup_done(dl_run *r, sm_err *err)
{
    (void)err;
    es_status st;
    dl_status_of_answer(&r->ans, &st);
    sm_log(SM_LOG_NOTICE, "smdp", "isdp_deleted", "proc=%lld eid=%s iccid=%s status=%s subject=%s reason=%s",
           (long long)r->d->proc_id, r->d->eid, r->d->iccid, es_exec_name(st.exec), st.subject, st.reason);
    dl_goto(r, "respond");
    return SM_OK;
}

/* ---- the end ------------------------------------------------------------------------------------------ */

typedef struct ending {
    es_status st;
    const char *outcome;    /* success | warning | failed | expired */
    const char *order_state;
} ending;

/* Stock after a failure: back to stock, or retired once the card may hold the profile. */
static sm_rc release_stock(db_conn *c, const dp_dl *d, sm_err *err)
{
    if (!d->iccid[0])
        return SM_OK;
    const char *to = d->data_sent ? "retired" : "available";
    sm_err e2 = {0};
    sm_rc rc = db_stock_set_state(c, d->requester, d->iccid, "reserved", to, &e2);
    if (rc == SM_ESTATE)
        return SM_OK; /* installed already, or never reserved by this download */
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    sm_log(SM_LOG_NOTICE, "smdp", "stock_released", "proc=%lld iccid=%s state=%s", (long long)d->proc_id, d->iccid, to);
    return SM_OK;
}

static sm_rc finish(smdp_ctx *x, db_conn *c, dp_dl *d, const ending *e, db_next *nx, sm_err *err)
{
    bool ok = e->st.exec <= ES_EXEC_WARNING;
    sm_rc rc = ok ? SM_OK : release_stock(c, d, err);
    char result[600], st_text[400];
    dl_status_put(st_text, sizeof st_text, &e->st);
    snprintf(result, sizeof result, "%s\n%s\n%s", e->outcome, d->iccid, st_text);
    if (rc == SM_OK)
        rc = db_order_update(c, d->requester, d->order_id, e->order_state, NULL, 0, (const uint8_t *)result,
                             strlen(result), err);
    snprintf(d->outcome, sizeof d->outcome, "%s", e->outcome);
    if (rc == SM_OK && d->has_reply) {
        es_value *out = es_struct_new();
        if (d->iccid[0] && (ok || d->data_sent))
            es_add_str(out, "Iccid", d->iccid);
        sm_err e2 = {0};
        rc = x->srv ? es_server_reply_async(x->srv, sm_worker_current(), &d->reply, &e->st, out, &e2)
                    : sm_errf(&e2, SM_ECONFIG, "no ES server to answer with");
        es_value_free(out);
        if (rc == SM_ECONFIG) { /* nowhere to send it: the result stays in the database */
            char q[600];
            sm_log(SM_LOG_WARN, "smdp", "answer_undeliverable", "proc=%lld requester=%s error=%s",
                   (long long)d->proc_id, d->requester, SM_LOGQ(q, e2.msg));
            rc = SM_OK;
        } else if (rc != SM_OK) {
            rc = sm_errf(err, rc, "%s", e2.msg);
        }
    }
    if (rc == SM_OK)
        rc = es_answer_forget(c, d->proc_id, err);
    if (rc == SM_OK)
        rc = db_audit_appendf(c, err, d->requester, "smdp.download.end", d->eid, ok ? "ok" : "failed",
                              "proc=%lld iccid=%s outcome=%s status=%s %s/%s %s", (long long)d->proc_id, d->iccid,
                              e->outcome, es_exec_name(e->st.exec), e->st.subject, e->st.reason, e->st.message);
    if (rc != SM_OK)
        return rc;
    char q[300];
    sm_log(SM_LOG_NOTICE, "smdp", "download_end", "proc=%lld eid=%s iccid=%s outcome=%s subject=%s reason=%s "
                                                 "message=%s",
           (long long)d->proc_id, d->eid, d->iccid, e->outcome, e->st.subject, e->st.reason, SM_LOGQ(q, e->st.message));
    if (nx) {
        nx->kind = ok ? DB_NEXT_DONE : DB_NEXT_FAIL;
        nx->result = (uint8_t *)strdup(result);
        nx->result_len = nx->result ? strlen(result) : 0;
        snprintf(nx->error, sizeof nx->error, "%s %s/%s %.150s", es_exec_name(e->st.exec), e->st.subject, e->st.reason,
                 e->st.message);
    }
    return SM_OK;
}

sm_rc dl_respond(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    ending e = {.outcome = "success", .order_state = "done"};
    es_status_ok(&e.st);
    if (d->fail_status[0]) {
        dl_status_get(d->fail_status, &e.st);
        bool expired = e.st.exec == ES_EXEC_EXPIRED;
        e.outcome = expired ? "expired" : "failed";
        e.order_state = expired ? "expired" : "failed";
    } else if (d->warning[0]) {
        dl_status_get(d->warning, &e.st);
        e.st.exec = ES_EXEC_WARNING;
        e.outcome = "warning";
    }
    dl_eph_forget(r->s, d->proc_id);
    return finish(r->x, r->c, d, &e, r->nx, err);
}

/* A clean-up procedure for an ISD-P a download left behind. */
static sm_rc start_cleanup(smdp_ctx *x, db_conn *c, const dp_dl *d, sm_err *err)
{
    db_proc_new n = {.kind = SMDP_KIND_CLEANUP, .step = "send", .eid = d->eid, .iccid = d->iccid,
                     .requester = x->smdp_id, .validity_s = x->default_validity_s};
    int64_t id = 0;
    sm_rc rc = db_proc_create(c, &n, &id, err);
    if (rc != SM_OK)
        return rc;
    dp_dl cl;
    memset(&cl, 0, sizeof cl);
    cl.proc_id = id;
    snprintf(cl.origin, sizeof cl.origin, "local");
    snprintf(cl.requester, sizeof cl.requester, "%s", x->smdp_id);
    snprintf(cl.call_id, sizeof cl.call_id, "cleanup-of-%lld", (long long)d->proc_id);
    snprintf(cl.mno_id, sizeof cl.mno_id, "%s", d->mno_id);
    snprintf(cl.eid, sizeof cl.eid, "%s", d->eid);
    snprintf(cl.smsr_id, sizeof cl.smsr_id, "%s", d->smsr_id);
    if ((rc = dp_dl_create(c, &cl, err)) != SM_OK)
        return rc;
    snprintf(cl.iccid, sizeof cl.iccid, "%s", d->iccid);
    memcpy(cl.isdp_aid, d->isdp_aid, d->isdp_aid_len);
    cl.isdp_aid_len = d->isdp_aid_len;
    snprintf(cl.phase, sizeof cl.phase, "send");
    sm_log(SM_LOG_NOTICE, "smdp", "isdp_cleanup_scheduled", "proc=%lld of=%lld eid=%s iccid=%s", (long long)id,
           (long long)d->proc_id, d->eid, d->iccid);
    return dp_dl_save(c, &cl, err);
}

sm_rc dl_end(smdp_ctx *x, db_conn *c, const db_proc *p, bool expired, const char *why, sm_err *err)
{
    dp_dl d;
    sm_err e2 = {0};
    sm_rc rc = dp_dl_load(c, p->id, &d, &e2);
    if (rc == SM_ENOTFOUND)
        return SM_OK;
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    sm_worker *w = sm_worker_current();
    dl_eph_forget(w ? w->hsm : NULL, d.proc_id);
    bool installed = false;
    if (d.iccid[0]) {
        db_stock st;
        sm_err e3 = {0};
        if (db_stock_get(c, d.iccid, &st, &e3) == SM_OK)
            installed = !strcmp(st.state, "installed");
        db_stock_clear(&st);
    }
    ending e = {0};
    if (installed) {
        /* completed, only the enabling was not confirmed in time */
        es_status_set(&e.st, ES_EXEC_WARNING, expired ? ES_SUBJ_FUNCTION : ES_SUBJ_PROVIDER,
                      expired ? ES_RSN_TTL_EXPIRED : ES_RSN_EXEC_ERROR,
                      "the profile is installed; enabling was not confirmed (%s)", why);
        e.outcome = "warning";
        e.order_state = "done";
    } else if (expired) {
        es_status_set(&e.st, ES_EXEC_EXPIRED, ES_SUBJ_FUNCTION, ES_RSN_TTL_EXPIRED,
                      "the validity period ended during %s", d.phase);
        e.outcome = "expired";
        e.order_state = "expired";
    } else {
        es_status_fail(&e.st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the SM-DP could not complete %s: %.150s", d.phase,
                       why);
        e.outcome = "failed";
        e.order_state = "failed";
    }
    rc = SM_OK;
    if (!installed && d.isdp_aid_len)
        rc = start_cleanup(x, c, &d, err); /* error management after the procedure itself ended */
    if (rc == SM_OK)
        rc = finish(x, c, &d, &e, NULL, err);
    if (rc == SM_OK)
        rc = dp_dl_save(c, &d, err);
    dp_dl_clear(&d);
    if (rc == SM_OK && x->kick)
        x->kick(x->kick_arg);
    return rc;
}
