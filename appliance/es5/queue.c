/* The ES5 queue in PostgreSQL: submit, cancel, claims with leases, per-eUICC head of line, results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/es5/internal.h"
#include "crypto/tlv.h"
#include "db/audit.h"
#include "db/proc.h"
#include "lib/hex.h"
#include "lib/log.h"

es5_ctx *es5_running;
_Atomic long es5_default_validity_s = ES5_DEFAULT_VALIDITY_S;

#define ROW_COLS                                                                                                   \
    "id, eid, prio, aid, octet_length(script), channel_req, channel, label, state, phase, (deadline <= now()), "   \
    "(extract(epoch FROM deadline) * 1000000)::bigint, sends, coalesce(kvn, 0), spi, coalesce(kic, 0), "           \
    "coalesce(kid, 0), tar, coalesce(counter, 0), packet, coalesce(msisdn, ''), coalesce(session, ''), "           \
    "coalesce(wake_proc, 0), coalesce(wake_step, ''), coalesce(detail, ''), sms_off, sms_len, sms_done, "        \
    "sms_count, sms_resp, psends"

DB_STMT(q_card, 1,
        "SELECT e.eid, e.isdr_aid, e.isdr_tar, e.caps, coalesce((SELECT p.msisdn FROM profile p WHERE p.eid = e.eid "
        "AND p.state = 'Enabled' LIMIT 1), '') FROM euicc e WHERE e.eid = $1");
DB_STMT(q_insert, 10,
        "INSERT INTO es5_request (eid, prio, aid, script, channel_req, label, deadline, wake_proc, wake_step) "
        "SELECT $1, $2, $3, $4, $5, $6, CASE WHEN $7::bigint > 0 THEN timestamptz 'epoch' + $7::bigint * "
        "interval '1 microsecond' ELSE now() + make_interval(secs => $8::float8) END, $9, $10 "
        "WHERE $7::bigint = 0 OR timestamptz 'epoch' + $7::bigint * interval '1 microsecond' > now() RETURNING id");
DB_STMT(q_cancel, 1,
        "UPDATE es5_request SET state = 'done', status = 4, detail = 'cancelled before it was sent', "
        "done_at = now(), updated_at = now(), lease_owner = NULL, lease_token = NULL, lease_expires = NULL "
        "WHERE id = $1 AND state <> 'done' AND sends = 0 AND phase = 'new' AND "
        "(lease_owner IS NULL OR lease_expires < now()) RETURNING eid, coalesce(label, '')");
DB_STMT(q_state, 1, "SELECT state, sends, coalesce(lease_owner, '') FROM es5_request WHERE id = $1");
#define STR_(x) #x
#define STR(x) STR_(x)
DB_STMT(q_claim, 2,
        "WITH due AS (SELECT r.id FROM es5_request r WHERE r.state <> 'done' AND r.next_at <= now() AND "
        "(r.state = 'active' OR NOT EXISTS (SELECT 1 FROM es5_request q WHERE q.eid = r.eid AND q.state <> 'done' "
        "AND q.id <> r.id AND (q.state = 'active' OR q.prio < r.prio OR (q.prio = r.prio AND q.id < r.id)))) "
        "ORDER BY r.next_at LIMIT " STR(ES5Q_CLAIM_MAX) " FOR UPDATE OF r SKIP LOCKED) "
        "UPDATE es5_request r SET state = 'active', lease_owner = $1, lease_token = nextval('es5_lease_token'), "
        "lease_expires = now() + make_interval(secs => $2::float8 / 1000), "
        "next_at = now() + make_interval(secs => $2::float8 / 1000), updated_at = now() "
        "FROM due WHERE r.id = due.id RETURNING r.id, r.lease_token");
DB_STMT(q_lock_claimed, 3,
        "SELECT " ROW_COLS " FROM es5_request WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND "
        "state = 'active' FOR UPDATE");
DB_STMT(q_lock_active, 1, "SELECT " ROW_COLS " FROM es5_request WHERE eid = $1 AND state = 'active' FOR UPDATE");
DB_STMT(q_lock_id, 1, "SELECT " ROW_COLS " FROM es5_request WHERE id = $1 AND state = 'active' FOR UPDATE");
DB_STMT(q_first_queued, 1,
        "SELECT " ROW_COLS " FROM es5_request WHERE eid = $1 AND state = 'queued' ORDER BY prio, id LIMIT 1 "
        "FOR UPDATE");
DB_STMT(q_activate, 1,
        "UPDATE es5_request SET state = 'active', lease_owner = NULL, lease_token = NULL, lease_expires = NULL, "
        "updated_at = now() WHERE id = $1 AND state = 'queued'");
DB_STMT(q_mark_sent, 16,
        "UPDATE es5_request SET phase = $2, channel = $3, sends = sends + 1, kvn = $4, spi = $5, kic = $6, "
        "kid = $7, tar = $8, counter = $9, packet = coalesce($10, packet), msisdn = $11, sms_off = $14, "
        "sms_len = $15, psends = $16, "
        "next_at = least(now() + make_interval(secs => $12::float8 / 1000), deadline), session = $13, "
        "first_sent_at = coalesce(first_sent_at, clock_timestamp()), "
        "lease_owner = NULL, lease_token = NULL, lease_expires = NULL, updated_at = now() WHERE id = $1");
DB_STMT(q_sms_advance, 4,
        "UPDATE es5_request SET sms_off = sms_off + sms_len, sms_len = 0, sms_done = sms_done + 1, "
        "sms_count = sms_count + $3, sms_resp = coalesce(sms_resp, ''::bytea) || $2, phase = 'new', psends = 0, "
        "packet = NULL, next_at = now(), lease_owner = NULL, lease_token = NULL, lease_expires = NULL, "
        "updated_at = now() WHERE id = $1 AND state = 'active' AND sms_len > 0 AND sms_off + sms_len < $4");
DB_STMT(q_set_phase, 5,
        "UPDATE es5_request SET phase = $2, session = $3, channel = CASE WHEN $5 > 0 THEN $5 ELSE channel END, "
        "first_sent_at = CASE WHEN $2 = 'in-session' THEN coalesce(first_sent_at, clock_timestamp()) "
        "ELSE first_sent_at END, "
        "next_at = least(now() + make_interval(secs => $4::float8 / 1000), deadline), "
        "lease_owner = NULL, lease_token = NULL, lease_expires = NULL, updated_at = now() WHERE id = $1");
DB_STMT(q_finish, 5,
        "UPDATE es5_request SET state = 'done', status = $2, detail = $3, response = $4, channel = $5, "
        "done_at = clock_timestamp(), updated_at = now(), packet = NULL, sms_resp = NULL, session = NULL, lease_owner = NULL, "
        "lease_token = NULL, lease_expires = NULL WHERE id = $1 AND state <> 'done'");
DB_STMT(q_result, 1,
        "SELECT state, coalesce(status, 0), channel, coalesce(detail, ''), response FROM es5_request WHERE id = $1");
DB_STMT(q_note, 4,
        "UPDATE es5_request SET detail = $4, next_at = least(now() + make_interval(secs => $3::float8 / 1000), "
        "deadline), lease_owner = NULL, lease_token = NULL, lease_expires = NULL, updated_at = now() "
        "WHERE id = $1 AND lease_token = $2 AND state = 'active'");
DB_STMT(q_node, 5,
        "INSERT INTO es5_node (node, smpp_link, smpp_server, admin_conns, stats) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (node) DO UPDATE SET smpp_link = $2, smpp_server = $3, admin_conns = $4, stats = $5, "
        "updated_at = now()");
DB_STMT(q_purge, 1,
        "DELETE FROM es5_request WHERE state = 'done' AND done_at < now() - make_interval(secs => $1::float8)");
DB_STMT(q_by_msisdn, 1,
        "SELECT eid FROM profile WHERE msisdn = $1 ORDER BY state = 'Enabled' DESC, updated_at DESC LIMIT 1");
DB_STMT(q_session_open, 2,
        "SELECT 1 FROM es5_session WHERE eid = $1 AND last_seen > now() - make_interval(secs => $2::float8 / 1000) "
        "LIMIT 1");
/* last_seen moves at most once a second (es5q_session_open allows 2 s more): a card's polls in between
 * write nothing (not even a row lock, which ON CONFLICT ... WHERE would take) */
DB_STMT(q_session_touch, 3,
        "INSERT INTO es5_session (id, eid, node) SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM es5_session "
        "WHERE id = $1 AND last_seen >= now() - interval '1 second') ON CONFLICT (id) DO UPDATE SET last_seen = now()");
DB_STMT(q_session_end, 1, "DELETE FROM es5_session WHERE id = $1 OR last_seen < now() - interval '1 hour'");

static const char *actor_of(db_conn *c, char *buf, size_t cap)
{
    if (es5_running)
        return es5_running->set.actor;
    snprintf(buf, cap, "node:%s", db_pool_node(db_conn_pool(c)));
    return buf;
}

static const char *channel_name(int ch)
{
    return ch == ES5_CH_SMS ? "sms" : ch == ES5_CH_HTTPS ? "https" : "auto";
}

static const char *status_name(es5_status st)
{
    switch (st) {
    case ES5_OK:
        return "ok";
    case ES5_CARD_ERROR:
        return "card-error";
    case ES5_SECURITY:
        return "security";
    case ES5_EXPIRED:
        return "expired";
    case ES5_CANCELLED:
        return "cancelled";
    }
    return "?";
}

DB_STMT(q_script, 1, "SELECT script FROM es5_request WHERE id = $1");

sm_rc es5q_script(db_conn *c, es5_row *r, sm_err *err)
{
    if (r->script || !r->script_len)
        return SM_OK;
    return db_bytea_by_id(c, &q_script, r->id, r->script_len, "script of ES5 request", &r->script, err);
}

void es5_row_clear(es5_row *r)
{
    free(r->script);
    free(r->packet);
    free(r->sms_resp);
    memset(r, 0, sizeof *r);
}

static bool eid_ok(const char *eid)
{
    if (!eid || strlen(eid) != 32)
        return false;
    for (const char *p = eid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static void eid_upper(const char *in, char out[33])
{
    for (int i = 0; i < 32; i++)
        out[i] = (char)(in[i] >= 'a' && in[i] <= 'f' ? in[i] - 'a' + 'A' : in[i]);
    out[32] = 0;
}

sm_rc es5q_card(db_conn *c, const char *eid, es5_card *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!eid_ok(eid))
        return sm_errf(err, SM_EINVAL, "es5: EID must be 32 hex digits");
    char e[33];
    eid_upper(eid, e);
    db_params p;
    db_params_init(&p);
    db_p_text(&p, e);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_card, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "es5: unknown eUICC %s", e);
    size_t tl = 0;
    if (rc == SM_OK) {
        snprintf(out->eid, sizeof out->eid, "%s", db_res_text(r, 0, 0));
        rc = db_res_bytea_into(r, 0, 1, out->isdr_aid, sizeof out->isdr_aid, &out->isdr_aid_len, err);
    }
    if (rc == SM_OK && !db_res_null(r, 0, 2))
        rc = db_res_bytea_into(r, 0, 2, out->tar, sizeof out->tar, &tl, err);
    if (rc == SM_OK) {
        if (tl != 3) { /* the ISD-R TAR SGP.02 expects when the EIS has none */
            out->tar[0] = out->tar[1] = 0;
            out->tar[2] = 1;
        }
        if (out->isdr_aid_len < 5)
            rc = sm_errf(err, SM_ESTATE, "es5: the EIS of %s has no ISD-R AID", e);
        out->https = (db_res_int(r, 0, 3) & 2) != 0;
        snprintf(out->msisdn, sizeof out->msisdn, "%s", db_res_text(r, 0, 4));
    }
    db_res_free(r);
    return rc;
}

sm_rc es5q_submit(db_conn *c, const es5_request *rq, int prio, int64_t *id, sm_err *err)
{
    *id = 0;
    if (!db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "es5: es5_submit needs the caller's transaction");
    if (!rq->aid || rq->aid_len < 5 || rq->aid_len > 16)
        return sm_errf(err, SM_EINVAL, "es5: the target AID must be 5..16 bytes");
    if (!rq->script || rq->script_len == 0 || rq->script_len > ES5_SCRIPT_MAX)
        return sm_errf(err, SM_EINVAL, "es5: a script of 1..%u bytes is needed", ES5_SCRIPT_MAX);
    if (rq->channel != ES5_CH_AUTO && rq->channel != ES5_CH_SMS && rq->channel != ES5_CH_HTTPS)
        return sm_errf(err, SM_EINVAL, "es5: unknown channel %d", (int)rq->channel);
    if (rq->wake_step && (!*rq->wake_step || strlen(rq->wake_step) >= DB_STEP_MAX))
        return sm_errf(err, SM_EINVAL, "es5: wake_step must be 1..%d characters", DB_STEP_MAX - 1);
    if (rq->label && strlen(rq->label) > 64)
        return sm_errf(err, SM_EINVAL, "es5: label longer than 64 characters");
    if (rq->deadline_us < 0 || rq->wake_proc < 0)
        return sm_errf(err, SM_EINVAL, "es5: negative deadline or procedure id");
    /* opaque to es5, but framed by it: it must be a sequence of well-formed TLVs (22 C-APDUs, 84/85/86) */
    tlv_rd rd;
    tlv_rd_init(&rd, rq->script, rq->script_len, 0);
    tlv t;
    sm_rc rc;
    sm_err terr = {0};
    while ((rc = tlv_next(&rd, &t, &terr)) == SM_OK)
        ;
    if (rc != SM_ENOTFOUND)
        return sm_errf(err, SM_EINVAL, "es5: the script is not a sequence of TLVs (%s)", terr.msg);
    es5_card card;
    rc = es5q_card(c, rq->eid, &card, err);
    if (rc != SM_OK)
        return rc;
    if (rq->channel == ES5_CH_HTTPS && !card.https)
        return sm_errf(err, SM_EINVAL, "es5: eUICC %s does not support HTTPS (EIS HttpSupport)", card.eid);
    /* a script that has to go by SMS (asked for, or the eUICC has no HTTPS) must be addressable and cut
     * into packets of es5.sms_max_parts SMS at its TLV boundaries: refused now when it cannot */
    bool sms_only = rq->channel == ES5_CH_SMS || (rq->channel == ES5_CH_AUTO && !card.https);
    if (sms_only) {
        uint8_t tar[3];
        if ((rc = es5_sms_tar(rq->aid, rq->aid_len, &card, tar, err)) != SM_OK)
            return rc;
        int maxp = es5_running ? es5_running->set.sms_max_parts : ES5_SMS_PARTS_DEFAULT;
        size_t end = 0;
        for (size_t off = 0; off < rq->script_len; off = end) {
            sm_err cerr = {0};
            if ((rc = es5_sms_cut(rq->script, rq->script_len, off, maxp, &end, &cerr)) != SM_OK)
                return sm_errf(err, rc, "%s; eUICC %s %s", cerr.msg, card.eid,
                               card.https ? "was asked for by SMS" : "cannot be reached by HTTPS");
        }
    }
    db_params p;
    db_params_init(&p);
    db_p_text(&p, card.eid);
    db_p_int(&p, prio);
    db_p_bytea(&p, rq->aid, rq->aid_len);
    db_p_bytea(&p, rq->script, rq->script_len);
    db_p_int(&p, rq->channel);
    db_p_text(&p, rq->label ? rq->label : "");
    db_p_int(&p, rq->deadline_us);
    db_p_int(&p, atomic_load(&es5_default_validity_s));
    if (rq->wake_proc)
        db_p_int(&p, rq->wake_proc);
    else
        db_p_null(&p);
    db_p_text(&p, rq->wake_step); /* NULL: none */
    db_res *r = NULL;
    rc = db_exec(c, &q_insert, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ETIMEOUT, "es5: the request's deadline has already passed");
    if (rc == SM_OK) {
        *id = db_res_int(r, 0, 0);
        es5_admin_note_queued(c, card.eid);
    }
    db_res_free(r);
    char ab[80], aid[33];
    sm_hex_encode(rq->aid, rq->aid_len, aid);
    if (rc == SM_OK)
        rc = db_audit_appendf(c, err, actor_of(c, ab, sizeof ab), "es5.submit", card.eid, "queued",
                              "req=%lld label=%s channel=%s aid=%s bytes=%zu proc=%lld prio=%d", (long long)*id,
                              rq->label ? rq->label : "", channel_name(rq->channel), aid, rq->script_len,
                              (long long)rq->wake_proc, prio);
    if (rc != SM_OK)
        sm_err_prefix(err, "queueing an ES5 request for %s", card.eid);
    return rc;
}

sm_rc es5_submit(db_conn *c, const es5_request *r, int64_t *req_id, sm_err *err)
{
    return es5q_submit(c, r, ES5_PRIO_NORMAL, req_id, err);
}

static sm_rc do_cancel(db_conn *c, void *arg, sm_err *err)
{
    int64_t req_id = *(const int64_t *)arg;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, req_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_cancel, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1) {
        char ab[80], eid[33];
        snprintf(eid, sizeof eid, "%s", db_res_text(r, 0, 0));
        rc = db_audit_appendf(c, err, actor_of(c, ab, sizeof ab), "es5.cancel", eid, "cancelled", "req=%lld label=%s",
                              (long long)req_id, db_res_text(r, 0, 1));
        db_res_free(r);
        return rc;
    }
    db_res_free(r);
    if (rc != SM_OK)
        return rc;
    rc = db_exec(c, &q_state, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "es5: no request %lld", (long long)req_id);
    else if (rc == SM_OK && !strcmp(db_res_text(r, 0, 0), "done"))
        rc = sm_errf(err, SM_ESTATE, "es5: request %lld has already finished", (long long)req_id);
    else if (rc == SM_OK)
        rc = sm_errf(err, SM_ESTATE, "es5: request %lld is %s (sent %lld times): too late to cancel",
                     (long long)req_id, db_res_int(r, 0, 1) ? "in flight" : "being sent", (long long)db_res_int(r, 0, 1));
    db_res_free(r);
    return rc;
}

sm_rc es5_cancel(db_conn *c, int64_t req_id, sm_err *err)
{
    /* the caller's transaction when one is open (the cancel and its audit entry commit with it) */
    return db_tx(c, do_cancel, &req_id, err);
}

static sm_rc read_row(db_res *r, int i, es5_row *o, sm_err *err)
{
    memset(o, 0, sizeof *o);
    o->id = db_res_int(r, i, 0);
    snprintf(o->eid, sizeof o->eid, "%s", db_res_text(r, i, 1));
    o->prio = (int)db_res_int(r, i, 2);
    sm_rc rc = db_res_bytea_into(r, i, 3, o->aid, sizeof o->aid, &o->aid_len, err);
    o->script = NULL;
    o->script_len = (size_t)db_res_int(r, i, 4);
    o->channel_req = (int)db_res_int(r, i, 5);
    o->channel = (int)db_res_int(r, i, 6);
    snprintf(o->label, sizeof o->label, "%s", db_res_text(r, i, 7));
    snprintf(o->state, sizeof o->state, "%s", db_res_text(r, i, 8));
    snprintf(o->phase, sizeof o->phase, "%s", db_res_text(r, i, 9));
    o->overdue = db_res_bool(r, i, 10);
    o->deadline_us = db_res_int(r, i, 11);
    o->sends = (int)db_res_int(r, i, 12);
    o->kvn = (int)db_res_int(r, i, 13);
    size_t l = 0;
    if (rc == SM_OK && !db_res_null(r, i, 14))
        rc = db_res_bytea_into(r, i, 14, o->p.spi, 2, &l, err);
    o->p.kic = (uint8_t)db_res_int(r, i, 15);
    o->p.kid = (uint8_t)db_res_int(r, i, 16);
    if (rc == SM_OK && !db_res_null(r, i, 17))
        rc = db_res_bytea_into(r, i, 17, o->p.tar, 3, &l, err);
    o->p.cntr = (uint64_t)db_res_int(r, i, 18);
    if (rc == SM_OK)
        rc = db_res_bytea(r, i, 19, &o->packet, &o->packet_len, err);
    snprintf(o->msisdn, sizeof o->msisdn, "%s", db_res_text(r, i, 20));
    snprintf(o->session, sizeof o->session, "%s", db_res_text(r, i, 21));
    o->wake_proc = db_res_int(r, i, 22);
    snprintf(o->wake_step, sizeof o->wake_step, "%s", db_res_text(r, i, 23));
    snprintf(o->note, sizeof o->note, "%s", db_res_text(r, i, 24));
    o->sms_off = (size_t)db_res_int(r, i, 25);
    o->sms_len = (size_t)db_res_int(r, i, 26);
    o->sms_done = (int)db_res_int(r, i, 27);
    o->sms_count = (int)db_res_int(r, i, 28);
    if (rc == SM_OK)
        rc = db_res_bytea(r, i, 29, &o->sms_resp, &o->sms_resp_len, err);
    o->psends = (int)db_res_int(r, i, 30);
    if (rc == SM_OK && (o->sms_off > o->script_len || o->sms_len > o->script_len - o->sms_off))
        rc = sm_errf(err, SM_EPARSE, "es5: request %lld: packet %zu+%zu outside its %zu-byte script", (long long)o->id,
                     o->sms_off, o->sms_len, o->script_len);
    if (rc != SM_OK)
        es5_row_clear(o);
    return rc;
}

static sm_rc lock_one(db_conn *c, db_stmt *st, const db_params *p, es5_row *out, bool *found, sm_err *err)
{
    *found = false;
    memset(out, 0, sizeof *out);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, st, p, &r, err);
    if (rc == SM_OK && db_res_rows(r) == 1) {
        rc = read_row(r, 0, out, err);
        *found = rc == SM_OK;
    }
    db_res_free(r);
    return rc;
}

sm_rc es5q_claim(db_conn *c, const char *owner, long lease_ms, int64_t *ids, int64_t *tokens, size_t *n, sm_err *err)
{
    const int max = ES5Q_CLAIM_MAX;
    *n = 0;
    sm_rc rc = db_begin(c, err);
    if (rc != SM_OK)
        return rc;
    rc = db_tx_async_commit(c, err); /* a lost claim only makes the request due again */
    db_params p;
    db_params_init(&p);
    db_p_text(&p, owner);
    db_p_int(&p, lease_ms);
    db_res *r = NULL;
    sm_err cerr = {0};
    sm_rc crc = rc == SM_OK ? db_exec(c, &q_claim, &p, &r, &cerr) : rc;
    for (int i = 0; crc == SM_OK && i < db_res_rows(r) && i < max; i++) {
        ids[i] = db_res_int(r, i, 0);
        tokens[i] = db_res_int(r, i, 1);
        (*n)++;
    }
    db_res_free(r);
    if (crc == SM_EEXIST) {
        /* two heads of one eUICC raced for the one in-flight slot: the unique index kept the rule; the
         * loser tries again on the next pass */
        db_rollback(c);
        *n = 0;
        return SM_OK;
    }
    if (crc != SM_OK) {
        db_rollback(c);
        return sm_errf(err, crc, "%s", cerr.msg[0] ? cerr.msg : "es5: claim failed");
    }
    rc = db_commit(c, err);
    if (rc != SM_OK)
        *n = 0;
    return rc;
}

sm_rc es5q_lock_claimed(db_conn *c, int64_t id, const char *owner, int64_t token, es5_row *out, bool *ours,
                        sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_p_text(&p, owner);
    db_p_int(&p, token);
    return lock_one(c, &q_lock_claimed, &p, out, ours, err);
}

sm_rc es5q_lock_active(db_conn *c, const char *eid, es5_row *out, bool *found, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    return lock_one(c, &q_lock_active, &p, out, found, err);
}

sm_rc es5q_lock_id(db_conn *c, int64_t id, es5_row *out, bool *found, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    return lock_one(c, &q_lock_id, &p, out, found, err);
}

sm_rc es5q_lock_head_https(db_conn *c, const char *eid, es5_row *out, bool *found, sm_err *err)
{
    sm_rc rc = es5q_lock_active(c, eid, out, found, err);
    if (rc != SM_OK)
        return rc;
    if (!*found) {
        db_params p;
        db_params_init(&p);
        db_p_text(&p, eid);
        rc = lock_one(c, &q_first_queued, &p, out, found, err);
        if (rc == SM_OK && *found && out->channel_req != ES5_CH_SMS) {
            db_params_init(&p);
            db_p_int(&p, out->id);
            rc = db_exec(c, &q_activate, &p, NULL, err);
            snprintf(out->state, sizeof out->state, "active");
        }
    }
    if (rc == SM_OK && *found &&
        (out->channel_req == ES5_CH_SMS || out->channel == ES5_CH_SMS ||
         (strcmp(out->phase, "new") != 0 && strcmp(out->phase, "pushed") != 0 &&
          strcmp(out->phase, "replayed") != 0))) {
        es5_row_clear(out);
        *found = false; /* it goes (or went) by SMS, or a session holds it already */
    }
    return rc;
}

sm_rc es5q_mark_sent(db_conn *c, const es5_row *r, const char *phase, long delay_ms, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, r->id);
    db_p_text(&p, phase);
    db_p_int(&p, r->channel);
    if (r->kvn) {
        db_p_int(&p, r->kvn);
        db_p_bytea(&p, r->p.spi, 2);
        db_p_int(&p, r->p.kic);
        db_p_int(&p, r->p.kid);
        db_p_bytea(&p, r->p.tar, 3);
        db_p_int(&p, (int64_t)r->p.cntr);
    } else {
        for (int i = 0; i < 6; i++)
            db_p_null(&p);
    }
    db_p_bytea(&p, r->packet, r->packet_len);
    db_p_text(&p, r->msisdn[0] ? r->msisdn : NULL);
    db_p_int(&p, delay_ms);
    db_p_text(&p, r->session[0] ? r->session : NULL);
    db_p_int(&p, (int64_t)r->sms_off);
    db_p_int(&p, (int64_t)r->sms_len);
    db_p_int(&p, r->psends);
    return db_exec(c, &q_mark_sent, &p, NULL, err);
}

sm_rc es5q_sms_advance(db_conn *c, const es5_row *r, const uint8_t *resp, size_t resp_len, int count, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, r->id);
    db_p_bytea(&p, resp ? resp : (const uint8_t *)"", resp_len);
    db_p_int(&p, count);
    db_p_int(&p, (int64_t)r->script_len);
    db_res *res = NULL;
    sm_rc rc = db_exec(c, &q_sms_advance, &p, &res, err);
    if (rc == SM_OK && db_res_affected(res) != 1)
        rc = sm_errf(err, SM_ESTATE, "es5: request %lld has no further packet to send", (long long)r->id);
    db_res_free(res);
    return rc;
}

sm_rc es5q_set_phase(db_conn *c, int64_t id, const char *phase, const char *session, long delay_ms, int channel,
                     sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_p_text(&p, phase);
    db_p_text(&p, session && *session ? session : NULL);
    db_p_int(&p, delay_ms);
    db_p_int(&p, channel);
    return db_exec_later(c, &q_set_phase, &p, err);
}

sm_rc es5q_finish(db_conn *c, const es5_row *r, es5_status st, const char *detail, const uint8_t *resp,
                  size_t resp_len, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, r->id);
    db_p_int(&p, st);
    db_p_text(&p, detail ? detail : "");
    db_p_bytea(&p, resp, resp_len);
    db_p_int(&p, r->channel);
    db_res *res = NULL;
    sm_rc rc = db_exec(c, &q_finish, &p, &res, err);
    bool ended = rc == SM_OK && db_res_affected(res) == 1;
    db_res_free(res);
    if (rc != SM_OK || !ended)
        return rc;
    if (r->wake_proc) {
        /* the script left for the card: an SMS packet was sent (or some were run), or a session took it */
        bool ran = !strcmp(r->phase, "sent") || !strcmp(r->phase, "replayed") || !strcmp(r->phase, "in-session") ||
                   r->sms_done > 0 || resp_len > 0;
        es5_result res5 = {.req_id = r->id, .status = st, .channel = (es5_channel)r->channel,
                           .response = (uint8_t *)resp, .response_len = resp_len, .maybe_ran = ran};
        snprintf(res5.detail, sizeof res5.detail, "%s", detail ? detail : "");
        uint8_t *data = NULL;
        size_t dl = 0;
        rc = es5_result_encode(&res5, &data, &dl, err);
        sm_err werr = {0};
        sm_rc wrc = rc == SM_OK ? db_proc_wake(c, r->wake_proc, r->wake_step[0] ? r->wake_step : NULL, data, dl, &werr)
                                : rc;
        free(data);
        if (rc == SM_OK && wrc == SM_ESTATE) {
            /* the procedure gave up meanwhile (expired, failed): the result stays in es5_request */
            char q[SM_ERR_MSG + 8];
            sm_log(SM_LOG_NOTICE, "es5", "wake_skipped", "req=%lld proc=%lld why=%s", (long long)r->id,
                   (long long)r->wake_proc, SM_LOGQ(q, werr.msg));
        } else if (rc == SM_OK && wrc != SM_OK) {
            rc = sm_errf(err, wrc, "%s", werr.msg);
        }
    }
    char ab[80];
    if (rc == SM_OK)
        rc = db_audit_appendf(c, err, actor_of(c, ab, sizeof ab), "es5.deliver", r->eid, status_name(st),
                              "req=%lld label=%s channel=%s sends=%d proc=%lld detail=%s", (long long)r->id, r->label,
                              channel_name(r->channel), r->sends, (long long)r->wake_proc, detail ? detail : "");
    if (rc == SM_OK) {
        char q[300];
        sm_log(st == ES5_OK ? SM_LOG_INFO : SM_LOG_NOTICE, "es5", "request_done",
               "req=%lld eid=%s label=%s status=%s channel=%s sends=%d detail=%s", (long long)r->id, r->eid, r->label,
               status_name(st), channel_name(r->channel), r->sends, SM_LOGQ(q, detail ? detail : ""));
    }
    return rc;
}

sm_rc es5q_purge(db_conn *c, long retention_s, long *n, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, retention_s);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_purge, &p, &r, err);
    *n = rc == SM_OK ? db_res_affected(r) : 0;
    db_res_free(r);
    return rc;
}

sm_rc es5_result_get(db_conn *c, int64_t req_id, es5_result *out, bool *done, sm_err *err)
{
    *done = false;
    db_params p;
    db_params_init(&p);
    db_p_int(&p, req_id);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_result, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "es5: no request %lld", (long long)req_id);
    if (rc == SM_OK && !strcmp(db_res_text(r, 0, 0), "done")) {
        memset(out, 0, sizeof *out);
        out->req_id = req_id;
        out->status = (es5_status)db_res_int(r, 0, 1);
        out->channel = (es5_channel)db_res_int(r, 0, 2);
        snprintf(out->detail, sizeof out->detail, "%s", db_res_text(r, 0, 3));
        rc = db_res_bytea(r, 0, 4, &out->response, &out->response_len, err);
        *done = rc == SM_OK;
    }
    db_res_free(r);
    return rc;
}

sm_rc es5q_eid_by_msisdn(db_conn *c, const char *msisdn, char eid[33], sm_err *err)
{
    eid[0] = 0;
    db_params p;
    db_params_init(&p);
    db_p_text(&p, msisdn);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_by_msisdn, &p, &r, err);
    if (rc == SM_OK && db_res_rows(r) != 1)
        rc = sm_errf(err, SM_ENOTFOUND, "es5: no eUICC has a profile with MSISDN %s", msisdn);
    if (rc == SM_OK)
        snprintf(eid, 33, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
    return rc;
}

sm_rc es5q_session_open(db_conn *c, const char *eid, long max_age_ms, bool *open, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, eid);
    db_p_int(&p, max_age_ms);
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_session_open, &p, &r, err);
    *open = rc == SM_OK && db_res_rows(r) > 0;
    db_res_free(r);
    return rc;
}

sm_rc es5q_session_touch(db_conn *c, const char *id, const char *eid, const char *node, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, id);
    db_p_text(&p, eid);
    db_p_text(&p, node);
    return db_exec(c, &q_session_touch, &p, NULL, err);
}

sm_rc es5q_session_end(db_conn *c, const char *id, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, id);
    return db_exec(c, &q_session_end, &p, NULL, err);
}

sm_rc es5q_note(db_conn *c, int64_t id, int64_t token, long delay_ms, const char *why, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_int(&p, id);
    db_p_int(&p, token);
    db_p_int(&p, delay_ms);
    db_p_text(&p, why);
    return db_exec(c, &q_note, &p, NULL, err);
}

sm_rc es5q_node_report(db_conn *c, const char *node, const char *link, const char *server, int conns,
                       const char *stats, sm_err *err)
{
    db_params p;
    db_params_init(&p);
    db_p_text(&p, node);
    db_p_text(&p, link);
    db_p_text(&p, server);
    db_p_int(&p, conns);
    db_p_text(&p, stats);
    return db_exec(c, &q_node, &p, NULL, err);
}
