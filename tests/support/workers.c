/* Worker helpers for tests (tests/support/workers.h). */
#include "tests/support/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sm_rc db_init(sm_worker *w, void *pool, sm_err *err)
{
    db_conn *c = NULL;
    sm_rc rc = db_pool_take(pool, &c, err);
    w->db = c;
    return rc;
}

static void db_fini(sm_worker *w, void *pool)
{
    (void)pool;
    if (w->db)
        db_pool_give(w->db);
    w->db = NULL;
}

sm_worker_hook tw_db_hook(db_pool *pool)
{
    return (sm_worker_hook){.name = "db", .init = db_init, .fini = db_fini, .ctx = pool};
}

static void job_run(sm_worker *w, void *arg)
{
    tw_job *j = arg;
    j->fn(w, j->arg);
}

static void job_done(void *arg)
{
    tw_job *j = arg;
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

sm_rc tw_job_start(tw_job *j, sm_workers *ws, void (*fn)(sm_worker *w, void *arg), void *arg)
{
    memset(j, 0, sizeof *j);
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    sm_rc rc = sm_workers_submit(ws, job_run, job_done, j);
    if (rc != SM_OK) {
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
    }
    return rc;
}

void tw_job_wait(tw_job *j)
{
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
}

void tw_on_worker(sm_workers *ws, void (*fn)(sm_worker *w, void *arg), void *arg)
{
    tw_job j;
    if (tw_job_start(&j, ws, fn, arg) != SM_OK) {
        fprintf(stderr, "tw_on_worker: the worker pool refused the job\n");
        abort();
    }
    tw_job_wait(&j);
}
