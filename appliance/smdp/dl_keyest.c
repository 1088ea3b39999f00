/* Download steps of the key establishment with the ISD-P (ES8.EstablishISDPKeySet, Scenario #3,
 * procedures.md §3.B) through ES3.SendData: INSTALL [for personalization] and STORE DATA 3A01 (our
 * certificate) -> the card's RC; STORE DATA 3A02 (CRT, ephemeral public key, signature) -> the receipt;
 * the receipt verified in the HSM and the new SCP03 keys wrapped under the KEK and stored.
 *
 * The ephemeral private key is an HSM session object (SECURITY.md): it lives in this process between
 * the 3A02 request and its answer, kept here by procedure. An answer handled by another process (a
 * restart, another node) finds none and the key establishment starts again from 3A01 (bounded). */
#include "appliance/smdp/dl_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/rscript.h"
#include "crypto/ecka.h"
#include "lib/hex.h"
#include "lib/log.h"

#define KE_ATTEMPTS 3
#define EPH_MAX 256
#define SUBJ_ISDP "8.3"

/* ---- ephemeral keys in flight ------------------------------------------------------------------- */

typedef struct eph {
    int64_t proc;
    int seq;
    hsm_key esk;
} eph;

static eph g_eph[EPH_MAX];
static size_t g_neph;
static pthread_mutex_t g_eph_mu = PTHREAD_MUTEX_INITIALIZER;

static void eph_put(hsm_sess *s, int64_t proc, int seq, const hsm_key *k)
{
    pthread_mutex_lock(&g_eph_mu);
    for (size_t i = 0; i < g_neph; i++)
        if (g_eph[i].proc == proc) { /* a restarted key establishment replaces the old key */
            hsm_key_destroy(s, &g_eph[i].esk, NULL);
            g_eph[i] = g_eph[--g_neph];
            break;
        }
    if (g_neph == EPH_MAX) { /* full: the oldest key establishment will start again */
        hsm_key_destroy(s, &g_eph[0].esk, NULL);
        memmove(g_eph, g_eph + 1, (EPH_MAX - 1) * sizeof *g_eph);
        g_neph--;
    }
    g_eph[g_neph++] = (eph){proc, seq, *k};
    pthread_mutex_unlock(&g_eph_mu);
}

static bool eph_take(int64_t proc, int seq, hsm_key *k)
{
    bool found = false;
    pthread_mutex_lock(&g_eph_mu);
    for (size_t i = 0; i < g_neph; i++)
        if (g_eph[i].proc == proc) {
            found = g_eph[i].seq == seq;
            *k = g_eph[i].esk;
            g_eph[i] = g_eph[--g_neph];
            break;
        }
    pthread_mutex_unlock(&g_eph_mu);
    return found;
}

void dl_eph_forget(hsm_sess *s, int64_t proc_id)
{
    hsm_key k;
    pthread_mutex_lock(&g_eph_mu);
    for (size_t i = 0; i < g_neph; i++)
        if (g_eph[i].proc == proc_id) {
            k = g_eph[i].esk;
            g_eph[i] = g_eph[--g_neph];
            if (s)
                hsm_key_destroy(s, &k, NULL);
            break;
        }
    pthread_mutex_unlock(&g_eph_mu);
}

/* ---- key establishment state (public values): [kvn][block][curve][PK.ECASD 65][ePK 65][crt_len][CRT][rc_len][RC] */

#define KS_BASE 68

static sm_rc session_of(const dp_dl *d, ecka_session *es, sm_err *err)
{
    if (d->ke_state_len < KS_BASE)
        return sm_errf(err, SM_EINTERNAL, "key establishment: no eUICC public key recorded");
    ecka_params p;
    ecka_params_isdp(d->ke_state[0], &p);
    gpcert g;
    memset(&g, 0, sizeof g);
    g.pubkey = d->ke_state + 3;
    g.pubkey_len = 65;
    g.curve = (hsm_curve)d->ke_state[2];
    return ecka_begin(&p, &g, es, err);
}

static sm_rc send_data(dl_run *r, const sm_buf *data, bool more, const char *wait, sm_err *err)
{
    char aid[33];
    sm_hex_encode(r->d->isdp_aid, r->d->isdp_aid_len, aid);
    for (char *q = aid; *q; q++)
        if (*q >= 'a' && *q <= 'f')
            *q = (char)(*q - 32);
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", r->d->eid);
    es_add_str(b, "Sd-aid", aid);
    es_add_bytes(b, "Data", data->data, data->len);
    es_add_bool(b, "MoreToDo", more);
    return dl_send(r, "ES3.SendData", b, wait, err);
}

/* The answer's EuiccResponseData as a response script with at least `want` R-APDUs; false (the
 * download failed, routed) when the card refused. */
static bool card_answer(dl_run *r, size_t want, dp_rscript *rs, sm_rc *rc, sm_err *err)
{
    const uint8_t *p = NULL;
    size_t len = 0;
    sm_err e2 = {0};
    *rc = SM_OK;
    if (!es_bytes(r->ans.body, "EuiccResponseData", &p, &len)) {
        *rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "ES3.SendData answered without EuiccResponseData");
        return false;
    }
    if (dp_rscript_parse(p, len, rs, NULL, &e2) != SM_OK) {
        *rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "%s", e2.msg);
        return false;
    }
    for (size_t i = 0; i < rs->n; i++)
        if (!dp_sw_ok(rs->r[i].sw)) {
            *rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "the ISD-P refused key establishment command %zu: SW %04X",
                           i + 1, rs->r[i].sw);
            return false;
        }
    if (rs->n < want || rs->bad_format) {
        *rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "the ISD-P answered %zu of %zu key establishment commands%s",
                       rs->n, want, rs->bad_format ? " (script format error)" : "");
        return false;
    }
    (void)err;
    return true;
}

sm_rc dl_ke_start(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    if (++d->ke_attempts > KE_ATTEMPTS)
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "key establishment did not complete in %d attempts",
                        KE_ATTEMPTS);
    if (!r->x->dp_cert)
        return dl_failf(r, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR,
                        "this SM-DP has no certificate for key establishment (smdp.cert_file)");
    sm_buf data, d1;
    sm_buf_init(&data);
    sm_buf_init(&d1);
    unsigned block = 0;
    sm_rc rc = ecka_install_perso(d->isdp_aid, d->isdp_aid_len, &data, err);
    if (rc == SM_OK)
        rc = ecka_dgi_3a01(r->x->dp_cert, r->x->dp_cert_len, &d1, err);
    if (rc == SM_OK)
        rc = ecka_store_data(d1.data, d1.len, false, &block, &data, err);
    if (rc == SM_OK) {
        d->ke_state[1] = (uint8_t)block; /* P2 of the 3A02 STORE DATA */
        d->ke_state_len = KS_BASE;
        rc = send_data(r, &data, true, "ke_rc", err);
    }
    sm_buf_free(&data);
    sm_buf_free(&d1);
    return rc;
}

sm_rc dl_ke_rc(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        return dl_failed(r, &st, err);
    }
    dp_rscript rs;
    sm_rc rc;
    if (!card_answer(r, 2, &rs, &rc, err))
        return rc;
    ecka_session es;
    sm_err e2 = {0};
    if (session_of(d, &es, &e2) != SM_OK || ecka_parse_3a01_response(&es, rs.r[1].data, rs.r[1].len, &e2) != SM_OK)
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "%s", e2.msg);
    hsm_key sk;
    if ((rc = hsm_key_find(r->s, r->x->sign_label, HSM_KT_EC_PRIV, &sk, err)) != SM_OK) {
        sm_err_prefix(err, "SM-DP signing key (smctl hsm init)");
        return rc;
    }
    sm_buf d2, data;
    sm_buf_init(&d2);
    sm_buf_init(&data);
    unsigned block = d->ke_state[1];
    rc = ecka_dgi_3a02(r->s, &es, &sk, &d2, err); /* the ephemeral key pair is made here, in the HSM */
    if (rc == SM_OK)
        rc = ecka_store_data(d2.data, d2.len, true, &block, &data, err);
    if (rc == SM_OK && KS_BASE + 65 + 2 + es.crt_len + es.rc_len > sizeof d->ke_state)
        rc = sm_errf(err, SM_EINTERNAL, "key establishment state too long");
    if (rc == SM_OK) {
        uint8_t *q = d->ke_state + KS_BASE;
        memcpy(q, es.epk, 65);
        q += 65;
        *q++ = (uint8_t)es.crt_len;
        memcpy(q, es.crt, es.crt_len);
        q += es.crt_len;
        *q++ = (uint8_t)es.rc_len;
        memcpy(q, es.rc, es.rc_len);
        q += es.rc_len;
        d->ke_state_len = (size_t)(q - d->ke_state);
        rc = send_data(r, &data, true, "ke_receipt", err);
    }
    if (rc == SM_OK)
        eph_put(r->s, d->proc_id, d->es3_seq, &es.esk);
    else
        ecka_abort(r->s, &es);
    sm_buf_free(&d2);
    sm_buf_free(&data);
    return rc;
}

sm_rc dl_ke_receipt(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    hsm_key esk;
    bool have = eph_take(d->proc_id, d->es3_seq, &esk);
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        if (have)
            hsm_key_destroy(r->s, &esk, NULL);
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        return dl_failed(r, &st, err);
    }
    dp_rscript rs;
    sm_rc rc;
    if (!card_answer(r, 1, &rs, &rc, err)) {
        if (have)
            hsm_key_destroy(r->s, &esk, NULL);
        return rc;
    }
    if (!have) {
        sm_log(SM_LOG_NOTICE, "smdp", "ke_restart", "proc=%lld msg=\"the ephemeral key is not in this process "
                                                    "(restart or another node): key establishment starts again\"",
               (long long)d->proc_id);
        return dl_ke_start(r, err);
    }
    ecka_session es;
    sm_err e2 = {0};
    if (session_of(d, &es, &e2) != SM_OK || d->ke_state_len < KS_BASE + 67) {
        hsm_key_destroy(r->s, &esk, NULL);
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "key establishment state lost: %s", e2.msg);
    }
    const uint8_t *q = d->ke_state + KS_BASE;
    memcpy(es.epk, q, 65);
    q += 65;
    es.crt_len = *q++;
    memcpy(es.crt, q, es.crt_len);
    q += es.crt_len;
    es.rc_len = *q++;
    memcpy(es.rc, q, es.rc_len);
    es.esk = esk;
    es.has_esk = true;
    es.state = 2;
    hsm_key kek;
    if ((rc = hsm_key_find(r->s, r->x->kek_label, HSM_KT_AES, &kek, err)) != SM_OK) {
        ecka_abort(r->s, &es);
        return rc;
    }
    ecka_result res;
    rc = ecka_finish(r->s, &es, rs.r[0].data, rs.r[0].len, &kek, &res, &e2); /* destroys the ephemeral key */
    if (rc == SM_EVERIFY || rc == SM_EPROTO)
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "%s", e2.msg);
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", e2.msg);
    dp_isdp_keys k;
    memset(&k, 0, sizeof k);
    snprintf(k.eid, sizeof k.eid, "%s", d->eid);
    snprintf(k.iccid, sizeof k.iccid, "%s", d->iccid);
    memcpy(k.aid, d->isdp_aid, d->isdp_aid_len);
    k.aid_len = d->isdp_aid_len;
    k.kvn = res.kvn;
    for (int i = 0; i < 3; i++) {
        memcpy(k.wrapped[i], res.wrapped[i], res.wrapped_len[i]);
        k.wrapped_len[i] = res.wrapped_len[i];
        memcpy(k.kcv + 3 * i, res.kcv[i], 3);
    }
    snprintf(k.kek_label, sizeof k.kek_label, "%s", r->x->kek_label);
    k.proc_id = d->proc_id;
    d->scp_seq = 0; /* the ISD-P's SCP03 sequence counter starts again with its new keys */
    rc = dp_isdp_keys_put(r->c, r->x->smdp_id, &k, err);
    if (rc == SM_OK) {
        sm_log(SM_LOG_INFO, "smdp", "isdp_keys", "proc=%lld eid=%s iccid=%s kvn=%02x", (long long)d->proc_id, d->eid,
               d->iccid, res.kvn);
        rc = dl_script_start(r, &res.keys[0], &res.keys[1], err);
    }
    ecka_result_release(r->s, &res);
    return rc;
}
