/* Batch orders into stock, all or nothing. */
#include "appliance/smdp/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "appliance/keyring.h"
#include "appliance/smdp/dp_stock.h"
#include "appliance/smdp/order.h"
#include "appliance/smdp/orderfile.h"
#include "appliance/smdp/persodata.h"
#include "appliance/smdp/template.h"
#include "db/profile_repo.h"
#include "lib/log.h"

typedef struct run {
    hsm_sess *s;
    const smdp_batch_req *req;
    smdp_order *o;
    saip_pkg *tpl;
    smdp_order_keys keys;
    char profile_label[HSM_LABEL_MAX + 1];
    char transport_label[HSM_LABEL_MAX + 1];
    int64_t template_memory;
    smdp_batch_result *out;
    db_conn *c;
} run;

static sm_rc store_one(const smdp_produced *p, void *arg, sm_err *err)
{
    run *r = arg;
    dp_stock_new n = {.iccid = p->iccid, .imsi = p->imsi, .msisdn = p->msisdn, .profile_type = r->o->profile_type,
                      .template_id = r->o->template_id, .mno_id = r->o->mno, .batch_id = r->out->batch_id,
                      .iv = p->sealed->iv, .ct = p->sealed->ct, .ctlen = p->sealed->ctlen,
                      .key_label = r->profile_label};
    return dp_stock_add(r->c, &n, err);
}

/* The ES2 profile type the stock is filed under: created for the MNO when new; an existing one must
 * be the MNO's (or a template not bound to any MNO). */
static sm_rc ensure_type(run *r, sm_err *err)
{
    db_ptype t;
    sm_err e2 = {0};
    sm_rc rc = db_ptype_get(r->c, r->o->profile_type, &t, &e2);
    if (rc == SM_OK) {
        if (strcmp(t.mno_id, r->o->mno) && strcmp(t.mno_id, SMDP_TEMPLATE_ANY_MNO))
            return sm_errf(err, SM_EPERM, "profile type %s belongs to MNO %s, not %s", r->o->profile_type, t.mno_id,
                           r->o->mno);
        return SM_OK;
    }
    if (rc != SM_ENOTFOUND)
        return sm_errf(err, rc, "%s", e2.msg);
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", r->o->profile_type);
    snprintf(t.mno_id, sizeof t.mno_id, "%s", r->o->mno);
    snprintf(t.description, sizeof t.description, "profiles of %s personalised from template %s", r->o->mno,
             r->o->template_id);
    t.required_memory = r->template_memory;
    return db_ptype_put(r->c, r->req->actor, &t, NULL, 0, err);
}

static sm_rc do_import(db_conn *c, void *arg, sm_err *err)
{
    run *r = arg;
    r->c = c;
    smdp_batch_result *out = r->out;
    sm_rc rc = ensure_type(r, err);
    if (rc != SM_OK)
        return rc;
    dp_batch b;
    memset(&b, 0, sizeof b);
    snprintf(b.requester, sizeof b.requester, "%s", r->req->requester ? r->req->requester : r->req->actor);
    snprintf(b.mno_id, sizeof b.mno_id, "%s", r->o->mno);
    snprintf(b.profile_type, sizeof b.profile_type, "%s", r->o->profile_type);
    snprintf(b.template_id, sizeof b.template_id, "%s", r->o->template_id);
    b.quantity = (int64_t)r->o->quantity;
    memcpy(b.first_iccid, out->first_iccid, sizeof b.first_iccid);
    memcpy(b.last_iccid, out->last_iccid, sizeof b.last_iccid);
    SHA256((const unsigned char *)r->req->text, r->req->len, b.sha256);
    if ((rc = dp_batch_add(c, r->req->actor, &b, &out->batch_id, err)) != SM_OK)
        return rc;
    if ((rc = smdp_order_run(r->s, r->o, r->tpl, &r->keys, store_one, r, &out->mno_file, err)) != SM_OK)
        return rc;
    return dp_batch_set_file(c, out->batch_id, out->last_iccid, out->mno_file.data, out->mno_file.len, err);
}

sm_rc smdp_batch_import(db_conn *c, hsm_sess *s, const smdp_batch_req *req, smdp_batch_result *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    sm_buf_init(&out->mno_file);
    run r = {.s = s, .req = req, .out = out};
    sm_rc rc = smdp_order_parse(req->text, req->len, &r.o, err);
    if (rc != SM_OK)
        return rc;
    uint8_t *der = NULL;
    size_t dlen = 0;
    if (req->require_mno && strcmp(req->require_mno, r.o->mno))
        rc = sm_errf(err, SM_EPERM, "the order is for MNO %s, not for the requester %s", r.o->mno, req->require_mno);
    if (rc == SM_OK)
        rc = smdp_template_load(c, r.o->template_id, &der, &dlen, &r.tpl, err);
    if (rc == SM_OK) {
        db_ptype t;
        sm_err e2 = {0};
        r.template_memory = db_ptype_get(c, r.o->template_id, &t, &e2) == SM_OK ? t.required_memory : 0;
        sm_keyring_label(req->key_prefix, AK_PROFILE, r.profile_label, sizeof r.profile_label);
        rc = smdp_stock_key(s, req->key_prefix, &r.keys.profile, err);
    }
    if (rc == SM_OK)
        rc = smdp_transport_label(req->key_prefix, r.o->mno, r.transport_label, sizeof r.transport_label, err);
    if (rc == SM_OK && (rc = hsm_key_find(s, r.transport_label, HSM_KT_AES, &r.keys.transport, err)) != SM_OK)
        sm_err_prefix(err, "MNO transport key %s (development: smctl mno transport-key import; production: the "
                           "key exchange ceremony)", r.transport_label);
    r.keys.transport_label = r.transport_label;
    if (rc == SM_OK && (rc = smdp_iccid_at(r.o->iccid_start, 0, out->first_iccid, err)) == SM_OK)
        rc = smdp_iccid_at(r.o->iccid_start, r.o->quantity - 1, out->last_iccid, err);
    if (rc == SM_OK)
        rc = db_tx(c, do_import, &r, err);
    if (rc == SM_OK) {
        out->quantity = r.o->quantity;
        snprintf(out->mno, sizeof out->mno, "%s", r.o->mno);
        snprintf(out->profile_type, sizeof out->profile_type, "%s", r.o->profile_type);
        snprintf(out->template_id, sizeof out->template_id, "%s", r.o->template_id);
        sm_log(SM_LOG_NOTICE, "smdp", "batch_imported", "batch=%lld mno=%s type=%s quantity=%llu iccids=%s..%s",
               (long long)out->batch_id, out->mno, out->profile_type, (unsigned long long)out->quantity,
               out->first_iccid, out->last_iccid);
    } else {
        sm_buf_free(&out->mno_file);
        out->batch_id = 0;
    }
    saip_free(r.tpl);
    free(der);
    smdp_order_free(r.o);
    return rc;
}

void smdp_batch_result_free(smdp_batch_result *r)
{
    sm_buf_free(&r->mno_file);
    memset(r, 0, sizeof *r);
}
