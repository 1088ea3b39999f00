/* The ES5 queue on its own (PostgreSQL only, no transport): what es5_submit refuses, cancelling,
 * the head of line per eUICC (order, confirmations first among the queued, one in flight), leases
 * taken over after a node's death, expiry at the deadline waking the procedure, purging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/es5/internal.h"
#include "db/eis_repo.h"
#include "db/proc.h"
#include "tests/support/testpg.h"

#define EID_A "89049032000000000000000000000163"
#define EID_B "89049032000000000000000000000260"
#define EID_N "89049032000000000000000000000357" /* no HTTPS */

static const uint8_t ISDR[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
static const uint8_t ISDP[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00};
static const uint8_t SCRIPT[] = {0x22, 0x05, 0x80, 0xCA, 0x00, 0x5A, 0x00};

static struct {
    testpg pg;
    char conninfo[512];
    db_pool *pool;
    db_conn *c;
    es5_ctx x;
} G;

static long sql_long(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long sql_long(const char *fmt, ...)
{
    char sql[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    db_stmt st = {sql, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(G.c, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s: %s", sql, err.msg);
    long v = db_res_rows(r) && !db_res_null(r, 0, 0) ? (long)db_res_int(r, 0, 0) : -1;
    db_res_free(r);
    return v;
}

static void reg(const char *eid, bool https)
{
    db_euicc e;
    memset(&e, 0, sizeof e);
    snprintf(e.eid, sizeof e.eid, "%s", eid);
    snprintf(e.eum_id, sizeof e.eum_id, "2.999.10.1");
    snprintf(e.smsr_id, sizeof e.smsr_id, "2.999.30.1");
    e.caps = https ? DB_CAP_HTTPS : 0;
    memcpy(e.isdr_aid.b, ISDR, 16);
    e.isdr_aid.len = 16;
    sm_err err = {0};
    if (db_eis_register(G.c, "test", &e, NULL, 0, &err) != SM_OK)
        fail_msg("register %s: %s", eid, err.msg);
}

static int setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    if (testpg_start(&G.pg) != 0 || testpg_schema_db(&G.pg, "es5q", G.conninfo, sizeof G.conninfo) != 0)
        return -1;
    G.pool = testpg_pool(G.conninfo, 2);
    if (db_pool_take(G.pool, &G.c, NULL) != SM_OK)
        return -1;
    reg(EID_A, true);
    reg(EID_B, true);
    reg(EID_N, false);
    /* a node without any channel: requests can only wait, then expire */
    G.x.set.validity_s = 3600;
    G.x.set.por_timeout_ms = 200;
    G.x.set.retry_max_ms = 200;
    G.x.set.lease_ms = 300;
    G.x.set.session_wait_ms = 200;
    snprintf(G.x.set.node, sizeof G.x.set.node, "q");
    snprintf(G.x.set.actor, sizeof G.x.set.actor, "node:q");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (G.c)
        db_pool_give(G.c);
    if (G.pool)
        db_pool_close(G.pool);
    testpg_stop(&G.pg);
    return 0;
}

static sm_rc submit_rc(const char *eid, const uint8_t *aid, const uint8_t *script, size_t len, es5_channel ch,
                       int64_t deadline_us, int64_t wake, int prio, int64_t *id, sm_err *err)
{
    es5_request r = {.eid = eid, .aid = aid, .aid_len = aid ? 16 : 0, .script = script, .script_len = len,
                     .channel = ch, .deadline_us = deadline_us, .wake_proc = wake, .label = "t"};
    sm_rc rc = db_begin(G.c, err);
    if (rc == SM_OK)
        rc = es5q_submit(G.c, &r, prio, id, err);
    if (rc == SM_OK)
        rc = db_commit(G.c, err);
    else
        db_rollback(G.c);
    return rc;
}

static int64_t submit(const char *eid, int prio)
{
    int64_t id = 0;
    sm_err err = {0};
    if (submit_rc(eid, ISDR, SCRIPT, sizeof SCRIPT, ES5_CH_SMS, 0, 0, prio, &id, &err) != SM_OK)
        fail_msg("submit: %s", err.msg);
    return id;
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void test_submit_refusals(void **state)
{
    (void)state;
    int64_t id;
    sm_err err = {0};
    assert_int_equal(submit_rc("89049032000000000000000000999999", ISDR, SCRIPT, sizeof SCRIPT, ES5_CH_SMS, 0, 0, 1,
                               &id, &err),
                     SM_ENOTFOUND);
    assert_non_null(strstr(err.msg, "unknown eUICC"));
    sm_err_clear(&err);
    assert_int_equal(submit_rc("not-an-eid", ISDR, SCRIPT, sizeof SCRIPT, ES5_CH_SMS, 0, 0, 1, &id, &err), SM_EINVAL);
    sm_err_clear(&err);
    /* an ISD-P is reached by SMS at its TAR, bytes 13..15 of its AID: a shorter AID has none */
    es5_request sr = {.eid = EID_N, .aid = ISDP, .aid_len = 14, .script = SCRIPT, .script_len = sizeof SCRIPT,
                      .channel = ES5_CH_AUTO, .label = "t"};
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    assert_int_equal(es5q_submit(G.c, &sr, 1, &id, &err), SM_EINVAL);
    db_rollback(G.c);
    assert_non_null(strstr(err.msg, "TAR"));
    sm_err_clear(&err);
    assert_int_equal(submit_rc(EID_N, ISDR, SCRIPT, sizeof SCRIPT, ES5_CH_HTTPS, 0, 0, 1, &id, &err), SM_EINVAL);
    sm_err_clear(&err);
    const uint8_t bad[] = {0x22, 0x09, 0x80};
    assert_int_equal(submit_rc(EID_A, ISDR, bad, sizeof bad, ES5_CH_SMS, 0, 0, 1, &id, &err), SM_EINVAL);
    assert_non_null(strstr(err.msg, "TLV"));
    sm_err_clear(&err);
    assert_int_equal(submit_rc(EID_A, ISDR, SCRIPT, 0, ES5_CH_SMS, 0, 0, 1, &id, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(submit_rc(EID_A, ISDR, SCRIPT, sizeof SCRIPT, (es5_channel)7, 0, 0, 1, &id, &err), SM_EINVAL);
    sm_err_clear(&err);
    assert_int_equal(submit_rc(EID_A, ISDR, SCRIPT, sizeof SCRIPT, ES5_CH_SMS, now_us() - 1000000, 0, 1, &id, &err),
                     SM_ETIMEOUT);
    sm_err_clear(&err);
    /* an element too long for one packet of es5.sms_max_parts SMS (10 when no service runs), on an
     * eUICC without HTTPS or asked for by SMS: the script cannot be cut there */
    uint8_t big[3000];
    big[0] = 0x22, big[1] = 0x82, big[2] = 0x0B, big[3] = 0xB4;
    memset(big + 4, 0, sizeof big - 4);
    sm_err_clear(&err);
    assert_int_equal(submit_rc(EID_N, ISDR, big, sizeof big, ES5_CH_AUTO, 0, 0, 1, &id, &err), SM_ELIMIT);
    assert_non_null(strstr(err.msg, "sms_max_parts"));
    assert_non_null(strstr(err.msg, "cannot be reached by HTTPS"));
    sm_err_clear(&err);
    assert_int_equal(submit_rc(EID_A, ISDP, big, sizeof big, ES5_CH_SMS, 0, 0, 1, &id, &err), SM_ELIMIT);
    assert_non_null(strstr(err.msg, "asked for by SMS"));
    sm_err_clear(&err);
    /* one of 1,404 bytes (11 SMS) neither; one of 1,020 (an SCP03t segment: 8 SMS) fits */
    big[1] = 0x82, big[2] = 0x05, big[3] = 0x78;
    assert_int_equal(submit_rc(EID_N, ISDP, big, 1404, ES5_CH_AUTO, 0, 0, 1, &id, &err), SM_ELIMIT);
    sm_err_clear(&err);
    assert_int_equal(es5_sms_parts(es5_sms_packet_len(1020)), 8);
    assert_int_equal(es5_sms_parts(es5_sms_packet_len(1404)), 11);
    assert_int_equal(es5_sms_parts(es5_sms_packet_len(sizeof SCRIPT)), 1);
    /* outside a transaction */
    es5_request r = {.eid = EID_A, .aid = ISDR, .aid_len = 16, .script = SCRIPT, .script_len = sizeof SCRIPT};
    assert_int_equal(es5_submit(G.c, &r, &id, &err), SM_ESTATE);
    /* nothing of it was stored */
    assert_int_equal(sql_long("SELECT count(*) FROM es5_request"), 0);
}

/* What goes by SMS: ISD-P (ES8) traffic to an eUICC without HTTPS, and any script asked for by SMS,
 * however long, as long as every element fits one packet; the cut at TLV boundaries. */
static void test_sms_scripts_and_cut(void **state)
{
    (void)state;
    sm_err err = {0};
    int64_t id = 0;
    /* 40 SCP03t-sized elements (1020 bytes each): 40 packets of 8 SMS at sms_max_parts 10 */
    size_t n = 40 * 1020;
    uint8_t *s = calloc(1, n);
    assert_non_null(s);
    for (size_t i = 0; i < 40; i++) {
        uint8_t *t = s + i * 1020;
        t[0] = 0x86, t[1] = 0x82, t[2] = 0x03, t[3] = 0xF8;
    }
    assert_int_equal(submit_rc(EID_N, ISDP, s, n, ES5_CH_AUTO, 0, 0, 1, &id, &err), SM_OK);
    assert_int_equal(submit_rc(EID_A, ISDP, s, n, ES5_CH_SMS, 0, 0, 1, &id, &err), SM_OK);
    /* the cut: as many whole elements as fit */
    size_t end = 0;
    assert_int_equal(es5_sms_cut(s, n, 0, 10, &end, &err), SM_OK);
    assert_int_equal(end, 1020);
    assert_int_equal(es5_sms_cut(s, n, 1020, 16, &end, &err), SM_OK);
    assert_int_equal(end, 3060); /* 2 elements: a 2,074-byte packet in 16 SMS */
    assert_int_equal(es5_sms_cut(s, n, n - 1020, 16, &end, &err), SM_OK);
    assert_int_equal(end, n);
    assert_int_equal(es5_sms_cut(s, n, 0, 7, &end, &err), SM_ELIMIT);
    assert_non_null(strstr(err.msg, "element 86 of 1020 bytes"));
    sm_err_clear(&err);
    /* small commands share a packet: as many 7-byte ones as one SMS (137 bytes) carries */
    uint8_t small[20 * sizeof SCRIPT];
    for (size_t i = 0; i < 20; i++)
        memcpy(small + i * sizeof SCRIPT, SCRIPT, sizeof SCRIPT);
    assert_int_equal(es5_sms_cut(small, sizeof small, 0, 1, &end, &err), SM_OK);
    assert_true(end > 0 && end < sizeof small && end % sizeof SCRIPT == 0);
    assert_true(es5_sms_packet_len(end) <= 137 && es5_sms_packet_len(end + sizeof SCRIPT) > 137);
    free(s);
    testpg_sql(G.conninfo, "DELETE FROM es5_request");
}

static void test_cancel(void **state)
{
    (void)state;
    sm_err err = {0};
    int64_t id = submit(EID_B, 1);
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    assert_int_equal(es5_cancel(G.c, id, &err), SM_OK);
    assert_int_equal(db_commit(G.c, &err), SM_OK);
    es5_result res;
    bool done = false;
    assert_int_equal(es5_result_get(G.c, id, &res, &done, &err), SM_OK);
    assert_true(done);
    assert_int_equal(res.status, ES5_CANCELLED);
    es5_result_clear(&res);
    assert_int_equal(es5_cancel(G.c, id, &err), SM_ESTATE);
    assert_non_null(strstr(err.msg, "already finished"));
    sm_err_clear(&err);
    assert_int_equal(es5_cancel(G.c, 999999, &err), SM_ENOTFOUND);
    /* once sent, too late */
    id = submit(EID_B, 1);
    assert_int_equal(sql_long("UPDATE es5_request SET state = 'active', phase = 'sent', sends = 1 WHERE id = %lld "
                              "RETURNING 1",
                              (long long)id),
                     1);
    sm_err_clear(&err);
    assert_int_equal(es5_cancel(G.c, id, &err), SM_ESTATE);
    assert_non_null(strstr(err.msg, "too late"));
    assert_int_equal(sql_long("UPDATE es5_request SET state = 'done' WHERE id = %lld RETURNING 1", (long long)id), 1);
}

static size_t claim(const char *owner, int64_t *ids, int64_t *tok, long lease_ms)
{
    size_t n = 0;
    sm_err err = {0};
    if (es5q_claim(G.c, owner, lease_ms, ids, tok, &n, &err) != SM_OK)
        fail_msg("claim: %s", err.msg);
    return n;
}

static bool has(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

static void finish(int64_t id, const char *owner, int64_t token)
{
    sm_err err = {0};
    es5_row r;
    bool ours = false;
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    assert_int_equal(es5q_lock_claimed(G.c, id, owner, token, &r, &ours, &err), SM_OK);
    assert_true(ours);
    assert_int_equal(es5q_finish(G.c, &r, ES5_OK, "done", NULL, 0, &err), SM_OK);
    assert_int_equal(db_commit(G.c, &err), SM_OK);
    es5_row_clear(&r);
}

/* one in flight per eUICC, in order; a confirmation goes before the queued ones, never before the one
 * in flight; another eUICC's head goes at the same time */
static void test_head_of_line(void **state)
{
    (void)state;
    int64_t a1 = submit(EID_A, 1), a2 = submit(EID_A, 1), b1 = submit(EID_B, 1);
    int64_t ids[ES5Q_CLAIM_MAX], tok[ES5Q_CLAIM_MAX];
    size_t n = claim("w1", ids, tok, 60000);
    assert_int_equal(n, 2);
    assert_true(has(ids, n, a1) && has(ids, n, b1));
    int64_t ta1 = ids[0] == a1 ? tok[0] : tok[1], tb1 = ids[0] == b1 ? tok[0] : tok[1];
    int64_t conf = submit(EID_A, ES5_PRIO_CONFIRM);
    n = claim("w2", ids, tok, 60000); /* a1 and b1 are leased, a2 and conf wait behind a1 */
    assert_int_equal(n, 0);
    finish(a1, "w1", ta1);
    n = claim("w2", ids, tok, 60000);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], conf);
    finish(conf, "w2", tok[0]);
    n = claim("w2", ids, tok, 60000);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], a2);
    finish(a2, "w2", tok[0]);
    finish(b1, "w1", tb1);
    /* the database itself refuses a second request in flight for one eUICC */
    int64_t x1 = submit(EID_A, 1), x2 = submit(EID_A, 1);
    db_stmt st = {"UPDATE es5_request SET state = 'active' WHERE state = 'queued'", 0, 0};
    sm_err err = {0};
    assert_int_equal(db_exec(G.c, &st, NULL, NULL, &err), SM_EEXIST);
    assert_int_equal(sql_long("UPDATE es5_request SET state = 'done' WHERE id IN (%lld, %lld) RETURNING 1",
                              (long long)x1, (long long)x2) > 0,
                     1);
}

/* a node that dies holding a lease: after it expires another takes the request; the dead one's token
 * no longer locks it */
static void test_lease_takeover(void **state)
{
    (void)state;
    int64_t id = submit(EID_B, 1);
    int64_t ids[ES5Q_CLAIM_MAX], tok[ES5Q_CLAIM_MAX];
    assert_int_equal(claim("dead", ids, tok, 200), 1);
    int64_t dead_tok = tok[0];
    assert_int_equal(claim("alive", ids, tok, 60000), 0);
    usleep(300000);
    assert_int_equal(claim("alive", ids, tok, 60000), 1);
    assert_int_equal(ids[0], id);
    es5_row r;
    bool ours = true;
    sm_err err = {0};
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    assert_int_equal(es5q_lock_claimed(G.c, id, "dead", dead_tok, &r, &ours, &err), SM_OK);
    assert_false(ours);
    db_rollback(G.c);
    finish(id, "alive", tok[0]);
}

static sm_rc park_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    (void)c;
    (void)p;
    (void)arg;
    (void)err;
    nx->kind = DB_NEXT_WAIT;
    return SM_OK;
}

/* no channel to send it: the request waits (the reason noted) and ends Expired at its deadline,
 * waking the procedure with that result */
static void test_expires_and_wakes(void **state)
{
    (void)state;
    sm_err err = {0};
    db_engine *e = db_engine_new("q", 0);
    db_proc_kind k = {.kind = "test.park", .step = park_step};
    assert_int_equal(db_engine_register(e, &k, &err), SM_OK);
    int64_t pid = 0;
    db_proc_new pn = {.kind = "test.park", .step = "wait", .validity_s = 60};
    assert_int_equal(db_proc_create(G.c, &pn, &pid, &err), SM_OK);
    assert_int_equal(db_engine_run(e, G.c, "t", 4, NULL, &err), SM_OK);
    int64_t id = 0;
    assert_int_equal(submit_rc(EID_A, ISDR, SCRIPT, sizeof SCRIPT, ES5_CH_SMS, now_us() + 800000, pid, 1, &id, &err),
                     SM_OK);
    es5_result res;
    bool done = false;
    for (int i = 0; i < 100 && !done; i++) {
        es5_send *sends = NULL;
        int worked = 0;
        assert_int_equal(es5_deliver_pass(G.c, NULL, &G.x, "w0", &sends, &worked, &err), SM_OK);
        assert_null(sends);
        assert_int_equal(es5_result_get(G.c, id, &res, &done, &err), SM_OK);
        if (!done)
            usleep(50000);
    }
    assert_true(done);
    assert_int_equal(res.status, ES5_EXPIRED);
    assert_non_null(strstr(res.detail, "no SMS channel"));
    es5_result_clear(&res);
    assert_int_equal(sql_long("SELECT (done_at >= deadline)::int FROM es5_request WHERE id = %lld", (long long)id), 1);
    db_proc_info pi;
    assert_int_equal(db_proc_get(G.c, pid, &pi, &err), SM_OK);
    assert_string_equal(pi.state, "ready");
    db_proc_info_clear(&pi);
    /* the audit trail has the request queued and ended */
    assert_int_equal(sql_long("SELECT count(*) FROM audit_log WHERE object = '%s' AND action IN ('es5.submit', "
                              "'es5.deliver') AND details LIKE 'req=%lld %%'",
                              EID_A, (long long)id),
                     2);
    db_engine_free(e);
    long n = -1;
    assert_int_equal(es5q_purge(G.c, 3600, &n, &err), SM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sql_long("UPDATE es5_request SET done_at = now() - interval '2 hours' WHERE state = 'done' "
                              "RETURNING 1") > 0,
                     1);
    assert_int_equal(es5q_purge(G.c, 3600, &n, &err), SM_OK);
    assert_true(n > 0);
    assert_int_equal(es5_result_get(G.c, id, &res, &done, &err), SM_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_refusals), cmocka_unit_test(test_sms_scripts_and_cut),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_head_of_line),    cmocka_unit_test(test_lease_takeover),
        cmocka_unit_test(test_expires_and_wakes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
