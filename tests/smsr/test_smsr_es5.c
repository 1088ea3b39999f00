/* The SM-SR's procedures through the real ES5 (appliance/es5: SMS/SCP80 over the simulator's SMSC,
 * HTTPS/SCP81 admin sessions) against `sim run`: CreateISDP and DeleteISDP change the card and the EIS
 * together, the card's refusal of an enable comes back as its GSMA code, an unreachable card ends the
 * function Expired, an AuditEIS reads the card, and a card's notification reaches the SM-SR's handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/es5/es5.h"
#include "appliance/smsr/smsr.h"
#include "db/eis_repo.h"
#include "db/proc.h"
#include "tests/support/es5test.h"
#include "tests/support/testpg.h"

#define SMDP "2.999.20.1"
#define MNO "2.999.40.9"

static struct {
    testenv_hsm T;
    testpg pg;
    char dir[256];
    char conninfo[512];
    es5t_fleet fleet;
    es5t_sim sim;
    es5t_node node;
    db_pool *pool;
    db_conn *c;
    smsr_ctx x;
    db_engine *eng;
    int ncall;
} G;

static void kick5(void *arg) { es5_kick(arg); }

static int setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    if (testenv_hsm_setup(&G.T) != 0 || testpg_start(&G.pg) != 0 ||
        testpg_schema_db(&G.pg, "smsres5", G.conninfo, sizeof G.conninfo) != 0 ||
        testenv_mkdtemp(G.dir, sizeof G.dir, "smbox-smsr-es5") != 0)
        return -1;
    char fdir[300];
    snprintf(fdir, sizeof fdir, "%s/fleet", G.dir);
    if (es5t_fleet_make(&G.fleet, fdir, 4) != 0)
        return -1;
    int smpp = es5t_free_port(), admin = es5t_free_port();
    if (es5t_sim_start(&G.sim, &G.fleet, smpp, admin, "--notif-retry-ms 400") != 0) {
        fprintf(stderr, "sim run failed (log %s)\n", G.sim.log);
        return -1;
    }
    char yaml[2000];
    snprintf(yaml, sizeof yaml,
             "  smpp_server: 127.0.0.1:%d\n  sms_source_addr: \"%s\"\n  admin_listen: 127.0.0.1:%d\n"
             "  admin_url: https://127.0.0.1:%d/ram\n  por_timeout_ms: 1500\n  session_wait_ms: 4000\n"
             "  poll_ms: 20\n  admin_idle_ms: 300\n  lease_ms: 3000\n  retry_max_ms: 2000\n"
             "  smpp_reconnect_max_s: 1\n",
             smpp, ES5T_SR_SMS, admin, admin);
    sm_err err = {0};
    if (smsr_ctx_init2(&G.x, "2.999.30.1", "t", NULL, &err) != SM_OK)
        return -1;
    /* what the daemon's SM-SR service does (appliance/smsr/service.c), without an ES server: answers
     * are logged, the procedures' results are checked here */
    es5_set_notification_handler(smsr_on_notification, &G.x);
    if (es5t_node_start(&G.node, &G.T, G.dir, "n1", G.conninfo, yaml) != 0)
        return -1;
    G.x.es5 = (smsr_es5_ops){.submit = es5_submit, .cancel = es5_cancel, .kick = kick5, .kick_arg = &G.node.app};
    G.pool = testpg_pool(G.conninfo, 2);
    if (db_pool_take(G.pool, &G.c, &err) != SM_OK)
        return -1;
    if (es5t_fleet_import(&G.fleet, G.c, G.node.app.loop_hsm, &G.node.app.keys.key[AK_KEK],
                          G.node.app.keys.label[AK_KEK]) != 0)
        return -1;
    G.eng = db_engine_new("test/smsr", 0);
    return smsr_register_kinds(&G.x, G.eng, &err) == SM_OK ? 0 : -1;
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
    db_engine_free(G.eng);
    smsr_ctx_free(&G.x);
    testpg_stop(&G.pg);
    testenv_hsm_teardown(&G.T);
    testenv_rmtree(G.dir);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------------- */

/* One ES call run through the SM-SR's handler as the ES server would (its transaction included). */
static es_status call(const char *qname, const char *caller, es_role role, long validity, es_value *in)
{
    es_call c;
    memset(&c, 0, sizeof c);
    c.fn = es_function_by_qname(qname);
    assert_non_null(c.fn);
    c.kind = ES_KIND_REQUEST;
    c.binding = ES_BIND_REST;
    c.in = in;
    c.out = es_struct_new();
    es_status_ok(&c.status);
    snprintf(c.caller.id, sizeof c.caller.id, "%s", caller);
    c.caller.role = role;
    c.caller.known = true;
    snprintf(c.hdr.fcid, sizeof c.hdr.fcid, "f-%d", ++G.ncall);
    c.hdr.validity = validity;
    snprintf(c.reply.qname, sizeof c.reply.qname, "%s", qname);
    c.reply.binding = ES_BIND_REST;
    snprintf(c.reply.peer_id, sizeof c.reply.peer_id, "%s", caller);
    sm_worker w = {.id = 0, .hsm = G.node.app.loop_hsm, .db = G.c};
    c.worker = &w;
    c.in_tx = true;
    c.received = time(NULL);
    sm_err err = {0};
    assert_int_equal(db_begin(G.c, &err), SM_OK);
    assert_int_equal(smsr_dispatch(&G.x, &c), SM_OK);
    assert_int_equal(db_commit(G.c, &err), SM_OK);
    es_value_free(c.out);
    es_value_free(in);
    return c.status;
}

static es_value *fields(const char *eid, const char *iccid)
{
    es_value *v = es_struct_new();
    es_add_str(v, "Eid", eid);
    if (iccid)
        es_add_str(v, "Iccid", iccid);
    return v;
}

DB_STMT(q_last, 0, "SELECT max(id) FROM proc");

/* Drives the engine until the newest procedure ends (bounded: the card answers in seconds). */
static void run_last(char *state, size_t scap, char *result, size_t rcap)
{
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(G.c, &q_last, NULL, &r, &err), SM_OK);
    int64_t id = db_res_int(r, 0, 0);
    db_res_free(r);
    for (int i = 0; i < 600; i++) {
        db_engine_stats st = {0};
        assert_int_equal(db_engine_run(G.eng, G.c, "t", 4, &st, &err), SM_OK);
        db_proc_info info;
        memset(&info, 0, sizeof info);
        assert_int_equal(db_proc_get(G.c, id, &info, &err), SM_OK);
        bool end = !strcmp(info.state, "done") || !strcmp(info.state, "failed") || !strcmp(info.state, "expired");
        if (end) {
            snprintf(state, scap, "%s", info.state);
            snprintf(result, rcap, "%.*s", (int)info.result_len, info.result ? (const char *)info.result : "");
        }
        db_proc_info_clear(&info);
        if (end)
            return;
        usleep(50000);
    }
    fail_msg("procedure %lld did not end (sim log %s)", (long long)id, G.sim.log);
}

static bool card_has(const char *eid, const char *needle)
{
    char out[8192];
    assert_int_equal(es5t_simctl(&G.sim, out, sizeof out, "profiles %s", eid), 0);
    return strcasestr(out, needle) != NULL;
}

static void create(const char *eid, const char *iccid, long validity, char *state, char *result)
{
    es_value *in = fields(eid, iccid);
    es_add_str(in, "Mno-id", MNO);
    es_add_int(in, "RequiredMemory", 20000);
    es_status st = call("ES3.CreateISDP", SMDP, ES_ROLE_SMDP, validity, in);
    assert_int_equal(st.exec, ES_EXEC_SUCCESS);
    run_last(state, 16, result, 400);
}

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_createisdp_and_delete_on_the_card(void **state)
{
    const char *eid = G.fleet.cards[0].eid;
    char st[16], res[400];
    create(eid, "8988299000000001001", 3600, st, res);
    if (strcmp(st, "done"))
        fail_msg("CreateISDP: %s %s (sim log %s)", st, res, G.sim.log);
    assert_non_null(strstr(res, "EXECUTED_SUCCESS"));
    db_profile p;
    sm_err err = {0};
    assert_int_equal(db_profile_get(G.c, "8988299000000001001", &p, &err), SM_OK);
    assert_string_equal(p.state, "Created");
    assert_true(card_has(eid, "aid=a0000005591010ffffffff8900001100 state=SELECTABLE"));
    /* the SM-DP's clean-up: DeleteISDP */
    es_status s = call("ES3.DeleteISDP", SMDP, ES_ROLE_SMDP, 3600, fields(eid, "8988299000000001001"));
    assert_int_equal(s.exec, ES_EXEC_SUCCESS);
    run_last(st, sizeof st, res, sizeof res);
    assert_string_equal(st, "done");
    assert_int_equal(db_profile_get(G.c, "8988299000000001001", &p, &err), SM_ENOTFOUND);
    assert_false(card_has(eid, "8900001100"));
}

static void test_enable_refused_by_the_card(void **state)
{
    const char *eid = G.fleet.cards[1].eid;
    char st[16], res[400];
    create(eid, "8988299000000001101", 3600, st, res);
    assert_string_equal(st, "done");
    /* the EIS says Disabled, the card still holds an empty (SELECTABLE) ISD-P: it refuses to enable it */
    sm_err err = {0};
    assert_int_equal(db_profile_set_state(G.c, "test", "8988299000000001101", "Created", "Disabled", NULL, &err), SM_OK);
    es_status s = call("ES4.EnableProfile", MNO, ES_ROLE_MNO, 3600, fields(eid, "8988299000000001101"));
    assert_int_equal(s.exec, ES_EXEC_SUCCESS);
    run_last(st, sizeof st, res, sizeof res);
    assert_string_equal(st, "failed");
    if (!strstr(res, "FAILED 8.2.1/3.8"))
        fail_msg("result %s", res);
    db_profile p;
    assert_int_equal(db_profile_get(G.c, "8988299000000001101", &p, &err), SM_OK);
    assert_string_equal(p.state, "Disabled"); /* nothing changed */
}

static void test_audit_reads_the_card(void **state)
{
    const char *eid = G.fleet.cards[1].eid;
    es_status s = call("ES4.AuditEIS", MNO, ES_ROLE_MNO, 3600, fields(eid, NULL));
    assert_int_equal(s.exec, ES_EXEC_SUCCESS);
    char st[16], res[400];
    run_last(st, sizeof st, res, sizeof res);
    if (strcmp(st, "done"))
        fail_msg("AuditEIS: %s %s", st, res);
    db_euicc e;
    sm_err err = {0};
    assert_int_equal(db_eis_get(G.c, eid, &e, &err), SM_OK);
    assert_true(e.last_audit[0]);
    db_euicc_clear(&e);
    /* the card's view wins: the ISD-P is SELECTABLE there, Created again in the EIS */
    db_profile p;
    assert_int_equal(db_profile_get(G.c, "8988299000000001101", &p, &err), SM_OK);
    assert_string_equal(p.state, "Created");
}

static void test_unreachable_card_expires(void **state)
{
    const char *eid = G.fleet.cards[2].eid;
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s unreachable 1", eid), 0);
    char st[16], res[400];
    create(eid, "8988299000000001201", 3, st, res);
    /* ended by es5's expiry (answered Expired 1.6/5.3) or by the procedure's own deadline */
    if (strcmp(st, "expired") && !strstr(res, "EXPIRED 1.6/5.3"))
        fail_msg("unreachable: %s %s", st, res);
    db_profile p;
    sm_err err = {0};
    assert_int_equal(db_profile_get(G.c, "8988299000000001201", &p, &err), SM_ENOTFOUND);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "fault %s unreachable 0", eid), 0);
}

DB_STMT(q_enabled, 1, "SELECT count(*) FROM profile WHERE eid = $1 AND state = 'Enabled'");

static void test_notification_reaches_the_smsr(void **state)
{
    const char *eid = G.fleet.cards[3].eid;
    /* the EIS lost track of the enabled profile; the card's "profile change succeeded" puts it right */
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE profile SET state = 'Disabled' WHERE eid = '%s'", eid);
    assert_int_equal(testpg_sql(G.conninfo, sql), 0);
    assert_int_equal(es5t_simctl(&G.sim, NULL, 0, "notify %s 2", eid), 0);
    long n = 0;
    for (int i = 0; i < 300 && n == 0; i++) {
        db_params p;
        db_params_init(&p);
        db_p_text(&p, eid);
        db_res *r = NULL;
        sm_err err = {0};
        assert_int_equal(db_exec(G.c, &q_enabled, &p, &r, &err), SM_OK);
        n = (long)db_res_int(r, 0, 0);
        db_res_free(r);
        if (!n)
            usleep(50000);
    }
    if (n != 1)
        fail_msg("the notification did not reach the SM-SR's handler (sim log %s)", G.sim.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_createisdp_and_delete_on_the_card),
        cmocka_unit_test(test_enable_refused_by_the_card),
        cmocka_unit_test(test_audit_reads_the_card),
        cmocka_unit_test(test_unreachable_card_expires),
        cmocka_unit_test(test_notification_reaches_the_smsr),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
