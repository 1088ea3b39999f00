/* smboxd: the appliance daemon. Loads the configuration, opens the HSM and checks the key
 * hierarchy, starts the workers and the services on one libevent loop; SIGTERM/SIGINT stop it
 * cleanly, SIGHUP re-reads the configuration. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "appliance/app.h"
#include "appliance/hsmconf.h"
#include "lib/log.h"
#include "lib/secmem.h"

#define SMBOX_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out, "usage: smboxd [-c FILE] [--check] [--version]\n"
                 "  -c, --config FILE  configuration (default: $SMBOX_CONFIG, else embedded defaults)\n"
                 "  -t, --check        validate the configuration and the HSM keys, then exit\n"
                 "      --version      print the version\n");
}

static void on_stop(evutil_socket_t sig, short ev, void *arg)
{
    (void)ev;
    sm_app *app = arg;
    sm_log(SM_LOG_NOTICE, "daemon", "stopping", "signal=%d", (int)sig);
    event_base_loopexit(app->base, NULL);
}

static void on_reload(evutil_socket_t sig, short ev, void *arg)
{
    (void)sig;
    (void)ev;
    sm_app *app = arg;
    sm_config *nc = NULL;
    sm_err err = {0};
    if (sm_config_load(app->cfg->path, &nc, &err) != SM_OK) {
        char q[600];
        sm_log(SM_LOG_ERR, "daemon", "reload_failed", "error=%s", SM_LOGQ(q, err.msg));
        return;
    }
    sm_log_level lvl;
    if (sm_log_level_parse(nc->log.level, &lvl) == 0)
        sm_log_set_level(lvl);
    for (size_t i = 0; i < sm_nservices; i++)
        if (sm_services[i].reload)
            sm_services[i].reload(app, nc);
    sm_config **o = realloc(app->old_cfgs, (app->nold + 1) * sizeof *o);
    if (o) {
        app->old_cfgs = o;
        app->old_cfgs[app->nold++] = app->cfg;
        app->cfg = nc;
    } else {
        sm_config_free(nc);
    }
    sm_log(SM_LOG_NOTICE, "daemon", "reloaded", "config=%s", app->cfg->path ? app->cfg->path : "<defaults>");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 't'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cfgpath = getenv("SMBOX_CONFIG");
    int check = 0, c;
    while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfgpath = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'V':
            printf("smboxd %s\n", SMBOX_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cfgpath && !*cfgpath)
        cfgpath = NULL;
    sm_log_init("smboxd", SM_LOG_INFO, 2);
    sm_secmem_harden_process();
    signal(SIGPIPE, SIG_IGN);

    sm_app app;
    memset(&app, 0, sizeof app);
    sm_err err = {0};
    char q[700];
    int rcode = 1;
    if (sm_config_load(cfgpath, &app.cfg, &err) != SM_OK) {
        sm_log(SM_LOG_ERR, "config", "invalid", "error=%s", SM_LOGQ(q, err.msg));
        return 1;
    }
    sm_log_level lvl;
    if (sm_log_level_parse(app.cfg->log.level, &lvl) == 0)
        sm_log_set_level(lvl);
    sm_log(SM_LOG_INFO, "daemon", "starting", "version=%s node=%s config=%s", SMBOX_VERSION, app.cfg->node.name,
           cfgpath ? cfgpath : "<defaults>");

    if (evthread_use_pthreads() != 0) {
        sm_log(SM_LOG_ERR, "daemon", "libevent", "error=\"evthread_use_pthreads failed\"");
        goto out;
    }
    unsigned threads = (unsigned)app.cfg->workers.threads;
    if (sm_hsm_open_config(app.cfg, 0, &app.hsm, &err) != SM_OK) {
        sm_log(SM_LOG_ERR, "hsm", "open_failed", "error=%s", SM_LOGQ(q, err.msg));
        goto out;
    }
    if (hsm_session_get(app.hsm, &app.loop_hsm, &err) != SM_OK ||
        sm_keyring_load(app.loop_hsm, app.cfg->hsm.key_prefix, &app.keys, &err) != SM_OK) {
        sm_log(SM_LOG_ERR, "hsm", "keys_missing", "error=%s", SM_LOGQ(q, err.msg));
        goto out;
    }
    hsm_log_capabilities(app.hsm);
    sm_log(SM_LOG_INFO, "hsm", "keys_loaded", "prefix=%s kek_trusted=%d", app.cfg->hsm.key_prefix,
           app.keys.kek_trusted);
    if (check) {
        printf("smboxd: configuration and HSM keys OK\n");
        rcode = 0;
        goto out;
    }

    app.base = event_base_new();
    if (!app.base) {
        sm_log(SM_LOG_ERR, "daemon", "libevent", "error=\"event_base_new failed\"");
        goto out;
    }
    sm_worker_hook hooks[16];
    size_t nh = 0;
    for (size_t i = 0; i < sm_nservices && nh < 16; i++)
        if (sm_services[i].worker_hook.init || sm_services[i].worker_hook.fini)
            hooks[nh++] = sm_services[i].worker_hook;
    if (sm_workers_start(app.base, app.hsm, threads, hooks, nh, 0, &app.workers, &err) != SM_OK) {
        sm_log(SM_LOG_ERR, "workers", "start_failed", "error=%s", SM_LOGQ(q, err.msg));
        goto out;
    }
    size_t started = 0;
    for (; started < sm_nservices; started++) {
        if (!sm_services[started].start)
            continue;
        if (sm_services[started].start(&app, &err) != SM_OK) {
            sm_log(SM_LOG_ERR, "daemon", "service_failed", "service=%s error=%s", sm_services[started].name,
                   SM_LOGQ(q, err.msg));
            break;
        }
        sm_log(SM_LOG_INFO, "daemon", "service_started", "service=%s", sm_services[started].name);
    }
    if (started == sm_nservices) {
        struct event *sterm = evsignal_new(app.base, SIGTERM, on_stop, &app);
        struct event *sint = evsignal_new(app.base, SIGINT, on_stop, &app);
        struct event *shup = evsignal_new(app.base, SIGHUP, on_reload, &app);
        event_add(sterm, NULL);
        event_add(sint, NULL);
        event_add(shup, NULL);
        sm_log(SM_LOG_NOTICE, "daemon", "ready", "workers=%u pid=%ld", threads, (long)getpid());
        event_base_dispatch(app.base);
        event_free(sterm);
        event_free(sint);
        event_free(shup);
        rcode = 0;
    }
    while (started-- > 0)
        if (sm_services[started].stop)
            sm_services[started].stop(&app);
    sm_workers_stop(app.workers);
    app.workers = NULL;
    sm_log(SM_LOG_NOTICE, "daemon", "stopped", "status=%d", rcode);
out:
    if (app.workers)
        sm_workers_stop(app.workers);
    if (app.base)
        event_base_free(app.base);
    if (app.loop_hsm)
        hsm_session_put(app.loop_hsm);
    hsm_close(app.hsm);
    for (size_t i = 0; i < app.nold; i++)
        sm_config_free(app.old_cfgs[i]);
    free(app.old_cfgs);
    sm_config_free(app.cfg);
    return rcode;
}
