/* The download procedure: start, step dispatch, ES3 requests and their answers, failure routing. */
#include "appliance/smdp/dl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/es_db.h"
#include "appliance/workers.h"
#include "db/audit.h"
#include "db/profile_repo.h"
#include "lib/log.h"
#include "net/es_local.h"

/* ---- statuses -------------------------------------------------------------------------------- */

void dl_status_put(char *out, size_t cap, const es_status *st)
{
    snprintf(out, cap, "%d|%s|%s|%s", (int)st->exec, st->subject, st->reason, st->message);
    for (char *q = out; *q; q++)
        if (*q == '\n')
            *q = ' ';
}

void dl_status_get(const char *in, es_status *st)
{
    es_status_ok(st);
    int e = 0;
    char subj[24] = "", rsn[24] = "";
    const char *p = in;
    if (sscanf(p, "%d|%23[^|]|%23[^|]|", &e, subj, rsn) < 3 || e < ES_EXEC_SUCCESS || e > ES_EXEC_EXPIRED)
        return;
    for (int i = 0; i < 3 && p; i++)
        p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL;
    es_status_set(st, (es_exec)e, subj, rsn, "%s", p ? p : "");
}

void dl_status_of_answer(const es_answer *a, es_status *st)
{
    *st = a->status;
    if (st->exec == ES_EXEC_EXPIRED && !st->subject[0])
        es_status_set(st, ES_EXEC_EXPIRED, ES_SUBJ_FUNCTION, ES_RSN_TTL_EXPIRED, "%s", a->status.message);
    if (st->exec == ES_EXEC_FAILED && !st->subject[0])
        es_status_fail(st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "%s.%s failed", es_iface_name(a->fn->iface),
                       a->fn->name);
}

long dl_validity_left(const db_proc *p)
{
    if (p->deadline_us <= 0)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    int64_t left = (p->deadline_us - now_us) / 1000000;
    return left < 1 ? 1 : (long)left;
}

/* ---- ES3 requests and answers ------------------------------------------------------------------ */

void dl_goto(dl_run *r, const char *step)
{
    r->nx->kind = DB_NEXT_STEP;
    snprintf(r->nx->step, sizeof r->nx->step, "%s", step);
    snprintf(r->d->phase, sizeof r->d->phase, "%s", step);
}

sm_rc dl_send(dl_run *r, const char *qname, es_value *body, const char *wait_step, sm_err *err)
{
    const smdp_ctx *x = r->x;
    dp_dl *d = r->d;
    const es_function *f = es_function_by_qname(qname);
    const smdp_peer *peer = smdp_peer_find(x, d->smsr_id);
    sm_rc rc = SM_OK;
    if (!f)
        rc = sm_errf(err, SM_EINTERNAL, "download: no function %s", qname);
    else if (!peer || !peer->endpoint[0])
        rc = sm_errf(err, SM_ECONFIG, "download: SM-SR %s has no endpoint (es.peers)", d->smsr_id);
    if (rc != SM_OK) {
        es_value_free(body);
        return rc;
    }
    es_binding b = x->es3_binding;
    es_msg m = {.fn = f, .kind = ES_KIND_REQUEST, .body = body};
    d->es3_seq++;
    es_answer_message_id(d->proc_id, d->es3_seq, m.hdr.message_id, sizeof m.hdr.message_id);
    snprintf(m.hdr.fcid, sizeof m.hdr.fcid, "%s", m.hdr.message_id);
    m.hdr.validity = dl_validity_left(r->p);
    snprintf(m.hdr.from, sizeof m.hdr.from, "%.380s?EntityId=%.120s",
             x->public_url[0] ? x->public_url : "https://localhost", x->smdp_id);
    char url[ES_URL_MAX];
    if (es_local_endpoint(peer->endpoint)) {
        es_local_make_url(b, f, ES_KIND_REQUEST, url, sizeof url);
        if (f->mode == ES_ASYNC)
            es_local_make_url(b, f, ES_KIND_RESPONSE, m.hdr.reply_to, sizeof m.hdr.reply_to);
    } else {
        es_client_url(peer->endpoint, b, f, ES_KIND_REQUEST, url, sizeof url);
        if (f->mode == ES_ASYNC && x->public_url[0])
            es_client_url(x->public_url, b, f, ES_KIND_RESPONSE, m.hdr.reply_to, sizeof m.hdr.reply_to);
    }
    snprintf(m.hdr.to, sizeof m.hdr.to, "%s", url);
    es_outbound o = {.url = url, .peer_id = d->smsr_id, .peer_role = ES_ROLE_SMSR, .binding = b, .msg = &m};
    rc = sm_es_outbox_add(r->c, &o, d->proc_id, err);
    es_value_free(body);
    if (rc != SM_OK) {
        sm_err_prefix(err, "queueing %s", qname);
        return rc;
    }
    snprintf(d->expect_mid, sizeof d->expect_mid, "%.127s", m.hdr.message_id);
    snprintf(d->expect_fn, sizeof d->expect_fn, "%s", qname);
    snprintf(d->phase, sizeof d->phase, "%s", wait_step);
    r->nx->kind = DB_NEXT_WAIT;
    snprintf(r->nx->step, sizeof r->nx->step, "%s", wait_step);
    sm_log(SM_LOG_INFO, "smdp", "es3_request", "proc=%lld function=%s message_id=%s smsr=%s%s", (long long)d->proc_id,
           qname, m.hdr.message_id, d->smsr_id, es_local_endpoint(peer->endpoint) ? " local=1" : "");
    return SM_OK;
}

/* The answer is taken from where es_answer_wake keeps it (whatever the step data says: that may be a
 * late duplicate of an earlier answer). */
sm_rc dl_take_answer(dl_run *r, bool *have, sm_err *err)
{
    *have = false;
    if (!r->d->expect_mid[0])
        return SM_OK;
    sm_err e = {0};
    sm_rc rc = es_answer_take(r->c, r->p->id, r->d->expect_mid, &r->ans, have, &e);
    if (rc == SM_EPARSE || rc == SM_ELIMIT) { /* unreadable: it is gone; the deadline ends the wait */
        char q[600];
        sm_log(SM_LOG_WARN, "smdp", "answer_unreadable", "proc=%lld error=%s", (long long)r->p->id,
               SM_LOGQ(q, e.msg));
        es_answer_clear(&r->ans);
        return SM_OK;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e.msg);
    char qn[64];
    if (*have)
        snprintf(qn, sizeof qn, "%s.%s", es_iface_name(r->ans.fn->iface), r->ans.fn->name);
    if (*have && strcmp(qn, r->d->expect_fn)) {
        sm_log(SM_LOG_WARN, "smdp", "answer_ignored", "proc=%lld function=%s waits_for=%s", (long long)r->p->id, qn,
               r->d->expect_fn);
        es_answer_clear(&r->ans);
        *have = false;
    }
    return SM_OK;
}

sm_rc dl_failed(dl_run *r, const es_status *st, sm_err *err)
{
    dp_dl *d = r->d;
    dl_status_put(d->fail_status, sizeof d->fail_status, st);
    char q[300];
    sm_log(SM_LOG_NOTICE, "smdp", "download_failed", "proc=%lld step=%s status=%s subject=%s reason=%s message=%s",
           (long long)d->proc_id, r->p->step, es_exec_name(st->exec), st->subject, st->reason,
           SM_LOGQ(q, st->message));
    if (d->isdp_aid_len)
        return dl_delete_isdp(r, d->iccid, "cleanup_done", err);
    dl_goto(r, "respond");
    return SM_OK;
}

sm_rc dl_failf(dl_run *r, const char *subject, const char *reason, const char *fmt, ...)
{
    es_status st;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    es_status_fail(&st, subject, reason, "%s", msg);
    return dl_failed(r, &st, NULL);
}

/* ---- the step table ---------------------------------------------------------------------------- */

typedef struct step_def {
    const char *name;
    sm_rc (*fn)(dl_run *r, sm_err *err);
    bool answer; /* runs when woken by the answer to its request */
} step_def;

static const step_def STEPS[] = {
    {"reserve", dl_reserve, false},          {"eis", dl_eis, true},
    {"cleaned", dl_cleaned, true},           {"isdp", dl_isdp, true},
    {"ke_start", dl_ke_start, false},        {"ke_rc", dl_ke_rc, true},
    {"ke_receipt", dl_ke_receipt, true},     {"load", dl_load, true},
    {"completed", dl_completed, true},       {"enabled", dl_enabled, true},
    {"cleanup_done", dl_cleanup_done, true}, {"respond", dl_respond, false},
};

static sm_rc run_steps(const step_def *tab, size_t n, db_conn *c, const db_proc *p, db_next *nx, smdp_ctx *x,
                       sm_err *err)
{
    const step_def *sd = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tab[i].name, p->step))
            sd = &tab[i];
    if (!sd)
        return sm_errf(err, SM_EINTERNAL, "download: unknown step %s", p->step);
    sm_worker *w = sm_worker_current();
    dp_dl d;
    sm_rc rc = dp_dl_load(c, p->id, &d, err);
    if (rc != SM_OK)
        return rc;
    dl_run r = {.x = x, .c = c, .p = p, .nx = nx, .d = &d, .s = w ? w->hsm : NULL};
    bool have = true;
    if (sd->answer && ((rc = dl_take_answer(&r, &have, err)) != SM_OK || !have)) {
        nx->kind = DB_NEXT_WAIT; /* no answer to its request yet (a late duplicate woke it): wait on */
        snprintf(nx->step, sizeof nx->step, "%s", p->step);
        dp_dl_clear(&d);
        return rc;
    }
    if (!r.s)
        rc = sm_errf(err, SM_ESTATE, "download: step %s needs a worker's HSM session", p->step);
    else
        rc = sd->fn(&r, err);
    if (rc == SM_OK)
        rc = dp_dl_save(c, &d, err);
    es_answer_clear(&r.ans);
    dp_dl_clear(&d);
    return rc;
}

static sm_rc dl_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    return run_steps(STEPS, sizeof STEPS / sizeof STEPS[0], c, p, nx, arg, err);
}

static sm_rc dl_expired(db_conn *c, const db_proc *p, const char *why, void *arg, sm_err *err)
{
    return dl_end(arg, c, p, true, why, err);
}

static sm_rc dl_gave_up(db_conn *c, const db_proc *p, const char *why, void *arg, sm_err *err)
{
    return dl_end(arg, c, p, false, why, err);
}

/* ---- the ISD-P clean-up procedure (after an expired or abandoned download) ---------------------- */

static sm_rc cl_send(dl_run *r, sm_err *err) { return dl_delete_isdp(r, r->d->iccid, "deleted", err); }

static sm_rc cl_deleted(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    es_status st;
    dl_status_of_answer(&r->ans, &st);
    snprintf(d->outcome, sizeof d->outcome, "%s", st.exec <= ES_EXEC_WARNING ? "success" : "failed");
    sm_log(SM_LOG_NOTICE, "smdp", "isdp_cleanup", "proc=%lld eid=%s iccid=%s status=%s subject=%s reason=%s",
           (long long)d->proc_id, d->eid, d->iccid, es_exec_name(st.exec), st.subject, st.reason);
    r->nx->kind = DB_NEXT_DONE;
    return es_answer_forget(r->c, d->proc_id, err);
}

static const step_def CLEANUP[] = {{"send", cl_send, false}, {"deleted", cl_deleted, true}};

static sm_rc cl_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    return run_steps(CLEANUP, 2, c, p, nx, arg, err);
}

sm_rc smdp_register_kinds(smdp_ctx *x, db_engine *e, sm_err *err)
{
    db_proc_kind k = {.kind = SMDP_KIND_DOWNLOAD, .step = dl_step, .expired = dl_expired, .failed = dl_gave_up,
                      .arg = x, .max_attempts = 6, .backoff_base_ms = 500, .backoff_max_ms = 30000};
    sm_rc rc = db_engine_register(e, &k, err);
    if (rc != SM_OK)
        return rc;
    db_proc_kind cl = {.kind = SMDP_KIND_CLEANUP, .step = cl_step, .arg = x, .max_attempts = 8};
    return db_engine_register(e, &cl, err);
}

/* ---- starting ------------------------------------------------------------------------------------ */

static bool eid_ok(const char *e)
{
    if (!e || strlen(e) != 32)
        return false;
    for (const char *q = e; *q; q++)
        if (!((*q >= '0' && *q <= '9') || (*q >= 'A' && *q <= 'F') || (*q >= 'a' && *q <= 'f')))
            return false;
    return true;
}

sm_rc smdp_download_start(const smdp_ctx *x, db_conn *c, const smdp_dl_request *r, int64_t *proc_id, sm_err *err)
{
    *proc_id = 0;
    if (!eid_ok(r->eid))
        return sm_errf(err, SM_EINVAL, "download: the EID must be 32 hex digits");
    if ((!r->iccid || !*r->iccid) && (!r->profile_type || !*r->profile_type))
        return sm_errf(err, SM_EINVAL, "download: an ICCID or a profile type is needed");
    if (!r->smsr_id || !*r->smsr_id || !r->requester || !*r->requester)
        return sm_errf(err, SM_EINVAL, "download: the SM-SR and the requester are needed");
    db_order o;
    memset(&o, 0, sizeof o);
    snprintf(o.requester, sizeof o.requester, "%s", r->requester);
    snprintf(o.call_id, sizeof o.call_id, "%s", r->call_id ? r->call_id : "");
    snprintf(o.mno_id, sizeof o.mno_id, "%s", r->mno_id && *r->mno_id ? r->mno_id : r->requester);
    snprintf(o.eid, sizeof o.eid, "%s", r->eid);
    snprintf(o.iccid, sizeof o.iccid, "%s", r->iccid ? r->iccid : "");
    snprintf(o.profile_type, sizeof o.profile_type, "%s", r->profile_type ? r->profile_type : "");
    snprintf(o.smsr_id, sizeof o.smsr_id, "%s", r->smsr_id);
    o.enable = r->enable;
    int64_t order_id = 0;
    sm_rc rc = db_order_create(c, r->requester, &o, &order_id, err);
    if (rc != SM_OK)
        return rc;
    db_proc_new n = {.kind = SMDP_KIND_DOWNLOAD, .step = "reserve", .eid = r->eid, .iccid = r->iccid,
                     .requester = r->requester, .call_id = r->call_id,
                     .validity_s = r->validity_s > 0 ? r->validity_s : x->default_validity_s};
    if ((rc = db_proc_create(c, &n, proc_id, err)) != SM_OK)
        return rc;
    dp_dl d;
    memset(&d, 0, sizeof d);
    d.proc_id = *proc_id;
    d.order_id = order_id;
    snprintf(d.origin, sizeof d.origin, "%s", r->origin);
    snprintf(d.requester, sizeof d.requester, "%s", r->requester);
    snprintf(d.call_id, sizeof d.call_id, "%s", r->call_id ? r->call_id : "");
    snprintf(d.mno_id, sizeof d.mno_id, "%s", r->mno_id ? r->mno_id : "");
    snprintf(d.eid, sizeof d.eid, "%s", r->eid);
    snprintf(d.smsr_id, sizeof d.smsr_id, "%s", r->smsr_id);
    snprintf(d.req_iccid, sizeof d.req_iccid, "%s", r->iccid ? r->iccid : "");
    snprintf(d.req_type, sizeof d.req_type, "%s", r->profile_type ? r->profile_type : "");
    d.enable = r->enable;
    if (r->reply) {
        d.reply = *r->reply;
        d.has_reply = true;
    }
    if ((rc = dp_dl_create(c, &d, err)) != SM_OK ||
        (rc = db_order_update(c, r->requester, order_id, "new", NULL, *proc_id, NULL, 0, err)) != SM_OK)
        return rc;
    return db_audit_appendf(c, err, r->requester, "smdp.download.start", r->eid, "ok",
                            "proc=%lld order=%lld origin=%s iccid=%s type=%s smsr=%s enable=%d call=%s",
                            (long long)*proc_id, (long long)order_id, r->origin, r->iccid ? r->iccid : "",
                            r->profile_type ? r->profile_type : "", r->smsr_id, r->enable,
                            r->call_id ? r->call_id : "");
}

sm_rc smdp_download_outcome(const uint8_t *result, size_t len, smdp_dl_outcome *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    char b[600];
    if (!result || !len || len >= sizeof b)
        return sm_errf(err, SM_EPARSE, "download: no result");
    memcpy(b, result, len);
    b[len] = 0;
    char *l1 = strchr(b, '\n'), *l2 = l1 ? strchr(l1 + 1, '\n') : NULL;
    if (!l1 || !l2)
        return sm_errf(err, SM_EPARSE, "download: result unreadable");
    *l1 = *l2 = 0;
    snprintf(out->outcome, sizeof out->outcome, "%.15s", b);
    snprintf(out->iccid, sizeof out->iccid, "%.20s", l1 + 1);
    dl_status_get(l2 + 1, &out->status);
    return SM_OK;
}
