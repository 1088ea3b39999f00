/* db/outbox and db/idem against a real PostgreSQL. The outbox: messages exist only if their
 * transaction commits, a receiver failing the first attempts still gets every message (retries with
 * backoff), permanent failures and exhausted attempts end 'dead', a crashed sender's messages are
 * delivered again after the lease, two senders never deliver the same message twice; a commit that queued
 * messages runs this process's hook once and notifies other nodes' listeners (not on rollback, not its own
 * origin), and a listener reports a server restart and works again once reopened. Idempotency: a
 * repeated request gets the first answer and starts nothing, also when both arrive at once. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/idem.h"
#include "db/outbox.h"
#include "db/proc.h"
#include "tests/support/testpg.h"

static testpg PG;
static char CI[600];
static db_pool *POOL;

static int setup(void **state)
{
    if (testpg_start(&PG) != 0 || testpg_schema_db(&PG, "outbox", CI, sizeof CI) != 0)
        return -1;
    POOL = testpg_pool(CI, 16);
    return 0;
}

static int teardown(void **state)
{
    db_pool_close(POOL);
    testpg_stop(&PG);
    return 0;
}

static long scalar(db_conn *c, const char *sql_text)
{
    db_stmt st = {sql_text, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

static int64_t add(db_conn *c, const char *payload, int max_attempts)
{
    db_outbox_msg m = {.dest_role = "mno", .dest_id = "1.3.6.1.4.1.1", .kind = "ES4.HandleProfileEnabledNotification",
                       .payload = (const uint8_t *)payload, .len = strlen(payload), .max_attempts = max_attempts};
    int64_t id = 0;
    sm_err err = {0};
    if (db_outbox_add(c, &m, &id, &err) != SM_OK)
        fail_msg("%s", err.msg);
    return id;
}

/* A fake peer: fails the first `fail_first` attempts of every message, counts deliveries by id. */
struct receiver {
    pthread_mutex_t mu;
    int fail_first;
    int permanent;
    int64_t base;
    int delivered[1024];
    int attempts[1024];
    int calls;
};

static sm_rc fake_send(const db_outbox_item *it, void *arg, bool *permanent, sm_err *err)
{
    struct receiver *r = arg;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    int64_t k = it->id - r->base;
    int fail = it->attempt <= r->fail_first;
    if (k >= 0 && k < 1024) {
        r->attempts[k]++;
        if (!fail)
            r->delivered[k]++;
    }
    pthread_mutex_unlock(&r->mu);
    if (strncmp((const char *)it->payload, "<msg", 4) != 0)
        return sm_errf(err, SM_EINTERNAL, "payload mangled");
    if (fail) {
        *permanent = r->permanent;
        return sm_errf(err, SM_EIO, "peer answered HTTP 503 (attempt %d)", it->attempt);
    }
    return SM_OK;
}

static const db_outbox_opts FAST = {.batch = 8, .lease_ms = 30000, .backoff_base_ms = 10, .backoff_max_ms = 40};

static void pump_until_quiet(db_conn *c, struct receiver *r, const db_outbox_opts *o)
{
    sm_err err = {0};
    for (int i = 0; i < 3000; i++) {
        if (scalar(c, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')") == 0)
            return;
        if (db_outbox_pump(c, "node1/w0", fake_send, r, o, NULL, NULL, &err) != SM_OK)
            fail_msg("%s", err.msg);
        usleep(5000);
    }
    fail_msg("the outbox never drained");
}

static void clear(void) { assert_int_equal(testpg_sql(CI, "DELETE FROM outbox"), 0); }

static void test_outbox_is_transactional(void **state)
{
    clear();
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(db_begin(c, &err), SM_OK);
    add(c, "<msg rolled back/>", 0);
    db_rollback(c);
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(db_begin(c, &err), SM_OK);
    add(c, "<msg committed/>", 0);
    assert_int_equal(db_commit(c, &err), SM_OK);
    db_outbox_counts n;
    assert_int_equal(db_outbox_count(c, &n, &err), SM_OK);
    assert_int_equal(n.pending, 1);
    db_outbox_msg bad = {.dest_role = "nobody", .dest_id = "x", .kind = "k", .payload = (const uint8_t *)"", .len = 0};
    assert_int_equal(db_outbox_add(c, &bad, NULL, &err), SM_EINVAL);
    /* without the id the row is sent ahead: there for the next statement, rolled back or committed with
     * the transaction */
    db_outbox_msg m = {.dest_role = "mno", .dest_id = "1.3.6.1.4.1.1", .kind = "ES4.HandleProfileEnabledNotification",
                       .payload = (const uint8_t *)"<msg ahead/>", .len = 12};
    for (int commit = 0; commit < 2; commit++) {
        assert_int_equal(db_begin(c, &err), SM_OK);
        assert_int_equal(scalar(c, "SELECT count(*) FROM outbox"), 1);
        assert_int_equal(db_outbox_add(c, &m, NULL, &err), SM_OK);
        assert_int_equal(db_outbox_add(c, &m, NULL, &err), SM_OK);
        assert_int_equal(scalar(c, "SELECT count(*) FROM outbox"), 3);
        if (commit)
            assert_int_equal(db_commit(c, &err), SM_OK);
        else
            db_rollback(c);
    }
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox"), 3);
    db_pool_give(c);
}

static void test_receiver_failing_first_attempts(void **state)
{
    clear();
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    struct receiver r = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_first = 2};
    r.base = add(c, "<msg 0/>", 0);
    for (int i = 1; i < 10; i++)
        add(c, "<msg n/>", 0);
    /* one pass: every message tried once, failed, rescheduled with its error */
    int sent = -1, failed = -1;
    assert_int_equal(db_outbox_pump(c, "node1/w0", fake_send, &r, &FAST, &sent, &failed, &err), SM_OK);
    assert_int_equal(sent + failed, 8); /* a batch */
    assert_int_equal(failed, 8);
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox WHERE last_error LIKE '%HTTP 503%'"), 8);
    pump_until_quiet(c, &r, &FAST);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(r.delivered[i], 1);
        assert_int_equal(r.attempts[i], 3);
    }
    db_outbox_counts n;
    assert_int_equal(db_outbox_count(c, &n, &err), SM_OK);
    assert_int_equal(n.delivered, 10);
    assert_int_equal(n.pending + n.sending + n.dead, 0);
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox WHERE attempts = 3 AND last_error IS NULL"), 10);
    db_pool_give(c);
}

static void test_dead_letters(void **state)
{
    clear();
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    struct receiver r = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_first = 1000, .permanent = 1};
    r.base = add(c, "<msg refused/>", 0);
    pump_until_quiet(c, &r, &FAST);
    assert_int_equal(r.attempts[0], 1); /* permanent: not retried */
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox WHERE state = 'dead'"), 1);
    r.permanent = 0;
    r.base = add(c, "<msg flaky/>", 3);
    memset(r.attempts, 0, sizeof r.attempts);
    pump_until_quiet(c, &r, &FAST);
    assert_int_equal(r.attempts[0], 3);
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox WHERE state = 'dead'"), 2);
    db_pool_give(c);
}

/* The sender dies after claiming (maybe after sending): the message goes out again after the lease. */
static void test_crashed_sender_redelivers(void **state)
{
    clear();
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    int64_t id = add(c, "<msg once/>", 0);
    db_outbox_opts shortlease = FAST;
    shortlease.lease_ms = 50;
    db_outbox_item *items = NULL;
    size_t n = 0;
    assert_int_equal(db_outbox_claim(c, "node1/dead", &shortlease, &items, &n, &err), SM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].id, id);
    /* while the lease holds, nobody else gets it */
    db_outbox_item *none = NULL;
    size_t nn = 0;
    assert_int_equal(db_outbox_claim(c, "node2/w0", &FAST, &none, &nn, &err), SM_OK);
    assert_int_equal(nn, 0);
    struct receiver r = {.mu = PTHREAD_MUTEX_INITIALIZER, .base = id};
    pump_until_quiet(c, &r, &FAST);
    assert_int_equal(r.delivered[0], 1);
    /* the dead sender's late completion is refused: the lease is gone */
    assert_int_equal(db_outbox_complete(c, &items[0], &err), SM_ESTATE);
    db_outbox_items_free(items, n);
    assert_int_equal(scalar(c, "SELECT attempts FROM outbox"), 2);
    db_pool_give(c);
}

struct pumper {
    struct receiver *r;
    const char *who;
    sm_rc rc;
};

static void *pumper(void *arg)
{
    struct pumper *p = arg;
    db_conn *c;
    sm_err err = {0};
    p->rc = db_pool_take(POOL, &c, &err);
    int idle = 0;
    while (p->rc == SM_OK && idle < 10) {
        int sent = 0, failed = 0;
        p->rc = db_outbox_pump(c, p->who, fake_send, p->r, &FAST, &sent, &failed, &err);
        idle = sent + failed ? 0 : idle + 1;
        if (!sent && !failed)
            usleep(5000);
    }
    if (p->rc != SM_OK)
        fprintf(stderr, "pumper: %s\n", err.msg);
    db_pool_give(c);
    return NULL;
}

static void test_two_senders_each_message_once(void **state)
{
    clear();
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    struct receiver r = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_first = 1};
    r.base = add(c, "<msg 0/>", 0);
    for (int i = 1; i < 300; i++)
        add(c, "<msg n/>", 0);
    struct pumper p[2] = {{&r, "node1/w0", SM_EINTERNAL}, {&r, "node2/w0", SM_EINTERNAL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, pumper, &p[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(p[0].rc, SM_OK);
    assert_int_equal(p[1].rc, SM_OK);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(r.delivered[i], 1);
        assert_int_equal(r.attempts[i], 2);
    }
    assert_int_equal(scalar(c, "SELECT count(*) FROM outbox WHERE state = 'delivered'"), 300);
    db_pool_give(c);
}

/* ---- idempotency ------------------------------------------------------------------------------------ */

/* What an ES function does with a request: dedup, start a procedure, answer. */
static db_idem_state handle(db_conn *c, const char *requester, const char *call, const char *answer, bool fail,
                            char *got, size_t cap)
{
    sm_err err = {0};
    db_idem r;
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_idem_begin(c, requester, call, &r, &err), SM_OK);
    db_idem_state st = r.state;
    if (r.state == DB_IDEM_NEW) {
        db_proc_new n = {.kind = "es2.DownloadProfile", .step = "start", .requester = requester, .call_id = call};
        int64_t pid;
        assert_int_equal(db_proc_create(c, &n, &pid, &err), SM_OK);
        assert_int_equal(db_idem_set_proc(c, requester, call, pid, &err), SM_OK);
        if (answer)
            assert_int_equal(db_idem_complete(c, requester, call, (const uint8_t *)answer, strlen(answer), &err),
                             SM_OK);
        snprintf(got, cap, "%s", answer ? answer : "");
    } else if (r.state == DB_IDEM_DONE) {
        snprintf(got, cap, "%.*s", (int)r.response_len, (const char *)r.response);
        assert_true(r.proc_id > 0);
    } else {
        snprintf(got, cap, "pending");
    }
    db_idem_clear(&r);
    if (fail)
        db_rollback(c);
    else
        assert_int_equal(db_commit(c, &err), SM_OK);
    return st;
}

static void test_idempotent_replays(void **state)
{
    db_conn *c;
    sm_err err = {0};
    char got[128];
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    long procs = scalar(c, "SELECT count(*) FROM proc");
    assert_int_equal(handle(c, "mno1", "call-1", "<Executed-Success/>", false, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(handle(c, "mno1", "call-1", "<other/>", false, got, sizeof got), DB_IDEM_DONE);
    assert_string_equal(got, "<Executed-Success/>");
    assert_int_equal(scalar(c, "SELECT count(*) FROM proc") - procs, 1); /* the replay started nothing */
    /* same call id from another requester: a different request */
    assert_int_equal(handle(c, "mno2", "call-1", "<b/>", false, got, sizeof got), DB_IDEM_NEW);
    /* async: accepted, no final answer yet; a replay learns it is still running */
    assert_int_equal(handle(c, "mno1", "call-2", NULL, false, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(handle(c, "mno1", "call-2", NULL, false, got, sizeof got), DB_IDEM_PENDING);
    assert_int_equal(db_idem_complete(c, "mno1", "call-2", (const uint8_t *)"<late/>", 7, &err), SM_OK);
    assert_int_equal(db_idem_complete(c, "mno1", "call-2", (const uint8_t *)"<again/>", 8, &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(handle(c, "mno1", "call-2", NULL, false, got, sizeof got), DB_IDEM_DONE);
    assert_string_equal(got, "<late/>");
    /* a first attempt that rolled back leaves no key: the retry is new */
    assert_int_equal(handle(c, "mno1", "call-3", "<x/>", true, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(handle(c, "mno1", "call-3", "<y/>", false, got, sizeof got), DB_IDEM_NEW);
    /* outside a transaction it refuses (the key must commit with the work) */
    db_idem r;
    assert_int_equal(db_idem_begin(c, "mno1", "call-4", &r, &err), SM_ESTATE);
    sm_err_clear(&err);
    long removed = -1;
    assert_int_equal(db_idem_purge(c, 3600, &removed, &err), SM_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(db_idem_purge(c, 0, &removed, &err), SM_OK);
    assert_true(removed >= 4);
    db_pool_give(c);
}

struct racer {
    const char *call;
    db_idem_state st;
    char got[64];
    pthread_barrier_t *b;
};

static void *racer(void *arg)
{
    struct racer *r = arg;
    db_conn *c;
    sm_err err = {0};
    if (db_pool_take(POOL, &c, &err) != SM_OK)
        return NULL;
    db_connect(c, &err);
    pthread_barrier_wait(r->b);
    r->st = handle(c, "mno9", r->call, "<first/>", false, r->got, sizeof r->got);
    db_pool_give(c);
    return NULL;
}

/* The same request twice at the same moment (a client retrying on a timeout): exactly one runs. */
static void test_idempotent_concurrent(void **state)
{
    for (int round = 0; round < 20; round++) {
        char call[32];
        snprintf(call, sizeof call, "race-%d", round);
        pthread_barrier_t b;
        pthread_barrier_init(&b, NULL, 2);
        struct racer r[2] = {{call, 0, "", &b}, {call, 0, "", &b}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, racer, &r[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&b);
        assert_int_equal((r[0].st == DB_IDEM_NEW) + (r[1].st == DB_IDEM_NEW), 1);
        assert_string_equal(r[0].got, "<first/>");
        assert_string_equal(r[1].got, "<first/>");
    }
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(scalar(c, "SELECT count(*) FROM proc WHERE requester = 'mno9'"), 20);
    db_pool_give(c);
}

/* A call's two keys (fcid, MessageID) in one statement: one begin, one completion. */
static db_idem_state pair(db_conn *c, const char *kf, const char *km, const char *answer, bool fail, int *which,
                          char *got, size_t cap)
{
    sm_err err = {0};
    db_idem r;
    assert_int_equal(db_begin(c, &err), SM_OK);
    if (db_idem_begin2(c, "mno7", kf, km, &r, which, &err) != SM_OK)
        fail_msg("%s", err.msg);
    db_idem_state st = r.state;
    if (st == DB_IDEM_NEW) {
        assert_int_equal(*which, 0);
        if (answer && db_idem_complete2(c, "mno7", kf, km, (const uint8_t *)answer, strlen(answer), &err) != SM_OK)
            fail_msg("%s", err.msg);
        snprintf(got, cap, "%s", answer ? answer : "");
    } else if (st == DB_IDEM_DONE) {
        snprintf(got, cap, "%.*s", (int)r.response_len, (const char *)r.response);
    } else {
        snprintf(got, cap, "pending");
    }
    db_idem_clear(&r);
    if (fail)
        db_rollback(c);
    else
        assert_int_equal(db_commit(c, &err), SM_OK);
    return st;
}

static long keys(db_conn *c, const char *call_id, const char *state)
{
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM idem WHERE requester = 'mno7' AND call_id = '%s' AND state = '%s'",
             call_id, state);
    return scalar(c, q);
}

static void test_idempotent_pair(void **state)
{
    db_conn *c;
    sm_err err = {0};
    char got[128];
    int which = -1;
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    /* both new: both taken, both completed with the answer */
    assert_int_equal(pair(c, "fcid:A", "mid:1", "<a/>", false, &which, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(keys(c, "fcid:A", "done") + keys(c, "mid:1", "done"), 2);
    /* the same call again: the fcid's answer */
    assert_int_equal(pair(c, "fcid:A", "mid:1", NULL, false, &which, got, sizeof got), DB_IDEM_DONE);
    assert_int_equal(which, 1);
    assert_string_equal(got, "<a/>");
    /* a replayed fcid with a new MessageID: answered, and the new MessageID is not taken */
    assert_int_equal(pair(c, "fcid:A", "mid:2", NULL, false, &which, got, sizeof got), DB_IDEM_DONE);
    assert_int_equal(which, 1);
    assert_int_equal(keys(c, "mid:2", "pending") + keys(c, "mid:2", "done"), 0);
    /* a new fcid with a used MessageID: the MessageID's answer (the fcid is taken, pending) */
    assert_int_equal(pair(c, "fcid:B", "mid:1", NULL, false, &which, got, sizeof got), DB_IDEM_DONE);
    assert_int_equal(which, 2);
    assert_string_equal(got, "<a/>");
    assert_int_equal(keys(c, "fcid:B", "pending"), 1);
    /* async: accepted, no answer yet; a replay sees it pending, then its late answer */
    assert_int_equal(pair(c, "fcid:C", "mid:3", NULL, false, &which, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(pair(c, "fcid:C", "mid:4", NULL, false, &which, got, sizeof got), DB_IDEM_PENDING);
    assert_int_equal(which, 1);
    assert_int_equal(db_idem_complete2(c, "mno7", "fcid:C", "mid:3", (const uint8_t *)"<late/>", 7, &err), SM_OK);
    assert_int_equal(pair(c, "fcid:C", "mid:3", NULL, false, &which, got, sizeof got), DB_IDEM_DONE);
    assert_string_equal(got, "<late/>");
    /* completing keys of which one is no longer pending: SM_ESTATE, the pending one is completed */
    assert_int_equal(pair(c, "fcid:D", "mid:5", NULL, false, &which, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(db_idem_complete2(c, "mno7", "fcid:D", "mid:1", (const uint8_t *)"<d/>", 4, &err), SM_ESTATE);
    sm_err_clear(&err);
    assert_int_equal(keys(c, "fcid:D", "done") + keys(c, "mid:5", "pending"), 2);
    /* only one key (a notification's MessageID; a request without one) */
    assert_int_equal(pair(c, "", "mid:6", "ack", false, &which, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(pair(c, NULL, "mid:6", NULL, false, &which, got, sizeof got), DB_IDEM_DONE);
    assert_int_equal(which, 2);
    assert_string_equal(got, "ack");
    assert_int_equal(pair(c, "fcid:E", NULL, "<e/>", false, &which, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(pair(c, "fcid:E", "", NULL, false, &which, got, sizeof got), DB_IDEM_DONE);
    assert_int_equal(which, 1);
    /* a first attempt that rolled back leaves neither key */
    assert_int_equal(pair(c, "fcid:F", "mid:7", "<f/>", true, &which, got, sizeof got), DB_IDEM_NEW);
    assert_int_equal(keys(c, "fcid:F", "pending") + keys(c, "mid:7", "pending"), 0);
    assert_int_equal(pair(c, "fcid:F", "mid:7", "<f2/>", false, &which, got, sizeof got), DB_IDEM_NEW);
    /* no key at all, or outside a transaction: refused */
    db_idem r;
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_idem_begin2(c, "mno7", NULL, "", &r, &which, &err), SM_EINVAL);
    sm_err_clear(&err);
    db_rollback(c);
    assert_int_equal(db_idem_begin2(c, "mno7", "fcid:G", "mid:8", &r, &which, &err), SM_ESTATE);
    sm_err_clear(&err);
    db_pool_give(c);
}

struct pair_racer {
    const char *kf, *km;
    db_idem_state st;
    char got[64];
    pthread_barrier_t *b;
};

static void *pair_racer(void *arg)
{
    struct pair_racer *r = arg;
    db_conn *c;
    sm_err err = {0};
    int which;
    if (db_pool_take(POOL, &c, &err) != SM_OK)
        return NULL;
    db_connect(c, &err);
    pthread_barrier_wait(r->b);
    r->st = pair(c, r->kf, r->km, "<first/>", false, &which, r->got, sizeof r->got);
    db_pool_give(c);
    return NULL;
}

/* The same call twice at once, both keys, and a retry that reuses only the MessageID: one runs. */
/* Completing a pair reads the pair's two keys, not every key of the requester, whatever plan the
 * connection keeps: here the generic plan made on a new, empty and never analysed table, as on a new
 * appliance (`call_id IN ($2, $3)` was then planned as a scan of the requester's whole key range). */
static void one_pair(db_conn *c, const char *requester, int i, long *read)
{
    sm_err err = {0};
    char kf[32], km[32];
    int which = -1;
    snprintf(kf, sizeof kf, "fcid:P%d", i);
    snprintf(km, sizeof km, "mid:P%d", i);
    db_idem r;
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_idem_begin2(c, requester, kf, km, &r, &which, &err), SM_OK);
    assert_int_equal(r.state, DB_IDEM_NEW);
    db_idem_clear(&r);
    const char *q = "SELECT coalesce(sum(idx_tup_fetch + seq_tup_read), 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'idem'";
    long before = scalar(c, q);
    assert_int_equal(db_idem_complete2(c, requester, kf, km, (const uint8_t *)"<p/>", 4, &err), SM_OK);
    *read = scalar(c, q) - before;
    assert_int_equal(db_commit(c, &err), SM_OK);
}

static void test_idempotent_pair_reads_its_keys_only(void **state)
{
    db_conn *c;
    sm_err err = {0};
    int which = -1;
    long read = 0;
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(testpg_sql(CI, "DELETE FROM idem"), 0);
    assert_int_equal(testpg_sql(CI, "VACUUM idem"), 0);
    assert_int_equal(testpg_sql(CI, "DELETE FROM pg_statistic WHERE starelid = 'idem'::regclass"), 0);
    assert_int_equal(testpg_sql(CI, "UPDATE pg_class SET reltuples = -1 WHERE oid = 'idem'::regclass"), 0);
    assert_int_equal(scalar(c, "SELECT count(*) FROM (SELECT set_config('plan_cache_mode', 'force_generic_plan', "
                               "false)) s"), 1);
    one_pair(c, "mno6", 0, &read); /* the plan is made now, on the empty table */
    assert_int_equal(testpg_sql(CI, "INSERT INTO idem (requester, call_id, state) SELECT 'mno6', 'old:' || g, "
                                    "'done' FROM generate_series(1, 3000) g"),
                     0);
    for (int i = 1; i < 6; i++) {
        one_pair(c, "mno6", i, &read);
        if (read > 4)
            fail_msg("completion %d read %ld rows of idem (at most 4 expected)", i, read);
    }
    db_idem r;
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_idem_begin2(c, "mno6", "fcid:P3", "mid:P9", &r, &which, &err), SM_OK);
    assert_int_equal(r.state, DB_IDEM_DONE);
    assert_int_equal(which, 1);
    assert_memory_equal(r.response, "<p/>", 4);
    db_idem_clear(&r);
    db_rollback(c);
    assert_int_equal(scalar(c, "SELECT count(*) FROM (SELECT set_config('plan_cache_mode', 'auto', false)) s"), 1);
    db_pool_give(c);
}

static void test_idempotent_pair_concurrent(void **state)
{
    for (int round = 0; round < 20; round++) {
        char kf[32], kf2[32], km[32];
        snprintf(kf, sizeof kf, "fcid:prace-%d", round);
        snprintf(kf2, sizeof kf2, "fcid:prace-%d-other", round);
        snprintf(km, sizeof km, "mid:prace-%d", round);
        pthread_barrier_t b;
        pthread_barrier_init(&b, NULL, 2);
        struct pair_racer r[2] = {{kf, km, 0, "", &b}, {round % 2 ? kf2 : kf, km, 0, "", &b}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, pair_racer, &r[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&b);
        assert_int_equal((r[0].st == DB_IDEM_NEW) + (r[1].st == DB_IDEM_NEW), 1);
        assert_string_equal(r[0].got, "<first/>");
        assert_string_equal(r[1].got, "<first/>");
    }
}

/* ---- wake-ups: the commit hook and NOTIFY ---- */

static int g_hook_calls;
static void hook(void *arg)
{
    int *n = arg;
    __atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST);
}

/* Notifications the listener gets within timeout_ms (stops at the first); -1 when the session is lost. */
static int wait_notified(db_listener *l, const char *ignore, int timeout_ms)
{
    int total = 0;
    for (int waited = 0; waited <= timeout_ms && total == 0; waited += 50) {
        struct pollfd pfd = {.fd = db_listener_fd(l), .events = POLLIN};
        if (poll(&pfd, 1, 50) < 0)
            return -1;
        int n = 0;
        sm_err err = {0};
        if (db_listener_read(l, ignore, &n, &err) != SM_OK)
            return -1;
        total += n;
    }
    return total;
}

static void test_commit_hook_and_notify(void **state)
{
    clear();
    db_config oc = {.conninfo = CI, .node = "other", .size = 2};
    db_pool *other = NULL;
    sm_err err = {0};
    assert_int_equal(db_pool_open(&oc, &other, &err), SM_OK);
    char mine[200], theirs[200];
    db_outbox_origin(POOL, mine, sizeof mine);
    db_outbox_origin(other, theirs, sizeof theirs);
    assert_string_not_equal(mine, theirs);
    /* the other node listens (its own origin ignored), as does an observer that ignores nothing */
    db_listener *l = NULL, *all = NULL;
    assert_int_equal(db_listener_open(other, DB_OUTBOX_CHANNEL, &l, &err), SM_OK);
    assert_int_equal(db_listener_open(POOL, DB_OUTBOX_CHANNEL, &all, &err), SM_OK);
    assert_true(db_listener_fd(l) >= 0);
    assert_true(db_listener_backend_pid(l) > 0);
    db_listener *bad = NULL;
    assert_int_equal(db_listener_open(POOL, "bad channel; DROP", &bad, &err), SM_EINVAL);
    assert_null(bad);

    /* without a hook (smctl, a node that does not pump): two messages in one transaction notify once,
     * after the commit */
    db_conn *c;
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(db_begin(c, &err), SM_OK);
    add(c, "<msg a/>", 0);
    add(c, "<msg b/>", 0);
    assert_int_equal(wait_notified(l, theirs, 200), 0);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(wait_notified(l, theirs, 5000), 1);
    assert_int_equal(wait_notified(all, NULL, 5000), 1);
    /* rolled back: nothing */
    assert_int_equal(db_begin(c, &err), SM_OK);
    add(c, "<msg gone/>", 0);
    db_rollback(c);
    assert_int_equal(wait_notified(l, theirs, 300), 0);
    /* outside a transaction: at once */
    add(c, "<msg autocommit/>", 0);
    assert_int_equal(wait_notified(l, theirs, 5000), 1);
    /* the other node's own message: its listener ignores it, ours does not */
    assert_int_equal(wait_notified(all, NULL, 5000), 1);
    db_conn *oconn;
    assert_int_equal(db_pool_take(other, &oconn, &err), SM_OK);
    add(oconn, "<msg from other/>", 0);
    assert_int_equal(wait_notified(all, mine, 5000), 1);
    assert_int_equal(wait_notified(l, theirs, 300), 0);

    /* with a hook, the process pumps its own commits: the hook runs once per committing transaction
     * that queued something, and nobody is notified */
    g_hook_calls = 0;
    db_outbox_on_commit(hook, &g_hook_calls);
    assert_int_equal(db_begin(c, &err), SM_OK);
    add(c, "<msg c/>", 0);
    add(c, "<msg d/>", 0);
    assert_int_equal(g_hook_calls, 0);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(g_hook_calls, 1);
    /* rolled back: no hook run */
    assert_int_equal(db_begin(c, &err), SM_OK);
    add(c, "<msg gone too/>", 0);
    db_rollback(c);
    assert_int_equal(g_hook_calls, 1);
    /* a transaction that queued nothing runs no hook */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(g_hook_calls, 1);
    /* outside a transaction: at once */
    add(c, "<msg autocommit 2/>", 0);
    assert_int_equal(g_hook_calls, 2);
    add(oconn, "<msg from other 2/>", 0);
    assert_int_equal(g_hook_calls, 3); /* the hook is the process's, whichever pool */
    assert_int_equal(wait_notified(l, theirs, 300), 0);
    assert_int_equal(wait_notified(all, NULL, 300), 0);
    db_pool_give(oconn);
    db_outbox_on_commit(NULL, NULL);
    add(c, "<msg no hook/>", 0);
    assert_int_equal(g_hook_calls, 3);
    assert_int_equal(wait_notified(l, theirs, 5000), 1);
    db_pool_give(c);
    db_listener_close(l);
    db_listener_close(all);
    db_pool_close(other);
}

/* A server restart ends the listening session: reading reports it, a new one works. */
static void test_listener_after_restart(void **state)
{
    db_listener *l = NULL;
    sm_err err = {0};
    assert_int_equal(db_listener_open(POOL, DB_OUTBOX_CHANNEL, &l, &err), SM_OK);
    assert_int_equal(testpg_restart(&PG, true), 0);
    assert_int_equal(wait_notified(l, NULL, 10000), -1);
    db_listener_close(l);
    assert_int_equal(db_listener_open(POOL, DB_OUTBOX_CHANNEL, &l, &err), SM_OK);
    db_conn *c;
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    add(c, "<msg after restart/>", 0);
    assert_int_equal(wait_notified(l, NULL, 5000), 1);
    db_pool_give(c);
    db_listener_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_is_transactional),
        cmocka_unit_test(test_receiver_failing_first_attempts),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_crashed_sender_redelivers),
        cmocka_unit_test(test_two_senders_each_message_once),
        cmocka_unit_test(test_idempotent_replays),
        cmocka_unit_test(test_idempotent_concurrent),
        cmocka_unit_test(test_idempotent_pair),
        cmocka_unit_test(test_idempotent_pair_concurrent),
        cmocka_unit_test(test_idempotent_pair_reads_its_keys_only),
        cmocka_unit_test(test_commit_hook_and_notify),
        cmocka_unit_test(test_listener_after_restart),
    };
    return cmocka_run_group_tests_name("db_outbox", tests, setup, teardown);
}
