/* One delivery pass (on a worker): claim the due heads of the eUICC queues and move each one step —
 * first transmission (SMS packet, or push for HTTPS), retransmission of the same packet after a PoR
 * timeout, re-push, expiry at the deadline. The SMS to send leave with the pass; the loop sends them
 * after the transaction that recorded them committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "db/backoff.h"
#include "lib/log.h"


void es5_sends_free(es5_send *s)
{
    while (s) {
        es5_send *n = s->next;
        free(s->packet);
        free(s);
        s = n;
    }
}

static sm_rc add_send(es5_send **list, const es5_row *r, sm_err *err)
{
    es5_send *s = calloc(1, sizeof *s);
    if (!s || !(s->packet = malloc(r->packet_len ? r->packet_len : 1))) {
        free(s);
        return sm_errf(err, SM_ENOMEM, "es5: out of memory");
    }
    s->req = r->id;
    snprintf(s->msisdn, sizeof s->msisdn, "%s", r->msisdn);
    memcpy(s->packet, r->packet, r->packet_len);
    s->len = r->packet_len;
    s->next = *list;
    *list = s;
    return SM_OK;
}

static bool to_isdr(const es5_row *r, const es5_card *card)
{
    return r->aid_len == card->isdr_aid_len && !memcmp(r->aid, card->isdr_aid, r->aid_len);
}

/* ES5_CH_AUTO: an eUICC without HTTPS gets everything by SMS (a long script in several packets); one
 * with HTTPS gets ISD-P (ES8) traffic by HTTPS, and an ISD-R script by SMS only when es5.prefer_channel
 * says so and it fits one packet of es5.sms_max_parts SMS. */
static int choose(const es5_ctx *x, const es5_row *r, const es5_card *card)
{
    if (r->channel_req != ES5_CH_AUTO)
        return r->channel_req;
    if (!card->https)
        return ES5_CH_SMS;
    if (!to_isdr(r, card))
        return ES5_CH_HTTPS;
    bool fits = es5_sms_parts(es5_sms_packet_len(r->script_len)) <= (size_t)x->set.sms_max_parts;
    if (x->set.sms_on && fits && (x->set.prefer_sms || !x->set.https_on))
        return ES5_CH_SMS;
    return ES5_CH_HTTPS;
}

static long backoff(const es5_ctx *x, int sends)
{
    return db_backoff_ms(sends > 0 ? sends : 1, x->set.por_timeout_ms, x->set.retry_max_ms);
}

/* The end of the wait after a replay refusal (PoR 02) with no PoR from an earlier copy. */
static es5_status replayed_why(const es5_row *r, char *buf, size_t cap)
{
    if (r->channel == ES5_CH_HTTPS) {
        snprintf(buf, cap, "PoR 02 (counter low): the card refused the push as a replay and opened no admin session; "
                           "its SCP80 counter is ahead of ours");
        return ES5_SECURITY;
    }
    char pk[48] = "";
    if (r->sms_done)
        snprintf(pk, sizeof pk, " (packet %d of the script)", r->sms_done + 1);
    if (r->psends <= 1) {
        snprintf(buf, cap, "PoR 02 (counter low): the card's SCP80 counter is ahead of ours%s", pk);
        return ES5_SECURITY;
    }
    snprintf(buf, cap, "the card refused a retransmission as a replay (PoR 02): it ran an earlier copy whose proof of "
                       "receipt never came (outcome unknown)%s", pk);
    return ES5_CARD_ERROR;
}

static const char *expired_why(const es5_row *r, char *buf, size_t cap)
{
    if (!strcmp(r->phase, "new") && r->sms_done)
        snprintf(buf, cap, "packet %d of the script not sent before the deadline (the card ran the first %d)%s%s",
                 r->sms_done + 1, r->sms_done, r->note[0] ? ": " : "", r->note);
    else if (!strcmp(r->phase, "new"))
        snprintf(buf, cap, "not sent before the deadline%s%s", r->note[0] ? ": " : "", r->note);
    else if (!strcmp(r->phase, "sent") && r->sms_done)
        snprintf(buf, cap, "no proof of receipt for packet %d of the script before the deadline (%d transmission%s; the "
                 "card ran the first %d)", r->sms_done + 1, r->psends, r->psends == 1 ? "" : "s", r->sms_done);
    else if (!strcmp(r->phase, "sent"))
        snprintf(buf, cap, "no proof of receipt from the card before the deadline (%d transmission%s)", r->sends,
                 r->sends == 1 ? "" : "s");
    else if (!strcmp(r->phase, "pushed"))
        snprintf(buf, cap, "the card opened no admin session before the deadline (%d push%s)", r->sends,
                 r->sends == 1 ? "" : "es");
    else if (!strcmp(r->phase, "in-session"))
        snprintf(buf, cap, "the card did not answer the script before the deadline");
    else
        replayed_why(r, buf, cap);
    return buf;
}

/* Moves one locked request a step. */
static sm_rc step(db_conn *c, hsm_sess *s, const es5_ctx *x, es5_row *r, int64_t token, es5_send **sends,
                  bool *finished, sm_err *err)
{
    char why[300];
    if (!strcmp(r->phase, "replayed")) {
        *finished = true;
        es5_status st = replayed_why(r, why, sizeof why);
        return es5q_finish(c, r, st, why, NULL, 0, err);
    }
    if (r->overdue) {
        *finished = true;
        return es5q_finish(c, r, ES5_EXPIRED, expired_why(r, why, sizeof why), NULL, 0, err);
    }
    if (!strcmp(r->phase, "in-session")) {
        *finished = true;
        snprintf(why, sizeof why, "the admin session ended before the card answered the script (outcome unknown)");
        return es5q_finish(c, r, ES5_CARD_ERROR, why, NULL, 0, err);
    }
    es5_card card;
    sm_rc rc = es5q_card(c, r->eid, &card, err);
    if (rc != SM_OK)
        return rc;
    if (!r->channel)
        r->channel = choose(x, r, &card);
    bool sms = r->channel == ES5_CH_SMS;
    if ((sms && !x->set.sms_on) || (!sms && !x->set.https_on)) {
        snprintf(why, sizeof why, "no %s channel on this node (es5.%s)", sms ? "SMS" : "HTTPS",
                 sms ? "smpp_server" : "admin_listen");
        return es5q_note(c, r->id, token, x->set.retry_max_ms, why, err);
    }
    if (!sms) {
        bool open = false;
        if ((rc = es5q_session_open(c, r->eid, x->set.admin_idle_ms + 2000, &open, err)) != SM_OK)
            return rc;
        if (open) { /* the card's next poll takes it; no push */
            return es5q_set_phase(c, r->id, "pushed", NULL, x->set.session_wait_ms, ES5_CH_HTTPS, err);
        }
    }
    if (!card.msisdn[0])
        return es5q_note(c, r->id, token, x->set.retry_max_ms,
                         "the eUICC has no enabled profile with an MSISDN to send the SMS to", err);
    snprintf(r->msisdn, sizeof r->msisdn, "%s", card.msisdn);
    long delay;
    size_t end = 0;
    const char *phase;
    if (!strcmp(r->phase, "sent")) {
        /* a retransmission is the same packet: the card executes it at most once (its counter) */
        r->psends++;
        delay = backoff(x, r->psends);
        phase = "sent";
    } else {
        /* first transmission of a packet (the next share of the script, whole TLVs: es5_sms_cut), or a
         * new push (a push has no effect to double) */
        if (sms && (rc = es5q_script(c, r, err)) != SM_OK)
            return rc;
        if (sms && (rc = es5_sms_cut(r->script, r->script_len, r->sms_off, x->set.sms_max_parts, &end, err)) != SM_OK)
            return rc;
        r->sms_len = sms ? end - r->sms_off : 0;
        if ((rc = es5_sms_build(c, s, x, &card, r, !sms, err)) != SM_OK)
            return rc;
        r->psends = 1;
        phase = sms ? "sent" : "pushed";
        delay = sms ? x->set.por_timeout_ms : (r->sends ? backoff(x, r->sends + 1) : x->set.session_wait_ms);
    }
    if ((rc = es5q_mark_sent(c, r, phase, delay, err)) != SM_OK)
        return rc;
    sm_log(SM_LOG_INFO, "es5", sms ? "sms_sent" : "push_sent",
           "req=%lld eid=%s label=%s sends=%d packet=%d bytes=%zu/%zu cntr=%llu msisdn=%s", (long long)r->id, r->eid,
           r->label, r->psends, r->sms_done + 1, r->sms_off + r->sms_len, r->script_len, (unsigned long long)r->p.cntr,
           r->msisdn);
    return add_send(sends, r, err);
}

static sm_rc one(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *owner, int64_t id, int64_t token,
                 es5_send **sends, bool *moved, sm_err *err)
{
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    es5_row r;
    bool ours = false;
    es5_send *mine = NULL;
    bool finished = false;
    sm_err serr = {0};
    rc = es5q_lock_claimed(c, id, owner, token, &r, &ours, err);
    if (rc != SM_OK || !ours) {
        db_rollback(c);
        return rc;
    }
    sm_rc src = step(c, s, x, &r, token, &mine, &finished, &serr);
    if (src == SM_OK)
        src = db_commit(c, &serr);
    else
        db_rollback(c);
    if (src == SM_OK) {
        /* committed: now the packets may leave */
        es5_send **tail = &mine;
        while (*tail)
            tail = &(*tail)->next;
        *tail = *sends;
        *sends = mine;
        *moved = finished;
        es5_row_clear(&r);
        return SM_OK;
    }
    es5_sends_free(mine);
    /* the step failed and rolled back (its counter too: it was never used): note why, try later */
    char q[SM_ERR_MSG + 8];
    sm_log(SM_LOG_WARN, "es5", "step_failed", "req=%lld eid=%s phase=%s error=%s", (long long)id, r.eid, r.phase,
           SM_LOGQ(q, serr.msg));
    rc = es5q_note(c, id, token, backoff(x, r.psends + 1), serr.msg, err);
    es5_row_clear(&r);
    return rc;
}

sm_rc es5_deliver_pass(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *who, es5_send **sends, int *worked,
                       sm_err *err)
{
    *worked = 0;
    char owner[160];
    snprintf(owner, sizeof owner, "%s/%s", x->set.node, who);
    int64_t ids[ES5Q_CLAIM_MAX], tokens[ES5Q_CLAIM_MAX];
    size_t n = 0;
    sm_rc rc = es5q_claim(c, owner, x->set.lease_ms, ids, tokens, &n, err);
    for (size_t i = 0; rc == SM_OK && i < n; i++) {
        bool moved = false;
        rc = one(c, s, x, owner, ids[i], tokens[i], sends, &moved, err);
        (*worked)++;
    }
    return rc;
}
