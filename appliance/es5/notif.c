/* Default notifications from eUICCs: a command packet by MO SMS (secured with the ISD-R SCP80 keys,
 * SPI 06 00 as the simulator and the digest have it) is verified, deduplicated by sequence number,
 * handed to the SM-SR logic inside the recording transaction, and confirmed to the card
 * (HandleNotificationConfirmation: STORE DATA 80 E2 89 00 {3A08 {4E seq}}) by a request queued in
 * that same transaction — it leaves only once the notification is recorded. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "db/audit.h"
#include "db/eis_repo.h"
#include "lib/hex.h"
#include "lib/log.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static es5_notification_fn g_fn;
static void *g_arg;

void es5_set_notification_handler(es5_notification_fn fn, void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_fn = fn;
    g_arg = arg;
    pthread_mutex_unlock(&g_mu);
}

DB_STMT(q_note_notif, 6,
        "INSERT INTO es5_notification AS n (eid, seq, type, aid, channel) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (eid, seq) DO UPDATE SET times = n.times + 1, last_at = now(), "
        "received_at = CASE WHEN n.received_at < now() - make_interval(secs => $6::float8) THEN now() "
        "ELSE n.received_at END, type = CASE WHEN n.received_at < now() - make_interval(secs => $6::float8) "
        "THEN EXCLUDED.type ELSE n.type END RETURNING (n.received_at = now()), n.times");
DB_STMT(q_confirm_queued, 2,
        "SELECT 1 FROM es5_request WHERE eid = $1 AND label = $2 AND state <> 'done' AND phase = 'new' LIMIT 1");

static sm_rc queue_confirmation(db_conn *c, const char *eid, const es5_card *card, uint16_t seq, es5_channel ch,
                                sm_err *err)
{
    char label[64];
    snprintf(label, sizeof label, "NotificationConfirmation seq=%u", seq);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_text(&p, label);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_confirm_queued, &p, &r, err);
    bool queued = rc == SM_OK && db_res_rows(r) > 0;
    db_res_free(r);
    if (rc != SM_OK || queued)
        return rc; /* one confirmation waiting to be sent is enough */
    /* 22 L { 80 E2 89 00 Lc  3A 08 04 { 4E 02 seq } } */
    uint8_t tlv[2 + 12] = {0x22, 12, 0x80, 0xE2, 0x89, 0x00, 7, 0x3A, 0x08, 0x04, 0x4E, 0x02,
                           (uint8_t)(seq >> 8), (uint8_t)seq};
    es5_request rq = {.eid = eid, .aid = card->isdr_aid, .aid_len = card->isdr_aid_len, .script = tlv,
                      .script_len = sizeof tlv, .channel = ch, .label = label};
    int64_t id = 0;
    return es5q_submit(c, &rq, ES5_PRIO_CONFIRM, &id, err);
}

sm_rc es5_notif_record(db_conn *c, const es5_ctx *x, const char *eid, const es5_notif_msg *m, es5_channel ch,
                       bool *duplicate, sm_err *err)
{
    *duplicate = false;
    es5_card card;
    sm_rc rc = es5q_card(c, eid, &card, err);
    if (rc != SM_OK)
        return rc;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, card.eid);
    db_p_int(&p, m->seq);
    db_p_int(&p, m->type);
    db_p_bytea(&p, m->aid_len ? m->aid : NULL, m->aid_len);
    db_p_int(&p, ch);
    db_p_int(&p, x ? x->set.dedup_s : 86400);
    db_res *r = NULL;
    rc = db_exec(c, &q_note_notif, &p, &r, err);
    bool fresh = rc == SM_OK && db_res_rows(r) == 1 && db_res_bool(r, 0, 0);
    long times = rc == SM_OK && db_res_rows(r) == 1 ? (long)db_res_int(r, 0, 1) : 0;
    db_res_free(r);
    if (rc != SM_OK)
        return rc;
    *duplicate = !fresh;
    char aid[33] = "";
    sm_hex_encode(m->aid, m->aid_len, aid);
    const char *actor = x ? x->set.actor : "node:es5";
    if (fresh) {
        bool dup2 = false;
        char detail[120];
        snprintf(detail, sizeof detail, "default notification type %02X seq %u aid %s by %s", m->type, m->seq, aid,
                 ch == ES5_CH_SMS ? "SMS" : "HTTPS");
        rc = db_eis_note_notification(c, card.eid, m->seq, &dup2, err);
        if (rc == SM_OK)
            rc = db_eis_record(c, actor, card.eid, NULL, "notification", NULL, detail, err);
    }
    if (rc == SM_OK)
        rc = db_audit_appendf(c, err, actor, "es5.notification", card.eid, fresh ? "received" : "duplicate",
                              "type=%02X seq=%u aid=%s channel=%s times=%ld", m->type, m->seq, aid,
                              ch == ES5_CH_SMS ? "sms" : "https", times);
    if (rc == SM_OK && fresh) {
        pthread_mutex_lock(&g_mu);
        es5_notification_fn fn = g_fn;
        void *arg = g_arg;
        pthread_mutex_unlock(&g_mu);
        es5_notification n = {card.eid, m->type, m->seq, m->aid_len ? m->aid : NULL, m->aid_len, m->raw, m->raw_len,
                              ch};
        if (fn && (rc = fn(c, &n, arg, err)) != SM_OK)
            sm_err_prefix(err, "es5: the SM-SR notification handler refused type %02X seq %u of %s", m->type, m->seq,
                          card.eid);
    }
    /* confirmed again when it is a duplicate: the card did not get (or keep) the last confirmation */
    if (rc == SM_OK)
        rc = queue_confirmation(c, card.eid, &card, m->seq, ch, err);
    return rc;
}

sm_rc es5_mo_command(db_conn *c, hsm_sess *s, const es5_ctx *x, const char *msisdn, const uint8_t *ud, size_t len,
                     bool *kick, sm_err *err)
{
    *kick = false;
    char eid[33];
    sm_err lerr = {0};
    sm_rc rc = es5q_eid_by_msisdn(c, msisdn, eid, &lerr);
    if (rc == SM_ENOTFOUND) {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_NOTICE, "es5", "mo_dropped", "msisdn=%s why=%s", msisdn, SM_LOGQ(q, lerr.msg));
        return SM_OK;
    }
    if (rc != SM_OK)
        return sm_errf(err, rc, "%s", lerr.msg);
    scp80_udh h;
    if ((rc = scp80_sms_parse_udh(ud, len, &h, err)) != SM_OK)
        return rc;
    const uint8_t *pkt = ud + h.payload_off;
    size_t pl = len - h.payload_off;
    if (pl < 16)
        return sm_errf(err, SM_EPARSE, "es5: MO command packet of %zu bytes", pl);
    es5_card card;
    if ((rc = es5q_card(c, eid, &card, err)) != SM_OK)
        return rc;
    if (memcmp(pkt + 7, card.tar, 3) != 0)
        return sm_errf(err, SM_EPROTO, "es5: MO command packet for TAR %02X%02X%02X, not the ISD-R's", pkt[7], pkt[8],
                       pkt[9]);
    if ((pkt[3] & SCP80_SPI1_INTEGRITY) != SCP80_SPI1_CC)
        return sm_errf(err, SM_EVERIFY, "es5: MO command packet without a cryptographic checksum (SPI %02X)", pkt[3]);
    es5_keys k;
    if ((rc = es5_keys_scp80(c, s, &x->kek, eid, pkt[6] >> 4, &k, err)) != SM_OK)
        return rc;
    scp80_params p;
    sm_buf data;
    sm_buf_init(&data);
    rc = scp80_unwrap_command(s, pkt, pl, &k.kic, &k.kid, 0, &p, &data, err);
    es5_keys_drop(s, &k);
    es5_notif_msg m;
    if (rc == SM_OK)
        rc = es5_notif_parse(data.data, data.len, &m, err);
    char meid[33];
    if (rc == SM_OK) {
        sm_hex_encode(m.eid, 16, meid);
        for (char *q = meid; *q; q++)
            if (*q >= 'a' && *q <= 'f')
                *q = (char)(*q - 'a' + 'A');
        if (strcmp(meid, card.eid) != 0)
            rc = sm_errf(err, SM_EPROTO, "es5: a notification from %s's MSISDN names eUICC %s", card.eid, meid);
    }
    bool dup = false;
    if (rc == SM_OK && (rc = db_begin(c, err)) == SM_OK) {
        rc = es5_notif_record(c, x, card.eid, &m, ES5_CH_SMS, &dup, err);
        if (rc == SM_OK)
            rc = db_commit(c, err);
        else
            db_rollback(c);
    }
    if (rc == SM_OK) {
        *kick = true;
        sm_log(SM_LOG_INFO, "es5", dup ? "notification_duplicate" : "notification", "eid=%s type=%02X seq=%u",
               card.eid, m.type, m.seq);
    }
    sm_buf_free_wipe(&data);
    return rc;
}
