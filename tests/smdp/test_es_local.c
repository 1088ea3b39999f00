/* net/es_local: ES3 between the co-located SM-DP and SM-SR without TLS. A procedure's request goes to
 * the durable outbox (sm_es_outbox_add) addressed to local:; the outbox sender runs it through our own
 * ES server pipeline on its worker: the SM-SR handler sees our SM-DP's GSMA id and role, its
 * asynchronous response comes back the same way with our SM-SR's identity, and answers wake the
 * procedure (net/es_answer.h). Also: a delivery taken over by another pump leaves nothing, so each
 * message acts exactly once without replay keys; a crash between the outbox write and the delivery
 * loses nothing; and a message whose sender role does not fit the function is refused (1.1/1.2) and
 * audited. Real PostgreSQL, real ES server (no TLS used). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appliance/es_db.h"
#include "db/audit.h"
#include "db/outbox.h"
#include "db/proc.h"
#include "net/es_answer.h"
#include "net/es_local.h"
#include "tests/support/nettest.h"
#include "tests/support/testpg.h"
#include "tests/support/workers.h"

#define EID "89001012012341234012345678901224"
#define ICCID "8988299000000000014"
#define OUR_DP "1.3.6.1.4.1.99999.1.1"
#define OUR_SR "1.3.6.1.4.1.99999.1.2"

static testpg PG;
static char CONNINFO[512];
static db_pool *POOL;
static nettest N;
static db_engine *ENG;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_sr_calls, g_dp_callbacks;
static char g_sr_caller[ES_ID_MAX], g_dp_caller[ES_ID_MAX];
static es_role g_sr_role, g_dp_role;

typedef struct pump_res {
    int sent, failed;
    sm_rc rc;
} pump_res;

static void pump_job(sm_worker *w, void *arg)
{
    pump_res *r = arg;
    sm_es_pump_env env = {.client = es_server_client(N.srv), .server = N.srv, .smdp_id = OUR_DP, .smsr_id = OUR_SR};
    sm_err err = {0};
    r->rc = sm_es_outbox_pump_env(w->db, "test", &env, &r->sent, &r->failed, &err);
}

static pump_res pump(void)
{
    pump_res r = {0};
    tw_on_worker(N.workers, pump_job, &r);
    assert_int_equal(r.rc, SM_OK);
    return r;
}

static void engine_job(sm_worker *w, void *arg)
{
    db_engine_stats *st = arg;
    sm_err err = {0};
    assert_int_equal(db_engine_run(ENG, w->db, "w", 8, st, &err), SM_OK);
}

static db_engine_stats engine(void)
{
    db_engine_stats st = {0};
    tw_on_worker(N.workers, engine_job, &st);
    return st;
}

/* ---- the test procedure: sends one ES3 request, then checks the answer it is woken with --------- */

typedef struct exp_answer {
    char fn[48];
    es_exec exec;
    char subject[24], reason[24];
    char field[32], value[64];
} exp_answer;
static exp_answer g_expect;
static char g_fn[48];
static char g_dest[ES_ID_MAX];
static es_role g_dest_role;

static sm_rc send_request(db_conn *c, const db_proc *p, sm_err *err)
{
    const es_function *f = es_function_by_qname(g_fn);
    es_value *body = es_struct_new();
    es_add_str(body, "Eid", EID);
    if (!strcmp(g_fn, "ES3.CreateISDP")) {
        es_add_str(body, "Iccid", ICCID);
        es_add_str(body, "Mno-id", "1.3.6.1.4.1.99999.7");
        es_add_int(body, "RequiredMemory", 40000);
        es_add_bool(body, "MoreToDo", true);
    }
    es_msg m = {.fn = f, .kind = ES_KIND_REQUEST, .body = body};
    es_answer_message_id(p->id, 1, m.hdr.message_id, sizeof m.hdr.message_id);
    snprintf(m.hdr.fcid, sizeof m.hdr.fcid, "%s", m.hdr.message_id);
    snprintf(m.hdr.from, sizeof m.hdr.from, "https://127.0.0.1?EntityId=%s",
             g_dest_role == ES_ROLE_SMSR ? OUR_DP : OUR_SR);
    char url[ES_URL_MAX];
    es_local_make_url(ES_BIND_SOAP, f, ES_KIND_REQUEST, url, sizeof url);
    es_local_make_url(ES_BIND_SOAP, f, ES_KIND_RESPONSE, m.hdr.reply_to, sizeof m.hdr.reply_to);
    snprintf(m.hdr.to, sizeof m.hdr.to, "%s", url);
    es_outbound o = {.url = url, .peer_id = g_dest, .peer_role = g_dest_role, .binding = ES_BIND_SOAP, .msg = &m};
    sm_rc rc = sm_es_outbox_add(c, &o, p->id, err);
    es_value_free(body);
    return rc;
}

static sm_rc step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    if (!strcmp(p->step, "send")) {
        sm_rc rc = send_request(c, p, err);
        if (rc == SM_OK) {
            nx->kind = DB_NEXT_WAIT;
            snprintf(nx->step, sizeof nx->step, "answer");
        }
        return rc;
    }
    es_answer a;
    sm_rc rc = es_answer_decode(p->data, p->data_len, &a, err);
    if (rc != SM_OK)
        return rc;
    char want[100];
    es_answer_message_id(p->id, 1, want, sizeof want);
    bool ok = !strcmp(a.relates_to, want) && !strcmp(a.fn->name, strchr(g_expect.fn, '.') + 1) &&
              a.status.exec == g_expect.exec &&
              (!g_expect.subject[0] || (!strcmp(a.status.subject, g_expect.subject) &&
                                        !strcmp(a.status.reason, g_expect.reason)));
    if (ok && g_expect.field[0]) {
        const char *v = es_str(a.body, g_expect.field);
        const es_value *s = es_get(a.body, g_expect.field);
        if (s && s->type == ESV_STRUCT)
            v = es_str(s, "EumSignedInfo") ? es_str(s, "EumSignedInfo")
                : es_struct(s, "EumSignedInfo") ? es_str(es_struct(s, "EumSignedInfo"), "Eid") : NULL;
        ok = v && !strcmp(v, g_expect.value);
    }
    es_answer_clear(&a);
    nx->kind = ok ? DB_NEXT_DONE : DB_NEXT_FAIL;
    snprintf(nx->error, sizeof nx->error, "unexpected answer");
    return SM_OK;
}

/* ---- the other role: stub SM-SR handlers and the SM-DP's callback ------------------------------- */

/* a takeover under a delivery: the message of this kind being sent gets another pump's lease token */
static char g_takeover[64];

static void maybe_takeover(void)
{
    if (!g_takeover[0])
        return;
    char q[200];
    snprintf(q, sizeof q, "UPDATE outbox SET lease_token = lease_token + 1000000, lease_owner = 'other' "
                          "WHERE kind = '%s' AND state = 'sending'", g_takeover);
    assert_int_equal(testpg_sql(CONNINFO, q), 0);
}

static void h_sr_geteis(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_sr_calls++;
    snprintf(g_sr_caller, sizeof g_sr_caller, "%s", c->caller.id);
    g_sr_role = c->caller.role;
    pthread_mutex_unlock(&g_mu);
    es_add_str(es_add_struct(es_add_struct(c->out, "Eis"), "EumSignedInfo"), "Eid", es_str(c->in, "Eid"));
}

static void h_sr_createisdp(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_sr_calls++;
    snprintf(g_sr_caller, sizeof g_sr_caller, "%s", c->caller.id);
    g_sr_role = c->caller.role;
    pthread_mutex_unlock(&g_mu);
    assert_true(c->in_tx);
    maybe_takeover();
    /* answered when the handler returns: the async response goes to the outbox in this transaction */
    es_add_str(c->out, "Isd-p-aid", "A0000005591010FFFFFFFF8900001100");
}

static void h_dp_createisdp_cb(es_call *c, void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_dp_callbacks++;
    snprintf(g_dp_caller, sizeof g_dp_caller, "%s", c->caller.id);
    g_dp_role = c->caller.role;
    pthread_mutex_unlock(&g_mu);
    maybe_takeover();
    int64_t proc = es_answer_proc_of(c->hdr.relates_to);
    assert_true(proc > 0);
    es_answer a = {.fn = c->fn, .status = c->in_status, .body = c->in};
    snprintf(a.relates_to, sizeof a.relates_to, "%s", c->hdr.relates_to);
    sm_err err = {0};
    sm_worker *w = c->worker;
    assert_int_equal(es_answer_wake(w->db, proc, &a, &err), SM_OK);
}

static void bind_all(es_server *s, void *arg)
{
    sm_err err = {0};
    assert_int_equal(es_server_bind(s, "ES3.GetEIS", ES_KIND_REQUEST, h_sr_geteis, NULL, &err), SM_OK);
    assert_int_equal(es_server_bind(s, "ES3.CreateISDP", ES_KIND_REQUEST, h_sr_createisdp, NULL, &err), SM_OK);
    assert_int_equal(es_server_bind(s, "ES3.CreateISDP", ES_KIND_RESPONSE, h_dp_createisdp_cb, NULL, &err), SM_OK);
}

static int setup(void **state)
{
    if (testpg_start(&PG) != 0 || testpg_schema_db(&PG, "local", CONNINFO, sizeof CONNINFO) != 0)
        return -1;
    POOL = testpg_pool(CONNINFO, 6);
    static es_hooks h;
    sm_es_db_hooks(&h, true);
    sm_worker_hook wh = tw_db_hook(POOL);
    nettest_opts o = {.whooks = &wh, .nwhooks = 1, .hooks = &h};
    nettest_start(&N, &o, bind_all, NULL);
    ENG = db_engine_new("test", 0);
    db_proc_kind k = {.kind = "test.es3", .step = step};
    sm_err err = {0};
    return db_engine_register(ENG, &k, &err) == SM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    db_engine_free(ENG);
    nettest_stop(&N);
    db_pool_close(POOL);
    testpg_stop(&PG);
    return 0;
}

static int64_t new_proc(const char *fn, const char *dest, es_role dest_role)
{
    snprintf(g_fn, sizeof g_fn, "%s", fn);
    snprintf(g_dest, sizeof g_dest, "%s", dest);
    g_dest_role = dest_role;
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    int64_t id = 0;
    db_proc_new n = {.kind = "test.es3", .step = "send", .eid = EID, .validity_s = 600};
    assert_int_equal(db_proc_create(c, &n, &id, &err), SM_OK);
    db_pool_give(c);
    return id;
}

static const char *proc_state(int64_t id, char *buf, size_t cap)
{
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_proc_info in;
    assert_int_equal(db_proc_get(c, id, &in, &err), SM_OK);
    snprintf(buf, cap, "%s/%s", in.state, in.step);
    db_proc_info_clear(&in);
    db_pool_give(c);
    return buf;
}

static long sql_long(const char *q)
{
    db_conn *c = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_stmt st = {q, 0, 0};
    db_res *r = NULL;
    assert_int_equal(db_exec(c, &st, NULL, &r, &err), SM_OK);
    long v = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    db_pool_give(c);
    return v;
}

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_sync_call_identity_and_answer(void **state)
{
    int64_t id = new_proc("ES3.GetEIS", OUR_SR, ES_ROLE_SMSR);
    g_expect = (exp_answer){.fn = "ES3.GetEIS", .exec = ES_EXEC_SUCCESS, .field = "Eis", .value = EID};
    int calls0 = g_sr_calls;
    engine(); /* send -> outbox, wait */
    char b[160];
    assert_string_equal(proc_state(id, b, sizeof b), "waiting/answer");
    pump_res r = pump();
    assert_int_equal(r.sent, 1);
    assert_int_equal(g_sr_calls, calls0 + 1);
    assert_string_equal(g_sr_caller, OUR_DP); /* the SM-SR sees our SM-DP, by GSMA id and role */
    assert_int_equal(g_sr_role, ES_ROLE_SMDP);
    assert_string_equal(proc_state(id, b, sizeof b), "ready/answer"); /* woken with the answer */
    engine();
    assert_string_equal(proc_state(id, b, sizeof b), "done/answer");
}

static void test_async_call_and_callback(void **state)
{
    int64_t id = new_proc("ES3.CreateISDP", OUR_SR, ES_ROLE_SMSR);
    g_expect = (exp_answer){.fn = "ES3.CreateISDP", .exec = ES_EXEC_SUCCESS, .field = "Isd-p-aid",
                            .value = "A0000005591010FFFFFFFF8900001100"};
    int cb0 = g_dp_callbacks;
    engine();
    pump_res r = pump(); /* the request: accepted (202), its response written to the outbox */
    assert_int_equal(r.sent, 1);
    char b[160];
    assert_string_equal(proc_state(id, b, sizeof b), "waiting/answer");
    assert_string_equal(g_sr_caller, OUR_DP);
    r = pump(); /* the response, delivered in-process to our SM-DP */
    assert_int_equal(r.sent, 1);
    assert_int_equal(g_dp_callbacks, cb0 + 1);
    assert_string_equal(g_dp_caller, OUR_SR); /* ... which sees our SM-SR */
    assert_int_equal(g_dp_role, ES_ROLE_SMSR);
    engine();
    assert_string_equal(proc_state(id, b, sizeof b), "done/answer");
}

/* asynchronous responses to procedure id's request */
static long responses(int64_t id)
{
    char mid[100], q[300];
    es_answer_message_id(id, 1, mid, sizeof mid);
    snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE kind = 'ES3.CreateISDPResponse' AND relates_to = '%s'", mid);
    return sql_long(q);
}

/* rows of procedure id's messages that match cond */
static long count_rows(const char *cond, int64_t id)
{
    char q[300];
    snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE proc_id = %lld AND %s", (long long)id, cond);
    return sql_long(q);
}

/* Another pump takes a message over while it is being delivered (its lease ran out under a slow
 * delivery): the first delivery's transaction fails at its COMMIT and the call's effects go with it;
 * the new holder delivers it, and the effects are there once. A delivered message is not sent again. */
static void test_takeover_during_delivery_runs_once(void **state)
{
    int64_t id = new_proc("ES3.CreateISDP", OUR_SR, ES_ROLE_SMSR);
    g_expect = (exp_answer){.fn = "ES3.CreateISDP", .exec = ES_EXEC_SUCCESS};
    engine();
    /* the request: the SM-SR handler runs, and meanwhile another pump claims the message */
    snprintf(g_takeover, sizeof g_takeover, "ES3.CreateISDP");
    pump_res r = pump();
    g_takeover[0] = 0;
    assert_int_equal(r.sent, 0);
    assert_int_equal(r.failed, 1);
    /* rolled back: no asynchronous response queued, the message still the other pump's */
    assert_int_equal(responses(id), 0);
    assert_int_equal(count_rows("state = 'sending'", id), 1);
    /* the other pump delivers it (here: made due again, as its claim would) */
    char q[200];
    snprintf(q, sizeof q, "UPDATE outbox SET state = 'pending', next_attempt_at = now() WHERE proc_id = %lld",
             (long long)id);
    assert_int_equal(testpg_sql(CONNINFO, q), 0);
    int cb0 = g_dp_callbacks;
    r = pump();
    assert_int_equal(r.sent, 1);
    assert_int_equal(r.failed, 0);
    assert_int_equal(responses(id), 1);
    /* the response, taken over under the SM-DP's callback: the procedure is not woken by that delivery */
    snprintf(g_takeover, sizeof g_takeover, "ES3.CreateISDPResponse");
    r = pump();
    g_takeover[0] = 0;
    assert_int_equal(r.failed, 1);
    assert_int_equal(g_dp_callbacks, cb0 + 1);
    char b[160];
    assert_string_equal(proc_state(id, b, sizeof b), "waiting/answer");
    assert_int_equal(testpg_sql(CONNINFO, "UPDATE outbox SET state = 'pending', next_attempt_at = now() "
                                          "WHERE kind = 'ES3.CreateISDPResponse' AND state = 'sending'"),
                     0);
    r = pump();
    assert_int_equal(r.sent, 1);
    assert_int_equal(g_dp_callbacks, cb0 + 2);
    assert_string_equal(proc_state(id, b, sizeof b), "ready/answer");
    /* everything delivered once; nothing is due again */
    assert_int_equal(count_rows("state <> 'delivered'", id), 0);
    assert_int_equal(pump().sent + pump().failed, 0);
    /* in-process deliveries keep no replay keys: the outbox row is their record */
    assert_int_equal(sql_long("SELECT count(*) FROM idem"), 0);
    engine();
    assert_string_equal(proc_state(id, b, sizeof b), "done/answer");
}

static void test_crash_between_outbox_and_delivery(void **state)
{
    int64_t id = new_proc("ES3.GetEIS", OUR_SR, ES_ROLE_SMSR);
    g_expect = (exp_answer){.fn = "ES3.GetEIS", .exec = ES_EXEC_SUCCESS, .field = "Eis", .value = EID};
    engine(); /* committed to the outbox ... */
    int calls0 = g_sr_calls;
    nettest_restart(&N); /* ... and the process dies before the pump ran */
    assert_int_equal(g_sr_calls, calls0);
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE proc_id = %lld AND state = 'pending'", (long long)id);
    assert_int_equal(sql_long(q), 1);
    assert_int_equal(pump().sent, 1); /* the new process delivers it, once */
    assert_int_equal(g_sr_calls, calls0 + 1);
    engine();
    char b[160];
    assert_string_equal(proc_state(id, b, sizeof b), "done/answer");
}

static void test_wrong_role_refused_and_audited(void **state)
{
    /* a request addressed to our SM-DP (dest smdp): it would come from our SM-SR, which may not call
     * ES3.CreateISDP; refused on the spot, audited, and the procedure learns it at once */
    long denied0 = sql_long("SELECT count(*) FROM audit_log WHERE outcome = 'denied'");
    int64_t id = new_proc("ES3.CreateISDP", OUR_DP, ES_ROLE_SMDP);
    g_expect = (exp_answer){.fn = "ES3.CreateISDP", .exec = ES_EXEC_FAILED, .subject = "1.1", .reason = "1.2"};
    int calls0 = g_sr_calls;
    engine();
    pump();
    assert_int_equal(g_sr_calls, calls0);
    assert_int_equal(sql_long("SELECT count(*) FROM audit_log WHERE outcome = 'denied'"), denied0 + 1);
    engine();
    char b[160];
    assert_string_equal(proc_state(id, b, sizeof b), "done/answer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_call_identity_and_answer),
        cmocka_unit_test(test_async_call_and_callback),
        cmocka_unit_test(test_takeover_during_delivery_runs_once),
        cmocka_unit_test(test_crash_between_outbox_and_delivery),
        cmocka_unit_test(test_wrong_role_refused_and_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
