/* eUICC registration: checks, key re-wrapping and storage of one EIS. */
#include "appliance/smsr/register.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smsr/repo.h"

const char *smsr_why_name(smsr_why w)
{
    static const char *const n[] = {"", "format", "unknown EUM", "EUM mismatch", "other SM-SR", "EUM signature",
                                    "certificate chain", "certificate expired", "transport key", "duplicate",
                                    "ICCID in use", "internal error"};
    return (unsigned)w < sizeof n / sizeof n[0] ? n[w] : "?";
}

static sm_rc refuse(smsr_why *why, smsr_why w, sm_err *err, sm_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static sm_rc refuse(smsr_why *why, smsr_why w, sm_err *err, sm_rc rc, const char *fmt, ...)
{
    *why = w;
    char m[SM_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return sm_errf(err, rc, "%s", m);
}

/* bounded string copy (fields of the same sizes on both sides) */
static void put(char *d, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(d, s, n);
    d[n] = 0;
}

/* ---- from a batch record -------------------------------------------------------------------------- */

static void aid_copy(db_aid *d, const smsr_baid *s)
{
    memcpy(d->b, s->b, s->len);
    d->len = s->len;
}

void smsr_eis_from_batch(const smsr_brec *r, const char *tk_id, smsr_eis_in *out)
{
    memset(out, 0, sizeof *out);
    db_euicc *e = &out->e;
    put(e->eid, sizeof e->eid, r->eid);
    put(e->eum_id, sizeof e->eum_id, r->eum_id);
    put(e->production_date, sizeof e->production_date, r->production_date);
    put(e->platform_type, sizeof e->platform_type, r->platform_type);
    put(e->platform_version, sizeof e->platform_version, r->platform_version);
    put(e->rsp_version, sizeof e->rsp_version, r->rpv);
    put(e->secure_packet_version, sizeof e->secure_packet_version, r->spv);
    aid_copy(&e->isdp_loadfile_aid, &r->elf_aid);
    aid_copy(&e->isdp_module_aid, &r->module_aid);
    aid_copy(&e->ecasd_aid, &r->ecasd_aid);
    e->ecasd_cert = (uint8_t *)r->ecasd_cert;
    e->ecasd_cert_len = r->ecasd_cert_len;
    e->caps = (r->cattp ? DB_CAP_CATTP : 0) | (r->http ? DB_CAP_HTTPS : 0);
    e->remaining_memory = r->mem_free;
    e->available_memory = r->mem_total;
    put(e->smsr_id, sizeof e->smsr_id, r->smsr_id);
    aid_copy(&e->isdr_aid, &r->isdr_aid);
    aid_copy(&e->isdr_tar, &r->isdr_tar);
    aid_copy(&e->isdr_sin, &r->isdr_sin);
    aid_copy(&e->isdr_sdin, &r->isdr_sdin);
    e->eum_signed = (uint8_t *)r->text; /* the record line, its signature included */
    e->eum_signed_len = r->len;
    snprintf(e->state, sizeof e->state, "active");
    for (size_t i = 0; i < r->nprof; i++) {
        const smsr_bprofile *bp = &r->prof[i];
        db_profile *p = &out->prof[i];
        put(p->iccid, sizeof p->iccid, bp->iccid);
        put(p->eid, sizeof p->eid, r->eid);
        aid_copy(&p->isdp_aid, &bp->aid);
        put(p->mno_id, sizeof p->mno_id, bp->mno_id);
        snprintf(p->state, sizeof p->state, "%s", bp->enabled ? "Enabled" : "Disabled");
        p->fallback = bp->fallback;
        put(p->imsi, sizeof p->imsi, bp->imsi);
        put(p->msisdn, sizeof p->msisdn, bp->msisdn);
        p->allocated_memory = bp->allocated;
        p->free_memory = -1;
    }
    out->nprof = r->nprof;
    smsr_keyset_in *k80 = &out->ks[0], *k81 = &out->ks[1];
    k80->kvn = r->scp80_kvn;
    snprintf(k80->type, sizeof k80->type, "SCP80");
    k80->counter = (int64_t)r->scp80_cntr;
    k80->keys[0] = (smsr_key_in){"scp80-kic", 1, 0x88, r->kic};
    k80->keys[1] = (smsr_key_in){"scp80-kid", 2, 0x88, r->kid};
    k80->keys[2] = (smsr_key_in){"scp80-dek", 3, 0x88, r->dek};
    k80->nkeys = 3;
    k81->kvn = r->scp81_kvn;
    snprintf(k81->type, sizeof k81->type, "SCP81");
    k81->keys[0] = (smsr_key_in){"scp81-psk", r->scp81_key_id, 0x85, r->psk};
    k81->nkeys = 1;
    out->nks = 2;
    put(out->smsr_sms, sizeof out->smsr_sms, r->smsr_sms);
    snprintf(out->tk_id, sizeof out->tk_id, "%s", tk_id ? tk_id : "");
}

/* ---- checks ------------------------------------------------------------------------------------------ */

static bool expired_msg(const sm_err *e) { return strstr(e->msg, "expired") != NULL; }

sm_rc smsr_eum_issuer(const smsr_ctx *x, const uint8_t *der, size_t len, time_t now, gpcert_issuer *eum,
                      smsr_why *why, sm_err *err)
{
    sm_err last = {0};
    if (x->nci == 0)
        return refuse(why, SMSR_WHY_CHAIN, err, SM_ECONFIG, "no trusted CI certificate (gsma.ci_cert_file: %s)",
                      x->ci_note);
    for (size_t i = 0; i < x->nci; i++) {
        gpcert_issuer ci;
        sm_err e = {0};
        if (gpcert_x509_issuer(x->ci[i], x->ci_len[i], NULL, now, &ci, &e) != SM_OK) {
            last = e;
            continue;
        }
        if (gpcert_x509_issuer(der, len, &ci, now, eum, &e) == SM_OK)
            return SM_OK;
        last = e;
    }
    *why = expired_msg(&last) ? SMSR_WHY_EXPIRED : SMSR_WHY_CHAIN;
    return sm_errf(err, SM_EVERIFY, "EUM certificate does not chain to the trusted CI: %s", last.msg);
}

sm_rc smsr_check_ecasd(const gpcert_issuer *eum, const db_euicc *e, time_t now, smsr_why *why, sm_err *err)
{
    gpcert c;
    sm_err e2 = {0};
    if (gpcert_parse(e->ecasd_cert, e->ecasd_cert_len, &c, &e2) != SM_OK)
        return refuse(why, SMSR_WHY_CHAIN, err, SM_EVERIFY, "ECASD certificate: %s", e2.msg);
    if (gpcert_check(&c, eum, GPCERT_P_ECASD, now, &e2) != SM_OK)
        return refuse(why, expired_msg(&e2) ? SMSR_WHY_EXPIRED : SMSR_WHY_CHAIN, err, SM_EVERIFY,
                      "ECASD certificate is not valid under the EUM certificate: %s", e2.msg);
    /* 5F20 carries the EID (16 bytes BCD) */
    char hex[33] = "";
    if (c.subject_id_len == 16) {
        for (size_t i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02X", c.subject_id[i]);
    }
    if (strcasecmp(hex, e->eid))
        return refuse(why, SMSR_WHY_CHAIN, err, SM_EVERIFY, "ECASD certificate is for another eUICC than %s", e->eid);
    return SM_OK;
}

static bool aid_eq(const db_aid *a, const db_aid *b) { return a->len == b->len && !memcmp(a->b, b->b, a->len); }

sm_rc smsr_check_eis(const smsr_ctx *x, const smsr_eis_in *in, smsr_why *why, sm_err *err)
{
    const db_euicc *e = &in->e;
    if (strcmp(e->smsr_id, x->smsr_id))
        return refuse(why, SMSR_WHY_SMSR, err, SM_EPERM, "the EIS names SM-SR %s, this SM-SR is %s", e->smsr_id, x->smsr_id);
    if (!e->ecasd_cert_len)
        return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "the EIS has no ECASD certificate");
    if (e->remaining_memory > e->available_memory)
        return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "RemainingMemory exceeds AvailableMemoryForProfiles");
    if (!e->isdr_aid.len || !e->isdp_loadfile_aid.len || !e->isdp_module_aid.len)
        return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "the EIS lacks the ISD-R or ISD-P load file/module AIDs");
    int enabled = 0, fallback = 0;
    for (size_t i = 0; i < in->nprof; i++) {
        const db_profile *p = &in->prof[i];
        enabled += !strcmp(p->state, "Enabled");
        fallback += p->fallback;
        if (strcmp(p->state, "Enabled") && strcmp(p->state, "Disabled"))
            return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "profile %s: a pre-loaded profile is Enabled or Disabled", p->iccid);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->iccid, in->prof[j].iccid) || aid_eq(&p->isdp_aid, &in->prof[j].isdp_aid))
                return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "profile %s repeats an ICCID or ISD-P AID", p->iccid);
    }
    if (enabled > 1 || fallback > 1)
        return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "more than one enabled or fall-back profile");
    bool k80 = false, k81 = false;
    for (size_t i = 0; i < in->nks; i++) {
        k80 |= !strcmp(in->ks[i].type, "SCP80") && in->ks[i].nkeys > 0;
        k81 |= !strcmp(in->ks[i].type, "SCP81") && in->ks[i].nkeys > 0;
    }
    if (!k80)
        return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "the ISD-R has no SCP80 key set");
    (void)k81; /* an eUICC without HTTPS has no SCP81 PSK */
    return SM_OK;
}

/* ---- keys ------------------------------------------------------------------------------------------ */

void smsr_tk_label(const smsr_ctx *x, const char *tk_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s-tk-%s", x->key_prefix, tk_id);
}

sm_rc smsr_keys_find(const smsr_ctx *x, hsm_sess *s, const char *tk_id, smsr_keys *k, sm_err *err)
{
    memset(k, 0, sizeof *k);
    k->s = s;
    k->kek_label = x->kek_label;
    char label[HSM_LABEL_MAX + 1];
    smsr_tk_label(x, tk_id, label, sizeof label);
    sm_rc rc = hsm_key_find(s, label, HSM_KT_AES, &k->tk, err);
    if (rc == SM_ENOTFOUND) {
        sm_err_clear(err);
        return sm_errf(err, SM_ENOTFOUND,
                       "transport key %s is not in the HSM (label %s; `smctl euicc transport-key import` in development)",
                       tk_id, label);
    }
    if (rc == SM_OK)
        rc = hsm_key_find(s, x->kek_label, HSM_KT_AES, &k->kek, err);
    return rc;
}

/* Unwraps one key value from the transport key into a wrappable session key, checks its KCV (first 3
 * bytes of AES-ECB(key, 16 x 01)), wraps it under the KEK, destroys the session key. */
static sm_rc rewrap(const smsr_keys *k, const smsr_key_in *in, db_key *out, smsr_why *why, sm_err *err)
{
    if (in->k.wrapped_len < 24 || in->k.wrapped_len > 40 || in->k.wrapped_len % 8)
        return refuse(why, SMSR_WHY_FORMAT, err, SM_EINVAL, "%s is not an RFC 5649 wrapped AES key", in->name);
    hsm_keyspec spec = {.type = HSM_KT_AES, .len = (unsigned)(in->k.wrapped_len - 8), .usage = HSM_U_ENCRYPT,
                        .wrappable = true};
    hsm_key key;
    sm_err e = {0};
    if (hsm_unwrap(k->s, &k->tk, in->k.wrapped, in->k.wrapped_len, &spec, &key, &e) != SM_OK)
        return refuse(why, SMSR_WHY_TRANSPORT_KEY, err, SM_EVERIFY,
                      "%s cannot be unwrapped with the transport key (wrong transport key or damaged value)", in->name);
    static const uint8_t ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t kcv[16];
    sm_rc rc = hsm_aes_ecb_encrypt(k->s, &key, ones, 16, kcv, &e);
    if (rc != SM_OK)
        rc = refuse(why, SMSR_WHY_INTERNAL, err, rc, "%s: computing its KCV: %s", in->name, e.msg);
    else if (memcmp(kcv, in->k.kcv, 3))
        rc = refuse(why, SMSR_WHY_TRANSPORT_KEY, err, SM_EVERIFY,
                    "%s does not match its KCV after unwrapping (wrong transport key or damaged value)", in->name);
    if (rc == SM_OK) {
        memset(out, 0, sizeof *out);
        out->index = in->index;
        out->key_type = in->key_type;
        memcpy(out->kcv, in->k.kcv, 3);
        out->kcv_len = 3;
        put(out->kek_label, sizeof out->kek_label, k->kek_label);
        if (hsm_wrap(k->s, &k->kek, &key, out->wrapped, sizeof out->wrapped, &out->wrapped_len, &e) != SM_OK)
            rc = refuse(why, SMSR_WHY_INTERNAL, err, SM_EHSM, "%s: wrapping under the KEK: %s", in->name, e.msg);
    }
    sm_err e3 = {0};
    if (hsm_key_destroy(k->s, &key, &e3) != SM_OK && rc == SM_OK)
        rc = refuse(why, SMSR_WHY_INTERNAL, err, SM_EHSM, "%s: destroying the session key: %s", in->name, e3.msg);
    explicit_bzero(kcv, sizeof kcv);
    return rc;
}

/* ---- storage ------------------------------------------------------------------------------------------ */

static sm_rc store(db_conn *c, const char *actor, const smsr_eis_in *in, const db_keyset *ks, size_t nks, sm_err *err)
{
    sm_rc rc = db_eis_register(c, actor, &in->e, in->prof, in->nprof, err);
    for (size_t i = 0; rc == SM_OK && i < nks; i++)
        rc = db_keyset_put(c, actor, in->e.eid, &ks[i], err);
    if (rc == SM_OK && in->smsr_sms[0])
        rc = smsr_euicc_set_smsr_sms(c, in->e.eid, in->smsr_sms, err);
    return rc;
}

sm_rc smsr_store_eis(db_conn *c, const char *actor, const smsr_keys *k, smsr_eis_in *in, smsr_reg_res *res,
                     smsr_why *why, sm_err *err)
{
    *why = SMSR_WHY_NONE;
    for (char *p = in->e.eid; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    db_euicc old;
    sm_err e = {0};
    sm_rc rc = db_eis_get(c, in->e.eid, &old, &e);
    if (rc == SM_OK) {
        bool same = old.eum_signed_len == in->e.eum_signed_len &&
                    !memcmp(old.eum_signed, in->e.eum_signed, old.eum_signed_len);
        db_euicc_clear(&old);
        if (same) {
            *res = SMSR_REG_UNCHANGED;
            return SM_OK;
        }
        return refuse(why, SMSR_WHY_DUPLICATE, err, SM_EEXIST, "eUICC %s is registered already (with other data)", in->e.eid);
    }
    if (rc != SM_ENOTFOUND)
        return refuse(why, SMSR_WHY_INTERNAL, err, rc, "reading the EIS: %s", e.msg);
    for (size_t i = 0; i < in->nprof; i++) {
        db_profile p;
        sm_err e2 = {0};
        rc = db_profile_get(c, in->prof[i].iccid, &p, &e2);
        if (rc == SM_OK)
            return refuse(why, SMSR_WHY_ICCID_IN_USE, err, SM_EEXIST, "ICCID %s is in use on eUICC %s", in->prof[i].iccid,
                          p.eid);
        if (rc != SM_ENOTFOUND)
            return refuse(why, SMSR_WHY_INTERNAL, err, rc, "reading profile: %s", e2.msg);
    }
    /* key values: transport key -> HSM session key -> KEK (nothing clear leaves the HSM) */
    db_keyset *ks = calloc(in->nks ? in->nks : 1, sizeof *ks);
    if (!ks)
        return refuse(why, SMSR_WHY_INTERNAL, err, SM_ENOMEM, "out of memory");
    rc = SM_OK;
    for (size_t i = 0; rc == SM_OK && i < in->nks; i++) {
        const smsr_keyset_in *ki = &in->ks[i];
        ks[i].kvn = ki->kvn;
        snprintf(ks[i].sd, sizeof ks[i].sd, "ISD-R");
        snprintf(ks[i].type, sizeof ks[i].type, "%s", ki->type);
        ks[i].counter = ki->counter;
        for (size_t j = 0; rc == SM_OK && j < ki->nkeys && j < 8; j++)
            rc = rewrap(k, &ki->keys[j], &ks[i].keys[j], why, err);
        ks[i].nkeys = ki->nkeys;
    }
    if (rc == SM_OK && (rc = smsr_sp_begin(c, err)) != SM_OK)
        *why = SMSR_WHY_INTERNAL;
    if (rc == SM_OK) {
        rc = store(c, actor, in, ks, in->nks, err);
        if (rc == SM_OK)
            rc = smsr_sp_release(c, err);
        if (rc != SM_OK) {
            smsr_sp_rollback(c);
            *why = rc == SM_EEXIST ? SMSR_WHY_DUPLICATE : rc == SM_EINVAL ? SMSR_WHY_FORMAT : SMSR_WHY_INTERNAL;
        }
    }
    explicit_bzero(ks, sizeof *ks * (in->nks ? in->nks : 1)); /* wrapped blobs only, but keep nothing around */
    free(ks);
    if (rc == SM_OK)
        *res = SMSR_REG_IMPORTED;
    return rc;
}
