/* The bodies of the SM-SR's ES3 and ES4 functions: the checks of functions.md §6-7 in the call's
 * transaction, then either the synchronous answer or a procedure that answers later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/internal.h"
#include "appliance/smsr/repo.h"
#include "lib/log.h"

static smsr_caller caller_of(const es_call *call)
{
    return (smsr_caller){call->caller.id, call->caller.role, call->fn->iface};
}

static void internal(es_call *call, const sm_err *err)
{
    es_status_fail(&call->status, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "internal error (logged)");
    char q[600];
    sm_log(SM_LOG_ERR, "smsr", "handler_failed", "function=%s.%s requester=%s error=%s", es_iface_name(call->fn->iface),
           call->fn->name, call->caller.id, SM_LOGQ(q, err->msg));
}

/* ES4 callers: an MNO sees its profiles; an M2M SP only the eUICCs it owns */
static bool es4_view(es_call *call, db_conn *c, const char *eid, smsr_view *v)
{
    *v = SMSR_VIEW_MNO;
    if (call->fn->iface != ES_IF_ES4 || call->caller.role != ES_ROLE_M2MSP)
        return true;
    char owner[65] = "";
    sm_err err = {0};
    if (smsr_euicc_owner(c, eid, owner, sizeof owner, &err) != SM_OK || strcmp(owner, call->caller.id)) {
        es_status_fail(&call->status, ES_SUBJ_EIS, ES_RSN_NOT_ALLOWED, "%s is not the owner of eUICC %s",
                       call->caller.id, eid);
        return false;
    }
    *v = SMSR_VIEW_OWNER;
    return true;
}

/* ---- GetEIS -------------------------------------------------------------------------------------------- */

void smsr_h_geteis(es_call *call, const smsr_ctx *x, smsr_view v)
{
    (void)x;
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid");
    db_euicc e;
    sm_err err = {0};
    if (db_eis_get(c, eid, &e, &err) != SM_OK) {
        es_status_fail(&call->status, ES_SUBJ_EID, ES_RSN_UNKNOWN_OBJ, "unknown eUICC %s", eid);
        snprintf(call->status.subject_id, sizeof call->status.subject_id, "%s", eid);
        return;
    }
    char id[33];
    snprintf(id, sizeof id, "%s", e.eid);
    db_euicc_clear(&e);
    if (v != SMSR_VIEW_SMDP && !es4_view(call, c, id, &v))
        return;
    if (smsr_eis_value(c, id, v, call->caller.id, NULL, 0, call->out, &err) != SM_OK)
        internal(call, &err);
}

/* ---- CreateISDP (ES3) --------------------------------------------------------------------------------- */

/* The first free ISD-P AID of the eUICC: <first 12 bytes of the ISD-R AID> || TAR (3 bytes, from 000010,
 * the simulator's pre-loaded profile being ...8900001000) || 00. */
static bool allocate_aid(db_conn *c, const db_euicc *e, db_aid *out, sm_err *err)
{
    static const uint8_t std[12] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89};
    db_profile *pv = NULL;
    size_t np = 0;
    if (db_eis_profiles(c, e->eid, true, &pv, &np, err) != SM_OK)
        return false;
    memset(out, 0, sizeof *out);
    memcpy(out->b, e->isdr_aid.len == 16 ? e->isdr_aid.b : std, 12);
    out->len = 16;
    bool found = false;
    for (uint32_t tar = 0x10; tar <= 0xFFFFFF && !found; tar++) {
        out->b[12] = (uint8_t)(tar >> 16);
        out->b[13] = (uint8_t)(tar >> 8);
        out->b[14] = (uint8_t)tar;
        out->b[15] = 0x00;
        found = true;
        for (size_t i = 0; i < np && found; i++)
            if (pv[i].isdp_aid.len == 16 && !memcmp(pv[i].isdp_aid.b, out->b, 16))
                found = false;
        if (!found && tar > np + 0x10)
            break;
    }
    free(pv);
    if (!found)
        sm_errf(err, SM_ELIMIT, "no free ISD-P AID on eUICC %s", e->eid);
    return found;
}

void smsr_h_createisdp(es_call *call, const smsr_ctx *x)
{
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid"), *mno = es_str(call->in, "Mno-id");
    int64_t mem = 0;
    es_int(call->in, "RequiredMemory", &mem);
    db_euicc e;
    if (!smsr_get_euicc(c, eid, true, &e, &call->status))
        return;
    sm_err err = {0};
    db_profile p;
    sm_rc rc = db_profile_get(c, iccid, &p, &err);
    if (rc == SM_OK) {
        es_status_fail(&call->status, ES_SUBJ_ICCID, ES_RSN_ALREADY_IN_USE, "ICCID %s is in use", iccid);
        snprintf(call->status.subject_id, sizeof call->status.subject_id, "%s", iccid);
        goto out;
    }
    sm_err_clear(&err);
    if (mem > e.remaining_memory) {
        es_status_fail(&call->status, ES_SUBJ_EUICC, SMSR_RSN_NO_MEMORY,
                       "eUICC %s has %lld bytes left for profiles, %lld are required", e.eid,
                       (long long)e.remaining_memory, (long long)mem);
        goto out;
    }
    smsr_opctx o;
    memset(&o, 0, sizeof o);
    if (!allocate_aid(c, &e, &o.aid, &err)) {
        internal(call, &err);
        goto out;
    }
    memset(&p, 0, sizeof p);
    snprintf(p.iccid, sizeof p.iccid, "%s", iccid);
    snprintf(p.eid, sizeof p.eid, "%s", e.eid);
    p.isdp_aid = o.aid;
    snprintf(p.mno_id, sizeof p.mno_id, "%s", mno);
    snprintf(p.state, sizeof p.state, "creating");
    snprintf(p.smdp_id, sizeof p.smdp_id, "%.64s", call->caller.id);
    p.allocated_memory = mem;
    p.free_memory = -1;
    snprintf(o.op, sizeof o.op, "CreateISDP");
    snprintf(o.iccid, sizeof o.iccid, "%s", iccid);
    snprintf(o.mno_id, sizeof o.mno_id, "%s", mno);
    o.required_memory = mem;
    int64_t id;
    if ((rc = db_profile_add(c, call->caller.id, &p, &err)) != SM_OK ||
        (rc = smsr_start(x, c, call, SMSR_K_CREATEISDP, &o, e.eid, NULL, 0, &id, &err)) != SM_OK) {
        internal(call, &err); /* else deferred: the procedure's last step answers, with the ISD-P AID */
    }
out:
    db_euicc_clear(&e);
}

/* ---- SendData and UpdateConnectivityParameters (ES3) ------------------------------------------------------ */

void smsr_h_senddata(es_call *call, const smsr_ctx *x)
{
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid"), *sd = es_str(call->in, "Sd-aid"), *iccid = es_str(call->in, "Iccid");
    const uint8_t *data = NULL;
    size_t len = 0;
    if (!es_bytes(call->in, "Data", &data, &len))
        es_bytes(call->in, "ConnectivityParameters", &data, &len);
    db_euicc e;
    if (!smsr_get_euicc(c, eid, false, &e, &call->status))
        return;
    db_profile p;
    bool have = false;
    smsr_caller who = caller_of(call);
    if (iccid) { /* UpdateConnectivityParameters names the profile */
        have = smsr_get_profile(c, &who, e.eid, iccid, &p, &call->status);
        if (!have) {
            db_euicc_clear(&e);
            return;
        }
    } else {
        db_aid aid;
        db_profile *pv = NULL;
        size_t np = 0;
        sm_err err = {0};
        if (!smsr_aid_parse(sd, &aid) || db_eis_profiles(c, e.eid, false, &pv, &np, &err) != SM_OK)
            np = 0;
        for (size_t i = 0; i < np && !have; i++)
            if (pv[i].isdp_aid.len == aid.len && !memcmp(pv[i].isdp_aid.b, aid.b, aid.len)) {
                p = pv[i];
                have = true;
            }
        free(pv);
        if (!have || strcmp(p.smdp_id, call->caller.id)) {
            es_status_fail(&call->status, SMSR_SUBJ_SDAID, have ? SMSR_RSN_INVALID_DEST : ES_RSN_UNKNOWN_OBJ,
                           have ? "ISD-P %s belongs to another SM-DP" : "no ISD-P %s on eUICC %s", sd, e.eid);
            snprintf(call->status.subject_id, sizeof call->status.subject_id, "%s", sd);
            db_euicc_clear(&e);
            return;
        }
    }
    if (len == 0) {
        es_status_fail(&call->status, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "%s: no command data",
                       iccid ? "ConnectivityParameters" : "Data");
        db_euicc_clear(&e);
        return;
    }
    smsr_opctx o;
    memset(&o, 0, sizeof o);
    snprintf(o.op, sizeof o.op, "SendData");
    snprintf(o.iccid, sizeof o.iccid, "%s", p.iccid);
    snprintf(o.mno_id, sizeof o.mno_id, "%s", p.mno_id);
    o.aid = p.isdp_aid;
    int64_t id;
    sm_err err = {0};
    if (smsr_start(x, c, call, SMSR_K_SENDDATA, &o, e.eid, data, len, &id, &err) != SM_OK)
        internal(call, &err);
    db_euicc_clear(&e);
}

/* ---- ProfileDownloadCompleted, UpdatePolicyRules, UpdateSubscriptionAddress ------------------------------------- */

void smsr_h_download_completed(es_call *call, const smsr_ctx *x)
{
    (void)x;
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid");
    db_euicc e;
    if (!smsr_get_euicc(c, eid, false, &e, &call->status))
        return;
    smsr_caller who = caller_of(call);
    db_profile p;
    bool ok = smsr_get_profile(c, &who, e.eid, iccid, &p, &call->status);
    db_euicc_clear(&e);
    if (!ok)
        return;
    if (strcmp(p.state, "Created")) {
        es_status_fail(&call->status, ES_SUBJ_ICCID, ES_RSN_REFUSED, "profile %s is %s, not Created", iccid, p.state);
        return;
    }
    int pol2 = 0;
    const es_value *pv = es_struct(call->in, "pol2");
    if (pv && !smsr_pol2_decode(pv, &pol2, &call->status))
        return;
    const es_value *sa = es_struct(call->in, "SubscriptionAddress");
    sm_err err = {0};
    if (db_profile_completed(c, call->caller.id, iccid, es_str(call->in, "ProfileType"), es_str(sa, "Imsi"),
                             es_str(sa, "Msisdn"), pol2, &err) != SM_OK)
        internal(call, &err);
}

void smsr_h_update_pol2(es_call *call, const smsr_ctx *x)
{
    (void)x;
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid");
    db_euicc e;
    if (!smsr_get_euicc(c, eid, false, &e, &call->status))
        return;
    smsr_caller who = caller_of(call);
    db_profile p;
    bool ok = smsr_get_profile(c, &who, e.eid, iccid, &p, &call->status);
    db_euicc_clear(&e);
    int pol2 = 0;
    const es_value *pv = es_struct(call->in, "pol2");
    if (!ok || (pv && !smsr_pol2_decode(pv, &pol2, &call->status)))
        return;
    sm_err err = {0};
    if (db_profile_set_pol2(c, call->caller.id, iccid, pol2, &err) != SM_OK)
        internal(call, &err);
}

void smsr_h_update_subaddr(es_call *call, const smsr_ctx *x)
{
    (void)x;
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid");
    if (call->caller.role == ES_ROLE_M2MSP) {
        es_status_fail(&call->status, SMSR_SUBJ_SUBADDR, ES_RSN_NOT_ALLOWED,
                       "an M2M SP may not change the subscription address of profile %s", iccid);
        return;
    }
    db_euicc e;
    if (!smsr_get_euicc(c, eid, false, &e, &call->status))
        return;
    smsr_caller who = caller_of(call);
    db_profile p;
    bool ok = smsr_get_profile(c, &who, e.eid, iccid, &p, &call->status);
    db_euicc_clear(&e);
    if (!ok)
        return;
    const es_value *sa = es_struct(call->in, "newSubscriptionAddress");
    sm_err err = {0};
    if (db_profile_set_address(c, call->caller.id, iccid, es_str(sa, "Imsi"), es_str(sa, "Msisdn"), &err) != SM_OK)
        internal(call, &err);
}

/* ---- EnableProfile, DisableProfile, DeleteProfile / DeleteISDP ------------------------------------------------- */

static bool refuse(es_call *call, const char *subj, const char *rsn, const char *iccid, const char *msg)
{
    es_status_fail(&call->status, subj, rsn, "%s", msg);
    snprintf(call->status.subject_id, sizeof call->status.subject_id, "%s", iccid);
    return false;
}

/* the SM-SR's own checks before anything is sent (the card checks POL1 itself) */
static bool allowed(es_call *call, db_conn *c, const char *op, const db_profile *p)
{
    db_profile *pv = NULL;
    size_t np = 0;
    sm_err err = {0};
    if (db_eis_profiles(c, p->eid, false, &pv, &np, &err) != SM_OK) {
        internal(call, &err);
        return false;
    }
    const db_profile *enabled = NULL, *fallback = NULL;
    for (size_t i = 0; i < np; i++) {
        if (!strcmp(pv[i].state, "Enabled"))
            enabled = &pv[i];
        if (pv[i].fallback)
            fallback = &pv[i];
    }
    bool ok = true;
    char m[200];
    if (!strcmp(op, "Enable")) {
        if (strcmp(p->state, "Disabled")) {
            snprintf(m, sizeof m, "profile %s is %s: only a Disabled profile can be enabled", p->iccid, p->state);
            ok = refuse(call, ES_SUBJ_ICCID, ES_RSN_REFUSED, p->iccid, m);
        } else if (p->pol2 & DB_POL2_ENABLE_NOT_ALLOWED) {
            ok = refuse(call, SMSR_SUBJ_POL2, ES_RSN_REFUSED, p->iccid, "POL2 of the profile forbids enabling it");
        } else if (enabled && (enabled->pol2 & DB_POL2_DISABLE_NOT_ALLOWED)) {
            snprintf(m, sizeof m, "POL2 of the enabled profile %s forbids disabling it", enabled->iccid);
            ok = refuse(call, SMSR_SUBJ_POL2, ES_RSN_REFUSED, enabled->iccid, m);
        }
    } else if (!strcmp(op, "Disable")) {
        if (strcmp(p->state, "Enabled")) {
            snprintf(m, sizeof m, "profile %s is %s: only the Enabled profile can be disabled", p->iccid, p->state);
            ok = refuse(call, ES_SUBJ_ICCID, ES_RSN_REFUSED, p->iccid, m);
        } else if (p->fallback || !fallback) {
            ok = refuse(call, ES_SUBJ_EUICC, ES_RSN_REFUSED, p->iccid,
                        p->fallback ? "the fall-back profile cannot be disabled"
                                    : "no fall-back profile to enable in its place");
        } else if (p->pol2 & DB_POL2_DISABLE_NOT_ALLOWED) {
            ok = refuse(call, SMSR_SUBJ_POL2, ES_RSN_REFUSED, p->iccid, "POL2 of the profile forbids disabling it");
        }
    } else { /* Delete */
        if (!strcmp(p->state, "Enabled")) {
            ok = refuse(call, ES_SUBJ_ICCID, ES_RSN_REFUSED, p->iccid, "the Enabled profile cannot be deleted: "
                                                                     "disable it first");
        } else if (p->fallback) {
            ok = refuse(call, ES_SUBJ_EUICC, ES_RSN_REFUSED, p->iccid, "the fall-back profile cannot be deleted");
        } else if (p->pol2 & DB_POL2_DELETE_NOT_ALLOWED) {
            ok = refuse(call, SMSR_SUBJ_POL2, ES_RSN_REFUSED, p->iccid, "POL2 of the profile forbids deleting it");
        }
    }
    free(pv);
    return ok;
}

void smsr_h_profile_op(es_call *call, const smsr_ctx *x, const char *op)
{
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid"), *iccid = es_str(call->in, "Iccid");
    db_euicc e;
    if (!smsr_get_euicc(c, eid, true, &e, &call->status))
        return;
    smsr_caller who = caller_of(call);
    db_profile p;
    bool ok = smsr_get_profile(c, &who, e.eid, iccid, &p, &call->status) && allowed(call, c, op, &p);
    if (ok) {
        smsr_opctx o;
        memset(&o, 0, sizeof o);
        snprintf(o.op, sizeof o.op, "%s", op);
        snprintf(o.iccid, sizeof o.iccid, "%s", p.iccid);
        snprintf(o.mno_id, sizeof o.mno_id, "%s", p.mno_id);
        o.aid = p.isdp_aid;
        int64_t id;
        sm_err err = {0};
        if (smsr_start(x, c, call, SMSR_K_PROFILEOP, &o, e.eid, NULL, 0, &id, &err) != SM_OK)
            internal(call, &err);
    }
    db_euicc_clear(&e);
}

/* ---- AuditEIS ------------------------------------------------------------------------------------------------ */

void smsr_h_audit(es_call *call, const smsr_ctx *x, smsr_view v)
{
    db_conn *c = smsr_call_db(call);
    const char *eid = es_str(call->in, "Eid");
    db_euicc e;
    if (!smsr_get_euicc(c, eid, false, &e, &call->status))
        return;
    smsr_opctx o;
    memset(&o, 0, sizeof o);
    snprintf(o.op, sizeof o.op, "Audit");
    if (v != SMSR_VIEW_SMDP && !es4_view(call, c, e.eid, &v)) {
        db_euicc_clear(&e);
        return;
    }
    size_t n = es_count(call->in, "Iccid");
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const es_value *it = es_item(call->in, "Iccid", i);
        const char *iccid = it ? it->str : NULL;
        db_profile p;
        sm_err err = {0};
        bool mine = iccid && db_profile_get(c, iccid, &p, &err) == SM_OK && !strcasecmp(p.eid, e.eid) &&
                    strcmp(p.state, "creating") &&
                    (v == SMSR_VIEW_OWNER || (v == SMSR_VIEW_SMDP ? !strcmp(p.smdp_id, call->caller.id)
                                                                  : !strcmp(p.mno_id, call->caller.id)));
        if (!mine) {
            es_status_fail(&call->status, ES_SUBJ_PROFILE, ES_RSN_NOT_ALLOWED,
                           "profile %s is not one of the caller's on eUICC %s", iccid ? iccid : "?", e.eid);
            db_euicc_clear(&e);
            return;
        }
        int k = snprintf(o.iccids + used, sizeof o.iccids - used, "%s%s", used ? "," : "", iccid);
        if (k < 0 || (size_t)k >= sizeof o.iccids - used) {
            es_status_fail(&call->status, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "Iccid: too many listed");
            db_euicc_clear(&e);
            return;
        }
        used += (size_t)k;
    }
    int64_t id;
    sm_err err = {0};
    if (smsr_start(x, c, call, SMSR_K_AUDIT, &o, e.eid, NULL, 0, &id, &err) != SM_OK)
        internal(call, &err);
    db_euicc_clear(&e);
}

