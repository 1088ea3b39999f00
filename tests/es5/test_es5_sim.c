/* ES5 delivery against the real simulator (tests/sim): SMS with PoR, HTTPS by push + PSK-TLS, order
 * per card and parallel cards, unreachable card expiring, SMSC loss and duplication, counter ahead,
 * tampered PoR, notifications deduplicated and confirmed, an ISD-P script by SMS to a card without
 * HTTPS in several packets through a lossy and duplicating SMSC. One simulator, one node (SMS packets of
 * at most 2 parts), a small fleet. */
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
#include "crypto/scp80.h"
#include "db/proc.h"
#include "lib/hex.h"
#include "tests/support/es5test.h"
#include "tests/support/testpg.h"

#define NCARDS 10 /* the last one declares no HTTPS (sim fleet --sms-only 1) */

static struct {
    testenv_hsm T;
    testpg pg;
    char dir[256];
    char conninfo[512];
    es5t_fleet fleet;
    es5t_sim sim;
    es5t_node node;
    db_pool *pool;    /* the test's own connections */
    db_conn *c;
    int notified;
    uint8_t last_type;
    uint32_t last_seq;
} G;

static sm_rc on_notification(db_conn *c, const es5_notification *n, void *arg, sm_err *err)
{
    (void)c;
    (void)arg;
    (void)err;
    G.notified++;
    G.last_type = n->type;
    G.last_seq = n->seq;
    return SM_OK;
}

static int setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    if (testenv_hsm_setup(&G.T) != 0 || testpg_start(&G.pg) != 0 ||
        testpg_schema_db(&G.pg, "es5sim", G.conninfo, sizeof G.conninfo) != 0 ||
        testenv_mkdtemp(G.dir, sizeof G.dir, "smbox-es5") != 0)
        return -1;
    char fdir[300];
    snprintf(fdir, sizeof fdir, "%s/fleet", G.dir);
    if (es5t_fleet_make2(&G.fleet, fdir, NCARDS, 1) != 0 || G.fleet.cards[NCARDS - 1].https) {
        fprintf(stderr, "sim fleet failed\n");
        return -1;
    }
    int smpp = es5t_free_port(), admin = es5t_free_port();
    if (es5t_sim_start(&G.sim, &G.fleet, smpp, admin, "--notif-retry-ms 400") != 0) {
        fprintf(stderr, "sim run failed (log %s)\n", G.sim.log);
        return -1;
    }
    char yaml[2000];
    snprintf(yaml, sizeof yaml,
             "  smpp_server: 127.0.0.1:%d\n  sms_source_addr: \"%s\"\n  admin_listen: 127.0.0.1:%d\n"
             "  admin_url: https://127.0.0.1:%d/ram\n  por_timeout_ms: 1500\n  session_wait_ms: 4000\n"
             "  poll_ms: 20\n  admin_idle_ms: 1500\n  admin_hold_ms: 1200\n  lease_ms: 3000\n  retry_max_ms: 3000\n"
             "  smpp_reconnect_max_s: 1\n  prefer_channel: sms\n  sms_max_parts: 2\n",
             smpp, ES5T_SR_SMS, admin, admin);
    es5_set_notification_handler(on_notification, NULL);
    if (es5t_node_start(&G.node, &G.T, G.dir, "n1", G.conninfo, yaml) != 0)
        return -1;
    G.pool = testpg_pool(G.conninfo, 2);
    sm_err err = {0};
    if (db_pool_take(G.pool, &G.c, &err) != SM_OK)
        return -1;
    if (es5t_fleet_import(&G.fleet, G.c, G.node.app.loop_hsm, &G.node.app.keys.key[AK_KEK],
                          G.node.app.keys.label[AK_KEK]) != 0) {
        fprintf(stderr, "fleet import failed\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (G.c)
        db_pool_give(G.c);
    if (G.pool)
        db_pool_close(G.pool);
    es5t_node_stop(&G.node);
    es5t_sim_stop(&G.sim);
    es5t_fleet_free(&G.fleet);
    testpg_stop(&G.pg);
    testenv_hsm_teardown(&G.T);
    testenv_rmtree(G.dir);
    return 0;
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Submits one request in its own transaction and kicks the service. */
static int64_t submit(const es5t_card *card, const uint8_t *aid, size_t aid_len, const uint8_t *script, size_t len,
                      es5_channel ch, int64_t deadline_us, int64_t wake, const char *label)
{
    es5_request r = {.eid = card->eid,
                     .aid = aid ? aid : card->isdr_aid,
                     .aid_len = aid ? aid_len : card->isdr_aid_len,
                     .script = script,
                     .script_len = len,
                     .channel = ch,
                     .deadline_us = deadline_us,
                     .wake_proc = wake,
                     .label = label};
    sm_err err = {0};
    int64_t id = 0;
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    if (es5_submit(G.c, &r, &id, &err) != SM_OK)
        fail_msg("es5_submit: %s", err.msg);
    assert_int_equal(db_commit(G.c, &err), SM_OK);
    es5_kick(&G.node.app);
    return id;
}

static void wait_done(int64_t id, int timeout_ms, es5_result *res)
{
    memset(res, 0, sizeof *res);
    if (es5t_wait_result(G.c, id, timeout_ms, res) != 0)
        fail_msg("request %lld did not finish in %d ms (sim log %s)", (long long)id, timeout_ms, G.sim.log);
}

static long sql_long(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long sql_long(const char *fmt, ...)
{
    char sql[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    /* a fresh statement each call (its id, and so its prepared name, is never reused) */
    db_stmt st = {sql, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(G.c, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s: %s", sql, err.msg);
    long v = db_res_rows(r) && !db_res_null(r, 0, 0) ? (long)db_res_int(r, 0, 0) : -1;
    db_res_free(r);
    return v;
}

static long req_int(int64_t id, const char *col)
{
    return sql_long("SELECT %s FROM es5_request WHERE id = %lld", col, (long long)id);
}

static bool has_bytes(const uint8_t *p, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(p + i, needle, m))
            return true;
    return false;
}

/* ---- a test procedure kind: parks, then keeps the es5 result it is woken with ------------------- */

static sm_rc park_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    (void)c;
    (void)arg;
    (void)err;
    if (!strcmp(p->step, "start")) {
        nx->kind = DB_NEXT_WAIT;
        snprintf(nx->step, sizeof nx->step, "answered");
        return SM_OK;
    }
    nx->kind = DB_NEXT_DONE;
    if (p->data_len) {
        nx->result = malloc(p->data_len);
        memcpy(nx->result, p->data, p->data_len);
        nx->result_len = p->data_len;
    }
    return SM_OK;
}

/* 1. A script to the ISD-R by SMS: SCP80 packet, PoR verified, the waiting procedure woken with it. */
static void test_sms_script_por(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[0];
    sm_err err = {0};
    db_engine *e = db_engine_new("test", 0);
    db_proc_kind k = {.kind = "test.park", .step = park_step};
    assert_int_equal(db_engine_register(e, &k, &err), SM_OK);
    int64_t pid = 0;
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    db_proc_new pn = {.kind = "test.park", .step = "start", .eid = card->eid, .validity_s = 60};
    assert_int_equal(db_proc_create(G.c, &pn, &pid, &err), SM_OK);
    assert_int_equal(db_commit(G.c, &err), SM_OK);
    assert_int_equal(db_engine_run(e, G.c, "t", 4, NULL, &err), SM_OK); /* parks */

    uint8_t script[64];
    size_t sl = es5t_capdu(script, sizeof script, "80CA005A00");
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_SMS, 0, pid, "GetEID");
    es5_result res;
    wait_done(id, 15000, &res);
    assert_int_equal(res.status, ES5_OK);
    assert_int_equal(res.channel, ES5_CH_SMS);
    /* R-APDU 23 { 5A 10 EID 90 00 } */
    uint8_t eid[16];
    size_t el = 0;
    assert_int_equal(sm_hex_decode(card->eid, eid, sizeof eid, &el, NULL), SM_OK);
    assert_true(has_bytes(res.response, res.response_len, eid, 16));
    const uint8_t sw[2] = {0x90, 0x00};
    assert_true(res.response_len >= 2 && has_bytes(res.response, res.response_len, sw, 2));
    es5_result_clear(&res);
    assert_int_equal(req_int(id, "sends"), 1);

    /* the procedure was woken with the result as its data */
    assert_int_equal(db_engine_run(e, G.c, "t", 4, NULL, &err), SM_OK);
    db_proc_info pi;
    assert_int_equal(db_proc_get(G.c, pid, &pi, &err), SM_OK);
    assert_string_equal(pi.state, "done");
    es5_result woke;
    assert_int_equal(es5_result_decode(pi.result, pi.result_len, &woke, &err), SM_OK);
    assert_int_equal(woke.req_id, id);
    assert_int_equal(woke.status, ES5_OK);
    assert_true(has_bytes(woke.response, woke.response_len, eid, 16));
    es5_result_clear(&woke);
    db_proc_info_clear(&pi);
    db_engine_free(e);
}

/* 2. HTTPS: push SMS, the card opens PSK-TLS to the admin server, script and answer in the session. */
static void test_https_push_session(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[1];
    long push0 = es5t_sim_stat(&G.sim, "push"), sess0 = es5t_sim_stat(&G.sim, "https_sessions");
    uint8_t script[64];
    size_t sl = es5t_capdu(script, sizeof script, "80CAFF2100");
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_HTTPS, 0, 0, "GetData FF21");
    es5_result res;
    wait_done(id, 15000, &res);
    if (res.status != ES5_OK)
        fail_msg("status %d: %s", res.status, res.detail);
    assert_int_equal(res.channel, ES5_CH_HTTPS);
    const uint8_t ff21[2] = {0xFF, 0x21};
    assert_true(has_bytes(res.response, res.response_len, ff21, 2));
    es5_result_clear(&res);
    assert_true(es5t_sim_stat(&G.sim, "push") > push0);
    assert_true(es5t_sim_stat(&G.sim, "https_sessions") > sess0);

    /* a script to an ISD-P the card does not have: X-Admin-Targeted-Application, unknown-application */
    const uint8_t nop[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0, 0, 0x77, 0};
    const uint8_t tlv84[] = {0x84, 0x03, 0x30, 0x01, 0x00};
    id = submit(card, nop, sizeof nop, tlv84, sizeof tlv84, ES5_CH_AUTO, 0, 0, "to an absent ISD-P");
    wait_done(id, 15000, &res);
    assert_int_equal(res.status, ES5_CARD_ERROR);
    assert_int_equal(res.channel, ES5_CH_HTTPS);
    assert_non_null(strstr(res.detail, "unknown-application"));
    es5_result_clear(&res);
}

/* 2b. Long polling: the card's POST that found no work is held, and answered with the next script as
 * soon as that script is queued (not at the card's next poll); at the end of the idle time the session
 * ends. The simulator polls every 200 ms after a 204, so answering at once would cost a POST each time. */
static void test_https_held_post(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[2];
    uint8_t script[64];
    size_t sl = es5t_capdu(script, sizeof script, "80CAFF2100");
    es5_result res;
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_HTTPS, 0, 0, "GetData FF21 (opens the session)");
    wait_done(id, 15000, &res);
    assert_int_equal(res.status, ES5_OK);
    es5_result_clear(&res);
    long posts0 = es5t_sim_stat(&G.sim, "https_posts"), sess0 = es5t_sim_stat(&G.sim, "https_sessions");
    usleep(600 * 1000); /* the session idles: its POST is held, not answered and repeated */
    int64_t t0 = now_us();
    id = submit(card, NULL, 0, script, sl, ES5_CH_HTTPS, 0, 0, "GetData FF21 (in the held POST)");
    wait_done(id, 15000, &res);
    int64_t took_ms = (now_us() - t0) / 1000;
    assert_int_equal(res.status, ES5_OK);
    assert_int_equal(res.channel, ES5_CH_HTTPS);
    es5_result_clear(&res);
    long posts = es5t_sim_stat(&G.sim, "https_posts") - posts0;
    /* the held POST got the script, the next one carried the answer (with 204s: 3 more polls meanwhile) */
    if (posts > 2)
        fail_msg("%ld POSTs for one script in an idle session (took %lld ms)", posts, (long long)took_ms);
    assert_int_equal(es5t_sim_stat(&G.sim, "https_sessions"), sess0); /* the same session, no push */
    /* the idle time runs out in a held POST: the session ends (204 without X-Admin-Next-URI) */
    long open = 1;
    for (int i = 0; i < 60 && open; i++) {
        usleep(100 * 1000);
        open = sql_long("SELECT count(*) FROM es5_session WHERE eid = '%s'", card->eid);
    }
    assert_int_equal(open, 0);
}

/* 3. Requests to one card are delivered in order, one at a time; another card's go meanwhile. The
 * slow card answers its admin session's scripts late (slow-ms applies to its POSTs). */
static void test_order_and_parallel(void **state)
{
    (void)state;
    const es5t_card *slow = &G.fleet.cards[2], *fast = &G.fleet.cards[3];
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s slow-ms 800", slow->eid), 0);
    uint8_t s1[64], s2[64], s3[64];
    size_t l1 = es5t_capdu(s1, sizeof s1, "80CA005A00"), l2 = es5t_capdu(s2, sizeof s2, "80CAFF2100"),
           l3 = es5t_capdu(s3, sizeof s3, "80F24002024F0000");
    int64_t a[3], b[3];
    a[0] = submit(slow, NULL, 0, s1, l1, ES5_CH_HTTPS, 0, 0, "slow-1");
    a[1] = submit(slow, NULL, 0, s2, l2, ES5_CH_HTTPS, 0, 0, "slow-2");
    a[2] = submit(slow, NULL, 0, s3, l3, ES5_CH_HTTPS, 0, 0, "slow-3");
    b[0] = submit(fast, NULL, 0, s1, l1, ES5_CH_SMS, 0, 0, "fast-1");
    b[1] = submit(fast, NULL, 0, s2, l2, ES5_CH_SMS, 0, 0, "fast-2");
    b[2] = submit(fast, NULL, 0, s3, l3, ES5_CH_SMS, 0, 0, "fast-3");
    es5_result res;
    for (int i = 0; i < 3; i++) {
        wait_done(a[i], 20000, &res);
        if (res.status != ES5_OK)
            fail_msg("slow %d: status %d %s", i, res.status, res.detail);
        es5_result_clear(&res);
        wait_done(b[i], 20000, &res);
        assert_int_equal(res.status, ES5_OK);
        es5_result_clear(&res);
    }
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s slow-ms 0", slow->eid), 0);
    /* never interleaved: each request was first sent after the previous one of its card finished */
    for (int i = 1; i < 3; i++) {
        char col[200];
        snprintf(col, sizeof col,
                 "(first_sent_at >= (SELECT done_at FROM es5_request WHERE id = %lld))::int", (long long)a[i - 1]);
        assert_int_equal(req_int(a[i], col), 1);
        snprintf(col, sizeof col,
                 "(first_sent_at >= (SELECT done_at FROM es5_request WHERE id = %lld))::int", (long long)b[i - 1]);
        assert_int_equal(req_int(b[i], col), 1);
    }
    /* the other card did not wait for the slow one: its three were done before the slow card's first */
    char col[200];
    snprintf(col, sizeof col, "(done_at < (SELECT done_at FROM es5_request WHERE id = %lld))::int", (long long)a[0]);
    assert_int_equal(req_int(b[2], col), 1);
}

/* 4. A card that never answers: retransmissions, then Expired at the deadline. */
static void test_unreachable_expires(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[4];
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s unreachable 1", card->eid), 0);
    uint8_t script[64];
    size_t sl = es5t_capdu(script, sizeof script, "80CA005A00");
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_SMS, now_us() + 3500000, 0, "unreachable");
    es5_result res;
    wait_done(id, 15000, &res);
    assert_int_equal(res.status, ES5_EXPIRED);
    assert_non_null(strstr(res.detail, "no proof of receipt"));
    es5_result_clear(&res);
    assert_true(req_int(id, "sends") >= 2);
    /* it ended at its deadline, not before */
    assert_int_equal(req_int(id, "(done_at >= deadline)::int"), 1);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s unreachable 0", card->eid), 0);
}

static int profile_count(const es5t_card *card)
{
    char out[4000];
    if (es5t_simctl(&G.sim, out, sizeof out, "profiles %s", card->eid) != 0)
        return -1;
    int n = 0;
    for (char *p = strstr(out, "profile aid="); p; p = strstr(p + 1, "profile aid="))
        n++;
    return n;
}

/* INSTALL [for install and make selectable] of a new ISD-P whose AID ends in `last` */
static size_t install_script(const es5t_card *card, uint8_t last, uint8_t *out, size_t cap)
{
    uint8_t apdu[100];
    size_t n = 0;
    apdu[n++] = 0x80, apdu[n++] = 0xE6, apdu[n++] = 0x0C, apdu[n++] = 0x00, apdu[n++] = 0;
    apdu[n++] = (uint8_t)card->elf_aid_len;
    memcpy(apdu + n, card->elf_aid, card->elf_aid_len), n += card->elf_aid_len;
    apdu[n++] = (uint8_t)card->module_aid_len;
    memcpy(apdu + n, card->module_aid, card->module_aid_len), n += card->module_aid_len;
    apdu[n++] = (uint8_t)card->isdp_aid_len;
    memcpy(apdu + n, card->isdp_aid, card->isdp_aid_len);
    apdu[n + card->isdp_aid_len - 2] = last;
    n += card->isdp_aid_len;
    apdu[n++] = 3, apdu[n++] = 0x80, apdu[n++] = 0xC0, apdu[n++] = 0x00;
    apdu[n++] = 0, apdu[n++] = 0;
    apdu[4] = (uint8_t)(n - 5);
    assert_true(n + 2 <= cap);
    out[0] = 0x22;
    out[1] = (uint8_t)n;
    memcpy(out + 2, apdu, n);
    return n + 2;
}

/* 5. The SMSC loses the command: the same packet is sent again and executed once. */
static void test_smsc_loss(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[5];
    int before = profile_count(card);
    long lost0 = es5t_sim_stat(&G.sim, "mt_lost");
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc lose 1"), 0);
    uint8_t script[128];
    size_t sl = install_script(card, 0x21, script, sizeof script);
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_SMS, 0, 0, "CreateISDP (lost once)");
    es5_result res;
    wait_done(id, 20000, &res);
    if (res.status != ES5_OK)
        fail_msg("status %d: %s", res.status, res.detail);
    es5_result_clear(&res);
    assert_int_equal(es5t_sim_stat(&G.sim, "mt_lost"), lost0 + 1);
    assert_int_equal(req_int(id, "sends"), 2);
    assert_int_equal(profile_count(card), before + 1);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc reset"), 0);
}

/* 6. The SMSC delivers the command twice: the card runs it once (counter), the second PoR is dropped. */
static void test_smsc_duplicate(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[5];
    int before = profile_count(card);
    long dup0 = es5t_sim_stat(&G.sim, "mt_duplicated");
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc duplicate 1"), 0);
    uint8_t script[128];
    size_t sl = install_script(card, 0x22, script, sizeof script);
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_SMS, 0, 0, "CreateISDP (duplicated)");
    es5_result res;
    wait_done(id, 20000, &res);
    if (res.status != ES5_OK)
        fail_msg("status %d: %s", res.status, res.detail);
    const uint8_t ok[2] = {0x90, 0x00};
    assert_true(has_bytes(res.response, res.response_len, ok, 2));
    es5_result_clear(&res);
    assert_int_equal(es5t_sim_stat(&G.sim, "mt_duplicated"), dup0 + 1);
    assert_int_equal(profile_count(card), before + 1);
    /* the next request is not disturbed by the duplicate's late PoR (status 02) */
    uint8_t s2[64];
    size_t l2 = es5t_capdu(s2, sizeof s2, "80CA005A00");
    id = submit(card, NULL, 0, s2, l2, ES5_CH_SMS, 0, 0, "after the duplicate");
    wait_done(id, 20000, &res);
    assert_int_equal(res.status, ES5_OK);
    es5_result_clear(&res);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc reset"), 0);
}

/* 7. The card's counter is ahead of ours: PoR 02, a security failure named as such. */
static void test_counter_ahead(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[6];
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s counter-ahead 100", card->eid), 0);
    uint8_t script[64];
    size_t sl = es5t_capdu(script, sizeof script, "80CA005A00");
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_SMS, 0, 0, "counter behind");
    es5_result res;
    wait_done(id, 15000, &res);
    assert_int_equal(res.status, ES5_SECURITY);
    assert_non_null(strstr(res.detail, "PoR 02"));
    es5_result_clear(&res);
}

/* 8. A PoR whose bytes were changed fails its checksum: ES5_SECURITY. */
static void test_tampered_por(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[7];
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s tamper 1", card->eid), 0);
    uint8_t script[64];
    size_t sl = es5t_capdu(script, sizeof script, "80CA005A00");
    int64_t id = submit(card, NULL, 0, script, sl, ES5_CH_SMS, 0, 0, "tampered PoR");
    es5_result res;
    wait_done(id, 15000, &res);
    assert_int_equal(res.status, ES5_SECURITY);
    assert_non_null(strstr(res.detail, "checksum"));
    es5_result_clear(&res);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s tamper 0", card->eid), 0);
}

static int pending_notifications(const es5t_card *card)
{
    char out[60000];
    if (es5t_simctl(&G.sim, out, sizeof out, "list %d 0", NCARDS) != 0)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "eid=%s", card->eid);
    char *p = strstr(out, key);
    char *q = p ? strstr(p, "pending=") : NULL;
    return q ? atoi(q + 8) : -1;
}

/* 9. A notification by MO SMS: verified, handed to the SM-SR once, confirmed; the card's resend
 * (its confirmation was lost) is a duplicate: confirmed again, not processed again. */
static void test_notification(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[8];
    int n0 = G.notified;
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc lose 1"), 0); /* the first confirmation */
    char out[200];
    assert_int_equal(es5t_simctl(&G.sim, out, sizeof out, "notify %s 2", card->eid), 0);
    char *s = strstr(out, "seq=");
    assert_non_null(s);
    int seq = atoi(s + 4);
    /* confirmed in the end: the card has nothing pending */
    int pend = -1;
    for (int i = 0; i < 500 && (pend = pending_notifications(card)) != 0; i++)
        usleep(20000);
    assert_int_equal(pend, 0);
    assert_int_equal(G.notified, n0 + 1);
    assert_int_equal(G.last_type, 2);
    assert_int_equal((int)G.last_seq, seq);
    /* seen twice or more (the resend), processed once */
    assert_true(sql_long("SELECT times FROM es5_notification WHERE eid = '%s' AND seq = %d", card->eid, seq) >= 2);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc reset"), 0);
}

/* 11. The packets es5 plans (es5_sms_packet_len, es5_sms_parts) are the ones crypto/scp80 builds. */
static void test_sms_packet_sizes(void **state)
{
    (void)state;
    hsm_sess *s = NULL;
    sm_err err = {0};
    assert_int_equal(hsm_session_get(G.node.app.hsm, &s, &err), SM_OK);
    hsm_keyspec sp;
    scp80_kic_keyspec(HSM_KT_AES, 16, false, &sp);
    hsm_keyspec sd;
    scp80_kid_keyspec(HSM_KT_AES, 16, false, &sd);
    uint8_t kv[16] = {1, 2, 3};
    hsm_key kic, kid;
    assert_int_equal(hsm_secret_import(s, &sp, kv, 16, &kic, &err), SM_OK);
    assert_int_equal(hsm_secret_import(s, &sd, kv, 16, &kid, &err), SM_OK);
    scp80_params p = {.spi = {0x16, 0x39}, .kic = 0x12, .kid = 0x12, .tar = {0, 0, 1}, .cntr = 7};
    static uint8_t script[2200];
    for (size_t len = 2; len <= 2100; len += 7) {
        /* a script is whole TLVs: empty C-APDU elements (22 00), one 22 01 00 when the length is odd */
        for (size_t o = 0; o < len;) {
            size_t left = len - o;
            script[o++] = 0x22;
            script[o++] = left == 3 ? 1 : 0;
            if (left == 3)
                script[o++] = 0;
        }
        sm_buf data, pkt;
        sm_buf_init(&data);
        sm_buf_init(&pkt);
        scp81_script sc;
        assert_int_equal(scp81_script_open(&sc, &data, false, &err), SM_OK);
        assert_int_equal(scp81_script_raw(&sc, script, len, &err), SM_OK);
        assert_int_equal(scp81_script_close(&sc, &err), SM_OK);
        assert_int_equal(scp80_wrap(s, &p, &kic, &kid, data.data, data.len, &pkt, &err), SM_OK);
        assert_int_equal(pkt.len, es5_sms_packet_len(len));
        scp80_sms parts[SCP80_PARTS_MAX];
        size_t n = 0;
        if (scp80_sms_frame(pkt.data, pkt.len, 1, parts, SCP80_PARTS_MAX, &n, &err) == SM_OK)
            assert_int_equal(n, es5_sms_parts(pkt.len));
        else
            assert_true(es5_sms_parts(pkt.len) > SCP80_PARTS_MAX);
        sm_err_clear(&err);
        sm_buf_free(&data);
        sm_buf_free(&pkt);
    }
    hsm_key_destroy(s, &kic, NULL);
    hsm_key_destroy(s, &kid, NULL);
    hsm_session_put(s);
}

/* 12. ES8 by SMS to a card without HTTPS: an ISD-P script longer than one packet goes as several, cut at
 * its TLV boundaries, each to the ISD-P's TAR with its own counter and PoR, through an SMSC that loses
 * and duplicates; the result is every command's answer once, in order. The commands prove it: the ISD-P
 * buffers STORE DATA blocks until its DGI 3A01 (CERT.DP.ECDSA) is whole, so a block run twice or missed
 * breaks the certificate and the last block would fail. */
static void test_isdp_script_by_sms(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[NCARDS - 1];
    /* the ISD-P, by SMS too (AUTO: the card has no HTTPS) */
    uint8_t inst[128];
    size_t il = install_script(card, 0x31, inst, sizeof inst);
    int64_t id = submit(card, NULL, 0, inst, il, ES5_CH_AUTO, 0, 0, "CreateISDP");
    es5_result res;
    wait_done(id, 20000, &res);
    if (res.status != ES5_OK)
        fail_msg("CreateISDP: status %d %s", res.status, res.detail);
    assert_int_equal(res.channel, ES5_CH_SMS);
    es5_result_clear(&res);
    uint8_t aid[16];
    memcpy(aid, card->isdp_aid, 16);
    aid[14] = 0x31;
    /* INSTALL [for personalization], then DGI 3A01 { CERT.DP.ECDSA } in 8-byte STORE DATA blocks */
    char path[400];
    snprintf(path, sizeof path, "%s/pki/smdp-gp.cert", G.fleet.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t cert[600];
    size_t cl = fread(cert, 1, sizeof cert, f);
    fclose(f);
    assert_true(cl > 100 && cl < 500);
    uint8_t dgi[600];
    size_t dl = 0;
    dgi[dl++] = 0x3A, dgi[dl++] = 0x01;
    if (cl < 255) {
        dgi[dl++] = (uint8_t)cl;
    } else {
        dgi[dl++] = 0xFF, dgi[dl++] = (uint8_t)(cl >> 8), dgi[dl++] = (uint8_t)cl;
    }
    memcpy(dgi + dl, cert, cl);
    dl += cl;
    static uint8_t script[4000];
    size_t sl = 0;
    const uint8_t perso[] = {0x22, 5 + 19, 0x80, 0xE6, 0x20, 0x00, 19, 0x00, 0x00, 16};
    memcpy(script, perso, sizeof perso), sl += sizeof perso;
    memcpy(script + sl, aid, 16), sl += 16;
    int napdu = 1, blk = 0;
    for (size_t off = 0; off < dl; off += 8, blk++, napdu++) {
        size_t n = dl - off < 8 ? dl - off : 8;
        bool last = off + n == dl;
        uint8_t h[7] = {0x22, (uint8_t)(5 + n), 0x80, 0xE2, (uint8_t)(last ? 0x89 : 0x09), (uint8_t)blk, (uint8_t)n};
        memcpy(script + sl, h, 7), sl += 7;
        memcpy(script + sl, dgi + off, n), sl += n;
    }
    /* several packets of at most 2 SMS (es5.sms_max_parts here) */
    size_t end = 0, packets = 0;
    sm_err err = {0};
    for (size_t off = 0; off < sl; off = end, packets++)
        assert_int_equal(es5_sms_cut(script, sl, off, 2, &end, &err), SM_OK);
    assert_true(packets >= 3);
    long lost0 = es5t_sim_stat(&G.sim, "mt_lost"), dup0 = es5t_sim_stat(&G.sim, "mt_duplicated");
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc lose 1"), 0);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc duplicate 1000"), 0);
    id = submit(card, aid, 16, script, sl, ES5_CH_AUTO, 0, 0, "SendData (key establishment 3A01)");
    wait_done(id, 30000, &res);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc reset"), 0);
    if (res.status != ES5_OK)
        fail_msg("ISD-P script: status %d %s (sim log %s)", res.status, res.detail, G.sim.log);
    assert_int_equal(res.channel, ES5_CH_SMS);
    assert_true(es5t_sim_stat(&G.sim, "mt_lost") > lost0);
    assert_true(es5t_sim_stat(&G.sim, "mt_duplicated") > dup0);
    /* one 80 01 n for the whole script, then each command's R-APDU once, in order */
    assert_true(res.response_len > 3);
    assert_int_equal(res.response[0], 0x80);
    assert_int_equal(res.response[1], 0x01);
    assert_int_equal(res.response[2], napdu);
    size_t off = 3;
    for (int i = 0; i < napdu; i++) {
        assert_true(off + 2 <= res.response_len);
        assert_int_equal(res.response[off], 0x23);
        size_t l = res.response[off + 1];
        assert_true(off + 2 + l <= res.response_len && l >= 2);
        const uint8_t *v = res.response + off + 2;
        assert_int_equal(v[l - 2], 0x90);
        assert_int_equal(v[l - 1], 0x00);
        if (i < napdu - 1)
            assert_int_equal(l, 2);
        else /* the last block completed the certificate: the card's challenge 85 10 RC */
            assert_true(l == 20 && v[0] == 0x85 && v[1] == 0x10);
        off += 2 + l;
    }
    assert_int_equal(off, res.response_len);
    assert_non_null(strstr(res.detail, "packets"));
    es5_result_clear(&res);
    /* every packet went to the ISD-P's TAR, the first one twice (lost once), the others once */
    assert_int_equal(req_int(id, "sms_done"), (long)packets - 1);
    assert_int_equal(req_int(id, "sends"), (long)packets + 1);
}

/* 10. smctl es5 status reads the queue and the node's report from the database. */
static void test_smctl_status(void **state)
{
    (void)state;
    char cfg[400], cmd[1400], out[8000];
    snprintf(cfg, sizeof cfg, "%s/smctl.yaml", G.dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "node:\n  name: ctl\n  var_dir: %s\ndatabase:\n  dsn: \"postgresql://%s@/es5sim?host=%s\"\n", G.dir,
            G.pg.cl.user, G.pg.cl.datadir);
    fclose(f);
    usleep(2500000); /* the node reports every 2 s */
    const char *bin = getenv("SMBOX_BIN_DIR");
    snprintf(cmd, sizeof cmd, "'%s/smctl' -c '%s' es5 status 2>&1", bin ? bin : "build/rel/bin", cfg);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    if (rc != 0 || !strstr(out, "queue") || !strstr(out, "node n1") || !strstr(out, "smpp bound") ||
        !strstr(out, "last hour"))
        fail_msg("smctl es5 status (exit %d):\n%s", rc, out);
    assert_non_null(strstr(out, " ok "));
    assert_non_null(strstr(out, "expired 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sms_script_por),    cmocka_unit_test(test_https_push_session),
        cmocka_unit_test(test_https_held_post),
        cmocka_unit_test(test_order_and_parallel), cmocka_unit_test(test_unreachable_expires),
        cmocka_unit_test(test_smsc_loss),          cmocka_unit_test(test_smsc_duplicate),
        cmocka_unit_test(test_counter_ahead),      cmocka_unit_test(test_tampered_por),
        cmocka_unit_test(test_notification),      cmocka_unit_test(test_sms_packet_sizes),
        cmocka_unit_test(test_isdp_script_by_sms), cmocka_unit_test(test_smctl_status),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
