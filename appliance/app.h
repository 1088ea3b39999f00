/* app: the smboxd process context (configuration, HSM, keys, event loop, workers) and the list
 * of services started on it in order (database, procedure engine, ES server, ...). */
#ifndef SM_APP_H
#define SM_APP_H

#include <event2/event.h>

#include "appliance/config.h"
#include "appliance/keyring.h"
#include "appliance/workers.h"
#include "hsm/hsm.h"

typedef struct sm_app sm_app;

/* A service of the daemon. start runs on the loop thread before the loop starts; stop in
 * reverse order at shutdown (after the listeners closed, before the workers stop); reload on
 * SIGHUP with the new configuration already validated. worker_hook, when set, runs on every
 * worker thread (e.g. to open its database connection). */
typedef struct sm_service {
    const char *name;
    sm_rc (*start)(sm_app *app, sm_err *err);
    void (*stop)(sm_app *app);
    void (*reload)(sm_app *app, const sm_config *newcfg);
    sm_worker_hook worker_hook;
} sm_service;

struct sm_app {
    sm_config *cfg;
    hsm_ctx *hsm;
    hsm_sess *loop_hsm;    /* session for start-up work on the loop thread (never on a request path) */
    sm_keyring keys;
    struct event_base *base;
    sm_workers *workers;
    void *db;              /* set by the database service */
    void *net;             /* set by the ES server service */
    void *engine;          /* set by the procedure engine service */
    sm_config **old_cfgs;  /* configurations replaced by reloads (freed at exit) */
    size_t nold;
};

/* The services, in start order (app_services.c). */
extern const sm_service sm_services[];
extern const size_t sm_nservices;

#endif
