/* eUICC notifications (procedures.md §11.4): the EIS and its history follow the card, the parties
 * of the profiles that changed are told, the pending profile switch is completed, POL2 auto-delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/internal.h"
#include "appliance/smsr/repo.h"
#include "lib/log.h"

enum { N_FIRST_ATTACH = 0x01, N_CHANGED = 0x02, N_ROLLBACK = 0x03, N_FALLBACK = 0x05 };

static const char *type_name(uint8_t t)
{
    switch (t) {
    case N_FIRST_ATTACH:
        return "first network attachment";
    case N_CHANGED:
        return "profile change succeeded";
    case N_ROLLBACK:
        return "profile change failed, roll-back";
    case N_FALLBACK:
        return "fall-back activated";
    }
    return "unknown type";
}

static const char *channel_name(es5_channel c) { return c == ES5_CH_SMS ? "sms" : c == ES5_CH_HTTPS ? "https" : "?"; }

static bool aid_eq(const db_aid *a, const uint8_t *b, size_t n) { return a->len == n && !memcmp(a->b, b, n); }

/* What the pending switch asked for (to know whom not to notify, and the EIS operation code). */
typedef struct pending {
    int64_t proc_id;
    smsr_opctx o;
} pending;

static sm_rc find_pending(db_conn *c, const char *eid, pending *pd, sm_err *err)
{
    memset(pd, 0, sizeof *pd);
    sm_rc rc = smsr_op_switch_pending(c, eid, &pd->proc_id, err);
    if (rc != SM_OK || !pd->proc_id)
        return rc;
    smsr_oprow row;
    if ((rc = smsr_op_get(c, pd->proc_id, false, &row, err)) == SM_OK) {
        rc = smsr_opctx_decode(row.ctx, row.ctx_len, &pd->o, err);
        smsr_oprow_clear(&row);
    }
    return rc;
}

/* The eUICC now runs the profile with ISD-P aid: it becomes Enabled, the previous one Disabled. */
static sm_rc switched(const smsr_ctx *x, db_conn *c, const char *eid, const es5_notification *n, const pending *pd,
                      bool tell, sm_err *err)
{
    db_profile *pv = NULL;
    size_t np = 0;
    sm_rc rc = db_eis_profiles(c, eid, false, &pv, &np, err);
    if (rc != SM_OK)
        return rc;
    db_profile *now = NULL, *before = NULL;
    for (size_t i = 0; i < np; i++) {
        if (aid_eq(&pv[i].isdp_aid, n->aid, n->aid_len))
            now = &pv[i];
        else if (!strcmp(pv[i].state, "Enabled"))
            before = &pv[i];
    }
    if (!now) {
        char aid[40] = "";
        for (size_t i = 0; i < n->aid_len && i < 16; i++)
            snprintf(aid + 2 * i, 3, "%02X", n->aid[i]);
        char det[160];
        snprintf(det, sizeof det, "notification names ISD-P %s, unknown in the EIS", aid[0] ? aid : "(none)");
        rc = db_eis_record(c, "euicc", eid, NULL, "notification.mismatch", NULL, det, err);
        free(pv);
        return rc;
    }
    bool was_enabled = !strcmp(now->state, "Enabled");
    const char *op = !strcmp(pd->o.op, "Enable") ? "0200" : !strcmp(pd->o.op, "Disable") ? "0300" : NULL;
    const char *who = pd->proc_id ? (pd->o.caller[0] ? pd->o.caller : x->smsr_id) : "euicc";
    if (!was_enabled) {
        if (before)
            rc = db_profile_set_state(c, who, before->iccid, "Enabled", "Disabled", op, err);
        if (rc == SM_OK)
            rc = db_profile_set_state(c, who, now->iccid, now->state, "Enabled", op, err);
        if (rc == SM_OK) {
            snprintf(now->state, sizeof now->state, "Enabled");
            if (before)
                snprintf(before->state, sizeof before->state, "Disabled");
        }
    }
    if (rc == SM_OK && tell && !was_enabled) {
        /* the requester of this very change gets the function's response instead */
        const char *skip_now = pd->proc_id && !strcmp(pd->o.op, "Enable") && !strcmp(pd->o.iccid, now->iccid)
                                   ? pd->o.caller : NULL;
        const char *skip_before = pd->proc_id && !strcmp(pd->o.op, "Disable") && before &&
                                          !strcmp(pd->o.iccid, before->iccid)
                                      ? pd->o.caller : NULL;
        rc = smsr_fanout(x, c, now, SMSR_EV_ENABLED, skip_now, err);
        if (rc == SM_OK && before)
            rc = smsr_fanout(x, c, before, SMSR_EV_DISABLED, skip_before, err);
    }
    /* POL2 (PROFILE, DISABLE, Auto-Delete): the SM-SR deletes the disabled profile once the change is
     * confirmed — never after a fall-back activation (procedures.md §9) */
    if (rc == SM_OK && before && !was_enabled && n->type == N_CHANGED && (before->pol2 & DB_POL2_DISABLE_AUTO_DELETE)) {
        smsr_opctx o;
        memset(&o, 0, sizeof o);
        snprintf(o.op, sizeof o.op, "Delete");
        snprintf(o.iccid, sizeof o.iccid, "%s", before->iccid);
        snprintf(o.mno_id, sizeof o.mno_id, "%s", before->mno_id);
        o.aid = before->isdp_aid;
        int64_t id = 0;
        rc = smsr_start_internal(x, c, SMSR_K_PROFILEOP, &o, eid, &id, err);
        if (rc == SM_OK)
            sm_log(SM_LOG_INFO, "smsr", "pol2_auto_delete", "eid=%s iccid=%s proc=%lld", eid, before->iccid,
                   (long long)id);
    }
    free(pv);
    return rc;
}

sm_rc smsr_on_notification(db_conn *c, const es5_notification *n, void *arg, sm_err *err)
{
    const smsr_ctx *x = arg;
    char eid[33];
    snprintf(eid, sizeof eid, "%s", n->eid ? n->eid : "");
    for (char *p = eid; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    db_euicc e;
    sm_err le = {0};
    sm_rc rc = db_eis_lock(c, eid, &e, &le); /* one change of this EIS at a time */
    if (rc == SM_ENOTFOUND || rc == SM_EINVAL) {
        sm_log(SM_LOG_WARN, "smsr", "notification_unknown_euicc", "eid=%s type=%02x seq=%u", eid, n->type, n->seq);
        return SM_OK;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", le.msg);
    db_euicc_clear(&e);
    /* es5 recorded the notification itself in the EIS history (same transaction); what follows records
     * what it changed */
    sm_log(SM_LOG_INFO, "smsr", "notification", "eid=%s type=%02x (%s) seq=%u channel=%s", eid, n->type,
           type_name(n->type), n->seq, channel_name(n->channel));
    pending pd;
    if ((rc = find_pending(c, eid, &pd, err)) != SM_OK)
        return rc;
    switch (n->type) {
    case N_CHANGED:
    case N_FALLBACK:
        rc = n->aid_len ? switched(x, c, eid, n, &pd, true, err) : SM_OK;
        break;
    case N_ROLLBACK:
        /* the previous profile runs again: the EIS should show it so already (kept in line if not) */
        rc = n->aid_len ? switched(x, c, eid, n, &pd, true, err) : SM_OK;
        break;
    default:
        break; /* first attach and unknown types: recorded only */
    }
    if (rc != SM_OK || !pd.proc_id || n->type == N_FIRST_ATTACH)
        return rc;
    /* complete the pending switch: note what happened, wake it when it waits for exactly this */
    if ((rc = smsr_op_note(c, pd.proc_id, n->type, n->aid, n->aid_len, err)) != SM_OK)
        return rc;
    db_proc_info info;
    memset(&info, 0, sizeof info);
    if ((rc = db_proc_get(c, pd.proc_id, &info, err)) != SM_OK)
        return rc;
    bool wake = !strcmp(info.state, "waiting") && !strcmp(info.step, "notified");
    db_proc_info_clear(&info);
    if (wake && (rc = db_proc_wake(c, pd.proc_id, "notified", NULL, 0, err)) == SM_OK && x->kick)
        x->kick(x->kick_arg);
    return rc;
}
