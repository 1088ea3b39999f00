/* service: the SM-SR in smboxd — one context for the process, built from the configuration at the
 * engine's start, its procedure kinds (app_procs.c), its ES handlers (app_services.c) and its eUICC
 * notification handler registered with es5. */
#ifndef SM_SMSR_SERVICE_H
#define SM_SMSR_SERVICE_H

#include "appliance/app.h"
#include "db/proc.h"
#include "net/es_server.h"

/* sm_proc_registrar: the SM-SR kinds on the daemon's engine (also sets up the context, ES5 and the
 * notification handler). */
sm_rc smsr_proc_registrar(sm_app *app, db_engine *e, sm_err *err);
/* sm_es_binder: the ES1/ES3/ES4 handlers of the SM-SR. */
sm_rc smsr_es_binder(sm_app *app, es_server *srv, sm_err *err);

#endif
