/* The SM-DP's ES handlers: ES2.DownloadProfile (MNO), the ES2.ImportOrder and ES4.DownloadProfile smbox
 * extensions, the SM-SR's ES3 asynchronous responses (which wake the download waiting for them) and its
 * ES3 notifications (relayed to the profile's MNO over ES2). Every handler runs in the call's
 * transaction; its own writes sit in a savepoint so that a refusal leaves nothing half-done. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/batch.h"
#include "appliance/smdp/download.h"
#include "appliance/smdp/dl_repo.h"
#include "appliance/smdp/dp_stock.h"
#include "appliance/workers.h"
#include "db/audit.h"
#include "lib/log.h"
#include "net/es_answer.h"

DB_STMT(q_sp, 0, "SAVEPOINT smdp_call");
DB_STMT(q_sp_back, 0, "ROLLBACK TO SAVEPOINT smdp_call");
DB_STMT(q_sp_release, 0, "RELEASE SAVEPOINT smdp_call");

static db_conn *call_db(es_call *call, es_status *st)
{
    sm_worker *w = call->worker;
    if (!w || !w->db || !call->in_tx) {
        es_status_fail(st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the SM-DP's database is not available");
        return NULL;
    }
    return w->db;
}

/* Runs fn inside a savepoint of the call's transaction: all of its writes or none. */
static sm_rc in_savepoint(db_conn *c, sm_rc (*fn)(db_conn *c, void *arg, sm_err *err), void *arg, sm_err *err)
{
    sm_rc rc = db_exec(c, &q_sp, NULL, NULL, err);
    if (rc != SM_OK)
        return rc;
    rc = fn(c, arg, err);
    sm_err e2 = {0};
    if (rc == SM_OK)
        db_exec(c, &q_sp_release, NULL, NULL, &e2);
    else
        db_exec(c, &q_sp_back, NULL, NULL, &e2);
    return rc;
}

/* ---- ES2.DownloadProfile and ES4.DownloadProfile -------------------------------------------------- */

typedef struct start_args {
    const smdp_ctx *x;
    smdp_dl_request req;
    int64_t proc;
} start_args;

static sm_rc do_start(db_conn *c, void *arg, sm_err *err)
{
    start_args *a = arg;
    return smdp_download_start(a->x, c, &a->req, &a->proc, err);
}

static void start_download(smdp_ctx *x, es_call *call, db_conn *c, smdp_dl_request *req)
{
    start_args a = {.x = x, .req = *req};
    sm_err err = {0};
    if (in_savepoint(c, do_start, &a, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "smdp", "download_not_started", "requester=%s error=%s", req->requester, SM_LOGQ(q, err.msg));
        es_status_fail(&call->status, err.code == SM_EINVAL ? ES_SUBJ_FUNCTION : ES_SUBJ_PROVIDER,
                       err.code == SM_EINVAL ? ES_RSN_INVALID : ES_RSN_EXEC_ERROR, "%s", err.msg);
        return;
    }
    call->deferred = true; /* the procedure answers when it ends */
    sm_log(SM_LOG_INFO, "smdp", "download_accepted", "proc=%lld origin=%s requester=%s eid=%s", (long long)a.proc,
           req->origin, req->requester, req->eid);
    if (x->kick)
        x->kick(x->kick_arg);
}

static void h_es2_download(es_call *call, void *arg)
{
    smdp_ctx *x = arg;
    db_conn *c = call_db(call, &call->status);
    if (!c)
        return;
    const char *iccid = es_str(call->in, "Iccid"), *type = es_str(call->in, "ProfileType");
    const char *smsr = es_str(call->in, "SmSr-id");
    bool enable = false;
    es_bool(call->in, "EnableProfile", &enable);
    if ((!iccid || !*iccid) && (!type || !*type)) {
        es_status_fail(&call->status, ES_SUBJ_FUNCTION, ES_RSN_CONDITIONAL_MISSING,
                       "ProfileType or Iccid must be given");
        return;
    }
    const smdp_peer *peer = smdp_peer_find(x, smsr);
    if (!peer || !peer->endpoint[0]) {
        es_status_fail(&call->status, ES_SUBJ_SMSR, ES_RSN_UNKNOWN_OBJ, "SM-SR %s is unknown to this SM-DP", smsr);
        return;
    }
    smdp_dl_request req = {.origin = "es2", .requester = call->caller.id, .call_id = call->hdr.fcid,
                           .mno_id = call->caller.id, .eid = es_str(call->in, "Eid"), .smsr_id = smsr,
                           .iccid = iccid, .profile_type = type, .enable = enable, .validity_s = call->hdr.validity,
                           .reply = &call->reply};
    start_download(x, call, c, &req);
}

/* ES4.DownloadProfile (smbox extension): the eUICC owner (an M2M SP) asks for a profile on its eUICC,
 * managed by this appliance's SM-SR; the result is the asynchronous response to its endpoint. */
static void h_es4_download(es_call *call, void *arg)
{
    smdp_ctx *x = arg;
    db_conn *c = call_db(call, &call->status);
    if (!c)
        return;
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid"),
               *type = es_str(call->in, "ProfileType");
    bool enable = false;
    es_bool(call->in, "EnableProfile", &enable);
    if ((!iccid || !*iccid) && (!type || !*type)) {
        es_status_fail(&call->status, ES_SUBJ_FUNCTION, ES_RSN_CONDITIONAL_MISSING,
                       "ProfileType or Iccid must be given");
        return;
    }
    sm_err err = {0};
    sm_rc rc;
    if (x->owner) {
        rc = x->owner(c, eid, call->caller.id, x->owner_arg, &err);
    } else {
        char owner[65];
        rc = dp_euicc_owner(c, eid, owner, &err);
        if (rc == SM_OK && strcmp(owner, call->caller.id))
            rc = sm_errf(&err, SM_EPERM, "%s is not the owner of eUICC %s", call->caller.id, eid);
    }
    if (rc == SM_ENOTFOUND) {
        es_status_fail(&call->status, ES_SUBJ_EID, ES_RSN_UNKNOWN_OBJ, "eUICC %s is unknown", eid);
        return;
    }
    if (rc == SM_EPERM) {
        es_status_fail(&call->status, ES_SUBJ_EID, ES_RSN_NOT_ALLOWED, "the caller does not own eUICC %s", eid);
        sm_err e2 = {0};
        db_audit_appendf(c, &e2, call->caller.id, "es4.DownloadProfile", eid, "denied", "not the eUICC owner");
        return;
    }
    if (rc != SM_OK) {
        es_status_fail(&call->status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "%s", err.msg);
        return;
    }
    smdp_dl_request req = {.origin = "es4", .requester = call->caller.id, .call_id = call->hdr.fcid, .mno_id = NULL,
                           .eid = eid, .smsr_id = x->smsr_id, .iccid = iccid, .profile_type = type, .enable = enable,
                           .validity_s = call->hdr.validity, .reply = &call->reply};
    start_download(x, call, c, &req);
}

/* ---- ES2.ImportOrder (smbox extension) -------------------------------------------------------------- */

typedef struct import_args {
    const smdp_ctx *x;
    hsm_sess *s;
    smdp_batch_req req;
    smdp_batch_result res;
} import_args;

static sm_rc do_import(db_conn *c, void *arg, sm_err *err)
{
    import_args *a = arg;
    return smdp_batch_import(c, a->s, &a->req, &a->res, err);
}

static void h_es2_import(es_call *call, void *arg)
{
    smdp_ctx *x = arg;
    db_conn *c = call_db(call, &call->status);
    sm_worker *w = call->worker;
    if (!c)
        return;
    const es_value *of = es_get(call->in, "OrderFile");
    if (!of || of->type != ESV_STR) {
        es_status_fail(&call->status, ES_SUBJ_FUNCTION, ES_RSN_MANDATORY_MISSING, "OrderFile is missing");
        return;
    }
    import_args a = {.x = x, .s = w->hsm,
                     .req = {.text = of->str, .len = of->len, .key_prefix = x->key_prefix, .actor = call->caller.id,
                             .requester = call->caller.id, .require_mno = call->caller.id}};
    sm_err err = {0};
    sm_rc rc = in_savepoint(c, do_import, &a, &err);
    if (rc == SM_OK) {
        es_add_int(call->out, "BatchId", a.res.batch_id);
        es_add_int(call->out, "Quantity", (int64_t)a.res.quantity);
        es_add_strn(call->out, "MnoOutputFile", (const char *)a.res.mno_file.data, a.res.mno_file.len);
    } else {
        const char *subj = ES_SUBJ_FUNCTION, *rsn = ES_RSN_INVALID;
        if (rc == SM_EPERM) {
            subj = ES_SUBJ_REQUESTER;
            rsn = ES_RSN_NOT_ALLOWED;
        } else if (rc == SM_EEXIST) {
            subj = ES_SUBJ_ICCID;
            rsn = ES_RSN_ALREADY_IN_USE;
        } else if (rc == SM_ENOTFOUND) {
            subj = "8.2.5";
            rsn = ES_RSN_UNKNOWN_OBJ;
        } else if (rc != SM_EPARSE && rc != SM_ELIMIT && rc != SM_EINVAL) {
            subj = ES_SUBJ_PROVIDER;
            rsn = ES_RSN_EXEC_ERROR;
        }
        es_status_fail(&call->status, subj, rsn, "OrderFile: %s", err.msg);
        sm_err e2 = {0};
        db_audit_appendf(c, &e2, call->caller.id, "es2.ImportOrder", "-", "refused", "%s", err.msg);
    }
    smdp_batch_result_free(&a.res);
}

/* ---- ES3 from the SM-SR: asynchronous responses ------------------------------------------------------ */

static void h_es3_response(es_call *call, void *arg)
{
    smdp_ctx *x = arg;
    es_status st;
    db_conn *c = call_db(call, &st);
    int64_t proc = es_answer_proc_of(call->hdr.relates_to);
    char q[300];
    if (!c || !proc) {
        sm_log(SM_LOG_WARN, "smdp", "es3_response_dropped", "function=%s.%s relates_to=%s why=%s",
               es_iface_name(call->fn->iface), call->fn->name, SM_LOGQ(q, call->hdr.relates_to),
               !c ? "no database" : "not a request of an SM-DP procedure");
        return;
    }
    char smsr[65], mid[128];
    sm_err err = {0};
    if (dp_dl_peer(c, proc, smsr, mid, &err) != SM_OK) {
        sm_log(SM_LOG_WARN, "smdp", "es3_response_dropped", "proc=%lld why=%s", (long long)proc, SM_LOGQ(q, err.msg));
        return;
    }
    if (strcmp(smsr, call->caller.id)) {
        sm_err e2 = {0};
        db_audit_appendf(c, &e2, call->caller.id, "es3.response", call->hdr.relates_to, "denied",
                         "an answer to a request sent to %s", smsr);
        return;
    }
    es_answer a = {.fn = call->fn, .status = call->in_status, .body = call->in};
    snprintf(a.relates_to, sizeof a.relates_to, "%s", call->hdr.relates_to);
    sm_rc rc = es_answer_wake(c, proc, &a, &err);
    if (rc == SM_OK && x->kick)
        x->kick(x->kick_arg);
    else if (rc != SM_OK)
        sm_log(rc == SM_ESTATE ? SM_LOG_INFO : SM_LOG_ERR, "smdp", "es3_response_late", "proc=%lld relates_to=%s error=%s",
               (long long)proc, SM_LOGQ(q, call->hdr.relates_to), err.msg);
}

/* ---- ES3 notifications, relayed to the MNO over ES2 ------------------------------------------------------ */

static void h_es3_notification(es_call *call, void *arg)
{
    smdp_ctx *x = arg;
    const char *mno = es_str(call->in, "Mno-id");
    char es2[96];
    snprintf(es2, sizeof es2, "ES2.%s", call->fn->name);
    es_value *b = es_struct_new();
    const char *ts = es_str(call->in, "CompletionTimestamp");
    if (!ts)
        ts = es_str(call->in, "completionTimestamp");
    if (!strcmp(call->fn->name, "HandleSMSRChangeNotification")) {
        const es_value *eis = es_get(call->in, "Eis");
        if (eis)
            es_attach(b, "Eis", es_value_dup(eis));
        es_add_str(b, "CompletionTimestamp", ts ? ts : "");
    } else {
        es_add_str(b, "Eid", es_str(call->in, "Eid"));
        es_add_str(b, "Iccid", es_str(call->in, "Iccid"));
        /* ES2's enabled notification spells it with a lower-case c (v3 schema) */
        es_add_str(b, !strcmp(call->fn->name, "HandleProfileEnabledNotification") ? "completionTimestamp"
                                                                                   : "CompletionTimestamp",
                   ts ? ts : "");
    }
    sm_err err = {0};
    sm_rc rc = x->srv && mno ? es_server_notify(x->srv, call->worker, es2, mno, ES_BIND_SOAP, b, &err)
                             : sm_errf(&err, SM_ECONFIG, "no MNO or no ES server");
    char q[600];
    if (rc == SM_OK)
        sm_log(SM_LOG_INFO, "smdp", "notification_relayed", "function=%s mno=%s iccid=%s", es2, mno,
               es_str(call->in, "Iccid") ? es_str(call->in, "Iccid") : "-");
    else
        sm_log(SM_LOG_WARN, "smdp", "notification_not_relayed", "function=%s mno=%s error=%s", es2, mno ? mno : "-",
               SM_LOGQ(q, err.msg));
    es_value_free(b);
}

/* ---- binding ---------------------------------------------------------------------------------------------- */

sm_rc smdp_bind(smdp_ctx *x, es_server *srv, sm_err *err)
{
    static const char *const responses[] = {"ES3.CreateISDP", "ES3.SendData", "ES3.DeleteISDP", "ES3.EnableProfile",
                                            "ES3.AuditEIS", "ES3.DisableProfile"};
    static const char *const notifs[] = {"ES3.HandleProfileDisabledNotification",
                                         "ES3.HandleProfileEnabledNotification",
                                         "ES3.HandleProfileDeletedNotification", "ES3.HandleSMSRChangeNotification"};
    x->srv = srv;
    sm_rc rc = es_server_bind(srv, "ES2.DownloadProfile", ES_KIND_REQUEST, h_es2_download, x, err);
    if (rc == SM_OK)
        rc = es_server_bind(srv, "ES2.ImportOrder", ES_KIND_REQUEST, h_es2_import, x, err);
    if (rc == SM_OK)
        rc = es_server_bind(srv, "ES4.DownloadProfile", ES_KIND_REQUEST, h_es4_download, x, err);
    for (size_t i = 0; rc == SM_OK && i < sizeof responses / sizeof responses[0]; i++)
        rc = es_server_bind(srv, responses[i], ES_KIND_RESPONSE, h_es3_response, x, err);
    for (size_t i = 0; rc == SM_OK && i < sizeof notifs / sizeof notifs[0]; i++)
        rc = es_server_bind(srv, notifs[i], ES_KIND_NOTIFICATION, h_es3_notification, x, err);
    return rc;
}
