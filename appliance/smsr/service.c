/* The SM-SR in smboxd: one context per process, wired to es5, the engine and the ES server. */
#include "appliance/smsr/service.h"

#include <pthread.h>
#include <stdbool.h>

#include "appliance/engine_service.h"
#include "appliance/smsr/smsr.h"
#include "lib/log.h"

static smsr_ctx g_x;
static bool g_ready;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void engine_kick(void *arg) { sm_engine_kick(arg); }
static void es5_kick_cb(void *arg) { es5_kick(arg); }

/* Built once, at the first of the registrar or the binder (both run on the loop thread at start). */
static sm_rc ready(sm_app *app, sm_err *err)
{
    pthread_mutex_lock(&g_mu);
    sm_rc rc = SM_OK;
    if (!g_ready && (rc = smsr_ctx_init(&g_x, app->cfg, err)) == SM_OK) {
        g_x.es5 = (smsr_es5_ops){.submit = es5_submit, .cancel = es5_cancel, .kick = es5_kick_cb, .kick_arg = app};
        g_x.kick = engine_kick;
        g_x.kick_arg = app;
        /* before es5 starts receiving: notifications reach the SM-SR from the first one */
        es5_set_notification_handler(smsr_on_notification, &g_x);
        g_ready = true;
        sm_log(SM_LOG_INFO, "smsr", "ready", "smsr_id=%s ci_certificates=%zu platform_channel=%s", g_x.smsr_id, g_x.nci,
               app->cfg->smsr.platform_channel ? app->cfg->smsr.platform_channel : "auto");
        if (g_x.nci == 0)
            sm_log(SM_LOG_WARN, "smsr", "no_ci", "ci=\"%s\" msg=\"no trusted CI certificate: every eUICC registration "
                                                "is refused\"", g_x.ci_note);
    }
    pthread_mutex_unlock(&g_mu);
    if (rc != SM_OK)
        sm_err_prefix(err, "SM-SR");
    return rc;
}

sm_rc smsr_proc_registrar(sm_app *app, db_engine *e, sm_err *err)
{
    sm_rc rc = ready(app, err);
    return rc == SM_OK ? smsr_register_kinds(&g_x, e, err) : rc;
}

sm_rc smsr_es_binder(sm_app *app, es_server *srv, sm_err *err)
{
    sm_rc rc = ready(app, err);
    return rc == SM_OK ? smsr_bind(&g_x, srv, err) : rc;
}
