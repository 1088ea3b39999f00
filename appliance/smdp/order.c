/* Order runs: generate, personalise, seal, report to the MNO file, hand over per profile. */
#include "appliance/smdp/order.h"

#include <stdio.h>
#include <string.h>

#include "appliance/smdp/mnofile.h"
#include "appliance/smdp/persodata.h"
#include "appliance/smdp/personalise.h"
#include "appliance/smdp/secbuf.h"
#include "lib/log.h"

sm_rc smdp_transport_label(const char *prefix, const char *mno, char *out, size_t cap, sm_err *err)
{
    const char *pre = prefix && *prefix ? prefix : "smbox";
    int n = snprintf(out, cap, "%s-mno-%s", pre, mno);
    if (n < 0 || (size_t)n >= cap || n > HSM_LABEL_MAX || !smdp_name_ok(mno))
        return sm_errf(err, SM_EINVAL, "transport key label for MNO '%s' invalid or longer than %d characters",
                       smdp_name_ok(mno) ? mno : "?", HSM_LABEL_MAX);
    return SM_OK;
}

static sm_rc template_ok(const saip_pkg *t, sm_err *err)
{
    sm_rc rc = saip_check(t, err);
    if (rc != SM_OK)
        return rc;
    if (t->ef_imsi.file == SAIP_NONE)
        return sm_errf(err, SM_EINVAL, "template has no USIM (EF.IMSI)");
    size_t own = 0;
    for (size_t k = 0; k < t->naka; k++) {
        if (t->aka[k].mapping)
            continue;
        own++;
        if (t->aka[k].algorithm != SAIP_ALG_MILENAGE && t->aka[k].algorithm != SAIP_ALG_TEST)
            return sm_errf(err, SM_EINVAL, "template uses AKA algorithm %u; orders generate Milenage Ki/OPc only",
                           t->aka[k].algorithm);
    }
    if (own == 0)
        return sm_errf(err, SM_EINVAL, "template has no akaParameter with its own key");
    return SM_OK;
}

/* The secrets of one run, in one locked page. */
typedef struct secrets {
    uint8_t op[16];
    uint8_t ki[16];
    uint8_t opc[16];
} secrets;

static sm_rc one(hsm_sess *s, const smdp_order *o, const saip_pkg *tpl, const smdp_order_keys *k, secrets *sc,
                 uint64_t i, smdp_mnofile *mf, smdp_produced_fn cb, void *arg, sm_err *err)
{
    char iccid[21], imsi[16];
    sm_rc rc = smdp_iccid_at(o->iccid_start, i, iccid, err);
    if (rc != SM_OK)
        return rc;
    const smdp_order_override *ov = smdp_order_find(o, i);
    if (ov && ov->imsi[0])
        memcpy(imsi, ov->imsi, sizeof imsi);
    else if ((rc = smdp_imsi_at(o->imsi_start, o->mnc_digits, i, imsi, err)) != SM_OK)
        return rc;
    const char *msisdn = ov && ov->msisdn[0] ? ov->msisdn : "";
    if ((rc = smdp_ki_generate(s, sc->ki, 16, err)) != SM_OK || (rc = smdp_opc(s, sc->ki, sc->op, sc->opc, err)) != SM_OK)
        goto fail;
    smdp_perso v;
    memset(&v, 0, sizeof v);
    v.iccid = iccid;
    v.imsi = imsi;
    v.ki = sc->ki;
    v.ki_len = 16;
    v.opc = sc->opc;
    v.opc_len = 16;
    v.msisdn = msisdn[0] ? msisdn : NULL;
    for (int c = 0; c < SMDP_CODE_COUNT; c++)
        v.code[c] = ov && ov->code[c] ? ov->code[c] : o->code[c];
    smdp_secbuf pkg;
    if ((rc = smdp_personalise(tpl, &v, &pkg, err)) != SM_OK)
        goto fail;
    smdp_sealed sealed;
    rc = smdp_seal(s, &k->profile, iccid, o->template_id, pkg.p, pkg.len, &sealed, err);
    size_t plen = pkg.len;
    smdp_secbuf_free(&pkg);
    if (rc != SM_OK)
        goto fail;
    rc = smdp_mnofile_add(mf, iccid, imsi, msisdn, sc->ki, sc->opc, err);
    explicit_bzero(sc->ki, sizeof sc->ki);
    explicit_bzero(sc->opc, sizeof sc->opc);
    if (rc == SM_OK && cb) {
        smdp_produced pr = {i, iccid, imsi, msisdn, &sealed, plen};
        rc = cb(&pr, arg, err);
    }
    smdp_sealed_free(&sealed);
    if (rc == SM_OK)
        return SM_OK;
fail:
    explicit_bzero(sc->ki, sizeof sc->ki);
    explicit_bzero(sc->opc, sizeof sc->opc);
    sm_err_prefix(err, "profile %llu (ICCID %s)", (unsigned long long)i, iccid);
    return rc;
}

sm_rc smdp_order_run(hsm_sess *s, const smdp_order *o, const saip_pkg *tpl, const smdp_order_keys *k,
                     smdp_produced_fn cb, void *arg, sm_buf *mno_file, sm_err *err)
{
    sm_buf_init(mno_file);
    sm_rc rc = template_ok(tpl, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "order for %s: template %s", o->mno, o->template_id);
        return rc;
    }
    char q[80];
    sm_log(SM_LOG_INFO, "smdp", "order_run", "mno=%s profile_type=%s template=%s quantity=%llu first_iccid=%s",
           o->mno, o->profile_type, SM_LOGQ(q, o->template_id), (unsigned long long)o->quantity, o->iccid_start);
    smdp_secbuf sb;
    if ((rc = smdp_secbuf_alloc(&sb, sizeof(secrets), err)) != SM_OK)
        return rc;
    secrets *sc = (secrets *)sb.p;
    smdp_mnofile mf;
    if ((rc = smdp_mnofile_begin(&mf, s, &k->transport, k->transport_label, o, err)) == SM_OK &&
        (rc = smdp_op_decrypt(s, &k->transport, o->op_enc, sc->op, err)) == SM_OK) {
        for (uint64_t i = 0; i < o->quantity && rc == SM_OK; i++)
            rc = one(s, o, tpl, k, sc, i, &mf, cb, arg, err);
        if (rc == SM_OK)
            rc = smdp_mnofile_finish(&mf, err);
    }
    smdp_secbuf_free(&sb);
    if (rc != SM_OK) {
        smdp_mnofile_free(&mf);
        sm_err_prefix(err, "order for %s", o->mno);
        sm_log(SM_LOG_WARN, "smdp", "order_failed", "mno=%s quantity=%llu", o->mno, (unsigned long long)o->quantity);
        return rc;
    }
    *mno_file = mf.text; /* ownership moves to the caller */
    sm_log(SM_LOG_INFO, "smdp", "order_done", "mno=%s quantity=%llu mno_file_bytes=%zu", o->mno,
           (unsigned long long)o->quantity, mno_file->len);
    return SM_OK;
}
