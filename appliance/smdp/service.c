/* The SM-DP's place in smboxd. */
#include "appliance/smdp/service.h"

#include <string.h>

#include "appliance/engine_service.h"
#include "appliance/smdp/smdp.h"
#include "lib/log.h"

/* one daemon per process */
static smdp_ctx g_ctx;
static bool g_ready;

static void kick(void *arg) { sm_engine_kick(arg); }

static sm_rc ready(sm_app *app, sm_err *err)
{
    if (g_ready)
        return SM_OK;
    sm_rc rc = smdp_ctx_init(&g_ctx, app->cfg, err);
    if (rc != SM_OK)
        return rc;
    g_ctx.kick = kick;
    g_ctx.kick_arg = app;
    g_ready = true;
    sm_log(SM_LOG_INFO, "smdp", "ready", "smdp_id=%s smsr_peers=%zu ci=%zu eum=%zu dp_certificate=%s", g_ctx.smdp_id,
           g_ctx.npeers, g_ctx.nci, g_ctx.neum, g_ctx.dp_cert ? "yes" : "no");
    return SM_OK;
}

sm_rc smdp_proc_registrar(sm_app *app, db_engine *e, sm_err *err)
{
    sm_rc rc = ready(app, err);
    return rc == SM_OK ? smdp_register_kinds(&g_ctx, e, err) : rc;
}

sm_rc smdp_es_binder(sm_app *app, es_server *srv, sm_err *err)
{
    sm_rc rc = ready(app, err);
    return rc == SM_OK ? smdp_bind(&g_ctx, srv, err) : rc;
}
