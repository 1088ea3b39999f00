/* world: the running simulator (`sim run`): event loop, fleet, SMSC, control socket, TLS context,
 * the SM-SR endpoint the devices call, timers and counters. Shared by smsc.c, device.c and ctl.c. */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "tests/sim/fleet.h"

struct sim_smsc;
struct sim_ctl;

typedef struct sim_stats {
    uint64_t mt, mt_lost, mt_dup, mt_unroutable, mo, por, push, https_sessions, https_posts, https_errors,
        notifications, confirmations, power_losses;
} sim_stats;

typedef struct sim_world {
    struct event_base *base;
    sim_fleet fleet;
    struct sim_smsc *smsc;
    struct sim_ctl *ctl;
    SSL_CTX *tls;
    char sr_host[256];          /* host of --sm-sr-url (connect target and Host header) */
    uint16_t sr_port;
    char sr_path[256];          /* path of --sm-sr-url: used when the push carries no URI */
    char state_dir[512];
    uint32_t notif_retry_ms;    /* notification resend interval */
    uint32_t refresh_ms;        /* delay between a switch and the re-attach */
    uint32_t attach_spread_ms;  /* first-attach notifications spread over this time */
    uint32_t poll_ms;           /* re-POST delay after 204 with Next-URI */
    int first_attach;           /* send type 01 for cards never attached */
    int dirty, verbose, stopping;
    struct event *save_ev, *sig_ev[2];
    sim_stats stats;
} sim_world;

void sim_world_init(sim_world *w);
/* Opens the state, TLS context, SMSC listener and control socket. */
sim_rc sim_world_open(sim_world *w, const char *state_dir, const char *smpp_listen, const char *sr_url,
                      const char *ctl_path, sim_err *err);
/* Saves the state (if dirty) and releases everything. */
void sim_world_close(sim_world *w);
sim_rc sim_world_save(sim_world *w, sim_err *err);
void sim_world_log(sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
