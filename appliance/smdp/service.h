/* service: the SM-DP inside smboxd — its procedure kinds registered on the engine (app_procs.c) and its
 * ES handlers bound on the server (app_services.c), sharing one context built from the configuration. */
#ifndef SM_SMDP_SERVICE_H
#define SM_SMDP_SERVICE_H

#include "appliance/app.h"
#include "db/proc.h"
#include "net/es_server.h"

sm_rc smdp_proc_registrar(sm_app *app, db_engine *e, sm_err *err);
sm_rc smdp_es_binder(sm_app *app, es_server *srv, sm_err *err);

#endif
