/* ES1 for EUMs: RegisterEIS (one EIS, XML-DSig EumSignature) and the smbox extension ImportEISBatch
 * (a whole batch file, docs/euicc-batch-format.md) — both through the checks of register.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/smsr/import.h"
#include "appliance/smsr/internal.h"
#include "appliance/smsr/repo.h"
#include "appliance/smsr/xmldsig.h"
#include "lib/log.h"

#define CODE(w, subj, rsn) [w] = {subj, rsn}
static const struct {
    const char *subj, *rsn;
} WHY_CODE[] = {
    CODE(SMSR_WHY_NONE, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR),
    CODE(SMSR_WHY_FORMAT, ES_SUBJ_EIS, ES_RSN_INVALID),
    CODE(SMSR_WHY_EUM_UNKNOWN, ES_SUBJ_REQUESTER, ES_RSN_NOT_ALLOWED),
    CODE(SMSR_WHY_EUM_MISMATCH, ES_SUBJ_REQUESTER, ES_RSN_NOT_ALLOWED),
    CODE(SMSR_WHY_SMSR, ES_SUBJ_SMSR, ES_RSN_REFUSED),
    CODE(SMSR_WHY_SIGNATURE, ES_SUBJ_EIS, SMSR_RSN_VERIFY),
    CODE(SMSR_WHY_CHAIN, SMSR_SUBJ_ECASD_CERT, SMSR_RSN_VERIFY),
    CODE(SMSR_WHY_EXPIRED, SMSR_SUBJ_ECASD_CERT, SMSR_RSN_CERT_EXPIRED),
    CODE(SMSR_WHY_TRANSPORT_KEY, ES_SUBJ_EIS, SMSR_RSN_DECRYPT),
    CODE(SMSR_WHY_DUPLICATE, ES_SUBJ_EID, ES_RSN_ALREADY_IN_USE),
    CODE(SMSR_WHY_ICCID_IN_USE, ES_SUBJ_ICCID, ES_RSN_ALREADY_IN_USE),
    CODE(SMSR_WHY_INTERNAL, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR),
};

static void refused(es_call *call, smsr_why why, const char *msg)
{
    if ((unsigned)why >= sizeof WHY_CODE / sizeof WHY_CODE[0])
        why = SMSR_WHY_INTERNAL;
    es_status_fail(&call->status, WHY_CODE[why].subj, WHY_CODE[why].rsn, "%s",
                   why == SMSR_WHY_INTERNAL ? "internal error (logged)" : msg);
    if (why == SMSR_WHY_INTERNAL) {
        char q[600];
        sm_log(SM_LOG_ERR, "smsr", "es1_failed", "requester=%s error=%s", call->caller.id, SM_LOGQ(q, msg));
    }
}

/* ---- EIS value -> registration input ------------------------------------------------------------------ */

static bool hex_to(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    db_aid a;
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n % 2 || n / 2 > cap)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        char b[3] = {s[i], s[i + 1], 0};
        char *end;
        unsigned long v = strtoul(b, &end, 16);
        if (*end)
            return false;
        out[i / 2] = (uint8_t)v;
    }
    *len = n / 2;
    (void)a;
    return true;
}

static bool aid_to(const char *s, db_aid *a) { return hex_to(s, a->b, sizeof a->b, &a->len); }

static bool copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
    return true;
}

/* xs:dateTime as the database takes it: YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm] */
static bool datetime_ok(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd";
    size_t n = s ? strlen(s) : 0;
    if (n < sizeof pat - 1 || n > 35)
        return false;
    for (size_t i = 0; i < sizeof pat - 1; i++)
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return false;
    for (size_t i = sizeof pat - 1; i < n; i++)
        if (!strchr("0123456789.:+-Z", s[i]))
            return false;
    return true;
}

static const char *prop(const es_value *eis, const char *key)
{
    const es_value *ap = es_struct(eis, "AdditionalProperties");
    for (size_t i = 0, n = es_count(ap, "Property"); i < n; i++) {
        const es_value *p = es_item(ap, "Property", i);
        const char *k = es_str(p, "key");
        if (k && !strcmp(k, key))
            return es_str(p, "value");
    }
    return NULL;
}

static bool keysets(const es_value *isdr, smsr_eis_in *in, char *why, size_t cap)
{
    size_t n = es_count(isdr, "Keyset");
    if (n > sizeof in->ks / sizeof in->ks[0]) {
        snprintf(why, cap, "Isd-r: more than %zu key sets", sizeof in->ks / sizeof in->ks[0]);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const es_value *k = es_item(isdr, "Keyset", i);
        smsr_keyset_in *ks = &in->ks[in->nks];
        int64_t v = 0, cntr = 0;
        es_int(k, "Version", &v);
        es_int(k, "Cntr", &cntr);
        const char *type = es_str(k, "Type");
        if (!type)
            type = v >= 0x40 && v <= 0x4F ? "SCP81" : v >= 1 && v <= 0x0F ? "SCP80" : "";
        if (!*type || strlen(type) >= sizeof ks->type || v < 1 || v > 127) {
            snprintf(why, cap, "Isd-r key set %zu: no usable Version/Type", i + 1);
            return false;
        }
        ks->kvn = (int)v;
        snprintf(ks->type, sizeof ks->type, "%s", type);
        ks->counter = cntr;
        size_t nk = es_count(k, "Key");
        if (nk > sizeof ks->keys / sizeof ks->keys[0]) {
            snprintf(why, cap, "Isd-r key set %d: too many keys", ks->kvn);
            return false;
        }
        for (size_t j = 0; j < nk; j++) {
            const es_value *key = es_item(k, "Key", j);
            smsr_key_in *ki = &ks->keys[j];
            int64_t idx = 0;
            es_int(key, "Index", &idx);
            const uint8_t *kcv = NULL, *val = NULL;
            size_t kl = 0, vl = 0;
            const es_value *comp = es_item(key, "KeyComponents", 0);
            const char *t = es_str(comp, "type");
            size_t tl = 0;
            uint8_t tb[1];
            if (es_count(key, "KeyComponents") != 1 || !es_bytes(key, "kcv", &kcv, &kl) || kl < 3 ||
                !es_bytes(comp, "value", &val, &vl) || vl < 24 || vl > sizeof ki->k.wrapped || !t ||
                !hex_to(t, tb, 1, &tl)) {
                snprintf(why, cap, "Isd-r key set %d key %zu: one key component with type, wrapped value and KCV "
                                   "expected", ks->kvn, j + 1);
                return false;
            }
            ki->name = "ISD-R key";
            ki->index = (int)idx;
            ki->key_type = tb[0];
            memcpy(ki->k.wrapped, val, vl);
            ki->k.wrapped_len = vl;
            memcpy(ki->k.kcv, kcv, 3);
        }
        ks->nkeys = nk;
        in->nks++;
    }
    return true;
}

static bool from_value(const es_value *eis, smsr_eis_in *in, char *why, size_t cap)
{
    memset(in, 0, sizeof *in);
    db_euicc *e = &in->e;
    const es_value *si = es_struct(eis, "EumSignedInfo"), *cp = es_struct(si, "EuiccCapabilities");
    const es_value *ecasd = es_struct(si, "Ecasd"), *isdr = es_struct(eis, "Isd-r");
    const char *pd = es_str(si, "ProductionDate");
    if (!si || !copy(e->eid, sizeof e->eid, es_str(si, "Eid")) || strlen(e->eid) != 32 ||
        !copy(e->eum_id, sizeof e->eum_id, es_str(si, "Eum-id")) || !e->eum_id[0] || (pd && !datetime_ok(pd)) ||
        !copy(e->production_date, sizeof e->production_date, pd) ||
        !copy(e->platform_type, sizeof e->platform_type, es_str(si, "PlatformType")) ||
        !copy(e->platform_version, sizeof e->platform_version, es_str(si, "PlatformVersion"))) {
        snprintf(why, cap, "EumSignedInfo: Eid (32 hex digits), Eum-id, ProductionDate or platform missing or invalid");
        return false;
    }
    for (char *p = e->eid; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if (!aid_to(es_str(si, "Isd-p-loadfile-aid"), &e->isdp_loadfile_aid) ||
        !aid_to(es_str(si, "Isd-p-module-aid"), &e->isdp_module_aid) || !aid_to(es_str(ecasd, "Aid"), &e->ecasd_aid)) {
        snprintf(why, cap, "EumSignedInfo: ISD-P load file, module or ECASD AID missing");
        return false;
    }
    /* the eUICC certificate: the ECASD key set's certificate */
    for (size_t i = 0; i < es_count(ecasd, "Keyset") && !e->ecasd_cert; i++) {
        const es_value *c = es_item(es_item(ecasd, "Keyset", i), "Certificate", 0);
        const uint8_t *v;
        size_t l;
        if (es_bytes(c, "Value", &v, &l)) {
            e->ecasd_cert = (uint8_t *)v;
            e->ecasd_cert_len = l;
        }
    }
    bool b = false;
    if (es_bool(cp, "CattpSupport", &b) && b)
        e->caps |= DB_CAP_CATTP;
    if (es_bool(cp, "HttpSupport", &b) && b)
        e->caps |= DB_CAP_HTTPS;
    if (!copy(e->cattp_version, sizeof e->cattp_version, es_str(cp, "CattpVersion")) ||
        !copy(e->http_version, sizeof e->http_version, es_str(cp, "HttpVersion")) ||
        !copy(e->secure_packet_version, sizeof e->secure_packet_version, es_str(cp, "SecurePacketVersion")) ||
        !copy(e->rsp_version, sizeof e->rsp_version, es_str(cp, "RemoteProvisioningVersion"))) {
        snprintf(why, cap, "EuiccCapabilities: version too long");
        return false;
    }
    if (!es_int(eis, "RemainingMemory", &e->remaining_memory) ||
        !es_int(eis, "AvailableMemoryForProfiles", &e->available_memory) ||
        !copy(e->smsr_id, sizeof e->smsr_id, es_str(eis, "Smsr-id"))) {
        snprintf(why, cap, "RemainingMemory, AvailableMemoryForProfiles and Smsr-id are mandatory");
        return false;
    }
    if (!isdr || !aid_to(es_str(isdr, "Aid"), &e->isdr_aid)) {
        snprintf(why, cap, "Isd-r: Aid missing");
        return false;
    }
    const es_value *tar = es_item(isdr, "Tar", 0);
    if (tar && tar->str)
        hex_to(tar->str, e->isdr_tar.b, 3, &e->isdr_tar.len);
    else { /* bytes 13..15 of the AID */
        memcpy(e->isdr_tar.b, e->isdr_aid.b + (e->isdr_aid.len >= 15 ? 12 : 0), 3);
        e->isdr_tar.len = 3;
    }
    hex_to(es_str(isdr, "Sin"), e->isdr_sin.b, sizeof e->isdr_sin.b, &e->isdr_sin.len);
    hex_to(es_str(isdr, "Sdin"), e->isdr_sdin.b, sizeof e->isdr_sdin.b, &e->isdr_sdin.len);
    if (!keysets(isdr, in, why, cap))
        return false;
    size_t np = es_count(eis, "ProfileInfo");
    if (np > SMSR_BATCH_MAX_PROFILES) {
        snprintf(why, cap, "more than %d pre-loaded profiles", SMSR_BATCH_MAX_PROFILES);
        return false;
    }
    for (size_t i = 0; i < np; i++) {
        const es_value *pi = es_item(eis, "ProfileInfo", i), *sa = es_struct(pi, "SubscriptionAddress");
        db_profile *p = &in->prof[i];
        es_status st;
        bool fb = false;
        es_bool(pi, "FallbackAttribute", &fb);
        p->fallback = fb;
        p->free_memory = -1;
        if (!copy(p->iccid, sizeof p->iccid, es_str(pi, "Iccid")) || !aid_to(es_str(pi, "Isd-p-aid"), &p->isdp_aid) ||
            !copy(p->mno_id, sizeof p->mno_id, es_str(pi, "Mno-id")) || !p->mno_id[0] ||
            !copy(p->state, sizeof p->state, es_str(pi, "State")) || !copy(p->imsi, sizeof p->imsi, es_str(sa, "Imsi")) ||
            !copy(p->msisdn, sizeof p->msisdn, es_str(sa, "Msisdn")) ||
            !copy(p->smdp_id, sizeof p->smdp_id, es_str(pi, "Smdp-id")) ||
            !copy(p->profile_type, sizeof p->profile_type, es_str(pi, "ProfileType")) ||
            !es_int(pi, "AllocatedMemory", &p->allocated_memory) ||
            (es_struct(pi, "pol2") && !smsr_pol2_decode(es_struct(pi, "pol2"), &p->pol2, &st))) {
            snprintf(why, cap, "ProfileInfo %zu: incomplete or invalid", i + 1);
            return false;
        }
        snprintf(p->eid, sizeof p->eid, "%s", e->eid);
    }
    in->nprof = np;
    const char *sms = prop(eis, "smsr-sms"), *kw = prop(eis, "key-wrap");
    if (kw && strcmp(kw, "aes-kwp")) {
        snprintf(why, cap, "key-wrap %s: only aes-kwp (RFC 5649) is supported", kw);
        return false;
    }
    if (sms && (strlen(sms) >= sizeof in->smsr_sms || strspn(sms, "0123456789") != strlen(sms))) {
        snprintf(why, cap, "smsr-sms: digits expected");
        return false;
    }
    copy(in->smsr_sms, sizeof in->smsr_sms, sms);
    copy(in->tk_id, sizeof in->tk_id, prop(eis, "transport-key-id"));
    return true;
}

/* ---- RegisterEIS ------------------------------------------------------------------------------------------ */

void smsr_h_register_eis(es_call *call, const smsr_ctx *x)
{
    db_conn *c = smsr_call_db(call);
    sm_worker *w = call->worker;
    const es_value *eis = es_struct(call->in, "Eis");
    smsr_eis_in *in = calloc(1, sizeof *in);
    char why[300] = "";
    uint8_t *kept = NULL;
    if (!in) {
        refused(call, SMSR_WHY_INTERNAL, "out of memory");
        return;
    }
    if (!from_value(eis, in, why, sizeof why)) {
        refused(call, SMSR_WHY_FORMAT, why);
        goto out;
    }
    /* the EUM registers its own eUICCs only */
    if (strcmp(in->e.eum_id, call->caller.id)) {
        snprintf(why, sizeof why, "EIS of EUM %s sent by %s", in->e.eum_id, call->caller.id);
        refused(call, SMSR_WHY_EUM_MISMATCH, why);
        goto out;
    }
    smsr_why wy = SMSR_WHY_NONE;
    sm_err err = {0};
    smsr_eum eum;
    if (smsr_eum_get(c, in->e.eum_id, &eum, &err) != SM_OK) {
        refused(call, SMSR_WHY_EUM_UNKNOWN, err.msg);
        goto out;
    }
    if (!in->tk_id[0])
        snprintf(in->tk_id, sizeof in->tk_id, "%s", eum.tk_id);
    time_t now = time(NULL);
    gpcert_issuer iss;
    sm_rc rc = smsr_eum_issuer(x, eum.cert, eum.cert_len, now, &iss, &wy, &err);
    smsr_eum_clear(&eum);
    if (rc != SM_OK) {
        refused(call, wy, err.msg);
        goto out;
    }
    const char *c14n = es_str(eis, "EumSignedInfo@c14n"), *sig = es_str(eis, "EumSignature");
    if (!c14n) {
        refused(call, SMSR_WHY_SIGNATURE, "EumSignedInfo was not received in a signed form (SOAP binding required)");
        goto out;
    }
    if ((rc = smsr_xmldsig_verify(c14n, strlen(c14n), sig, sig ? strlen(sig) : 0, &iss, &err)) != SM_OK) {
        refused(call, SMSR_WHY_SIGNATURE, err.msg);
        goto out;
    }
    if (!in->tk_id[0]) {
        refused(call, SMSR_WHY_TRANSPORT_KEY, "no transport key named (AdditionalProperties transport-key-id) and none "
                                              "registered for the EUM");
        goto out;
    }
    /* kept for the handover: EumSignedInfo as signed, then the signature */
    size_t cl = strlen(c14n), sl = strlen(sig);
    if (!(kept = malloc(cl + sl + 1))) {
        refused(call, SMSR_WHY_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(kept, c14n, cl);
    kept[cl] = '\n';
    memcpy(kept + cl + 1, sig, sl);
    in->e.eum_signed = kept;
    in->e.eum_signed_len = cl + 1 + sl;
    smsr_keys k;
    smsr_reg_res res = 0;
    if (smsr_check_eis(x, in, &wy, &err) != SM_OK || smsr_check_ecasd(&iss, &in->e, now, &wy, &err) != SM_OK) {
        refused(call, wy, err.msg);
        goto out;
    }
    if ((rc = smsr_keys_find(x, w->hsm, in->tk_id, &k, &err)) != SM_OK) {
        refused(call, rc == SM_ENOTFOUND ? SMSR_WHY_TRANSPORT_KEY : SMSR_WHY_INTERNAL, err.msg);
        goto out;
    }
    if ((rc = smsr_store_eis(c, call->caller.id, &k, in, &res, &wy, &err)) != SM_OK) {
        refused(call, wy ? wy : SMSR_WHY_INTERNAL, err.msg);
        goto out;
    }
    if (res == SMSR_REG_UNCHANGED)
        es_status_set(&call->status, ES_EXEC_WARNING, ES_SUBJ_EID, ES_RSN_ALREADY_IN_USE,
                      "eUICC %s is registered already with this EIS: nothing changed", in->e.eid);
    sm_log(SM_LOG_NOTICE, "smsr", "eis_registered", "eid=%s eum=%s profiles=%zu outcome=%s", in->e.eid, in->e.eum_id,
           in->nprof, res == SMSR_REG_UNCHANGED ? "unchanged" : "registered");
out:
    free(kept);
    free(in);
}

/* ---- ImportEISBatch (smbox extension) --------------------------------------------------------------------- */

void smsr_h_import_batch(es_call *call, const smsr_ctx *x)
{
    db_conn *c = smsr_call_db(call);
    sm_worker *w = call->worker;
    const es_value *b = es_get(call->in, "Batch");
    if (!b || b->type != ESV_STR) {
        refused(call, SMSR_WHY_FORMAT, "Batch: the batch file is missing");
        return;
    }
    /* XML text arrives trimmed: the file's last line end is restored */
    char *text = malloc(b->len + 2);
    if (!text) {
        refused(call, SMSR_WHY_INTERNAL, "out of memory");
        return;
    }
    memcpy(text, b->str, b->len);
    size_t len = b->len;
    if (len && text[len - 1] != '\n')
        text[len++] = '\n';
    text[len] = 0;
    smsr_import_report rep;
    smsr_why why = SMSR_WHY_NONE;
    sm_err err = {0};
    sm_rc rc = smsr_import_batch(x, w->hsm, c, call->caller.id, call->caller.id, text, len, &rep, &why, &err);
    free(text);
    if (rc != SM_OK) {
        refused(call, why, err.msg);
        smsr_import_report_free(&rep);
        return;
    }
    size_t rejected = rep.records - rep.imported - rep.unchanged;
    es_add_int(call->out, "Records", (int64_t)rep.records);
    es_add_int(call->out, "Imported", (int64_t)rep.imported);
    es_add_int(call->out, "Unchanged", (int64_t)rep.unchanged);
    es_value *list = rep.nrej ? es_add_list(call->out, "Rejected") : NULL;
    for (size_t i = 0; list && i < rep.nrej; i++) {
        es_value *r = es_add_struct(list, NULL);
        if (!r)
            break;
        es_add_int(r, "Line", (int64_t)rep.rej[i].line);
        if (rep.rej[i].eid[0])
            es_add_str(r, "Eid", rep.rej[i].eid);
        es_add_str(r, "Reason", smsr_why_name(rep.rej[i].why));
        es_add_str(r, "Message", rep.rej[i].reason);
    }
    if (rejected)
        es_status_set(&call->status, ES_EXEC_WARNING, ES_SUBJ_EIS, ES_RSN_INVALID,
                      "%zu of %zu records rejected (see Rejected)", rejected, rep.records);
    else if (rep.seen_before && rep.imported == 0)
        es_status_set(&call->status, ES_EXEC_WARNING, ES_SUBJ_EIS, ES_RSN_ALREADY_IN_USE,
                      "this batch was imported already on %s: nothing changed", rep.seen_at);
    smsr_import_report_free(&rep);
}
