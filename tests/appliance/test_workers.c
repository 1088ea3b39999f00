/* appliance/workers: jobs run on worker threads with their own HSM session; completions come
 * back on the loop thread; a full queue says so; stop drains. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "appliance/workers.h"
#include "tests/support/testenv.h"

static testenv_hsm T;
static hsm_ctx *CTX;

struct jobarg {
    pthread_t worker_thread;
    hsm_sess *sess;
    int done_on_loop;
    uint8_t rnd[16];
    sm_rc rc;
};

static pthread_t loop_thread;
static int completions;

static void job_fn(sm_worker *w, void *arg)
{
    struct jobarg *a = arg;
    a->worker_thread = pthread_self();
    a->sess = w->hsm;
    sm_err err = {0};
    a->rc = hsm_random(w->hsm, a->rnd, sizeof a->rnd, &err);
}

static void done_fn(void *arg)
{
    struct jobarg *a = arg;
    a->done_on_loop = pthread_equal(pthread_self(), loop_thread);
    completions++;
}

static int hook_inits;
static sm_rc hook_init(sm_worker *w, void *ctx, sm_err *err)
{
    __atomic_add_fetch(&hook_inits, 1, __ATOMIC_SEQ_CST);
    w->db = ctx;
    return SM_OK;
}

static void stop_when_done(evutil_socket_t fd, short ev, void *arg)
{
    struct event_base *b = arg;
    if (completions >= 64)
        event_base_loopbreak(b);
}

static void test_jobs_and_completions(void **state)
{
    struct event_base *base = event_base_new();
    loop_thread = pthread_self();
    completions = 0;
    sm_worker_hook hook = {"test", hook_init, NULL, (void *)0x1};
    sm_workers *ws = NULL;
    sm_err err = {0};
    assert_int_equal(sm_workers_start(base, CTX, 3, &hook, 1, 0, &ws, &err), SM_OK);
    assert_int_equal(hook_inits, 3);
    static struct jobarg a[64];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 64; i++)
        assert_int_equal(sm_workers_submit(ws, job_fn, done_fn, &a[i]), SM_OK);
    struct event *tick = event_new(base, -1, EV_PERSIST, stop_when_done, base);
    struct timeval tv = {0, 10000};
    event_add(tick, &tv);
    event_base_dispatch(base);
    event_free(tick);
    assert_int_equal(completions, 64);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(a[i].rc, SM_OK);
        assert_true(a[i].done_on_loop);
        assert_false(pthread_equal(a[i].worker_thread, loop_thread));
        assert_non_null(a[i].sess);
    }
    sm_workers_stop(ws);
    event_base_free(base);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static int job_started;
static void blocking_job(sm_worker *w, void *arg)
{
    __atomic_store_n(&job_started, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
}

static int drained;
static void count_done(void *arg) { drained++; }

static void test_queue_limit_and_drain(void **state)
{
    struct event_base *base = event_base_new();
    sm_workers *ws = NULL;
    sm_err err = {0};
    assert_int_equal(sm_workers_start(base, CTX, 1, NULL, 0, 4, &ws, &err), SM_OK);
    pthread_mutex_lock(&gate);
    /* one job blocks the only worker; four more fill the queue; the next is refused */
    assert_int_equal(sm_workers_submit(ws, blocking_job, count_done, NULL), SM_OK);
    while (!__atomic_load_n(&job_started, __ATOMIC_SEQ_CST))
        usleep(1000);
    int accepted = 1;
    sm_rc rc = SM_OK;
    for (int i = 0; i < 10 && rc == SM_OK; i++) {
        rc = sm_workers_submit(ws, blocking_job, count_done, NULL);
        if (rc == SM_OK)
            accepted++;
    }
    assert_int_equal(rc, SM_ELIMIT);
    assert_int_equal(accepted, 5);
    assert_true(sm_workers_backlog(ws) >= 4);
    pthread_mutex_unlock(&gate);
    drained = 0;
    sm_workers_stop(ws); /* queued jobs finish, their completions are delivered */
    assert_int_equal(drained, accepted);
    event_base_free(base);
}

static sm_rc failing_init(sm_worker *w, void *ctx, sm_err *err)
{
    return w->id == 1 ? sm_errf(err, SM_EDB, "cannot connect") : SM_OK;
}

static void test_init_failure_reported(void **state)
{
    struct event_base *base = event_base_new();
    sm_worker_hook hook = {"database", failing_init, NULL, NULL};
    sm_workers *ws = NULL;
    sm_err err = {0};
    assert_int_equal(sm_workers_start(base, CTX, 2, &hook, 1, 0, &ws, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "worker 1: database: cannot connect"));
    event_base_free(base);
}

static int setup(void **state)
{
    evthread_use_pthreads();
    if (testenv_hsm_setup(&T) != 0)
        return -1;
    CTX = testenv_hsm_open(&T, 4);
    return 0;
}

static int teardown(void **state)
{
    hsm_close(CTX);
    testenv_hsm_teardown(&T);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_and_completions),
        cmocka_unit_test(test_queue_limit_and_drain),
        cmocka_unit_test(test_init_failure_reported),
    };
    return cmocka_run_group_tests_name("workers", tests, setup, teardown);
}
