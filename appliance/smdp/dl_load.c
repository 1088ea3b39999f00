/* Download steps of the profile loading (procedures.md §3.C): the sealed profile unsealed into locked
 * memory, protected as one SCP03t session (84, 85, then one 86 per segment: one HSM encrypt and one
 * CMAC each), sent in as many ES3.SendData as smdp.send_data_max_bytes needs, every answer checked
 * (card cryptogram, R-MAC, R-ENC, error TLVs) and the ISD-P's installation result read at the end.
 *
 * Between the parts, the SCP03t session lives in the database as public values only: the host
 * challenge and sequence counter (the session keys are derived again from the ISD-P keys, which are
 * stored wrapped), the protected TLVs (ciphertext) and each segment's MAC chaining value and counter. */
#include "appliance/smdp/dl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/smdp/rscript.h"
#include "appliance/smdp/stock.h"
#include "crypto/scp03t.h"
#include "crypto/tlv.h"
#include "db/profile_repo.h"
#include "lib/hex.h"
#include "lib/log.h"

#define SUBJ_ISDP "8.3"
#define SCRIPT_MAGIC 0x53543031u /* "ST01" */

/* ---- the stored session state --------------------------------------------------------------------- */

typedef struct chunk {
    uint32_t start, len, first86, n86;
} chunk;

typedef struct sstate {
    uint8_t hc[8];
    uint8_t seq[3];
    uint8_t iu_checked;
    uint32_t nchunks, n86;
    chunk *ch;
    scp03t_pending *pend;
} sstate;

static void put32(sm_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    sm_buf_append(b, x, 4);
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3]; }

static sm_rc state_encode(const sstate *s, sm_buf *b, sm_err *err)
{
    put32(b, SCRIPT_MAGIC);
    sm_buf_append(b, s->hc, 8);
    sm_buf_append(b, s->seq, 3);
    sm_buf_append_byte(b, s->iu_checked);
    put32(b, s->nchunks);
    for (uint32_t i = 0; i < s->nchunks; i++) {
        put32(b, s->ch[i].start);
        put32(b, s->ch[i].len);
        put32(b, s->ch[i].first86);
        put32(b, s->ch[i].n86);
    }
    put32(b, s->n86);
    for (uint32_t i = 0; i < s->n86; i++) {
        sm_buf_append(b, s->pend[i].mcv, 16);
        put32(b, s->pend[i].ctr);
    }
    return b->failed ? sm_errf(err, SM_ENOMEM, "SCP03t state: out of memory") : SM_OK;
}

static void state_free(sstate *s)
{
    free(s->ch);
    free(s->pend);
    memset(s, 0, sizeof *s);
}

/* the state is our own database content, read strictly all the same */
static sm_rc state_decode(const uint8_t *p, size_t len, size_t script_len, sstate *s, sm_err *err)
{
    memset(s, 0, sizeof *s);
    size_t need = 4 + 8 + 3 + 1 + 4;
    if (len < need || get32(p) != SCRIPT_MAGIC)
        return sm_errf(err, SM_EPARSE, "SCP03t state unreadable");
    memcpy(s->hc, p + 4, 8);
    memcpy(s->seq, p + 12, 3);
    s->iu_checked = p[15];
    s->nchunks = get32(p + 16);
    if (s->nchunks == 0 || s->nchunks > 65536 || len < need + 16u * s->nchunks + 4)
        return sm_errf(err, SM_EPARSE, "SCP03t state unreadable");
    const uint8_t *q = p + need;
    s->ch = calloc(s->nchunks, sizeof *s->ch);
    if (!s->ch)
        return sm_errf(err, SM_ENOMEM, "SCP03t state: out of memory");
    for (uint32_t i = 0; i < s->nchunks; i++, q += 16) {
        s->ch[i] = (chunk){get32(q), get32(q + 4), get32(q + 8), get32(q + 12)};
        if ((uint64_t)s->ch[i].start + s->ch[i].len > script_len) {
            state_free(s);
            return sm_errf(err, SM_EPARSE, "SCP03t state does not fit its script");
        }
    }
    s->n86 = get32(q);
    q += 4;
    if (s->n86 > SCP03T_PENDING_MAX || (size_t)(p + len - q) != 20u * s->n86) {
        state_free(s);
        return sm_errf(err, SM_EPARSE, "SCP03t state unreadable");
    }
    s->pend = calloc(s->n86 ? s->n86 : 1, sizeof *s->pend);
    if (!s->pend) {
        state_free(s);
        return sm_errf(err, SM_ENOMEM, "SCP03t state: out of memory");
    }
    for (uint32_t i = 0; i < s->n86; i++, q += 20) {
        memcpy(s->pend[i].mcv, q, 16);
        s->pend[i].ctr = get32(q + 16);
        s->pend[i].tag = 0x86;
    }
    for (uint32_t i = 0; i < s->nchunks; i++)
        if ((uint64_t)s->ch[i].first86 + s->ch[i].n86 > s->n86) {
            state_free(s);
            return sm_errf(err, SM_EPARSE, "SCP03t state unreadable");
        }
    return SM_OK;
}

/* ---- building and sending ------------------------------------------------------------------------- */

static sm_rc send_chunk(dl_run *r, const sstate *st, uint32_t k, sm_err *err)
{
    dp_dl *d = r->d;
    char aid[33];
    sm_hex_encode(d->isdp_aid, d->isdp_aid_len, aid);
    for (char *q = aid; *q; q++)
        if (*q >= 'a' && *q <= 'f')
            *q = (char)(*q - 32);
    sm_rc rc = dp_dl_script(r->c, d, err);
    if (rc != SM_OK)
        return rc;
    if ((uint64_t)st->ch[k].start + st->ch[k].len > d->script_len)
        return sm_errf(err, SM_EINTERNAL, "SCP03t state: part %u lies outside the stored profile", k + 1);
    es_value *b = es_struct_new();
    es_add_str(b, "Eid", d->eid);
    es_add_str(b, "Sd-aid", aid);
    es_add_bytes(b, "Data", d->script + st->ch[k].start, st->ch[k].len);
    es_add_bool(b, "MoreToDo", true);
    d->chunk = (int)k;
    sm_log(SM_LOG_INFO, "smdp", "scp03t_part", "proc=%lld part=%u/%u bytes=%u segments=%u", (long long)d->proc_id,
           k + 1, st->nchunks, st->ch[k].len, st->ch[k].n86);
    return dl_send(r, "ES3.SendData", b, "load", err);
}

/* The profile of the download, unsealed into locked memory. */
static sm_rc unseal(dl_run *r, smdp_secbuf *pkg, sm_err *err)
{
    db_stock st;
    sm_rc rc = db_stock_get(r->c, r->d->iccid, &st, err);
    if (rc != SM_OK)
        return rc;
    hsm_key pk;
    uint8_t aad[128];
    smdp_sealed sd = {.ct = st.ciphertext, .ctlen = st.len, .aad = aad};
    memcpy(sd.iv, st.iv, sizeof sd.iv);
    if ((rc = smdp_seal_aad(st.iccid, r->d->template_id, aad, sizeof aad, &sd.aadlen, err)) == SM_OK &&
        (rc = smdp_stock_key(r->s, r->x->key_prefix, &pk, err)) == SM_OK)
        rc = smdp_unseal(r->s, &pk, &sd, pkg, err);
    db_stock_clear(&st);
    return rc;
}

/* Cuts the protected TLVs into parts of at most max bytes (whole TLVs, at least one per part). */
static sm_rc cut(const uint8_t *script, size_t len, size_t max, sstate *st, sm_err *err)
{
    tlv_rd rd;
    tlv_rd_init(&rd, script, len, 0);
    tlv t;
    sm_rc rc;
    size_t cap = len / (max > 1100 ? max - 1100 : 1) + 4;
    st->ch = calloc(cap, sizeof *st->ch);
    if (!st->ch)
        return sm_errf(err, SM_ENOMEM, "SCP03t: out of memory");
    st->nchunks = 0;
    uint32_t n86 = 0;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        uint32_t off = (uint32_t)(t.raw - script);
        chunk *c = st->nchunks ? &st->ch[st->nchunks - 1] : NULL;
        if (!c || c->len + t.rawlen > max) {
            if (st->nchunks == cap)
                return sm_errf(err, SM_EINTERNAL, "SCP03t: too many parts");
            c = &st->ch[st->nchunks++];
            *c = (chunk){off, 0, n86, 0};
        }
        c->len += (uint32_t)t.rawlen;
        if (t.tag == 0x86) {
            c->n86++;
            n86++;
        }
    }
    if (rc != SM_ENOTFOUND)
        return rc;
    st->n86 = n86;
    return SM_OK;
}

sm_rc dl_script_start(dl_run *r, const hsm_key *kenc, const hsm_key *kmac, sm_err *err)
{
    dp_dl *d = r->d;
    int seq = d->scp_seq + 1;
    if (seq > 0xFFFFFF)
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "the ISD-P's SCP03 sequence counter is exhausted");
    sstate st;
    memset(&st, 0, sizeof st);
    st.seq[0] = (uint8_t)(seq >> 16);
    st.seq[1] = (uint8_t)(seq >> 8);
    st.seq[2] = (uint8_t)seq;
    scp03t_session ss;
    memset(&ss, 0, sizeof ss);
    smdp_secbuf pkg = {0};
    sm_buf script, sb;
    sm_buf_init(&script);
    sm_buf_init(&sb);
    sm_rc rc = hsm_random(r->s, st.hc, 8, err);
    if (rc == SM_OK)
        rc = scp03t_open_precomputed(r->s, kenc, kmac, 16, st.hc, st.seq, d->isdp_aid, d->isdp_aid_len, &ss, err);
    if (rc == SM_OK && (rc = scp03t_init_update_tlv((uint8_t)d->kvn, st.hc, &script, err)) == SM_OK &&
        (rc = scp03t_ext_auth_tlv(r->s, &ss, 0x33, &script, err)) == SM_OK && (rc = unseal(r, &pkg, err)) == SM_OK)
        rc = scp03t_protect(r->s, &ss, pkg.p, pkg.len, &script, err);
    smdp_secbuf_free(&pkg); /* the clear profile is gone before anything is sent */
    if (rc == SM_OK)
        rc = cut(script.data, script.len, r->x->send_data_max, &st, err);
    if (rc == SM_OK && st.n86 != ss.npending)
        rc = sm_errf(err, SM_EINTERNAL, "SCP03t: %u segments but %zu pending answers", st.n86, ss.npending);
    if (rc == SM_OK && !(st.pend = calloc(st.n86 ? st.n86 : 1, sizeof *st.pend)))
        rc = sm_errf(err, SM_ENOMEM, "SCP03t: out of memory");
    for (uint32_t i = 0; rc == SM_OK && i < st.n86; i++)
        st.pend[i] = ss.pending[(ss.pend_head + i) % ss.pend_cap];
    if (rc == SM_OK)
        rc = state_encode(&st, &sb, err);
    scp03t_close(r->s, &ss);
    if (rc == SM_OK) {
        free(d->script);
        free(d->script_state);
        d->script = sm_buf_steal(&script, &d->script_len);
        d->script_dirty = true;
        d->script_state = sm_buf_steal(&sb, &d->script_state_len);
        d->scp_seq = seq;
        d->data_sent = true; /* from here on the card may hold (part of) this profile */
        sm_log(SM_LOG_INFO, "smdp", "scp03t_session", "proc=%lld iccid=%s bytes=%zu segments=%u parts=%u seq=%d",
               (long long)d->proc_id, d->iccid, d->script_len, st.n86, st.nchunks, seq);
        rc = send_chunk(r, &st, 0, err);
    }
    state_free(&st);
    sm_buf_free(&script);
    sm_buf_free(&sb);
    if (rc != SM_OK)
        sm_err_prefix(err, "preparing the SCP03t download");
    return rc;
}

/* ---- the answers ---------------------------------------------------------------------------------- */

/* The session again from the stored ISD-P keys and challenges, waiting for the answers of part k. */
static sm_rc resume(dl_run *r, const sstate *st, uint32_t k, scp03t_session *ss, sm_err *err)
{
    dp_dl *d = r->d;
    dp_isdp_keys keys;
    sm_rc rc = dp_isdp_keys_get(r->c, d->eid, d->isdp_aid, d->isdp_aid_len, &keys, err);
    hsm_key kek, ke, km;
    bool ke_ok = false, km_ok = false;
    hsm_keyspec sp;
    scp03_static_keyspec(16, false, &sp);
    if (rc == SM_OK)
        rc = hsm_key_find(r->s, keys.kek_label, HSM_KT_AES, &kek, err);
    if (rc == SM_OK && (rc = hsm_unwrap(r->s, &kek, keys.wrapped[0], keys.wrapped_len[0], &sp, &ke, err)) == SM_OK)
        ke_ok = true;
    if (rc == SM_OK && (rc = hsm_unwrap(r->s, &kek, keys.wrapped[1], keys.wrapped_len[1], &sp, &km, err)) == SM_OK)
        km_ok = true;
    if (rc == SM_OK)
        rc = scp03t_open_precomputed(r->s, &ke, &km, 16, st->hc, st->seq, d->isdp_aid, d->isdp_aid_len, ss, err);
    if (ke_ok)
        hsm_key_destroy(r->s, &ke, NULL);
    if (km_ok)
        hsm_key_destroy(r->s, &km, NULL);
    if (rc != SM_OK)
        return rc;
    ss->sc.sl = 0x33;
    ss->sc.authenticated = true;
    ss->iu_checked = st->iu_checked != 0;
    uint32_t n = st->ch[k].n86;
    ss->pending = calloc(n ? n : 1, sizeof *ss->pending);
    if (!ss->pending)
        return sm_errf(err, SM_ENOMEM, "SCP03t: out of memory");
    memcpy(ss->pending, st->pend + st->ch[k].first86, n * sizeof *ss->pending);
    ss->pend_cap = n ? n : 1;
    ss->npending = n;
    ss->pend_head = 0;
    return SM_OK;
}

/* Checks the card's answers to part k; plain gets the data of the answers (the EUICCResponse). A card
 * error or a verification failure is a failed download (routed), *bad set. */
static sm_rc check_part(dl_run *r, sstate *st, uint32_t k, sm_buf *plain, bool *bad, sm_err *err)
{
    *bad = true;
    const uint8_t *p = NULL;
    size_t len = 0;
    if (!es_bytes(r->ans.body, "EuiccResponseData", &p, &len))
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "ES3.SendData answered without EuiccResponseData");
    dp_rscript rs;
    sm_buf tl;
    sm_buf_init(&tl);
    sm_err e2 = {0};
    sm_rc rc = dp_rscript_parse(p, len, &rs, &tl, &e2);
    if (rc == SM_OK && (rs.n || rs.bad_format))
        rc = sm_errf(&e2, SM_EPROTO, "the eUICC answered the SCP03t data with %s",
                     rs.bad_format ? "a script format error" : "APDU responses");
    scp03t_session ss;
    memset(&ss, 0, sizeof ss);
    bool open = false;
    size_t off = 0;
    if (rc == SM_OK) {
        rc = resume(r, st, k, &ss, err);
        if (rc != SM_OK) { /* HSM or database: the step is retried */
            scp03t_close(r->s, &ss);
            sm_buf_free(&tl);
            *bad = false;
            return rc;
        }
        open = true;
    }
    if (rc == SM_OK && k == 0) { /* the card's 84 answer: its cryptogram proves the session keys */
        tlv t;
        scp03_iu iu;
        tlv_rd rd;
        tlv_rd_init(&rd, tl.data, tl.len, 0);
        rc = tlv_next(&rd, &t, &e2);
        if (rc == SM_ENOTFOUND)
            rc = sm_errf(&e2, SM_EPROTO, "no answer to the SCP03t session opening (84)");
        if (rc == SM_OK && (rc = scp03t_parse_init_update(t.raw, t.rawlen, &iu, &e2)) == SM_OK &&
            (rc = scp03t_check_init_update(&ss, &iu, &e2)) == SM_OK) {
            off = t.rawlen;
            st->iu_checked = 1;
        }
    }
    if (rc == SM_OK)
        rc = scp03t_check_responses(r->s, &ss, tl.data + off, tl.len - off, plain, &e2);
    if (rc == SM_OK && ss.npending)
        rc = sm_errf(&e2, SM_EPROTO, "the ISD-P answered %u of %u segments of part %u",
                     st->ch[k].n86 - (uint32_t)ss.npending, st->ch[k].n86, k + 1);
    if (open)
        scp03t_close(r->s, &ss);
    sm_buf_free(&tl);
    if (rc != SM_OK)
        return dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "profile download: %s", e2.msg);
    *bad = false;
    return SM_OK;
}

sm_rc dl_load(dl_run *r, sm_err *err)
{
    dp_dl *d = r->d;
    if (r->ans.status.exec != ES_EXEC_SUCCESS) {
        es_status st;
        dl_status_of_answer(&r->ans, &st);
        return dl_failed(r, &st, err);
    }
    sstate st;
    sm_rc rc = state_decode(d->script_state, d->script_state_len, d->script_len, &st, err);
    if (rc != SM_OK)
        return dl_failf(r, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "%s", err->msg);
    uint32_t k = (uint32_t)d->chunk;
    sm_buf plain;
    sm_buf_init(&plain);
    bool bad = false;
    if (k >= st.nchunks)
        rc = dl_failf(r, ES_SUBJ_PROVIDER, ES_RSN_EXEC_ERROR, "SCP03t state: part %u of %u", k + 1, st.nchunks);
    else
        rc = check_part(r, &st, k, &plain, &bad, err);
    if (rc != SM_OK || bad || k >= st.nchunks)
        goto done;
    if (k + 1 < st.nchunks) {
        sm_buf sb;
        sm_buf_init(&sb);
        if ((rc = state_encode(&st, &sb, err)) == SM_OK) {
            free(d->script_state);
            d->script_state = sm_buf_steal(&sb, &d->script_state_len);
            rc = send_chunk(r, &st, k + 1, err);
        }
        sm_buf_free(&sb);
        goto done;
    }
    /* the last part: the ISD-P's installation result */
    dp_pe_report rep;
    sm_err e2 = {0};
    if (!plain.len) {
        rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "the ISD-P gave no installation result");
    } else if (dp_euicc_response(plain.data, plain.len, &rep, &e2) != SM_OK) {
        rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "%s", e2.msg);
    } else if (rep.bad_pe >= 0 || rep.aborted) {
        rc = dl_failf(r, SUBJ_ISDP, ES_RSN_EXEC_ERROR, "the ISD-P refused the profile: PE %d, PEStatus %d%s",
                      rep.bad_pe, rep.bad_status, rep.aborted ? ", installation aborted" : "");
    } else {
        sm_log(SM_LOG_INFO, "smdp", "profile_installed", "proc=%lld eid=%s iccid=%s pes=%zu", (long long)d->proc_id,
               d->eid, d->iccid, rep.npes);
        free(d->script);
        free(d->script_state);
        d->script = d->script_state = NULL;
        d->script_len = d->script_state_len = 0;
        d->script_dirty = true;
        if ((rc = dp_isdp_keys_set_seq(r->c, d->eid, d->isdp_aid, d->isdp_aid_len, d->scp_seq, err)) == SM_OK) {
            db_stock stock;
            if ((rc = db_stock_get(r->c, d->iccid, &stock, err)) == SM_OK) {
                es_value *b = es_struct_new();
                es_add_str(b, "Eid", d->eid);
                es_add_str(b, "Iccid", d->iccid);
                es_add_str(b, "ProfileType", d->profile_type);
                if (stock.imsi[0] || stock.msisdn[0]) {
                    es_value *sa = es_add_struct(b, "SubscriptionAddress");
                    if (stock.imsi[0])
                        es_add_str(sa, "Imsi", stock.imsi);
                    if (stock.msisdn[0])
                        es_add_str(sa, "Msisdn", stock.msisdn);
                }
                rc = dl_send(r, "ES3.ProfileDownloadCompleted", b, "completed", err);
            }
            db_stock_clear(&stock);
        }
    }
done:
    sm_buf_free_wipe(&plain);
    state_free(&st);
    return rc;
}
