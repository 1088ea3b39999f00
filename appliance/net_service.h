/* net_service: the `net` service of smboxd — the ES interfaces (net/es_server) set up from the
 * configuration: TLS key in the HSM, trust list and peers, decoded calls on the worker pool, refused
 * calls audited into the database trail (db/audit.h) through the worker's connection. */
#ifndef SM_NET_SERVICE_H
#define SM_NET_SERVICE_H

#include "appliance/app.h"
#include "net/es_server.h"

sm_rc sm_net_start(sm_app *app, sm_err *err);
void sm_net_stop(sm_app *app);
void sm_net_reload(sm_app *app, const sm_config *newcfg);
/* The running ES server (app->net), for binding handlers (issue 8 code) before the loop runs. */
es_server *sm_net_server(sm_app *app);

/* A domain module's ES handler binding (es_server_bind of its functions), run by sm_net_start right
 * after the server started and before the loop serves any request. The list is in app_services.c. */
typedef sm_rc (*sm_es_binder)(sm_app *app, es_server *srv, sm_err *err);
extern const sm_es_binder sm_es_binders[];
extern const size_t sm_nes_binders;

#endif
