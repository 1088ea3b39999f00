/* The procedure engine as a daemon service. */
#include "appliance/engine_service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

#define POLL_MS 50       /* idle poll for procedures made due by other nodes or by time */
#define CLAIM_MAX 4      /* procedures claimed per pass */

struct sm_engine {
    sm_app *app;
    db_engine *eng;
    char owner[160];
    struct event *poll;
    struct event *kick;
    unsigned max_running;   /* engine passes at once: workers - 1, at least 1 */
    unsigned running;       /* loop thread only */
    bool stopping;          /* loop thread only */
    bool again;             /* a pass found work: run another at once (loop thread only) */
    pthread_mutex_t mu;
    sm_engine_counters c;
};

typedef struct pass {
    sm_engine *e;
    db_engine_stats st;
    sm_rc rc;
    char error[SM_ERR_MSG];
} pass;

static void pass_run(sm_worker *w, void *arg)
{
    pass *p = arg;
    sm_err err = {0};
    char who[32];
    snprintf(who, sizeof who, "w%d", w->id);
    p->rc = w->db ? db_engine_run(p->e->eng, w->db, who, CLAIM_MAX, &p->st, &err)
                  : sm_errf(&err, SM_ESTATE, "engine: worker %d has no database connection", w->id);
    if (p->rc != SM_OK)
        snprintf(p->error, sizeof p->error, "%s", err.msg);
}

static void schedule(sm_engine *e);

static void pass_done(void *arg)
{
    pass *p = arg;
    sm_engine *e = p->e;
    e->running--;
    pthread_mutex_lock(&e->mu);
    e->c.passes++;
    e->c.steps += p->st.steps;
    e->c.retried += p->st.retried;
    e->c.fenced += p->st.fenced;
    e->c.expired += p->st.expired;
    e->c.failed += p->st.failed;
    if (p->rc != SM_OK)
        e->c.errors++;
    pthread_mutex_unlock(&e->mu);
    if (p->rc != SM_OK) {
        char q[SM_ERR_MSG + 8];
        sm_log(SM_LOG_WARN, "engine", "pass_failed", "error=%s", SM_LOGQ(q, p->error));
    } else if (p->st.claimed > 0) {
        e->again = true; /* there may be more due work: keep going without waiting for the poll */
    }
    free(p);
    if (e->again)
        schedule(e);
}

/* Starts engine passes on the workers up to the limit (loop thread). */
static void schedule(sm_engine *e)
{
    while (!e->stopping && e->running < e->max_running) {
        pass *p = calloc(1, sizeof *p);
        if (!p)
            return;
        p->e = e;
        if (sm_workers_submit(e->app->workers, pass_run, pass_done, p) != SM_OK) {
            free(p);
            return; /* queue full or stopping: the next poll retries */
        }
        e->running++;
        if (!e->again)
            break; /* idle poll: one probing pass is enough */
        e->again = false;
    }
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sm_engine *e = arg;
    if (e->running == 0)
        schedule(e);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sm_engine *e = arg;
    e->again = true;
    schedule(e);
}

sm_rc sm_engine_start(sm_app *app, sm_err *err)
{
    if (!app->db)
        return sm_errf(err, SM_ESTATE, "engine: the database service is not running");
    sm_engine *e = calloc(1, sizeof *e);
    if (!e)
        return sm_errf(err, SM_ENOMEM, "engine: out of memory");
    e->app = app;
    pthread_mutex_init(&e->mu, NULL);
    snprintf(e->owner, sizeof e->owner, "%s/%ld", app->cfg->node.name, (long)getpid());
    e->eng = db_engine_new(e->owner, app->cfg->workers.lease_ms);
    long workers = app->cfg->workers.threads;
    e->max_running = workers > 1 ? (unsigned)(workers - 1) : 1;
    sm_rc rc = e->eng ? SM_OK : sm_errf(err, SM_ENOMEM, "engine: out of memory");
    for (size_t i = 0; rc == SM_OK && i < sm_nproc_registrars; i++)
        if (sm_proc_registrars[i])
            rc = sm_proc_registrars[i](app, e->eng, err);
    if (rc == SM_OK) {
        e->poll = event_new(app->base, -1, EV_PERSIST, on_poll, e);
        e->kick = event_new(app->base, -1, 0, on_kick, e);
        struct timeval tv = {0, POLL_MS * 1000};
        if (!e->poll || !e->kick || event_add(e->poll, &tv) != 0)
            rc = sm_errf(err, SM_ENOMEM, "engine: cannot create its timer");
    }
    if (rc != SM_OK) {
        if (e->poll)
            event_free(e->poll);
        if (e->kick)
            event_free(e->kick);
        db_engine_free(e->eng);
        pthread_mutex_destroy(&e->mu);
        free(e);
        return rc;
    }
    app->engine = e;
    sm_log(SM_LOG_INFO, "engine", "started", "owner=%s passes=%u", e->owner, e->max_running);
    return SM_OK;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

void sm_engine_stop(sm_app *app)
{
    sm_engine *e = app->engine;
    if (!e)
        return;
    e->stopping = true;
    event_free(e->poll);
    event_free(e->kick);
    e->poll = e->kick = NULL;
    /* let running passes finish (their steps commit or roll back; a lease left behind would only
     * delay another node) and their completions come back, for at most 30 s */
    struct event *t = evtimer_new(app->base, tick, NULL);
    for (int i = 0; t && e->running && i < 3000; i++) {
        struct timeval tv = {0, 10000};
        evtimer_add(t, &tv);
        event_base_loop(app->base, EVLOOP_ONCE);
    }
    if (t)
        event_free(t);
    if (e->running) {
        sm_log(SM_LOG_WARN, "engine", "stop_timeout", "running=%u", e->running);
        return; /* completions will still arrive from sm_workers_stop: keep e alive */
    }
    sm_engine_counters c = e->c;
    sm_log(SM_LOG_INFO, "engine", "stopped", "passes=%ld steps=%ld retried=%ld fenced=%ld expired=%ld failed=%ld",
           c.passes, c.steps, c.retried, c.fenced, c.expired, c.failed);
    db_engine_free(e->eng);
    pthread_mutex_destroy(&e->mu);
    free(e);
    app->engine = NULL;
}

static void kick_now(void *arg)
{
    sm_app *app = arg;
    sm_engine *e = app ? app->engine : NULL;
    if (e && e->kick)
        event_active(e->kick, EV_TIMEOUT, 0);
}

void sm_engine_kick(sm_app *app)
{
    /* called inside the transaction that created or woke the procedure: a pass started now would skip
     * its row (locked, or not yet visible) and leave it to the poll; run it once that transaction commits */
    sm_worker *w = sm_worker_current();
    if (w && w->db && db_in_tx(w->db))
        db_on_commit(w->db, kick_now, app);
    else
        kick_now(app);
}

db_engine *sm_engine_db(sm_app *app)
{
    sm_engine *e = app->engine;
    return e ? e->eng : NULL;
}

void sm_engine_counters_get(sm_app *app, sm_engine_counters *out)
{
    sm_engine *e = app->engine;
    memset(out, 0, sizeof *out);
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    *out = e->c;
    pthread_mutex_unlock(&e->mu);
}
