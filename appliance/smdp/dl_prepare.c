/* Download steps before key establishment: the profile chosen and reserved, the EIS read and the eUICC
 * certificate chain verified, leftover ISD-Ps cleaned up, the ISD-P created. */
#include "appliance/smdp/dl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "appliance/smdp/dp_stock.h"
#include "appliance/smdp/eisview.h"
#include "appliance/smdp/template.h"
#include "db/profile_repo.h"
#include "lib/hex.h"
#include "lib/log.h"

#define CLEANUP_ROUNDS 4 /* GetEIS -> DeleteISDP rounds for leftover ISD-Ps before giving up on them */

/* 8.2.5 is the Profile Type subject (functions.md §3.1) */
#define SUBJ_PTYPE "8.2.5"
#define SUBJ_ECASD_CERT "8.5.2"
#define RSN_UNAVAILABLE "3.7"
#define RSN_VERIFY "6.1"
#define RSN_MEMORY "4.8"
#define RSN_INVALID_DEST "3.4"

static sm_rc reserve_iccid(dl_run *r, sm_err *err, bool *done)
{
    dp_dl *d = r->d;
    dp_stock_info in;
    sm_err e2 = {0};
    *done = true;
    sm_rc rc = dp_stock_info_get(r->c, d->req_iccid, &in, &e2);
    if (rc == SM_ENOTFOUND)
        return dl_failf(r, ES_SUBJ_ICCID, ES_RSN_UNKNOWN_OBJ, "ICCID %s is unknown to this SM-DP", d->req_iccid);
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    if (d->mno_id[0] && strcmp(in.mno_id, d->mno_id))
        return dl_failf(r, ES_SUBJ_ICCID, ES_RSN_NOT_ALLOWED, "profile %s is not one of %s's", d->req_iccid,
                        d->mno_id);
    if (d->req_type[0] && strcmp(in.profile_type, d->req_type))
        return dl_failf(r, ES_SUBJ_FUNCTION, ES_RSN_INVALID, "Iccid %s is not of ProfileType %s", d->req_iccid,
                        d->req_type);
    rc = dp_stock_reserve_iccid(r->c, d->requester, d->req_iccid, d->order_id, &e2);
    if (rc == SM_ESTATE)
        return dl_failf(r, ES_SUBJ_ICCID, ES_RSN_ALREADY_IN_USE, "profile %s is already in use (%s)", d->req_iccid,
                        in.state);
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    snprintf(d->iccid, sizeof d->iccid, "%s", d->req_iccid);
    *done = false;
    return SM_OK;
}

static sm_rc reserve_type(dl_run *r, sm_err *err, bool *done)
{
    dp_dl *d = r->d;
    db_ptype t;
    sm_err e2 = {0};
    *done = true;
    sm_rc rc = db_ptype_get(r->c, d->req_type, &t, &e2);
    if (rc == SM_ENOTFOUND)
        return dl_failf(r, SUBJ_PTYPE, ES_RSN_UNKNOWN_OBJ, "profile type %s is unknown to this SM-DP", d->req_type);
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    if (d->mno_id[0] && strcmp(t.mno_id, d->mno_id) && strcmp(t.mno_id, SMDP_TEMPLATE_ANY_MNO)) {
        bool owned = false;
        if ((rc = dp_stock_type_owned(r->c, d->req_type, d->mno_id, &owned, err)) != SM_OK)
            return rc;
        if (!owned)
            return dl_failf(r, SUBJ_PTYPE, ES_RSN_NOT_ALLOWED, "profile type %s is not %s's", d->req_type, d->mno_id);
    }
    rc = dp_stock_reserve_type(r->c, d->requester, d->req_type, d->mno_id[0] ? d->mno_id : NULL, d->order_id,
                               d->iccid, &e2);
    if (rc == SM_ENOTFOUND)
        return dl_failf(r, SUBJ_PTYPE, RSN_UNAVAILABLE, "no more profiles of type %s in stock", d->req_type);
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    *done = false;
    return SM_OK;
}

sm_rc dl_reserve(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    const smdp_peer *peer = smdp_peer_find(r->x, d->smsr_id);
    if (!peer || !peer->endpoint[0])
        return dl_failf(r, ES_SUBJ_SMSR, ES_RSN_UNKNOWN_OBJ, "SM-SR %s is unknown to this SM-DP", d->smsr_id);
    bool done = false;
    sm_rc rc = d->req_iccid[0] ? reserve_iccid(r, err, &done) : reserve_type(r, err, &done);
    if (rc != SM_OK || done)
        return rc;
    dp_stock_info in;
    if ((rc = dp_stock_info_get(r->c, d->iccid, &in, err)) != SM_OK)
        return rc;
    snprintf(d->template_id, sizeof d->template_id, "%s", in.template_id);
    snprintf(d->profile_type, sizeof d->profile_type, "%s", in.profile_type);
    if (!d->mno_id[0])
        snprintf(d->mno_id, sizeof d->mno_id, "%s", in.mno_id);
    if (!in.template_id[0])
        return dl_failf(r, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "profile %s has no template id (not from a batch)",
                        d->iccid);
    if ((rc = db_order_update(r->c, d->requester, d->order_id, "in-progress", d->iccid, 0, NULL, 0, err)) != SM_OK)
        return rc;
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", d->eid);
    return dl_send(r, "ES3.GetEIS", b, "eis", err);
}

/* What the ISD-P needs: the template type's figure, else the package with headroom. */
static sm_rc required_memory(dl_run *r, int64_t *out, sm_err *err)
{
    db_ptype t;
    sm_err e2 = {0};
    *out = 0;
    if (db_ptype_get(r->c, r->d->template_id, &t, &e2) == SM_OK)
        *out = t.required_memory;
    if (*out > 0)
        return SM_OK;
    db_stock st;
    sm_rc rc = db_stock_get(r->c, r->d->iccid, &st, err);
    if (rc == SM_OK)
        *out = ((int64_t)st.len + (int64_t)st.len / 4 + 4095) / 4096 * 4096;
    db_stock_clear(&st);
    return rc;
}

sm_rc dl_create_isdp(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    int64_t mem = 0;
    sm_rc rc = required_memory(r, &mem, err);
    if (rc != SM_OK)
        return rc;
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", d->eid);
    es_add_str(b, "Iccid", d->iccid);
    es_add_str(b, "Mno-id", d->mno_id);
    es_add_int(b, "RequiredMemory", mem);
    es_add_bool(b, "MoreToDo", true);
    return dl_send(r, "ES3.CreateISDP", b, "isdp", err);
}

sm_rc dl_eis(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        return dl_failed(r, &st, err);
    }
    dp_eis e;
    sm_err e2 = {0};
    if (dp_eis_read(r->ans.body, r->x->smdp_id, d->iccid, &e, &e2) != SM_OK)
        return dl_failf(r, ES_SUBJ_EIS, ES_RSN_INVALID, "%s", e2.msg);
    if (strcasecmp(e.eid, d->eid))
        return dl_failf(r, ES_SUBJ_EIS, ES_RSN_INVALID, "the SM-SR returned the EIS of another eUICC (%s)", e.eid);
    if (e.iccid_present)
        return dl_failf(r, ES_SUBJ_ICCID, ES_RSN_ALREADY_IN_USE, "profile %s is already on eUICC %s", d->iccid, d->eid);
    /* the eUICC certificate chain: CI -> EUM -> CERT.ECASD.ECKA */
    uint8_t *eum = NULL;
    size_t eum_len = 0;
    sm_rc rc = e.eum_id[0] ? dp_eum_certificate(r->c, e.eum_id, &eum, &eum_len, err) : SM_OK;
    if (rc != SM_OK)
        return rc;
    gpcert leaf;
    sm_rc vrc = dp_eis_verify_chain(r->x, e.ecasd_cert, e.ecasd_cert_len, eum, eum_len, time(NULL), &leaf, &e2);
    free(eum);
    if (vrc == SM_ECONFIG)
        return dl_failf(r, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "%s", e2.msg);
    if (vrc != SM_OK)
        return dl_failf(r, SUBJ_ECASD_CERT, RSN_VERIFY, "%s", e2.msg);
    if (leaf.pubkey_len != 65)
        return dl_failf(r, SUBJ_ECASD_CERT, RSN_VERIFY, "the eUICC certificate has no 65-byte public key");
    int64_t mem = 0;
    if ((rc = required_memory(r, &mem, err)) != SM_OK)
        return rc;
    if (e.remaining_memory >= 0 && e.remaining_memory < mem)
        return dl_failf(r, ES_SUBJ_EUICC, RSN_MEMORY, "eUICC %s has %lld bytes free, the profile needs %lld", d->eid,
                        (long long)e.remaining_memory, (long long)mem);
    /* PK.ECASD.ECKA and its curve for the key establishment: [kvn][block][curve][point] */
    d->kvn = r->x->isdp_kvn;
    d->ke_state[0] = (uint8_t)d->kvn;
    d->ke_state[1] = 0;
    d->ke_state[2] = (uint8_t)leaf.curve;
    memcpy(d->ke_state + 3, leaf.pubkey, 65);
    d->ke_state_len = 3 + 65;
    /* ISD-P clean-up (procedures.md §3.G): ISD-Ps this SM-DP left in state Created go first */
    if (e.ncreated && d->es3_seq <= 2 * CLEANUP_ROUNDS) {
        sm_log(SM_LOG_NOTICE, "smdp", "isdp_leftover", "proc=%lld eid=%s iccid=%s", (long long)d->proc_id, d->eid,
               e.created[0]);
        return dl_delete_isdp(r, e.created[0], "cleaned", err);
    }
    return dl_create_isdp(r, err);
}

sm_rc dl_cleaned(dl_run *r, sm_err *err)
{
    es_status st;
    dl_status_of_answer(&r->ans, &st);
    sm_log(SM_LOG_NOTICE, "smdp", "isdp_leftover_deleted", "proc=%lld status=%s subject=%s reason=%s",
           (long long)r->d->proc_id, es_exec_name(st.exec), st.subject, st.reason);
    /* read the EIS again: it tells whether more are left */
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", r->d->eid);
    return dl_send(r, "ES3.GetEIS", b, "eis", err);
}

sm_rc dl_isdp(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        return dl_failed(r, &st, err);
    }
    const char *aid = es_str(r->ans.body, "Isd-p-aid");
    size_t n = aid ? strlen(aid) : 0, al = 0;
    sm_err e2 = {0};
    if (n < 10 || n > 32 || sm_hex_decode(aid, d->isdp_aid, sizeof d->isdp_aid, &al, &e2) != SM_OK || al < 5) {
        d->isdp_aid_len = 0;
        return dl_failf(r, ES_SUBJ_SMSR, ES_RSN_INVALID, "ES3.CreateISDP answered without a valid Isd-p-aid");
    }
    d->isdp_aid_len = al;
    sm_log(SM_LOG_INFO, "smdp", "isdp_created", "proc=%lld eid=%s iccid=%s aid=%s", (long long)d->proc_id, d->eid,
           d->iccid, aid);
    return dl_ke_start(r, err);
}
