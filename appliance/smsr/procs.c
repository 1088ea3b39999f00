/* The SM-SR procedures: CreateISDP, SendData, profile operations (enable, disable, delete) and AuditEIS,
 * each one ES5 request and its result, plus the eUICC notification that completes a profile switch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/apdu.h"
#include "appliance/smsr/internal.h"
#include "appliance/smsr/repo.h"
#include "db/audit.h"
#include "lib/log.h"

typedef struct step {
    const smsr_ctx *x;
    db_conn *c;
    const db_proc *p;
    db_next *nx;
    smsr_oprow row;
    smsr_opctx o;
} step;

static sm_rc load(step *s, bool lock, sm_err *err)
{
    sm_rc rc = smsr_op_get(s->c, s->p->id, lock, &s->row, err);
    if (rc == SM_OK && (rc = smsr_opctx_decode(s->row.ctx, s->row.ctx_len, &s->o, err)) != SM_OK)
        smsr_oprow_clear(&s->row);
    return rc;
}

static const char *actor(const step *s) { return s->o.caller[0] ? s->o.caller : s->x->smsr_id; }

/* Ends the procedure: the asynchronous answer, an audit entry, the context removed, DONE or FAIL. */
static sm_rc finish(step *s, const es_status *st, const es_value *out, sm_err *err)
{
    sm_rc rc = smsr_reply(s->x, s->c, &s->o, st, out, err);
    char obj[80], act[48];
    snprintf(obj, sizeof obj, "%s%s%s", s->row.eid, s->o.iccid[0] ? "/" : "", s->o.iccid);
    snprintf(act, sizeof act, "smsr.%s", s->o.op);
    const char *outcome = st->exec == ES_EXEC_SUCCESS ? "ok" : st->exec == ES_EXEC_WARNING ? "warning"
                          : st->exec == ES_EXEC_EXPIRED                                    ? "expired"
                                                                                           : "failed";
    if (rc == SM_OK)
        rc = db_audit_appendf(s->c, err, actor(s), act, obj, outcome, "proc=%lld %s%s%s%s%s", (long long)s->p->id,
                              es_exec_wire(st->exec), st->subject[0] ? " " : "", st->subject, st->subject[0] ? "/" : "",
                              st->reason);
    if (rc == SM_OK)
        rc = smsr_op_del(s->c, s->p->id, err);
    if (rc != SM_OK)
        return rc;
    db_next *nx = s->nx;
    nx->kind = st->exec <= ES_EXEC_WARNING ? DB_NEXT_DONE : DB_NEXT_FAIL;
    char res[400];
    int n = snprintf(res, sizeof res, "%s %s/%s %s", es_exec_wire(st->exec), st->subject, st->reason, st->message);
    nx->result = (uint8_t *)strdup(res);
    nx->result_len = n > 0 && (size_t)n < sizeof res ? (size_t)n : strlen(res);
    if (nx->kind == DB_NEXT_FAIL)
        snprintf(nx->error, sizeof nx->error, "%s/%s %.150s", st->subject, st->reason, st->message);
    sm_log(SM_LOG_INFO, "smsr", "procedure_end", "proc=%lld op=%s eid=%s status=%s code=%s/%s", (long long)s->p->id,
           s->o.op, s->row.eid, es_exec_name(st->exec), st->subject, st->reason);
    return SM_OK;
}

static sm_rc submit(step *s, const db_aid *aid, const sm_buf *script, es5_channel ch, sm_err *err)
{
    if (!s->x->es5.submit)
        return sm_errf(err, SM_ESTATE, "ES5 delivery is not available in this process");
    es5_request r = {.eid = s->row.eid, .aid = aid->b, .aid_len = aid->len, .script = script->data,
                     .script_len = script->len, .channel = ch, .deadline_us = s->p->deadline_us,
                     .wake_proc = s->p->id, .wake_step = "result", .label = s->o.op};
    int64_t id = 0;
    sm_err se = {0};
    sm_rc rc = s->x->es5.submit(s->c, &r, &id, &se);
    if (rc == SM_ELIMIT || rc == SM_EINVAL || rc == SM_ETIMEOUT) {
        /* es5 refuses it for good (too long for SMS on an eUICC without HTTPS, malformed, past its
         * deadline): say so now rather than retrying what cannot change */
        es_status st;
        if (rc == SM_ELIMIT)
            es_status_fail(&st, ES_SUBJ_FUNCTION, ES_RSN_SIZE_EXCEEDED, "the eUICC cannot receive this command: %.200s",
                           se.msg);
        else if (rc == SM_ETIMEOUT)
            es_status_set(&st, ES_EXEC_EXPIRED, ES_SUBJ_FUNCTION, ES_RSN_TTL_EXPIRED, "%.200s", se.msg);
        else if (!strcmp(s->o.op, "SendData"))
            es_status_fail(&st, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "Data: %.200s", se.msg);
        else
            es_status_fail(&st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "%.200s", se.msg);
        if (!strcmp(s->o.op, "CreateISDP") &&
            (rc = db_profile_delete(s->c, actor(s), s->o.iccid, NULL, err)) != SM_OK && rc != SM_ENOTFOUND)
            return rc;
        sm_err_clear(err);
        es_value *out = es_struct_new();
        rc = out ? finish(s, &st, out, err) : sm_errf(err, SM_ENOMEM, "out of memory");
        es_value_free(out);
        return rc;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", se.msg);
    rc = smsr_op_set_es5(s->c, s->p->id, id, err);
    if (rc != SM_OK)
        return rc;
    if (s->x->es5.kick)
        s->x->es5.kick(s->x->es5.kick_arg);
    s->nx->kind = DB_NEXT_WAIT;
    snprintf(s->nx->step, sizeof s->nx->step, "result");
    return SM_OK;
}

/* CreateISDP and audits go by HTTPS when the eUICC has it (procedures.md: SMS is for short platform
 * commands), else by SMS; ES8 traffic to an ISD-P always by HTTPS */
static es5_channel bulk_channel(const db_euicc *e) { return (e->caps & DB_CAP_HTTPS) ? ES5_CH_HTTPS : ES5_CH_SMS; }

/* ---- ES5 outcome -> GSMA status ------------------------------------------------------------------- */

typedef struct outcome {
    es5_result r;
    smsr_rscript rs;
    bool decoded, ok;
    uint16_t sw;
} outcome;

static void outcome_read(step *s, outcome *oc)
{
    memset(oc, 0, sizeof *oc);
    sm_err e = {0};
    if (es5_result_decode(s->p->data, s->p->data_len, &oc->r, &e) != SM_OK) {
        sm_log(SM_LOG_ERR, "smsr", "es5_result_unreadable", "proc=%lld error=\"%s\"", (long long)s->p->id, e.msg);
        oc->r.status = ES5_CARD_ERROR;
        snprintf(oc->r.detail, sizeof oc->r.detail, "unreadable ES5 result");
        return;
    }
    oc->decoded = true;
    sm_err e2 = {0};
    if (oc->r.response_len && smsr_script_response(oc->r.response, oc->r.response_len, &oc->rs, &e2) != SM_OK)
        memset(&oc->rs, 0, sizeof oc->rs);
    oc->sw = smsr_last_sw(&oc->rs);
    oc->ok = oc->r.status == ES5_OK && (oc->rs.n == 0 || smsr_sw_ok(oc->sw)) && !oc->rs.bad_format;
}

static void transport_failure(const outcome *oc, es_status *st)
{
    const char *d = oc->r.detail;
    switch (oc->r.status) {
    case ES5_EXPIRED:
        es_status_set(st, ES_EXEC_EXPIRED, ES_SUBJ_FUNCTION, ES_RSN_TTL_EXPIRED,
                      "the eUICC could not be reached within the validity period%s%s", d[0] ? ": " : "", d);
        break;
    case ES5_CANCELLED:
        es_status_fail(st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the ES5 request was cancelled%s%s", d[0] ? ": " : "", d);
        break;
    case ES5_SECURITY:
        es_status_fail(st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR, "the eUICC refused the secured packet%s%s", d[0] ? ": " : "",
                       d);
        break;
    default:
        es_status_fail(st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR, "the eUICC answered with an error%s%s (SW %04X)",
                       d[0] ? ": " : "", d, oc->sw);
        break;
    }
}

/* card refusals of platform commands (procedures.md §16; the simulator's SWs) */
static void platform_failure(const char *op, const outcome *oc, es_status *st)
{
    if (oc->r.status != ES5_OK && oc->r.status != ES5_CARD_ERROR) {
        transport_failure(oc, st);
        return;
    }
    switch (oc->sw) {
    case 0x69E1:
        es_status_fail(st, SMSR_SUBJ_POL1, ES_RSN_REFUSED, "POL1 of the profile forbids %s (SW 69E1)", op);
        return;
    case 0x6985:
        es_status_fail(st, ES_SUBJ_ICCID, ES_RSN_REFUSED,
                       "the eUICC refuses to %s the profile in its current state (SW 6985)", op);
        return;
    case 0x6A88:
        es_status_fail(st, ES_SUBJ_ICCID, ES_RSN_UNKNOWN_OBJ, "the eUICC does not know the ISD-P (SW 6A88)");
        return;
    case 0x6A84:
        es_status_fail(st, ES_SUBJ_EUICC, SMSR_RSN_NO_MEMORY, "not enough memory on the eUICC (SW 6A84)");
        return;
    }
    transport_failure(oc, st);
}

static void add_response(es_value *out, const outcome *oc)
{
    if (oc->r.response_len)
        es_add_bytes(out, "EuiccResponseData", oc->r.response, oc->r.response_len);
}

/* The eUICC row first, then its profiles: every writer of an EIS takes the locks in this order (the
 * notification handler and the ES handlers do), so two of them never deadlock. */
static sm_rc lock_eis(step *s, sm_err *err)
{
    db_euicc e;
    sm_rc rc = db_eis_lock(s->c, s->row.eid, &e, err);
    if (rc == SM_OK)
        db_euicc_clear(&e);
    return rc;
}

/* ---- CreateISDP ---------------------------------------------------------------------------------------- */

/* A CreateISDP that fails after its INSTALL may have reached the card (the PoR or the session's answer
 * lost, a retransmission refused as a replay, the deadline passed with the packet out) leaves the
 * outcome unknown: the ISD-P may exist on the card while the EIS forgets it. A cleanup procedure
 * deletes that AID on the card (DELETE with related objects; 6A88 = never made); a later CreateISDP of
 * the eUICC waits until it has ended (smsr_op_cleanup_pending), so the AID it is given cannot be the one the
 * cleanup deletes. */
static bool install_maybe_ran(const outcome *oc)
{
    if (!oc->r.maybe_ran || oc->r.status == ES5_OK || oc->r.status == ES5_CANCELLED)
        return false; /* never left, or answered (a refusal has its SW) */
    /* no R-APDU: the outcome is not known. That includes security refusals: a PoR 02 may refuse an
     * SMSC's duplicate of a packet the card ran, a PoR whose CC fails may report one it ran; a
     * needless cleanup costs one DELETE answered 6A88 */
    return oc->r.status == ES5_EXPIRED || oc->rs.n == 0;
}

static sm_rc start_cleanup(step *s, sm_err *err)
{
    smsr_opctx o;
    memset(&o, 0, sizeof o);
    snprintf(o.op, sizeof o.op, "Cleanup"); /* no ICCID: the profile is gone from the EIS, free for a retry */
    snprintf(o.mno_id, sizeof o.mno_id, "%s", s->o.mno_id);
    o.aid = s->o.aid;
    int64_t id = 0;
    sm_rc rc = smsr_start_internal(s->x, s->c, SMSR_K_PROFILEOP, &o, s->row.eid, &id, err);
    if (rc == SM_OK) {
        char aid[40];
        smsr_aid_hex(&o.aid, aid, sizeof aid);
        sm_log(SM_LOG_NOTICE, "smsr", "isdp_cleanup", "eid=%s aid=%s iccid=%s proc=%lld after=%lld", s->row.eid, aid,
               s->o.iccid, (long long)id, (long long)s->p->id);
    }
    return rc;
}

/* The send step again in a second: another operation on the eUICC has to end first. */
static sm_rc send_later(step *s)
{
    s->nx->kind = DB_NEXT_STEP;
    snprintf(s->nx->step, sizeof s->nx->step, "send");
    s->nx->delay_ms = 1000;
    return SM_OK;
}

static sm_rc createisdp_send(step *s, sm_err *err)
{
    bool pending = false;
    sm_rc rc = smsr_op_cleanup_pending(s->c, s->row.eid, &pending, err);
    if (rc != SM_OK)
        return rc;
    if (pending)
        return send_later(s);
    db_euicc e;
    rc = db_eis_get(s->c, s->row.eid, &e, err);
    if (rc != SM_OK)
        return rc;
    sm_buf b;
    sm_buf_init(&b);
    rc = smsr_script_install(&b, &e.isdp_loadfile_aid, &e.isdp_module_aid, &s->o.aid, s->o.required_memory, err);
    if (rc == SM_OK)
        rc = submit(s, &e.isdr_aid, &b, bulk_channel(&e), err);
    sm_buf_free(&b);
    db_euicc_clear(&e);
    return rc;
}

static sm_rc createisdp_result(step *s, sm_err *err)
{
    outcome oc;
    outcome_read(s, &oc);
    es_status st;
    es_status_ok(&st);
    es_value *out = es_struct_new();
    sm_rc rc = out ? SM_OK : sm_errf(err, SM_ENOMEM, "out of memory");
    if (rc == SM_OK)
        rc = lock_eis(s, err);
    if (rc == SM_OK && oc.ok) {
        /* ISD-P created: visible in the EIS as Created, its memory taken from the eUICC's */
        rc = db_profile_set_state(s->c, actor(s), s->o.iccid, "creating", "Created", "0100", err);
        db_euicc e;
        if (rc == SM_OK && (rc = db_eis_get(s->c, s->row.eid, &e, err)) == SM_OK) {
            int64_t rem = e.remaining_memory - s->o.required_memory;
            db_euicc_clear(&e);
            rc = db_eis_set_memory(s->c, actor(s), s->row.eid, rem > 0 ? rem : 0, false, err);
        }
        char aid[40];
        smsr_aid_hex(&s->o.aid, aid, sizeof aid);
        if (rc == SM_OK && !es_add_str(out, "Isd-p-aid", aid))
            rc = sm_errf(err, SM_ENOMEM, "out of memory");
        add_response(out, &oc);
    } else if (rc == SM_OK) {
        platform_failure("create the ISD-P", &oc, &st);
        if (st.subject[0] == '8' && !strcmp(st.subject, ES_SUBJ_ICCID))
            es_status_fail(&st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR, "the ISD-R refused INSTALL (SW %04X)", oc.sw);
        sm_err e2 = {0};
        rc = db_profile_delete(s->c, actor(s), s->o.iccid, NULL, &e2);
        if (rc == SM_ENOTFOUND)
            rc = SM_OK;
        else if (rc != SM_OK)
            sm_errf(err, rc, "%s", e2.msg);
        if (rc == SM_OK && install_maybe_ran(&oc))
            rc = start_cleanup(s, err);
        add_response(out, &oc);
    }
    if (rc == SM_OK)
        rc = finish(s, &st, out, err);
    es_value_free(out);
    es5_result_clear(&oc.r);
    return rc;
}

/* ---- SendData ------------------------------------------------------------------------------------------ */

static sm_rc senddata_send(step *s, sm_err *err)
{
    sm_buf b = {.data = (uint8_t *)s->p->data, .len = s->p->data_len};
    /* ES8 (key establishment, SCP03t) to the ISD-P: in the SCP81 session when the eUICC has HTTPS, else
     * as SCP80 packets to the ISD-P's TAR cut at TLV boundaries (es5 chooses, docs/es5.md) */
    return submit(s, &s->o.aid, &b, ES5_CH_AUTO, err);
}

static sm_rc senddata_result(step *s, sm_err *err)
{
    outcome oc;
    outcome_read(s, &oc);
    es_status st;
    es_status_ok(&st);
    if (oc.r.status == ES5_CARD_ERROR)
        es_status_fail(&st, SMSR_SUBJ_ISDP, ES_RSN_EXEC_ERROR, "the ISD-P stopped on an error%s%s",
                       oc.r.detail[0] ? ": " : "", oc.r.detail);
    else if (oc.r.status != ES5_OK)
        transport_failure(&oc, &st);
    es_value *out = es_struct_new();
    sm_rc rc = out ? SM_OK : sm_errf(err, SM_ENOMEM, "out of memory");
    if (rc == SM_OK) {
        add_response(out, &oc);
        rc = finish(s, &st, out, err);
    }
    es_value_free(out);
    es5_result_clear(&oc.r);
    return rc;
}

/* ---- profile operations ---------------------------------------------------------------------------------- */

static sm_rc profileop_send(step *s, sm_err *err)
{
    bool sw = !strcmp(s->o.op, "Enable") || !strcmp(s->o.op, "Disable");
    if (sw) {
        /* one profile switch at a time per eUICC: its notification must be matched to it */
        bool older = false;
        sm_rc rc = smsr_op_switch_before(s->c, s->row.eid, s->p->id, &older, err);
        if (rc != SM_OK)
            return rc;
        if (older)
            return send_later(s);
    }
    db_euicc e;
    sm_rc rc = db_eis_get(s->c, s->row.eid, &e, err);
    if (rc != SM_OK)
        return rc;
    sm_buf b;
    sm_buf_init(&b);
    if (!strcmp(s->o.op, "Enable"))
        rc = smsr_script_store_aid(&b, SMSR_DGI_ENABLE, &s->o.aid, err);
    else if (!strcmp(s->o.op, "Disable"))
        rc = smsr_script_store_aid(&b, SMSR_DGI_DISABLE, &s->o.aid, err);
    else
        rc = smsr_script_delete(&b, &s->o.aid, err);
    if (rc == SM_OK)
        rc = submit(s, &e.isdr_aid, &b, s->x->platform_channel, err);
    sm_buf_free(&b);
    db_euicc_clear(&e);
    return rc;
}

/* the profile is gone from the card: gone from the EIS, its memory back, its parties told */
static sm_rc deleted(step *s, sm_err *err)
{
    db_profile p;
    sm_err e = {0};
    sm_rc rc = lock_eis(s, err);
    if (rc != SM_OK)
        return rc;
    rc = db_profile_get(s->c, s->o.iccid, &p, &e);
    if (rc == SM_ENOTFOUND)
        return SM_OK; /* deleted twice (POL1 and POL2 both did): success */
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e.msg);
    if ((rc = db_profile_delete(s->c, actor(s), s->o.iccid, "0400", err)) != SM_OK)
        return rc;
    db_euicc eu;
    if ((rc = db_eis_get(s->c, s->row.eid, &eu, err)) != SM_OK)
        return rc;
    int64_t rem = eu.remaining_memory + p.allocated_memory;
    if (rem > eu.available_memory)
        rem = eu.available_memory;
    db_euicc_clear(&eu);
    if ((rc = db_eis_set_memory(s->c, actor(s), s->row.eid, rem, false, err)) != SM_OK)
        return rc;
    return smsr_fanout(s->x, s->c, &p, SMSR_EV_DELETED, s->o.caller, err);
}

static sm_rc switch_done(step *s, sm_err *err)
{
    es_status st;
    es_status_ok(&st);
    bool enable = !strcmp(s->o.op, "Enable");
    bool same = s->row.notif_aid_len == s->o.aid.len && !memcmp(s->row.notif_aid, s->o.aid.b, s->o.aid.len);
    if (s->row.notif_type == 0x03)
        es_status_fail(&st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR,
                       "the eUICC could not attach with the profile and rolled back (notification 03)");
    else if (s->row.notif_type == 0x05)
        es_status_fail(&st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR, "the eUICC fell back to its fall-back profile "
                                                              "(notification 05)");
    else if (s->row.notif_type != 0x02 || (enable && !same) || (!enable && same))
        es_status_fail(&st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR,
                       "the eUICC reported another profile change (notification %02X)", (unsigned)s->row.notif_type);
    es_value *out = es_struct_new();
    sm_rc rc = out ? finish(s, &st, out, err) : sm_errf(err, SM_ENOMEM, "out of memory");
    es_value_free(out);
    return rc;
}

static sm_rc profileop_result(step *s, sm_err *err)
{
    outcome oc;
    outcome_read(s, &oc);
    bool del = !strcmp(s->o.op, "Delete");
    es_status st;
    es_status_ok(&st);
    sm_rc rc = SM_OK;
    if (!strcmp(s->o.op, "Cleanup")) {
        /* an ISD-P a failed CreateISDP may have left: gone either way (6A88: it was never made); nobody
         * to answer, the audit entry says what happened */
        if (!oc.ok && oc.sw != 0x6A88)
            platform_failure("delete", &oc, &st);
    } else if (del && (oc.ok || (oc.r.status == ES5_CARD_ERROR && oc.sw == 0x6A88) || (oc.r.status == ES5_OK && oc.sw == 0x6A88))) {
        rc = deleted(s, err);
    } else if (!oc.ok) {
        platform_failure(del ? "delete" : !strcmp(s->o.op, "Enable") ? "enable" : "disable", &oc, &st);
    } else {
        /* the switch was accepted; the eUICC's notification says whether it worked */
        smsr_oprow_clear(&s->row);
        if ((rc = load(s, true, err)) == SM_OK && s->row.notif_type < 0) {
            s->nx->kind = DB_NEXT_WAIT;
            snprintf(s->nx->step, sizeof s->nx->step, "notified");
            es5_result_clear(&oc.r);
            return SM_OK;
        }
        es5_result_clear(&oc.r);
        return rc == SM_OK ? switch_done(s, err) : rc;
    }
    es_value *out = es_struct_new();
    if (rc == SM_OK && !out)
        rc = sm_errf(err, SM_ENOMEM, "out of memory");
    if (rc == SM_OK) {
        add_response(out, &oc);
        rc = finish(s, &st, out, err);
    }
    es_value_free(out);
    es5_result_clear(&oc.r);
    return rc;
}

static sm_rc profileop_notified(step *s, sm_err *err)
{
    smsr_oprow_clear(&s->row);
    sm_rc rc = load(s, true, err);
    if (rc != SM_OK)
        return rc;
    if (s->row.notif_type < 0) { /* woken without a notification: keep waiting */
        s->nx->kind = DB_NEXT_WAIT;
        return SM_OK;
    }
    return switch_done(s, err);
}

/* ---- AuditEIS ---------------------------------------------------------------------------------------------- */

static sm_rc audit_send(step *s, sm_err *err)
{
    db_euicc e;
    sm_rc rc = db_eis_get(s->c, s->row.eid, &e, err);
    if (rc != SM_OK)
        return rc;
    sm_buf b;
    sm_buf_init(&b);
    rc = smsr_script_audit(&b, err);
    if (rc == SM_OK)
        rc = submit(s, &e.isdr_aid, &b, bulk_channel(&e), err);
    sm_buf_free(&b);
    db_euicc_clear(&e);
    return rc;
}

static bool aid_eq(const db_aid *a, const db_aid *b) { return a->len == b->len && !memcmp(a->b, b->b, a->len); }

/* the card's view wins: states, fall-back attribute, remaining memory; mismatches recorded */
static sm_rc reconcile(step *s, const smsr_isdp_status *cs, size_t nc, int64_t free_nvm, sm_err *err)
{
    db_profile *pv = NULL;
    size_t np = 0;
    sm_rc rc = db_eis_profiles(s->c, s->row.eid, false, &pv, &np, err);
    for (int pass = 0; rc == SM_OK && pass < 2; pass++) {
        /* disabling first, enabling second: never two Enabled profiles at once */
        for (size_t i = 0; rc == SM_OK && i < nc; i++) {
            const char *st = smsr_lcs_state(cs[i].lcs);
            db_profile *p = NULL;
            for (size_t j = 0; j < np && !p; j++)
                if (aid_eq(&pv[j].isdp_aid, &cs[i].aid))
                    p = &pv[j];
            if (!p) {
                if (pass == 0) {
                    char aid[40], det[120];
                    smsr_aid_hex(&cs[i].aid, aid, sizeof aid);
                    snprintf(det, sizeof det, "audit: ISD-P %s on the eUICC is not in the EIS", aid);
                    rc = db_eis_record(s->c, actor(s), s->row.eid, NULL, "audit.mismatch", "0500", det, err);
                }
                continue;
            }
            if (!st || !strcmp(st, p->state) || (pass == 0) == !strcmp(st, "Enabled"))
                continue;
            rc = db_profile_set_state(s->c, actor(s), p->iccid, p->state, st, "0500", err);
        }
    }
    for (size_t i = 0; rc == SM_OK && i < nc; i++)
        for (size_t j = 0; j < np; j++)
            if (aid_eq(&pv[j].isdp_aid, &cs[i].aid) && cs[i].fallback && !pv[j].fallback)
                rc = db_profile_set_fallback(s->c, actor(s), pv[j].iccid, err);
    for (size_t j = 0; rc == SM_OK && j < np; j++) {
        bool found = false;
        for (size_t i = 0; i < nc && !found; i++)
            found = aid_eq(&pv[j].isdp_aid, &cs[i].aid);
        if (!found)
            rc = db_eis_record(s->c, actor(s), s->row.eid, pv[j].iccid, "audit.mismatch", "0500",
                               "audit: the ISD-P of this profile is not on the eUICC", err);
    }
    free(pv);
    if (rc == SM_OK) {
        db_euicc e;
        if ((rc = db_eis_get(s->c, s->row.eid, &e, err)) == SM_OK) {
            int64_t rem = free_nvm >= 0 ? free_nvm : e.remaining_memory;
            db_euicc_clear(&e);
            rc = db_eis_set_memory(s->c, actor(s), s->row.eid, rem, true, err);
        }
    }
    return rc;
}

static smsr_view view_of(const smsr_opctx *o)
{
    if (o->iface == ES_IF_ES3)
        return SMSR_VIEW_SMDP;
    return o->caller_role == ES_ROLE_M2MSP ? SMSR_VIEW_OWNER : SMSR_VIEW_MNO;
}

static sm_rc audit_result(step *s, sm_err *err)
{
    outcome oc;
    outcome_read(s, &oc);
    es_status st;
    es_status_ok(&st);
    sm_rc rc = SM_OK;
    es_value *out = es_struct_new();
    if (!out)
        rc = sm_errf(err, SM_ENOMEM, "out of memory");
    bool status_ok = oc.rs.n >= 1 && (smsr_sw_ok(oc.rs.r[0].sw) || oc.rs.r[0].sw == 0x6A88);
    bool data_ok = oc.rs.n >= 2 && smsr_sw_ok(oc.rs.r[1].sw);
    if (rc == SM_OK && oc.r.status == ES5_OK && status_ok && data_ok) {
        smsr_isdp_status cs[32];
        size_t nc = 0;
        int64_t free_nvm = -1;
        sm_err pe = {0};
        if ((oc.rs.r[0].sw != 0x6A88 &&
             smsr_parse_get_status(oc.rs.r[0].data, oc.rs.r[0].len, cs, 32, &nc, &pe) != SM_OK) ||
            smsr_parse_ff21(oc.rs.r[1].data, oc.rs.r[1].len, &free_nvm, &pe) != SM_OK) {
            es_status_fail(&st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR, "unreadable audit answer from the eUICC: %s", pe.msg);
        } else {
            rc = lock_eis(s, err);
            if (rc == SM_OK)
                rc = reconcile(s, cs, nc, free_nvm, err);
            const char *only[32];
            size_t nonly = 0;
            char list[sizeof s->o.iccids];
            snprintf(list, sizeof list, "%s", s->o.iccids);
            for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t && nonly < 32; t = strtok_r(NULL, ",", &sv))
                only[nonly++] = t;
            if (rc == SM_OK)
                rc = smsr_eis_value(s->c, s->row.eid, view_of(&s->o), s->o.caller, only, nonly, out, err);
        }
    } else if (rc == SM_OK) {
        if (oc.r.status == ES5_OK || oc.r.status == ES5_CARD_ERROR)
            es_status_fail(&st, SMSR_SUBJ_ISDR, ES_RSN_EXEC_ERROR, "the eUICC did not complete the audit (SW %04X)",
                           oc.sw);
        else
            transport_failure(&oc, &st);
    }
    if (rc == SM_OK)
        rc = finish(s, &st, out, err);
    es_value_free(out);
    es5_result_clear(&oc.r);
    return rc;
}

/* ---- the step handlers the engine calls ------------------------------------------------------------------ */

typedef sm_rc (*step_fn)(step *s, sm_err *err);

static sm_rc run(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err, step_fn send, step_fn result,
                 step_fn notified)
{
    step s = {.x = arg, .c = c, .p = p, .nx = nx};
    sm_rc rc = load(&s, false, err);
    if (rc == SM_ENOTFOUND) {
        /* no context: nothing to answer (the procedure cannot have been started by this module) */
        nx->kind = DB_NEXT_FAIL;
        snprintf(nx->error, sizeof nx->error, "SM-SR procedure without its context");
        sm_err_clear(err);
        return SM_OK;
    }
    if (rc != SM_OK)
        return rc;
    if (!strcmp(p->step, "send"))
        rc = send(&s, err);
    else if (!strcmp(p->step, "result"))
        rc = result(&s, err);
    else if (notified && !strcmp(p->step, "notified"))
        rc = notified(&s, err);
    else
        rc = sm_errf(err, SM_EINTERNAL, "SM-SR: procedure %lld has an unknown step %s", (long long)p->id, p->step);
    smsr_oprow_clear(&s.row);
    return rc;
}

static sm_rc k_createisdp(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    return run(c, p, nx, arg, err, createisdp_send, createisdp_result, NULL);
}

static sm_rc k_senddata(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    return run(c, p, nx, arg, err, senddata_send, senddata_result, NULL);
}

static sm_rc k_profileop(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    return run(c, p, nx, arg, err, profileop_send, profileop_result, profileop_notified);
}

static sm_rc k_audit(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    return run(c, p, nx, arg, err, audit_send, audit_result, NULL);
}

/* Expired (validity period over) or given up: the answer says so, the ES5 request is withdrawn when it
 * was not sent yet, a half-created ISD-P entry is removed. */
static sm_rc ended(db_conn *c, const db_proc *p, const char *why, void *arg, bool expired, sm_err *err)
{
    db_next nx;
    memset(&nx, 0, sizeof nx);
    step s = {.x = arg, .c = c, .p = p, .nx = &nx};
    sm_rc rc = load(&s, true, err);
    if (rc == SM_ENOTFOUND) {
        sm_err_clear(err);
        return SM_OK;
    }
    if (rc != SM_OK)
        return rc;
    bool sent = false;
    if (s.row.es5_req && s.x->es5.cancel && (rc = smsr_sp_begin(c, err)) == SM_OK) {
        sm_err e = {0};
        if (s.x->es5.cancel(c, s.row.es5_req, &e) == SM_OK) {
            rc = smsr_sp_release(c, err);
        } else {
            smsr_sp_rollback(c); /* sent already (SM_ESTATE) or gone: its late result is discarded */
            sent = true;
        }
    }
    if (rc == SM_OK && !strcmp(s.o.op, "CreateISDP")) {
        db_profile pr;
        sm_err e = {0};
        if (db_profile_get(c, s.o.iccid, &pr, &e) == SM_OK && !strcmp(pr.state, "creating")) {
            rc = db_profile_delete(c, actor(&s), s.o.iccid, NULL, err);
            /* its INSTALL went out and no answer will be heard: the ISD-P may be on the card */
            if (rc == SM_OK && sent)
                rc = start_cleanup(&s, err);
        }
    }
    es_status st;
    if (expired)
        es_status_set(&st, ES_EXEC_EXPIRED, ES_SUBJ_FUNCTION, ES_RSN_TTL_EXPIRED,
                      "the validity period ended before the eUICC %s", s.row.es5_req ? "answered" : "could be reached");
    else
        es_status_fail(&st, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "the SM-SR could not complete the function: %s",
                       why ? why : "");
    es_value *out = es_struct_new();
    if (rc == SM_OK)
        rc = out ? finish(&s, &st, out, err) : sm_errf(err, SM_ENOMEM, "out of memory");
    es_value_free(out);
    free(nx.result);
    smsr_oprow_clear(&s.row);
    return rc;
}

static sm_rc k_expired(db_conn *c, const db_proc *p, const char *why, void *arg, sm_err *err)
{
    return ended(c, p, why, arg, true, err);
}

static sm_rc k_failed(db_conn *c, const db_proc *p, const char *why, void *arg, sm_err *err)
{
    return ended(c, p, why, arg, false, err);
}

sm_rc smsr_register_kinds(smsr_ctx *x, db_engine *e, sm_err *err)
{
    const db_proc_kind kinds[] = {
        {.kind = SMSR_K_CREATEISDP, .step = k_createisdp, .expired = k_expired, .failed = k_failed, .arg = x},
        {.kind = SMSR_K_SENDDATA, .step = k_senddata, .expired = k_expired, .failed = k_failed, .arg = x},
        {.kind = SMSR_K_PROFILEOP, .step = k_profileop, .expired = k_expired, .failed = k_failed, .arg = x},
        {.kind = SMSR_K_AUDIT, .step = k_audit, .expired = k_expired, .failed = k_failed, .arg = x},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        sm_rc rc = db_engine_register(e, &kinds[i], err);
        if (rc != SM_OK)
            return rc;
    }
    return SM_OK;
}
