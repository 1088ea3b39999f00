/* smctl_demo_net: the development MNO's side of the ES interface for `smctl demo download` — one
 * HTTPS request with its TLS client certificate (mutual TLS, server checked against the trust list),
 * and its endpoint: a small HTTPS listener that takes the asynchronous answers smboxd sends it.
 * Blocking OpenSSL, development only (the MNO's key is a PEM file). */
#ifndef SM_SMCTL_DEMO_NET_H
#define SM_SMCTL_DEMO_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

typedef struct demo_tls {
    const char *cert, *key, *ca;   /* PEM files */
} demo_tls;

/* POSTs body (JSON) to https://hostport/path; *status gets the HTTP status. */
sm_rc demo_post(const demo_tls *t, const char *hostport, const char *path, const char *body, int *status,
                char *answer, size_t cap, sm_err *err);

/* The MNO endpoint: listens on hostport in a thread, answers every POST 202 and keeps the bodies. */
typedef struct demo_listener demo_listener;
sm_rc demo_listen(const demo_tls *t, const char *hostport, demo_listener **out, sm_err *err);
/* Waits up to timeout_ms for a received body that contains needle; copies it into out. */
bool demo_listener_wait(demo_listener *l, const char *needle, int timeout_ms, char *out, size_t cap);
void demo_listener_stop(demo_listener *l);

#endif
