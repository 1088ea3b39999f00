/* world: set-up and tear-down of a running simulator. */
#include "tests/sim/world.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/ctl.h"
#include "tests/sim/device.h"
#include "tests/sim/smsc.h"
#include "tests/sim/state.h"

void sim_world_init(sim_world *w)
{
    memset(w, 0, sizeof *w);
    sim_fleet_init(&w->fleet);
    w->notif_retry_ms = 10000;
    w->refresh_ms = 200;
    w->attach_spread_ms = 2000;
    w->poll_ms = 200;
    w->first_attach = 1;
}

void sim_world_log(sim_world *w, const char *fmt, ...)
{
    if (!w->verbose)
        return;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    fprintf(stderr, "%s sim: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

sim_rc sim_world_save(sim_world *w, sim_err *err)
{
    sim_rc rc = sim_state_save(&w->fleet, w->state_dir, err);
    if (!rc)
        w->dirty = 0;
    return rc;
}

static void save_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sim_world *w = arg;
    if (w->dirty) {
        sim_err err = {0};
        if (sim_world_save(w, &err))
            fprintf(stderr, "sim: autosave failed: %s\n", err.msg);
    }
}

static void sig_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sim_world *w = arg;
    w->stopping = 1;
    event_base_loopexit(w->base, NULL);
}

static sim_rc parse_url(sim_world *w, const char *url, sim_err *err)
{
    const char *p;
    if (!strncmp(url, "https://", 8))
        p = url + 8;
    else
        return sim_errf(err, SIM_EINVAL, "--sm-sr-url must start with https://");
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char hp[300];
    if (hl == 0 || hl >= sizeof hp)
        return sim_errf(err, SIM_EINVAL, "--sm-sr-url: bad host");
    memcpy(hp, p, hl);
    hp[hl] = 0;
    char *colon = strrchr(hp, ':');
    unsigned long port = 443;
    if (colon && !strchr(colon, ']')) {
        *colon = 0;
        char *end;
        port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
            return sim_errf(err, SIM_EINVAL, "--sm-sr-url: bad port");
    }
    if (strlen(hp) >= sizeof w->sr_host || (slash && strlen(slash) >= sizeof w->sr_path))
        return sim_errf(err, SIM_EINVAL, "--sm-sr-url too long");
    const char *h = hp[0] == '[' ? hp + 1 : hp;
    memcpy(w->sr_host, h, strlen(h) + 1);
    char *rb = strchr(w->sr_host, ']');
    if (rb)
        *rb = 0;
    w->sr_port = (uint16_t)port;
    snprintf(w->sr_path, sizeof w->sr_path, "%s", slash ? slash : "/");
    return SIM_OK;
}

sim_rc sim_world_open(sim_world *w, const char *state_dir, const char *smpp_listen, const char *sr_url,
                      const char *ctl_path, sim_err *err)
{
    if (strlen(state_dir) >= sizeof w->state_dir)
        return sim_errf(err, SIM_EINVAL, "state directory path too long");
    snprintf(w->state_dir, sizeof w->state_dir, "%s", state_dir);
    sim_rc rc = sim_state_load(&w->fleet, state_dir, err);
    if (rc)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    if (!(w->base = event_base_new()))
        return sim_errf(err, SIM_ENOMEM, "event_base_new failed");
    if (sr_url && ((rc = parse_url(w, sr_url, err)) || (rc = sim_dev_tls_ctx(&w->tls, err))))
        return rc;
    if (smpp_listen && (rc = sim_smsc_listen(w, smpp_listen, err)))
        return rc;
    char defctl[600];
    if (!ctl_path) {
        snprintf(defctl, sizeof defctl, "%s/ctl.sock", state_dir);
        ctl_path = defctl;
    }
    if ((rc = sim_ctl_listen(w, ctl_path, err)))
        return rc;
    w->save_ev = event_new(w->base, -1, EV_PERSIST, save_cb, w);
    struct timeval tv = {5, 0};
    if (!w->save_ev || event_add(w->save_ev, &tv))
        return sim_errf(err, SIM_ENOMEM, "autosave timer failed");
    w->sig_ev[0] = evsignal_new(w->base, SIGINT, sig_cb, w);
    w->sig_ev[1] = evsignal_new(w->base, SIGTERM, sig_cb, w);
    for (int i = 0; i < 2; i++)
        if (!w->sig_ev[i] || event_add(w->sig_ev[i], NULL))
            return sim_errf(err, SIM_ENOMEM, "signal handler set-up failed");
    sim_dev_start_all(w);
    return SIM_OK;
}

void sim_world_close(sim_world *w)
{
    if (w->dirty && w->state_dir[0]) {
        sim_err err = {0};
        if (sim_world_save(w, &err))
            fprintf(stderr, "sim: saving the state failed: %s\n", err.msg);
    }
    for (size_t i = 0; i < w->fleet.n; i++)
        sim_dev_free(w->fleet.cards[i]);
    sim_ctl_free(w);
    sim_smsc_free(w);
    if (w->save_ev)
        event_free(w->save_ev);
    for (int i = 0; i < 2; i++)
        if (w->sig_ev[i])
            event_free(w->sig_ev[i]);
    SSL_CTX_free(w->tls);
    if (w->base)
        event_base_free(w->base);
    sim_fleet_free(&w->fleet);
    memset(w, 0, sizeof *w);
}
