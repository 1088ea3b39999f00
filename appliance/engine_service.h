/* engine_service: runs the durable procedure engine (db/proc.h) inside smboxd. Domain modules
 * register their procedure kinds through app_procs.c; the service keeps up to workers-1 engine
 * passes running on the worker pool (one worker always stays free for ES calls), polls for due
 * procedures on a short timer, and can be kicked to run at once after a procedure is created or
 * woken on this node. app->engine is the sm_engine. */
#ifndef SM_ENGINE_SERVICE_H
#define SM_ENGINE_SERVICE_H

#include "appliance/app.h"
#include "db/proc.h"

typedef struct sm_engine sm_engine;

/* A domain module's registration function: registers its kinds on e (at service start). */
typedef sm_rc (*sm_proc_registrar)(sm_app *app, db_engine *e, sm_err *err);
extern const sm_proc_registrar sm_proc_registrars[];
extern const size_t sm_nproc_registrars;

sm_rc sm_engine_start(sm_app *app, sm_err *err);
void sm_engine_stop(sm_app *app);

/* Thread-safe: schedules an engine pass (after a procedure was created or woken). Called on a worker
 * whose connection has a transaction open, the pass starts once that transaction commits (and not at
 * all when it rolls back). Other nodes find the procedure on their next poll. */
void sm_engine_kick(sm_app *app);

/* The engine (for tests and smctl status). */
db_engine *sm_engine_db(sm_app *app);

typedef struct sm_engine_counters {
    long passes, steps, retried, fenced, expired, failed, errors;
} sm_engine_counters;
void sm_engine_counters_get(sm_app *app, sm_engine_counters *out);

#endif
