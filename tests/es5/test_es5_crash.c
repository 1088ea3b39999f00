/* A node dies in the middle of a delivery (SIGKILL of a forked node process after its SCP80 packet
 * left and before the PoR came back); another node resumes the request from the database and it
 * completes exactly once: the card ran the command once, the request ended once, with the card's
 * answer. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/es5/es5.h"
#include "tests/support/es5test.h"
#include "tests/support/testpg.h"

static struct {
    testenv_hsm T;
    testpg pg;
    char dir[256];
    char conninfo[512];
    es5t_fleet fleet;
    es5t_sim sim;
    char yaml[2000];
} G;

static long sql_long(db_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long sql_long(db_conn *c, const char *fmt, ...)
{
    char sql[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    db_stmt st = {sql, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s: %s", sql, err.msg);
    long v = db_res_rows(r) && !db_res_null(r, 0, 0) ? (long)db_res_int(r, 0, 0) : -1;
    db_res_free(r);
    return v;
}

static int setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    if (testenv_hsm_setup(&G.T) != 0 || testpg_start(&G.pg) != 0 ||
        testpg_schema_db(&G.pg, "es5crash", G.conninfo, sizeof G.conninfo) != 0 ||
        testenv_mkdtemp(G.dir, sizeof G.dir, "smbox-es5c") != 0)
        return -1;
    char fdir[300];
    snprintf(fdir, sizeof fdir, "%s/fleet", G.dir);
    if (es5t_fleet_make(&G.fleet, fdir, 2) != 0)
        return -1;
    int smpp = es5t_free_port(), admin = es5t_free_port();
    if (es5t_sim_start(&G.sim, &G.fleet, smpp, admin, "") != 0)
        return -1;
    snprintf(G.yaml, sizeof G.yaml,
             "  smpp_server: 127.0.0.1:%d\n  sms_source_addr: \"%s\"\n  por_timeout_ms: 1000\n  poll_ms: 20\n"
             "  lease_ms: 1000\n  retry_max_ms: 2000\n  smpp_reconnect_max_s: 1\n",
             smpp, ES5T_SR_SMS);
    /* the PKCS#11 module is initialised only in the processes that run nodes: a child registers the
     * fleet (keys re-wrapped under the test KEK), so this process can still fork clean nodes */
    pid_t pid = fork();
    if (pid == 0) {
        es5t_node n;
        int ok = es5t_node_start(&n, &G.T, G.dir, "setup", G.conninfo, "") == 0;
        db_pool *p = ok ? testpg_pool(G.conninfo, 1) : NULL;
        db_conn *c = NULL;
        ok = ok && db_pool_take(p, &c, NULL) == SM_OK &&
             es5t_fleet_import(&G.fleet, c, n.app.loop_hsm, &n.app.keys.key[AK_KEK], n.app.keys.label[AK_KEK]) == 0;
        if (c)
            db_pool_give(c);
        if (p)
            db_pool_close(p);
        es5t_node_stop(&n);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    es5t_sim_stop(&G.sim);
    es5t_fleet_free(&G.fleet);
    testpg_stop(&G.pg);
    testenv_hsm_teardown(&G.T);
    testenv_rmtree(G.dir);
    return 0;
}

static int profiles(const es5t_card *card)
{
    char out[4000];
    if (es5t_simctl(&G.sim, out, sizeof out, "profiles %s", card->eid) != 0)
        return -1;
    int n = 0;
    for (char *p = strstr(out, "profile aid="); p; p = strstr(p + 1, "profile aid="))
        n++;
    return n;
}

static void test_node_killed_mid_delivery(void **state)
{
    (void)state;
    const es5t_card *card = &G.fleet.cards[0];
    int before = profiles(card);
    assert_true(before >= 1);
    /* node A, in its own process */
    pid_t a = fork();
    if (a == 0) {
        es5t_node n;
        if (es5t_node_start(&n, &G.T, G.dir, "nodeA", G.conninfo, G.yaml) != 0)
            _exit(1);
        for (;;)
            pause();
    }
    assert_true(a > 0);
    db_pool *pool = testpg_pool(G.conninfo, 2);
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(pool, &c, &err), SM_OK);
    /* the SMSC holds every MT a while: the packet is out when node A dies, its PoR not back yet */
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc delay 1500"), 0);
    /* INSTALL of a new ISD-P: running it twice would fail (6A80), so "once" is visible */
    uint8_t apdu[100], script[110];
    size_t n = 0;
    apdu[n++] = 0x80, apdu[n++] = 0xE6, apdu[n++] = 0x0C, apdu[n++] = 0x00, apdu[n++] = 0;
    apdu[n++] = (uint8_t)card->elf_aid_len;
    memcpy(apdu + n, card->elf_aid, card->elf_aid_len), n += card->elf_aid_len;
    apdu[n++] = (uint8_t)card->module_aid_len;
    memcpy(apdu + n, card->module_aid, card->module_aid_len), n += card->module_aid_len;
    apdu[n++] = (uint8_t)card->isdp_aid_len;
    memcpy(apdu + n, card->isdp_aid, card->isdp_aid_len);
    apdu[n + card->isdp_aid_len - 2] = 0x31;
    n += card->isdp_aid_len;
    apdu[n++] = 3, apdu[n++] = 0x80, apdu[n++] = 0xC0, apdu[n++] = 0x00, apdu[n++] = 0, apdu[n++] = 0;
    apdu[4] = (uint8_t)(n - 5);
    script[0] = 0x22;
    script[1] = (uint8_t)n;
    memcpy(script + 2, apdu, n);
    es5_request r = {.eid = card->eid, .aid = card->isdr_aid, .aid_len = card->isdr_aid_len, .script = script,
                     .script_len = n + 2, .channel = ES5_CH_SMS, .label = "CreateISDP across a crash"};
    int64_t id = 0;
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(es5_submit(c, &r, &id, &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    /* wait until node A has sent it, then kill it */
    int i;
    for (i = 0; i < 1000 && sql_long(c, "SELECT sends FROM es5_request WHERE id = %lld", (long long)id) < 1; i++)
        usleep(10000);
    assert_true(i < 1000);
    assert_int_equal(kill(a, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(a, &st, 0), a);
    /* still in flight: node A sent it and nobody has its PoR yet */
    assert_int_equal(sql_long(c, "SELECT (state = 'active')::int FROM es5_request WHERE id = %lld", (long long)id), 1);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "smsc delay 0"), 0);
    /* node B (this process) takes over from the database */
    es5t_node b;
    assert_int_equal(es5t_node_start(&b, &G.T, G.dir, "nodeB", G.conninfo, G.yaml), 0);
    es5_result res;
    memset(&res, 0, sizeof res);
    assert_int_equal(es5t_wait_result(c, id, 20000, &res), 0);
    if (res.status != ES5_OK)
        fail_msg("status %d: %s (sim log %s)", res.status, res.detail, G.sim.log);
    const uint8_t ok[2] = {0x90, 0x00};
    bool seen = false;
    for (size_t k = 0; k + 2 <= res.response_len; k++)
        seen = seen || !memcmp(res.response + k, ok, 2);
    assert_true(seen);
    es5_result_clear(&res);
    /* ran once on the card, ended once in the database */
    assert_int_equal(profiles(card), before + 1);
    assert_int_equal(sql_long(c, "SELECT count(*) FROM audit_log WHERE action = 'es5.deliver' AND details LIKE "
                                 "'req=%lld %%'", (long long)id),
                     1);
    es5t_node_stop(&b);
    db_pool_give(c);
    db_pool_close(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_killed_mid_delivery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
