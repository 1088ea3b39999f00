#include "appliance/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

typedef struct job {
    sm_job_fn fn;
    sm_done_fn done;
    void *arg;
    struct job *next;
} job;

struct sm_workers {
    struct event_base *base;
    hsm_ctx *hsm;
    const sm_worker_hook *hooks;
    size_t nhooks;
    unsigned n;
    pthread_t *th;
    sm_worker *w;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t queued, running, max_queue;
    bool stopping;

    /* completions back to the loop */
    pthread_mutex_t cmu;
    job *chead, *ctail;
    struct event *cev;

    /* start-up handshake */
    unsigned started, failed;
    pthread_cond_t scv;
    sm_err first_err;
};

static _Thread_local sm_worker *current_worker;

sm_worker *sm_worker_current(void) { return current_worker; }

static void deliver(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    sm_workers *ws = arg;
    pthread_mutex_lock(&ws->cmu);
    job *j = ws->chead;
    ws->chead = ws->ctail = NULL;
    pthread_mutex_unlock(&ws->cmu);
    while (j) {
        job *next = j->next;
        if (j->done)
            j->done(j->arg);
        free(j);
        j = next;
    }
}

static void *run(void *arg)
{
    sm_worker *w = arg;
    sm_workers *ws = NULL;
    /* the pool is found from the worker's index */
    ws = (sm_workers *)w->slots[3];
    w->slots[3] = NULL;
    current_worker = w;
    sm_err err = {0};
    sm_rc rc = hsm_session_get(ws->hsm, &w->hsm, &err);
    size_t inited = 0;
    for (; rc == SM_OK && inited < ws->nhooks; inited++) {
        if (ws->hooks[inited].init)
            rc = ws->hooks[inited].init(w, ws->hooks[inited].ctx, &err);
        if (rc != SM_OK)
            sm_err_prefix(&err, "worker %d: %s", w->id, ws->hooks[inited].name);
    }
    pthread_mutex_lock(&ws->mu);
    if (rc != SM_OK) {
        if (!ws->failed++)
            ws->first_err = err;
    }
    ws->started++;
    pthread_cond_broadcast(&ws->scv);
    while (rc == SM_OK) {
        while (!ws->head && !ws->stopping)
            pthread_cond_wait(&ws->cv, &ws->mu);
        if (!ws->head && ws->stopping)
            break;
        job *j = ws->head;
        ws->head = j->next;
        if (!ws->head)
            ws->tail = NULL;
        ws->queued--;
        ws->running++;
        pthread_mutex_unlock(&ws->mu);
        j->fn(w, j->arg);
        j->next = NULL;
        pthread_mutex_lock(&ws->cmu);
        if (ws->ctail)
            ws->ctail->next = j;
        else
            ws->chead = j;
        ws->ctail = j;
        pthread_mutex_unlock(&ws->cmu);
        event_active(ws->cev, EV_READ, 0);
        pthread_mutex_lock(&ws->mu);
        ws->running--;
    }
    pthread_mutex_unlock(&ws->mu);
    if (rc != SM_OK && inited > 0)
        inited--; /* the failing hook did not initialise */
    while (inited-- > 0)
        if (ws->hooks[inited].fini)
            ws->hooks[inited].fini(w, ws->hooks[inited].ctx);
    hsm_session_put(w->hsm);
    w->hsm = NULL;
    return NULL;
}

sm_rc sm_workers_start(struct event_base *base, hsm_ctx *hsm, unsigned n, const sm_worker_hook *hooks,
                       size_t nhooks, size_t max_queue, sm_workers **out, sm_err *err)
{
    if (n == 0)
        return sm_errf(err, SM_EINVAL, "workers: need at least one thread");
    sm_workers *ws = calloc(1, sizeof *ws);
    if (!ws)
        return sm_errf(err, SM_ENOMEM, "workers: out of memory");
    ws->base = base;
    ws->hsm = hsm;
    ws->hooks = hooks;
    ws->nhooks = nhooks;
    ws->n = n;
    ws->max_queue = max_queue ? max_queue : 4096;
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    pthread_cond_init(&ws->scv, NULL);
    pthread_mutex_init(&ws->cmu, NULL);
    ws->cev = event_new(base, -1, 0, deliver, ws);
    ws->th = calloc(n, sizeof *ws->th);
    ws->w = calloc(n, sizeof *ws->w);
    if (!ws->cev || !ws->th || !ws->w) {
        sm_workers_stop(ws);
        return sm_errf(err, SM_ENOMEM, "workers: out of memory");
    }
    unsigned made = 0;
    for (; made < n; made++) {
        ws->w[made].id = (int)made;
        ws->w[made].slots[3] = ws;
        if (pthread_create(&ws->th[made], NULL, run, &ws->w[made]) != 0)
            break;
    }
    pthread_mutex_lock(&ws->mu);
    while (ws->started < made)
        pthread_cond_wait(&ws->scv, &ws->mu);
    pthread_mutex_unlock(&ws->mu);
    ws->n = made;
    if (made < n || ws->failed) {
        sm_err e = ws->first_err;
        sm_workers_stop(ws);
        if (made < n)
            return sm_errf(err, SM_ENOMEM, "workers: could not start thread %u", made);
        *err = e;
        return e.code ? e.code : SM_EINTERNAL;
    }
    sm_log(SM_LOG_INFO, "workers", "started", "threads=%u", n);
    *out = ws;
    return SM_OK;
}

sm_rc sm_workers_submit(sm_workers *ws, sm_job_fn fn, sm_done_fn done, void *arg)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return SM_ENOMEM;
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&ws->mu);
    if (ws->stopping) {
        pthread_mutex_unlock(&ws->mu);
        free(j);
        return SM_ESTATE;
    }
    if (ws->queued >= ws->max_queue) {
        pthread_mutex_unlock(&ws->mu);
        free(j);
        return SM_ELIMIT;
    }
    if (ws->tail)
        ws->tail->next = j;
    else
        ws->head = j;
    ws->tail = j;
    ws->queued++;
    pthread_cond_signal(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return SM_OK;
}

size_t sm_workers_backlog(sm_workers *ws)
{
    pthread_mutex_lock(&ws->mu);
    size_t n = ws->queued + ws->running;
    pthread_mutex_unlock(&ws->mu);
    return n;
}

void sm_workers_stop(sm_workers *ws)
{
    if (!ws)
        return;
    pthread_mutex_lock(&ws->mu);
    ws->stopping = true;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    for (unsigned i = 0; ws->th && i < ws->n; i++)
        pthread_join(ws->th[i], NULL);
    if (ws->cev)
        deliver(-1, 0, ws);
    if (ws->cev)
        event_free(ws->cev);
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->cv);
    pthread_cond_destroy(&ws->scv);
    pthread_mutex_destroy(&ws->cmu);
    free(ws->th);
    free(ws->w);
    free(ws);
}
