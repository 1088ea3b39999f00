/* db/proc: the durable procedure engine against a real PostgreSQL. Steps and their effects commit
 * together; two workers never run the same procedure; a worker killed while holding a lease has its
 * procedure resumed exactly once by another; a worker whose lease was taken over cannot commit
 * (checked at the start and in the final UPDATE); failures are retried with backoff then given up;
 * waiting procedures are woken or expire at their deadline. No timing assertions: waits poll the
 * database with generous limits. */
#include <pthread.h>
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

#include "db/proc.h"
#include "tests/support/testpg.h"

static testpg PG;
static char CI[600];
static db_pool *POOL;
static int in_child;
static int child_pipe = -1;

DB_STMT(q_effects, 0,
        "CREATE TABLE effects (proc_id bigint NOT NULL, step text NOT NULL, who text NOT NULL, "
        "PRIMARY KEY (proc_id, step))");
DB_STMT(q_effect, 3, "INSERT INTO effects (proc_id, step, who) VALUES ($1, $2, $3)");
DB_STMT(q_bump_token, 1, "UPDATE proc SET lease_token = lease_token + 1000 WHERE id = $1");

static int setup(void **state)
{
    if (testpg_start(&PG) != 0 || testpg_schema_db(&PG, "engine", CI, sizeof CI) != 0)
        return -1;
    POOL = testpg_pool(CI, 16);
    db_conn *c;
    sm_err err = {0};
    if (db_pool_take(POOL, &c, &err) != SM_OK || db_exec(c, &q_effects, NULL, NULL, &err) != SM_OK)
        return -1;
    db_pool_give(c);
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

static long scalar1(db_conn *c, const char *sql_text, int64_t arg)
{
    db_stmt st = {sql_text, 1, 0};
    db_params p;
    db_params_init(&p);
    db_p_int(&p, arg);
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &st, &p, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    long n = db_res_rows(r) ? (long)db_res_int(r, 0, 0) : -1;
    db_res_free(r);
    return n;
}

static sm_rc effect(db_conn *c, const db_proc *p, const char *step, sm_err *err)
{
    db_params pa;
    db_params_init(&pa);
    db_p_int(&pa, p->id);
    db_p_text(&pa, step);
    db_p_text(&pa, p->owner);
    return db_exec(c, &q_effect, &pa, NULL, err);
}

/* "t.chain": a -> b -> c -> done, each step leaving one effect row */
static sm_rc chain_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    sm_rc rc = effect(c, p, p->step, err);
    if (rc != SM_OK)
        return rc;
    if (in_child && !strcmp(p->step, "a")) {
        /* the child "crashes" in the middle of the step, its transaction open */
        if (write(child_pipe, "x", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    if (!strcmp(p->step, "a")) {
        nx->kind = DB_NEXT_STEP;
        snprintf(nx->step, sizeof nx->step, "b");
    } else if (!strcmp(p->step, "b")) {
        nx->kind = DB_NEXT_STEP;
        snprintf(nx->step, sizeof nx->step, "c");
        nx->set_data = true;
        nx->data = (uint8_t *)strdup("from-b");
        nx->data_len = 6;
    } else {
        if (p->data_len != 6 || memcmp(p->data, "from-b", 6) != 0)
            return sm_errf(err, SM_EINTERNAL, "step data lost");
        nx->kind = DB_NEXT_DONE;
        nx->result = (uint8_t *)strdup("ok!");
        nx->result_len = 3;
    }
    return SM_OK;
}

/* "t.flaky": fails twice, then succeeds; "t.broken": always fails */
static sm_rc flaky_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    if (p->attempt <= 2)
        return sm_errf(err, SM_ETIMEOUT, "peer did not answer (attempt %d)", p->attempt);
    nx->kind = DB_NEXT_DONE;
    return effect(c, p, "flaky-done", err);
}

static sm_rc broken_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    sm_rc rc = effect(c, p, "never-committed", err);
    return rc != SM_OK ? rc : sm_errf(err, SM_EPROTO, "card answered 6985");
}

static sm_rc end_hook(db_conn *c, const db_proc *p, const char *why, void *arg, sm_err *err)
{
    return effect(c, p, (const char *)arg, err);
}

/* "t.wait": start -> wait for a notification -> resume -> done */
static sm_rc wait_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    if (!strcmp(p->step, "start")) {
        nx->kind = DB_NEXT_WAIT;
        snprintf(nx->step, sizeof nx->step, "resume");
        return SM_OK;
    }
    nx->kind = DB_NEXT_DONE;
    return effect(c, p, "resumed", err);
}

/* "t.sneaky": its handler moves the lease token under its own feet, as a takeover would */
static sm_rc sneaky_step(db_conn *c, const db_proc *p, db_next *nx, void *arg, sm_err *err)
{
    sm_rc rc = effect(c, p, "sneaky", err);
    db_params pa;
    db_params_init(&pa);
    db_p_int(&pa, p->id);
    if (rc == SM_OK)
        rc = db_exec(c, &q_bump_token, &pa, NULL, err);
    nx->kind = DB_NEXT_DONE;
    return rc;
}

static db_engine *engine(const char *owner, long lease_ms)
{
    db_engine *e = db_engine_new(owner, lease_ms);
    assert_non_null(e);
    sm_err err = {0};
    db_proc_kind k[] = {
        {.kind = "t.chain", .step = chain_step},
        {.kind = "t.flaky", .step = flaky_step, .backoff_base_ms = 20, .backoff_max_ms = 100},
        {.kind = "t.broken", .step = broken_step, .failed = end_hook, .arg = "failed-hook", .max_attempts = 3,
         .backoff_base_ms = 10, .backoff_max_ms = 20},
        {.kind = "t.wait", .step = wait_step, .expired = end_hook, .arg = "expired-hook"},
        {.kind = "t.sneaky", .step = sneaky_step, .max_attempts = 1},
        {.kind = "t.slowretry", .step = broken_step, .expired = end_hook, .arg = "expired-hook",
         .backoff_base_ms = 600000, .backoff_max_ms = 600000},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        assert_int_equal(db_engine_register(e, &k[i], &err), SM_OK);
    assert_int_equal(db_engine_register(e, &k[0], &err), SM_EEXIST);
    return e;
}

static int64_t create(db_conn *c, const char *kind, const char *step, long validity_s)
{
    db_proc_new n = {.kind = kind, .step = step, .eid = "89049032000000000000000000000001", .requester = "mno1",
                     .call_id = "call", .validity_s = validity_s};
    int64_t id = 0;
    sm_err err = {0};
    if (db_proc_create(c, &n, &id, &err) != SM_OK)
        fail_msg("%s", err.msg);
    return id;
}

/* Runs the engine until the procedure leaves the active states (or ~60 s of polling). */
static void drive(db_engine *e, db_conn *c, int64_t id, db_engine_stats *st)
{
    sm_err err = {0};
    for (int i = 0; i < 6000; i++) {
        db_proc_info in;
        assert_int_equal(db_proc_get(c, id, &in, &err), SM_OK);
        bool active = !strcmp(in.state, "ready") || !strcmp(in.state, "running");
        db_proc_info_clear(&in);
        if (!active)
            return;
        if (db_engine_run(e, c, "w", 8, st, &err) != SM_OK)
            fail_msg("%s", err.msg);
        usleep(10000);
    }
    fail_msg("procedure %lld did not finish", (long long)id);
}

static void test_steps_commit_with_effects(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_engine *e = engine("node1", 30000);
    int64_t id = create(c, "t.chain", "a", 0);
    db_engine_stats st = {0};
    drive(e, c, id, &st);
    db_proc_info in;
    assert_int_equal(db_proc_get(c, id, &in, &err), SM_OK);
    assert_string_equal(in.state, "done");
    assert_int_equal(in.transitions, 3);
    assert_int_equal(in.result_len, 3);
    assert_memory_equal(in.result, "ok!", 3);
    assert_string_equal(in.lease_owner, "");
    db_proc_info_clear(&in);
    assert_int_equal(st.steps, 3);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1", id), 3);
    /* a procedure of a kind this engine does not know is left alone (another node's) */
    int64_t other = create(c, "t.unknown", "x", 0);
    assert_int_equal(db_engine_run(e, c, "w", 8, &st, &err), SM_OK);
    assert_int_equal(db_proc_get(c, other, &in, &err), SM_OK);
    assert_string_equal(in.state, "ready");
    db_proc_info_clear(&in);
    db_engine_free(e);
    db_pool_give(c);
}

struct worker {
    db_engine *e;
    const char *who;
    db_engine_stats st;
    int64_t *claimed;
    size_t nclaimed, cap;
    sm_rc rc;
    int claim_only;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    db_conn *c;
    sm_err err = {0};
    w->rc = db_pool_take(POOL, &c, &err);
    int idle = 0;
    while (w->rc == SM_OK && idle < 20) {
        db_claim *v = NULL;
        size_t n = 0;
        w->rc = db_engine_claim(w->e, c, w->who, w->claim_only ? 5 : 3, &v, &n, &err);
        for (size_t i = 0; w->rc == SM_OK && i < n; i++) {
            if (w->nclaimed == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 256;
                w->claimed = realloc(w->claimed, w->cap * sizeof *w->claimed);
            }
            w->claimed[w->nclaimed++] = v[i].id;
            if (!w->claim_only)
                w->rc = db_engine_execute(w->e, c, &v[i], &w->st, &err);
        }
        db_claims_free(v, n);
        idle = n ? 0 : idle + 1;
        if (!n)
            usleep(2000);
    }
    if (w->rc != SM_OK)
        fprintf(stderr, "worker %s: %s\n", w->who, err.msg);
    db_pool_give(c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Two workers claiming at once never get the same procedure (while leases hold). */
static void test_two_workers_disjoint_claims(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(testpg_sql(CI, "UPDATE proc SET state = 'done' WHERE state IN ('ready', 'running')"), 0);
    for (int i = 0; i < 300; i++)
        create(c, "t.chain", "a", 0);
    db_engine *e = engine("node1", 600000);
    struct worker w[2] = {{.e = e, .who = "w0", .claim_only = 1}, {.e = e, .who = "w1", .claim_only = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].rc, SM_OK);
    assert_int_equal(w[1].rc, SM_OK);
    assert_int_equal(w[0].nclaimed + w[1].nclaimed, 300);
    size_t n = w[0].nclaimed + w[1].nclaimed;
    int64_t *all = malloc(n * sizeof *all);
    if (w[0].nclaimed)
        memcpy(all, w[0].claimed, w[0].nclaimed * sizeof *all);
    if (w[1].nclaimed)
        memcpy(all + w[0].nclaimed, w[1].claimed, w[1].nclaimed * sizeof *all);
    qsort(all, n, sizeof *all, cmp64);
    for (size_t i = 1; i < n; i++)
        assert_true(all[i] != all[i - 1]);
    free(all);
    free(w[0].claimed);
    free(w[1].claimed);
    /* release them for the next tests */
    assert_int_equal(testpg_sql(CI, "UPDATE proc SET state = 'done' WHERE state = 'running'"), 0);
    db_engine_free(e);
    db_pool_give(c);
}

/* Two workers running 200 three-step procedures: every step exactly once, none fenced or retried. */
static void test_two_workers_run_everything_once(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    long before = scalar(c, "SELECT count(*) FROM effects");
    int64_t first = 0;
    for (int i = 0; i < 200; i++) {
        int64_t id = create(c, "t.chain", "a", 0);
        if (!first)
            first = id;
    }
    db_engine *e = engine("node1", 600000);
    struct worker w[2] = {{.e = e, .who = "w0"}, {.e = e, .who = "w1"}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].rc, SM_OK);
    assert_int_equal(w[1].rc, SM_OK);
    assert_int_equal(w[0].st.steps + w[1].st.steps, 600);
    assert_int_equal(w[0].st.retried + w[1].st.retried, 0);
    assert_int_equal(w[0].st.fenced + w[1].st.fenced, 0);
    assert_int_equal(scalar(c, "SELECT count(*) FROM effects") - before, 600);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM proc WHERE id >= $1 AND state <> 'done'", first), 0);
    free(w[0].claimed);
    free(w[1].claimed);
    db_engine_free(e);
    db_pool_give(c);
}

/* A worker process is killed in the middle of a step (transaction open, lease held) and with a second
 * procedure claimed but not started: after the lease expires another worker resumes both, each step
 * exactly once; the dead worker's uncommitted effect is gone. */
static void test_killed_worker_resumed_once(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(testpg_sql(CI, "UPDATE proc SET state = 'done' WHERE state IN ('ready', 'running')"), 0);
    int64_t p1 = create(c, "t.chain", "a", 0);
    int64_t p2 = create(c, "t.chain", "a", 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the child: its own pool and connection (never share a libpq connection across fork) */
        close(pfd[0]);
        in_child = 1;
        child_pipe = pfd[1];
        db_pool *cp = testpg_pool(CI, 1);
        db_conn *cc;
        sm_err e2 = {0};
        db_engine *ce = engine("child", 1000);
        db_claim *v = NULL;
        size_t n = 0;
        if (db_pool_take(cp, &cc, &e2) != SM_OK || db_engine_claim(ce, cc, "w", 2, &v, &n, &e2) != SM_OK || n != 2)
            _exit(2);
        db_engine_execute(ce, cc, &v[0], NULL, &e2); /* blocks inside the step */
        _exit(4);
    }
    close(pfd[1]);
    char b;
    assert_int_equal(read(pfd[0], &b, 1), 1); /* the child is inside step a, holding its lease */
    close(pfd[0]);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM proc WHERE id >= $1 AND lease_owner LIKE 'child/%'", p1), 2);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));

    db_engine *e = engine("rescuer", 30000);
    db_engine_stats st = {0};
    drive(e, c, p1, &st);
    drive(e, c, p2, &st);
    for (int64_t id = p1; id <= p2; id++) {
        db_proc_info in;
        assert_int_equal(db_proc_get(c, id, &in, &err), SM_OK);
        assert_string_equal(in.state, "done");
        db_proc_info_clear(&in);
        assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1", id), 3);
        assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1 AND who LIKE 'child/%'", id), 0);
    }
    assert_int_equal(st.steps, 6);
    assert_int_equal(st.fenced, 0);
    assert_int_equal(st.retried, 0);
    db_engine_free(e);
    db_pool_give(c);
}

static void wait_lease_expired(db_conn *c, int64_t id)
{
    for (int i = 0; i < 3000; i++) {
        if (scalar1(c, "SELECT count(*) FROM proc WHERE id = $1 AND lease_expires < now()", id) == 1)
            return;
        usleep(10000);
    }
    fail_msg("lease of %lld never expired", (long long)id);
}

/* A worker paused past its lease comes back after another took over: it cannot commit. */
static void test_fencing(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(testpg_sql(CI, "UPDATE proc SET state = 'done' WHERE state IN ('ready', 'running')"), 0);
    int64_t id = create(c, "t.chain", "a", 0);
    db_engine *slow = engine("slow", 100), *fast = engine("fast", 30000);
    db_claim *v = NULL, *fv = NULL;
    size_t n = 0, fn = 0;
    assert_int_equal(db_engine_claim(slow, c, "w", 1, &v, &n, &err), SM_OK);
    assert_int_equal(n, 1);
    wait_lease_expired(c, id);
    /* another worker takes it over (new token) but has not run it yet: the row is 'running' again */
    assert_int_equal(db_engine_claim(fast, c, "w", 1, &fv, &fn, &err), SM_OK);
    assert_int_equal(fn, 1);
    assert_int_equal(fv[0].id, id);
    assert_true(fv[0].token != v[0].token);
    /* the stale worker wakes up and tries to run step a: fenced by owner and token */
    db_engine_stats sst = {0};
    assert_int_equal(db_engine_execute(slow, c, &v[0], &sst, &err), SM_OK);
    assert_int_equal(sst.fenced, 1);
    assert_int_equal(sst.steps, 0);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1", id), 0);
    /* ... nor end it (as if its attempts were used up): the end is fenced too */
    db_claim stale = v[0];
    stale.attempt = 1000;
    db_engine_stats est = {0};
    assert_int_equal(db_engine_execute(slow, c, &stale, &est, &err), SM_OK);
    assert_int_equal(est.fenced, 1);
    assert_int_equal(est.failed, 0);
    /* the new holder runs it, and the rest */
    db_engine_stats st = {0};
    assert_int_equal(db_engine_execute(fast, c, &fv[0], &st, &err), SM_OK);
    assert_int_equal(st.steps, 1);
    drive(fast, c, id, &st);
    assert_int_equal(st.steps, 3);
    assert_int_equal(st.fenced, 0);
    db_claims_free(v, n);
    db_claims_free(fv, fn);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1", id), 3);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1 AND who LIKE 'slow/%'", id), 0);

    /* the final UPDATE checks the token too: a takeover that happened under the step (simulated by the
     * handler itself) makes the whole step roll back, effects included */
    int64_t s = create(c, "t.sneaky", "go", 0);
    db_engine_stats fst = {0};
    assert_int_equal(db_engine_run(fast, c, "w", 1, &fst, &err), SM_OK);
    assert_int_equal(fst.fenced, 1);
    assert_int_equal(fst.steps, 0);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1", s), 0);
    db_proc_info in;
    assert_int_equal(db_proc_get(c, s, &in, &err), SM_OK);
    assert_string_equal(in.state, "running"); /* still leased to the (fake) new holder */
    db_proc_info_clear(&in);
    db_engine_free(slow);
    db_engine_free(fast);
    db_pool_give(c);
}

static void test_retry_backoff_and_give_up(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_engine *e = engine("node1", 30000);
    int64_t f = create(c, "t.flaky", "go", 0);
    db_engine_stats st = {0};
    /* right after the first failure the procedure waits (backoff) with the error recorded */
    assert_int_equal(db_engine_run(e, c, "w", 1, &st, &err), SM_OK);
    assert_int_equal(st.retried, 1);
    db_proc_info in;
    assert_int_equal(db_proc_get(c, f, &in, &err), SM_OK);
    assert_string_equal(in.state, "ready");
    assert_int_equal(in.attempts, 1);
    assert_non_null(strstr(in.last_error, "peer did not answer"));
    db_proc_info_clear(&in);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM proc WHERE id = $1 AND next_run_at > now()", f), 1);
    drive(e, c, f, &st);
    assert_int_equal(st.retried, 2);
    assert_int_equal(db_proc_get(c, f, &in, &err), SM_OK);
    assert_string_equal(in.state, "done");
    db_proc_info_clear(&in);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1", f), 1);

    int64_t b = create(c, "t.broken", "go", 0);
    memset(&st, 0, sizeof st);
    drive(e, c, b, &st);
    assert_int_equal(db_proc_get(c, b, &in, &err), SM_OK);
    assert_string_equal(in.state, "failed");
    assert_non_null(strstr(in.last_error, "failed 3 times"));
    assert_non_null(strstr(in.last_error, "6985"));
    db_proc_info_clear(&in);
    assert_int_equal(st.failed, 1);
    /* the failing step's own effects never committed; the failure hook's did */
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1 AND step = 'never-committed'", b), 0);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1 AND step = 'failed-hook'", b), 1);
    db_engine_free(e);
    db_pool_give(c);
}

/* A worker that keeps dying on a step (claims abandoned) does not loop forever. */
static void test_crash_loop_given_up(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    assert_int_equal(testpg_sql(CI, "UPDATE proc SET state = 'done' WHERE state IN ('ready', 'running')"), 0);
    db_engine *e = engine("crashy", 50);
    int64_t id = create(c, "t.broken", "go", 0); /* max_attempts 3 */
    for (int i = 0; i < 3; i++) {
        db_claim *v = NULL;
        size_t n = 0;
        assert_int_equal(db_engine_claim(e, c, "w", 1, &v, &n, &err), SM_OK);
        assert_int_equal(n, 1);
        db_claims_free(v, n); /* "crashed" before running it */
        wait_lease_expired(c, id);
    }
    db_engine_stats st = {0};
    assert_int_equal(db_engine_run(e, c, "w", 1, &st, &err), SM_OK);
    assert_int_equal(st.failed, 1);
    db_proc_info in;
    assert_int_equal(db_proc_get(c, id, &in, &err), SM_OK);
    assert_string_equal(in.state, "failed");
    assert_non_null(strstr(in.last_error, "did not complete after 3 attempts"));
    db_proc_info_clear(&in);
    db_engine_free(e);
    db_pool_give(c);
}

static void test_wait_wake_and_expire(void **state)
{
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(POOL, &c, &err), SM_OK);
    db_engine *e = engine("node1", 30000);
    int64_t w = create(c, "t.wait", "start", 3600);
    int64_t x = create(c, "t.wait", "start", 1);
    /* a step that fails with a 10-minute backoff: its retry is not scheduled past the deadline */
    int64_t y = create(c, "t.slowretry", "go", 1);
    db_engine_stats st = {0};
    assert_int_equal(db_engine_run(e, c, "w", 8, &st, &err), SM_OK);
    assert_int_equal(st.retried, 1);
    db_proc_info in;
    assert_int_equal(db_proc_get(c, w, &in, &err), SM_OK);
    assert_string_equal(in.state, "waiting");
    assert_string_equal(in.step, "resume");
    db_proc_info_clear(&in);
    /* waiting: nothing to claim */
    memset(&st, 0, sizeof st);
    assert_int_equal(db_engine_run(e, c, "w", 8, &st, &err), SM_OK);
    assert_int_equal(st.claimed, 0);
    /* the notification arrives: wake in the receiver's transaction */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_proc_wake(c, w, NULL, (const uint8_t *)"notif", 5, &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(db_proc_wake(c, w, NULL, NULL, 0, &err), SM_ESTATE); /* not waiting any more */
    sm_err_clear(&err);
    drive(e, c, w, &st);
    assert_int_equal(db_proc_get(c, w, &in, &err), SM_OK);
    assert_string_equal(in.state, "done");
    db_proc_info_clear(&in);
    /* the other one's validity (1 s) runs out while it waits */
    assert_int_equal(testpg_sql(CI, "SELECT pg_sleep(1.2)"), 0);
    memset(&st, 0, sizeof st);
    assert_int_equal(db_engine_run(e, c, "w", 8, &st, &err), SM_OK);
    assert_true(st.expired >= 1); /* (the retried one may have expired while the other was driven) */
    assert_int_equal(db_proc_get(c, y, &in, &err), SM_OK);
    assert_string_equal(in.state, "expired");
    db_proc_info_clear(&in);
    assert_int_equal(db_proc_get(c, x, &in, &err), SM_OK);
    assert_string_equal(in.state, "expired");
    assert_non_null(strstr(in.last_error, "validity"));
    db_proc_info_clear(&in);
    assert_int_equal(scalar1(c, "SELECT count(*) FROM effects WHERE proc_id = $1 AND step = 'expired-hook'", x), 1);
    db_engine_free(e);
    db_pool_give(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_commit_with_effects),
        cmocka_unit_test(test_two_workers_disjoint_claims),
        cmocka_unit_test(test_two_workers_run_everything_once),
        cmocka_unit_test(test_killed_worker_resumed_once),
        cmocka_unit_test(test_fencing),
        cmocka_unit_test(test_retry_backoff_and_give_up),
        cmocka_unit_test(test_crash_loop_given_up),
        cmocka_unit_test(test_wait_wake_and_expire),
    };
    return cmocka_run_group_tests_name("db_engine", tests, setup, teardown);
}
