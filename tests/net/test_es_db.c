/* The ES layer on the database (appliance/es_db.c over db/): replay keys that survive a restart of
 * the server, refusals appended to the audit trail in PostgreSQL, and an asynchronous response
 * written to the durable outbox in the call's transaction and delivered by the outbox pump over
 * mutual TLS. A throw-away PostgreSQL cluster (tests/support/testpg.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "appliance/es_db.h"
#include "db/audit.h"
#include "db/outbox.h"
#include "tests/support/nettest.h"
#include "tests/support/testpg.h"
#include "tests/support/workers.h"

#define SOAP "application/soap+xml; charset=utf-8"
#define EID "89001012012341234012345678901224"

static testpg PG;
static char CONNINFO[512];
static db_pool *POOL;
static nettest N;
static int g_calls, g_cb;
static char g_cb_relates[256];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

/* this EID's handler writes two rows a deferred unique constraint refuses at COMMIT */
#define EID_NOCOMMIT "89001012012341234012345678909991"
DB_STMT(q_twice, 0, "INSERT INTO t_deferred VALUES (1), (1)");

static void h_geteis(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_calls++;
    pthread_mutex_unlock(&g_mu);
    assert_true(c->in_tx); /* the handler runs inside the call's transaction */
    if (!strcmp(es_str(c->in, "Eid"), EID_NOCOMMIT)) {
        sm_worker *w = c->worker;
        sm_err e = {0};
        assert_int_equal(db_exec(w->db, &q_twice, NULL, NULL, &e), SM_OK);
    }
    es_add_str(es_add_struct(es_add_struct(c->out, "Eis"), "EumSignedInfo"), "Eid", es_str(c->in, "Eid"));
}

static void h_createisdp(es_call *c, void *arg) { es_add_str(c->out, "Isd-p-aid", "A0000005591010FFFFFFFF8900001000"); }

static void h_createisdp_cb(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    snprintf(g_cb_relates, sizeof g_cb_relates, "%s", c->hdr.relates_to);
    g_cb++;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void bind_all(es_server *s, void *arg)
{
    sm_err err = {0};
    es_server_bind(s, "ES2.GetEIS", ES_KIND_REQUEST, h_geteis, NULL, &err);
    es_server_bind(s, "ES3.CreateISDP", ES_KIND_REQUEST, h_createisdp, NULL, &err);
    es_server_bind(s, "ES3.CreateISDP", ES_KIND_RESPONSE, h_createisdp_cb, NULL, &err);
}

static void start_server(void)
{
    static es_hooks h;
    memset(&h, 0, sizeof h);
    sm_es_db_hooks(&h, true);
    sm_worker_hook wh = tw_db_hook(POOL);
    nettest_opts o = {.whooks = &wh, .nwhooks = 1, .hooks = &h};
    nettest_start(&N, &o, bind_all, NULL);
}

static int setup(void **state)
{
    if (testpg_start(&PG) != 0 || testpg_schema_db(&PG, "es", CONNINFO, sizeof CONNINFO) != 0)
        return -1;
    POOL = testpg_pool(CONNINFO, 4);
    if (testpg_sql(CONNINFO, "CREATE TABLE t_deferred (k int, CONSTRAINT t_deferred_k UNIQUE (k) DEFERRABLE "
                             "INITIALLY DEFERRED)") != 0)
        return -1;
    start_server();
    return 0;
}

static int teardown(void **state)
{
    nettest_stop(&N);
    db_pool_close(POOL);
    testpg_stop(&PG);
    return 0;
}

static char *soap(const char *el, const char *fcid, const char *fields, const char *hdr)
{
    char *b = malloc(8192);
    snprintf(b, 8192,
             "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" "
             "xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\"><s:Header><wsa:MessageID>msg-%s</wsa:MessageID>%s"
             "</s:Header><s:Body><rps:%s><rps:FunctionCallIdentifier>%s</rps:FunctionCallIdentifier>%s</rps:%s></s:Body>"
             "</s:Envelope>",
             fcid, hdr ? hdr : "", el, fcid, fields, el);
    return b;
}

static long audit_entries(void)
{
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_audit_report rep;
    memset(&rep, 0, sizeof rep);
    assert_int_equal(db_audit_verify(c, &rep, &err), SM_OK);
    db_pool_give(c);
    return rep.entries;
}

static void test_replay_survives_restart(void **state)
{
    char *m = soap("ES2-GetEISRequest", "db-replay-1", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    int c0 = g_calls;
    tresp r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "EXECUTED_SUCCESS"));
    tresp_free(&r);
    assert_int_equal(g_calls, c0 + 1);
    /* a new server process on the same database: the call is still known */
    nettest_restart(&N);
    r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<rps:Eid>" EID "</rps:Eid>"));
    tresp_free(&r);
    assert_int_equal(g_calls, c0 + 1);
    free(m);
}

/* A call whose transaction fails at its COMMIT (after the handler succeeded) is not answered as done:
 * nothing of it stays, its replay keys neither, and the same call runs again when resent. */
static void test_uncommitted_call_not_answered_done(void **state)
{
    char *m = soap("ES2-GetEISRequest", "db-nocommit-1",
                   "<rps:Eid>" EID_NOCOMMIT "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    int c0 = g_calls;
    for (int i = 0; i < 2; i++) {
        tresp r = nettest_post(&N, "mno", "/gsma/soap/es2", SOAP, m);
        assert_int_equal(r.status, 200);
        if (strstr(r.body, "EXECUTED_SUCCESS") || !strstr(r.body, "did not commit"))
            fail_msg("attempt %d answered: %s", i, r.body);
        tresp_free(&r);
    }
    assert_int_equal(g_calls, c0 + 2);
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_stmt st = {"SELECT count(*) FROM t_deferred", 0, 0};
    db_res *res = NULL;
    assert_int_equal(db_exec(c, &st, NULL, &res, &err), SM_OK);
    assert_int_equal(db_res_int(res, 0, 0), 0);
    db_res_free(res);
    db_pool_give(c);
    free(m);
}

static void test_refusal_audited_in_db(void **state)
{
    long before = audit_entries();
    char *m = soap("ES2-GetEISRequest", "db-refused", "<rps:Eid>" EID "</rps:Eid><rps:Smsr-id>1.2</rps:Smsr-id>", NULL);
    tresp r = nettest_post(&N, "smsr", "/gsma/soap/es2", SOAP, m);
    assert_non_null(strstr(r.body, "<rps:Subject>1.1</rps:Subject><rps:Reason>1.2</rps:Reason>"));
    tresp_free(&r);
    free(m);
    assert_int_equal(audit_entries(), before + 1);
}

static void test_async_through_outbox(void **state)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "<wsa:ReplyTo><wsa:Address>https://127.0.0.1:%d/gsma/soap/es3</wsa:Address></wsa:ReplyTo>", N.port);
    char *m = soap("ES3-CreateISDPRequest", "db-async-1",
                   "<rps:Eid>" EID "</rps:Eid><rps:Iccid>8988299000000000014</rps:Iccid><rps:Mno-id>1.2</rps:Mno-id>"
                   "<rps:RequiredMemory>100</rps:RequiredMemory>",
                   hdr);
    tresp r = nettest_post(&N, "smdp", "/gsma/soap/es3", SOAP, m);
    assert_int_equal(r.status, 202);
    tresp_free(&r);
    free(m);
    /* committed to the outbox, not yet sent: nothing arrives without the pump */
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_outbox_counts oc;
    assert_int_equal(db_outbox_count(c, &oc, &err), SM_OK);
    assert_int_equal(oc.pending, 1);
    assert_int_equal(g_cb, 0);
    int sent = 0, failed = 0;
    assert_int_equal(sm_es_outbox_pump(c, "test", es_server_client(N.srv), NULL, &sent, &failed, &err), SM_OK);
    assert_int_equal(sent, 1);
    assert_int_equal(failed, 0);
    assert_int_equal(db_outbox_count(c, &oc, &err), SM_OK);
    assert_int_equal(oc.delivered, 1);
    db_pool_give(c);
    pthread_mutex_lock(&g_mu);
    assert_int_equal(g_cb, 1);
    assert_string_equal(g_cb_relates, "msg-db-async-1");
    pthread_mutex_unlock(&g_mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_survives_restart),
        cmocka_unit_test(test_uncommitted_call_not_answered_done),
        cmocka_unit_test(test_refusal_audited_in_db),
        cmocka_unit_test(test_async_through_outbox),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
