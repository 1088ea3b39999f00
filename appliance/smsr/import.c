/* Batch import: file checks, then every record on its own. */
#include "appliance/smsr/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/smsr/repo.h"
#include "crypto/ecpub.h"
#include "db/audit.h"
#include "lib/log.h"

static void reject(smsr_import_report *rep, const smsr_brec *r, smsr_why why, const char *msg)
{
    smsr_import_rej *v = realloc(rep->rej, (rep->nrej + 1) * sizeof *v);
    if (!v)
        return; /* counted below; the line is lost only under memory exhaustion */
    rep->rej = v;
    smsr_import_rej *j = &v[rep->nrej++];
    memset(j, 0, sizeof *j);
    j->line = r->line;
    snprintf(j->eid, sizeof j->eid, "%s", r->eid);
    j->why = why;
    /* messages from the parser start with "line N: " already: keep the reason only */
    const char *m = msg;
    if (!strncmp(m, "line ", 5)) {
        const char *colon = strstr(m, ": ");
        if (colon)
            m = colon + 2;
    }
    snprintf(j->reason, sizeof j->reason, "%s", m);
}

/* The stored EIS of this EID holds exactly this record: nothing to do. */
static bool unchanged(db_conn *c, const smsr_brec *r)
{
    char eid[33];
    snprintf(eid, sizeof eid, "%s", r->eid);
    db_euicc e;
    sm_err err = {0};
    if (!eid[0] || db_eis_get(c, eid, &e, &err) != SM_OK)
        return false;
    bool same = e.eum_signed_len == r->len && !memcmp(e.eum_signed, r->text, r->len);
    db_euicc_clear(&e);
    return same;
}

static sm_rc one(const smsr_ctx *x, const smsr_keys *k, const gpcert_issuer *eum, db_conn *c, const char *actor,
                 const smsr_batch *b, const smsr_brec *r, time_t now, smsr_import_report *rep, sm_err *fatal)
{
    sm_err err = {0};
    smsr_why why = SMSR_WHY_NONE;
    if (strcmp(r->eum_id, b->hdr.eum_id)) {
        char m[200];
        snprintf(m, sizeof m, "record of EUM %s in a batch of EUM %s", r->eum_id, b->hdr.eum_id);
        reject(rep, r, SMSR_WHY_EUM_MISMATCH, m);
        return SM_OK;
    }
    if (unchanged(c, r)) {
        rep->unchanged++;
        return SM_OK;
    }
    if (ecpub_verify_raw(eum->curve, eum->pub, sizeof eum->pub, (const uint8_t *)r->text, r->signed_len, r->sig, 64,
                         &err) != SM_OK) {
        reject(rep, r, SMSR_WHY_SIGNATURE, "the EUM signature of the record does not verify");
        return SM_OK;
    }
    smsr_eis_in *in = calloc(1, sizeof *in);
    if (!in)
        return sm_errf(fatal, SM_ENOMEM, "out of memory");
    smsr_eis_from_batch(r, b->hdr.tk_id, in);
    smsr_reg_res res = 0;
    sm_rc rc = smsr_check_eis(x, in, &why, &err);
    if (rc == SM_OK)
        rc = smsr_check_ecasd(eum, &in->e, now, &why, &err);
    if (rc == SM_OK)
        rc = smsr_store_eis(c, actor, k, in, &res, &why, &err);
    free(in);
    if (rc == SM_OK) {
        if (res == SMSR_REG_UNCHANGED)
            rep->unchanged++;
        else
            rep->imported++;
        return SM_OK;
    }
    if (why == SMSR_WHY_INTERNAL && (rc == SM_EDB || rc == SM_ENOMEM || rc == SM_EHSM || rc == SM_ESESSION)) {
        /* not the record's fault: stop the import (the caller rolls back, the operator retries) */
        return sm_errf(fatal, rc, "%s", err.msg);
    }
    reject(rep, r, why ? why : SMSR_WHY_FORMAT, err.msg);
    return SM_OK;
}

sm_rc smsr_import_batch(const smsr_ctx *x, hsm_sess *s, db_conn *c, const char *actor, const char *caller_eum,
                        const char *data, size_t len, smsr_import_report *rep, smsr_why *why, sm_err *err)
{
    memset(rep, 0, sizeof *rep);
    *why = SMSR_WHY_NONE;
    smsr_batch b;
    sm_rc rc = smsr_batch_open(data, len, &b, err);
    if (rc != SM_OK) {
        *why = SMSR_WHY_FORMAT;
        return rc;
    }
    memcpy(rep->sha256, b.sha256, 32);
    snprintf(rep->eum_id, sizeof rep->eum_id, "%s", b.hdr.eum_id);
    snprintf(rep->tk_id, sizeof rep->tk_id, "%s", b.hdr.tk_id);
    if (caller_eum && strcmp(caller_eum, b.hdr.eum_id)) {
        *why = SMSR_WHY_EUM_MISMATCH;
        return sm_errf(err, SM_EPERM, "batch of EUM %s uploaded by %s", b.hdr.eum_id, caller_eum);
    }
    if ((rc = smsr_batch_logged(c, b.sha256, rep->seen_at, sizeof rep->seen_at, &rep->seen_before, err)) != SM_OK) {
        *why = SMSR_WHY_INTERNAL;
        return rc;
    }
    smsr_eum eum;
    if ((rc = smsr_eum_get(c, b.hdr.eum_id, &eum, err)) != SM_OK) {
        *why = rc == SM_ENOTFOUND ? SMSR_WHY_EUM_UNKNOWN : SMSR_WHY_INTERNAL;
        return rc;
    }
    time_t now = time(NULL);
    gpcert_issuer iss;
    rc = smsr_eum_issuer(x, eum.cert, eum.cert_len, now, &iss, why, err);
    smsr_eum_clear(&eum);
    if (rc != SM_OK)
        return rc;
    smsr_keys k;
    if ((rc = smsr_keys_find(x, s, b.hdr.tk_id, &k, err)) != SM_OK) {
        *why = rc == SM_ENOTFOUND ? SMSR_WHY_TRANSPORT_KEY : SMSR_WHY_INTERNAL;
        return rc;
    }
    smsr_brec *r = malloc(sizeof *r);
    if (!r)
        return sm_errf(err, SM_ENOMEM, "out of memory");
    for (;;) {
        sm_err re = {0};
        rc = smsr_batch_next(&b, r, &re);
        if (rc == SM_ENOTFOUND) {
            rc = SM_OK;
            break;
        }
        rep->records++;
        if (rc != SM_OK) {
            reject(rep, r, SMSR_WHY_FORMAT, re.msg);
            rc = SM_OK;
            continue;
        }
        if ((rc = one(x, &k, &iss, c, actor, &b, r, now, rep, err)) != SM_OK) {
            *why = SMSR_WHY_INTERNAL;
            sm_err_prefix(err, "batch: line %zu: import stopped (nothing of it was stored)", r->line);
            break;
        }
    }
    free(r);
    if (rc != SM_OK)
        return rc;
    size_t rejected = rep->records - rep->imported - rep->unchanged;
    smsr_batch_log l = {.eum_id = b.hdr.eum_id, .tk_id = b.hdr.tk_id, .actor = actor, .records = (int)rep->records,
                        .imported = (int)rep->imported, .unchanged = (int)rep->unchanged, .rejected = (int)rejected};
    memcpy(l.sha256, b.sha256, 32);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", b.sha256[i]);
    if ((rc = smsr_batch_log_add(c, &l, err)) == SM_OK)
        rc = db_audit_appendf(c, err, actor, "smsr.batch.import", b.hdr.eum_id, rejected ? "partial" : "ok",
                              "sha256=%s records=%zu imported=%zu unchanged=%zu rejected=%zu tk=%s", hex, rep->records,
                              rep->imported, rep->unchanged, rejected, b.hdr.tk_id);
    if (rc != SM_OK)
        *why = SMSR_WHY_INTERNAL;
    sm_log(SM_LOG_NOTICE, "smsr", "batch_import", "eum=%s records=%zu imported=%zu unchanged=%zu rejected=%zu",
           b.hdr.eum_id, rep->records, rep->imported, rep->unchanged, rejected);
    return rc;
}

void smsr_import_report_free(smsr_import_report *rep)
{
    free(rep->rej);
    rep->rej = NULL;
    rep->nrej = 0;
}
