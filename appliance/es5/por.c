/* A PoR (response packet, UDH IEI 71) received by SMS: matched with the packet in flight of the
 * eUICC that sent it, verified with its SCP80 keys, mapped to the request's outcome. A PoR that
 * belongs to no packet in flight (a duplicate, an answer after the request ended) is logged and
 * dropped. */
#include <stdio.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "crypto/tlv.h"
#include "lib/log.h"

static void dropped(const char *eid, const char *msisdn, const char *why)
{
    char q[SM_ERR_MSG + 8];
    sm_log(SM_LOG_NOTICE, "es5", "por_dropped", "eid=%s msisdn=%s why=%s", eid, msisdn, SM_LOGQ(q, why));
}

/* An unsecured PoR (RHL 0A, no CC): the card could not or would not secure it (CC failure, TAR
 * unknown, security level). Only an error status is believed from it. */
static bool unsecured_status(const es5_row *r, const uint8_t *ud, size_t len, uint8_t *status)
{
    size_t hl, off, slen;
    uint8_t tar[3], rhl;
    if (scp80_parse_por_frame(ud, len, &hl, tar, &off, &slen, &rhl, NULL) != SM_OK || rhl != 0x0A || slen < 7 ||
        memcmp(tar, r->p.tar, 3) != 0)
        return false;
    *status = ud[off + 6];
    return *status != SCP80_POR_OK;
}

/* The elements of a response script's content other than 80 01 n (appended to rest), and that count. */
static sm_rc split_count(const uint8_t *content, size_t clen, int *count, sm_buf *rest, sm_err *err)
{
    *count = 0;
    tlv_rd rd;
    tlv_rd_init(&rd, content, clen, 0);
    tlv t;
    sm_rc rc;
    while ((rc = tlv_next(&rd, &t, err)) == SM_OK) {
        if (t.tag == 0x80 && t.len == 1)
            *count += t.val[0];
        else if (sm_buf_append(rest, t.raw, t.rawlen))
            return sm_errf(err, SM_ENOMEM, "es5: out of memory");
    }
    return rc == SM_ENOTFOUND ? SM_OK : rc;
}

/* A PoR 00 with the card's response to the packet in flight. A script cut into several packets goes on
 * with the next one while this one succeeded; the last one's (or a failing one's) PoR ends the request
 * with the responses of all the packets in order under one 80 01 n (their counts added up, at most
 * 255, as one script's). */
static sm_rc script_answered(db_conn *c, es5_row *r, const uint8_t *data, size_t len, sm_err *err)
{
    es5_status es = ES5_OK;
    const uint8_t *content = NULL;
    size_t clen = 0;
    char detail[200];
    sm_err oerr = {0};
    bool script = true;
    if (es5_outcome_script(data, len, &es, detail, sizeof detail, &content, &clen, &oerr) != SM_OK) {
        es = ES5_CARD_ERROR;
        snprintf(detail, sizeof detail, "the PoR's response data is not a response script");
        content = data;
        clen = len;
        script = false;
    }
    bool cut = r->channel == ES5_CH_SMS && r->sms_len && (r->sms_done || r->sms_off + r->sms_len < r->script_len);
    if (!cut) /* the whole script in one packet: its answer as it is */
        return es5q_finish(c, r, es, detail, content, clen, err);
    int n = 0;
    sm_buf rest, all;
    sm_buf_init(&rest);
    sm_buf_init(&all);
    sm_rc rc = script ? split_count(content, clen, &n, &rest, err)
                      : (sm_buf_append(&rest, content, clen) ? sm_errf(err, SM_ENOMEM, "es5: out of memory") : SM_OK);
    if (rc == SM_OK && es == ES5_OK && r->sms_off + r->sms_len < r->script_len) {
        rc = es5q_sms_advance(c, r, rest.data, rest.len, n, err);
        sm_log(SM_LOG_INFO, "es5", "sms_packet_done", "req=%lld eid=%s packet=%d bytes=%zu/%zu", (long long)r->id,
               r->eid, r->sms_done + 1, r->sms_off + r->sms_len, r->script_len);
    } else if (rc == SM_OK) {
        int total = r->sms_count + n;
        uint8_t cnt[3] = {0x80, 0x01, (uint8_t)(total > 255 ? 255 : total)};
        if (sm_buf_append(&all, cnt, 3) || sm_buf_append(&all, r->sms_resp, r->sms_resp_len) ||
            sm_buf_append(&all, rest.data, rest.len))
            rc = sm_errf(err, SM_ENOMEM, "es5: out of memory");
        char d2[200];
        if (es == ES5_OK)
            snprintf(d2, sizeof d2, "%d command(s) executed in %d packets", total, r->sms_done + 1);
        else
            snprintf(d2, sizeof d2, "packet %d: %.150s", r->sms_done + 1, detail);
        if (rc == SM_OK)
            rc = es5q_finish(c, r, es, d2, all.data, all.len, err);
    }
    sm_buf_free(&rest);
    sm_buf_free(&all);
    return rc;
}

static sm_rc handle(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *eid, const char *msisdn,
                    const uint8_t *ud, size_t len, bool *kick, sm_err *err)
{
    es5_row r;
    bool found = false;
    sm_rc rc = es5q_lock_active(c, eid, &r, &found, err);
    if (rc != SM_OK)
        return rc;
    if (!found || !r.kvn || (strcmp(r.phase, "sent") && strcmp(r.phase, "pushed") && strcmp(r.phase, "replayed"))) {
        dropped(eid, msisdn, "no SMS packet of this eUICC is waiting for a PoR");
        es5_row_clear(&r);
        return SM_OK;
    }
    es5_keys k;
    rc = es5_keys_scp80(c, s, &x->kek, eid, r.kvn, &k, err);
    if (rc != SM_OK) {
        es5_row_clear(&r);
        return rc;
    }
    scp80_por por;
    sm_buf data;
    sm_buf_init(&data);
    sm_err perr = {0};
    sm_rc prc = scp80_unwrap_por(s, &r.p, &k.kic, &k.kid, ud, len, &por, &data, &perr);
    es5_keys_drop(s, &k);
    char detail[200];
    uint8_t st = 0;
    if (prc == SM_EPARSE && unsecured_status(&r, ud, len, &st)) {
        es5_status es = es5_outcome_por(st, detail, sizeof detail);
        strncat(detail, " (unsecured PoR)", sizeof detail - strlen(detail) - 1);
        rc = es5q_finish(c, &r, es, detail, NULL, 0, err);
        *kick = true;
    } else if (prc == SM_EPROTO || prc == SM_EPARSE) {
        /* TAR or counter of another packet (a duplicate, an earlier push), or not a PoR of ours */
        dropped(eid, msisdn, perr.msg);
    } else if (prc == SM_EVERIFY) {
        snprintf(detail, sizeof detail, "the PoR failed its cryptographic checksum (tampered, or not from the card)");
        rc = es5q_finish(c, &r, ES5_SECURITY, detail, NULL, 0, err);
        *kick = true;
    } else if (prc != SM_OK) {
        rc = sm_errf(err, prc, "%s", perr.msg);
    } else if (por.status != SCP80_POR_OK) {
        if (por.status == SCP80_POR_CNTR_LOW) {
            if (strcmp(r.phase, "replayed") != 0) {
                /* the card refused a copy of this packet as a replay: an SMSC duplicate or our
                 * retransmission of a packet it already ran — or its counter is ahead of ours. The PoR of
                 * the copy it ran may still come (from this node or another): wait a while for it; the
                 * driver decides at the end of the wait. Never sent again. */
                rc = es5q_set_phase(c, r.id, "replayed", NULL, x->set.por_timeout_ms, 0, err);
                sm_log(SM_LOG_NOTICE, "es5", "por_replay", "req=%lld eid=%s phase=%s sends=%d", (long long)r.id, eid,
                       r.phase, r.sends);
            } else {
                dropped(eid, msisdn, "another replay refusal of the same packet");
            }
        } else {
            es5_status es = es5_outcome_por(por.status, detail, sizeof detail);
            rc = es5q_finish(c, &r, es, detail, NULL, 0, err);
            *kick = true;
        }
    } else if (r.channel == ES5_CH_HTTPS) {
        /* the push arrived (the session carries the script); after a replay refusal of another copy,
         * this one was the copy the card took: wait for the session again */
        if (!strcmp(r.phase, "replayed"))
            rc = es5q_set_phase(c, r.id, "pushed", NULL, x->set.session_wait_ms, 0, err);
        sm_log(SM_LOG_INFO, "es5", "push_acknowledged", "req=%lld eid=%s", (long long)r.id, eid);
    } else {
        rc = script_answered(c, &r, data.data, data.len, err);
        *kick = true;
    }
    sm_buf_free_wipe(&data);
    es5_row_clear(&r);
    return rc;
}

sm_rc es5_por_received(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *msisdn, const uint8_t *ud, size_t len,
                       bool *kick, sm_err *err)
{
    *kick = false;
    char eid[33];
    sm_err lerr = {0};
    sm_rc rc = es5q_eid_by_msisdn(c, msisdn, eid, &lerr);
    if (rc == SM_ENOTFOUND) {
        dropped("-", msisdn, lerr.msg);
        return SM_OK;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", lerr.msg);
    if ((rc = db_begin(c, err)) != SM_OK)
        return rc;
    rc = handle(c, s, x, eid, msisdn, ud, len, kick, err);
    if (rc == SM_OK)
        rc = db_commit(c, err);
    else
        db_rollback(c);
    if (rc != SM_OK)
        *kick = false;
    return rc;
}
