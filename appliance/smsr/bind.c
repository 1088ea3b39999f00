/* The SM-SR's ES handlers bound on the ES server: one table, and the wrapper every call goes through
 * (a savepoint of the call's transaction, nothing of a refused call kept, one audit entry per call). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/internal.h"
#include "appliance/smsr/repo.h"
#include "db/audit.h"
#include "lib/log.h"

typedef void (*body_fn)(es_call *call, const smsr_ctx *x);

static void geteis3(es_call *c, const smsr_ctx *x) { smsr_h_geteis(c, x, SMSR_VIEW_SMDP); }
static void geteis4(es_call *c, const smsr_ctx *x) { smsr_h_geteis(c, x, SMSR_VIEW_MNO); }
static void audit3(es_call *c, const smsr_ctx *x) { smsr_h_audit(c, x, SMSR_VIEW_SMDP); }
static void audit4(es_call *c, const smsr_ctx *x) { smsr_h_audit(c, x, SMSR_VIEW_MNO); }
static void enable(es_call *c, const smsr_ctx *x) { smsr_h_profile_op(c, x, "Enable"); }
static void disable(es_call *c, const smsr_ctx *x) { smsr_h_profile_op(c, x, "Disable"); }
static void delete(es_call *c, const smsr_ctx *x) { smsr_h_profile_op(c, x, "Delete"); }

static const struct def {
    const char *qname;
    body_fn fn;
} DEFS[] = {
    {"ES1.RegisterEIS", smsr_h_register_eis},
    {"ES1.ImportEISBatch", smsr_h_import_batch},
    {"ES3.GetEIS", geteis3},
    {"ES3.AuditEIS", audit3},
    {"ES3.CreateISDP", smsr_h_createisdp},
    {"ES3.SendData", smsr_h_senddata},
    {"ES3.ProfileDownloadCompleted", smsr_h_download_completed},
    {"ES3.UpdatePolicyRules", smsr_h_update_pol2},
    {"ES3.UpdateSubscriptionAddress", smsr_h_update_subaddr},
    {"ES3.EnableProfile", enable},
    {"ES3.DisableProfile", disable},
    {"ES3.DeleteISDP", delete},
    {"ES3.UpdateConnectivityParameters", smsr_h_senddata},
    {"ES4.GetEIS", geteis4},
    {"ES4.AuditEIS", audit4},
    {"ES4.UpdatePolicyRules", smsr_h_update_pol2},
    {"ES4.UpdateSubscriptionAddress", smsr_h_update_subaddr},
    {"ES4.EnableProfile", enable},
    {"ES4.DisableProfile", disable},
    {"ES4.DeleteProfile", delete},
};
#define NDEFS (sizeof DEFS / sizeof DEFS[0])

typedef struct bound {
    const smsr_ctx *x;
    const struct def *d;
} bound;

static void run_def(es_call *call, const smsr_ctx *x, const struct def *d)
{
    db_conn *c = smsr_call_db(call);
    sm_err err = {0};
    if (!c) {
        es_status_fail(&call->status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the SM-SR runs without its database");
        return;
    }
    if (smsr_sp_begin(c, &err) != SM_OK) {
        es_status_fail(&call->status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "internal error (logged)");
        sm_log(SM_LOG_ERR, "smsr", "savepoint_failed", "error=\"%s\"", err.msg);
        return;
    }
    d->fn(call, x);
    bool failed = call->status.exec >= ES_EXEC_FAILED;
    if (failed) {
        smsr_sp_rollback(c); /* a refused call leaves nothing behind but its audit entry */
        call->deferred = false;
    } else if (smsr_sp_release(c, &err) != SM_OK) {
        es_status_fail(&call->status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "internal error (logged)");
        call->deferred = false;
        sm_log(SM_LOG_ERR, "smsr", "savepoint_release_failed", "error=\"%s\"", err.msg);
        return;
    }
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid");
    if (!eid) {
        const es_value *si = es_struct(es_struct(call->in, "Eis"), "EumSignedInfo");
        eid = es_str(si, "Eid");
    }
    char obj[100], act[64];
    snprintf(obj, sizeof obj, "%s%s%s", eid ? eid : "-", iccid ? "/" : "", iccid ? iccid : "");
    snprintf(act, sizeof act, "%s", d->qname);
    act[0] = 'e', act[1] = 's';
    const es_status *st = &call->status;
    const char *outcome = call->deferred ? "accepted" : st->exec == ES_EXEC_SUCCESS ? "ok"
                          : st->exec == ES_EXEC_WARNING                             ? "warning"
                          : st->exec == ES_EXEC_EXPIRED                             ? "expired"
                                                                                    : "failed";
    if (db_audit_appendf(c, &err, call->caller.id, act, obj, outcome, "%s%s%s%s%s fcid=%s", es_exec_wire(st->exec),
                         st->subject[0] ? " " : "", st->subject, st->subject[0] ? "/" : "", st->reason,
                         call->hdr.fcid) != SM_OK) {
        es_status_fail(&call->status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "internal error (logged)");
        call->deferred = false;
        sm_log(SM_LOG_ERR, "smsr", "audit_failed", "error=\"%s\"", err.msg);
    }
}

static void handler(es_call *call, void *arg)
{
    const bound *b = arg;
    run_def(call, b->x, b->d);
}

sm_rc smsr_dispatch(const smsr_ctx *x, es_call *call)
{
    char qn[96];
    snprintf(qn, sizeof qn, "%s.%s", es_iface_name(call->fn->iface), call->fn->name);
    for (size_t i = 0; i < NDEFS; i++)
        if (!strcmp(DEFS[i].qname, qn)) {
            run_def(call, x, &DEFS[i]);
            return SM_OK;
        }
    return SM_ENOTFOUND;
}

sm_rc smsr_bind(smsr_ctx *x, es_server *srv, sm_err *err)
{
    if (!x->bound && !(x->bound = calloc(NDEFS, sizeof(bound))))
        return sm_errf(err, SM_ENOMEM, "SM-SR: out of memory");
    bound *b = x->bound;
    for (size_t i = 0; i < NDEFS; i++) {
        b[i] = (bound){x, &DEFS[i]};
        if (!es_function_by_qname(DEFS[i].qname))
            continue; /* an extension this build's function table does not carry */
        sm_rc rc = es_server_bind(srv, DEFS[i].qname, ES_KIND_REQUEST, handler, &b[i], err);
        if (rc != SM_OK)
            return rc;
    }
    x->srv = srv;
    return SM_OK;
}
