/* Worker helpers for tests: the worker hook that gives each worker a connection of a db_pool for its
 * life, and running a function on a worker of a pool while the test thread waits for it. */
#ifndef SM_TESTS_WORKERS_H
#define SM_TESTS_WORKERS_H

#include <pthread.h>
#include <stdbool.h>

#include "appliance/workers.h"
#include "db/pg.h"

/* {.name = "db"}: init takes a connection of pool for the worker (w->db), fini gives it back. */
sm_worker_hook tw_db_hook(db_pool *pool);

/* One function run on a worker; the test thread waits for it with tw_job_wait. */
typedef struct tw_job {
    void (*fn)(sm_worker *w, void *arg);
    void *arg;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} tw_job;

/* Submits fn(worker, arg) to ws; SM_OK or the pool's refusal (nothing to wait for then). */
sm_rc tw_job_start(tw_job *j, sm_workers *ws, void (*fn)(sm_worker *w, void *arg), void *arg);
void tw_job_wait(tw_job *j);
/* Both: fn runs on a worker of ws, the caller waits; aborts when the pool refuses the job. */
void tw_on_worker(sm_workers *ws, void (*fn)(sm_worker *w, void *arg), void *arg);

#endif
