/* workers: the thread pool that runs everything that may block (HSM, database) off the event
 * loop. Each worker owns one HSM session (and, through its init hook, one database connection);
 * job results come back to the loop thread through a completion queue. */
#ifndef SM_WORKERS_H
#define SM_WORKERS_H

#include <event2/event.h>

#include "hsm/hsm.h"
#include "lib/err.h"

typedef struct sm_worker {
    int id;
    hsm_sess *hsm;
    void *db;    /* the worker's database connection (set by an init hook) */
    void *slots[4]; /* per-worker state of other subsystems */
} sm_worker;

/* Runs on a worker thread. */
typedef void (*sm_job_fn)(sm_worker *w, void *arg);
/* Runs on the event loop thread after the job (may be NULL). */
typedef void (*sm_done_fn)(void *arg);

typedef struct sm_worker_hook {
    const char *name;
    sm_rc (*init)(sm_worker *w, void *ctx, sm_err *err);
    void (*fini)(sm_worker *w, void *ctx);
    void *ctx;
} sm_worker_hook;

typedef struct sm_workers sm_workers;

/* The worker running the calling thread's current job (NULL outside a worker thread): lets code
 * called through layers that do not pass it (a procedure step, a repository hook) reach the
 * worker's HSM session. */
sm_worker *sm_worker_current(void);

/* Starts n threads; each borrows an HSM session and runs the hooks' init in order. max_queue bounds
 * the jobs waiting (0 = 4096). Fails if any worker fails to initialise. */
sm_rc sm_workers_start(struct event_base *base, hsm_ctx *hsm, unsigned n, const sm_worker_hook *hooks,
                       size_t nhooks, size_t max_queue, sm_workers **out, sm_err *err);

/* Queues a job; returns SM_ELIMIT when the queue is full (callers answer "busy"), SM_ESTATE when
 * stopping. Thread-safe. */
sm_rc sm_workers_submit(sm_workers *ws, sm_job_fn fn, sm_done_fn done, void *arg);

/* Jobs queued and running, for status and load shedding. */
size_t sm_workers_backlog(sm_workers *ws);

/* Stops accepting jobs, lets queued ones finish, joins the threads (running the hooks' fini),
 * then delivers the remaining completions on the calling (loop) thread. */
void sm_workers_stop(sm_workers *ws);

#endif
