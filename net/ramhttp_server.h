/* ramhttp_server: the SM-SR's SCP81 admin server (GP Amendment B, RAM over HTTP) that eUICCs open
 * after a push SMS — TLS 1.2 PSK (crypto/scp81 configuration; the PSK found by the owner's lookup,
 * which runs in the handshake pool, never on the loop), then the card's POSTs with their X-Admin-*
 * headers checked and tied to the TLS identity, handed to the owner, and answered with the next
 * command script (200) or nothing (204, with or without X-Admin-Next-URI). Loop thread only. */
#ifndef SM_NET_RAMHTTP_SERVER_H
#define SM_NET_RAMHTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "crypto/scp81.h"
#include "lib/err.h"

typedef struct ram_server ram_server;
typedef struct ram_conn ram_conn;

/* One POST of a card, decoded and checked: the X-Admin-From EID is the one the PSK identity
 * authenticated. Valid during the callback only. */
typedef struct ram_post {
    const scp81_psk_id *id;     /* from the TLS handshake */
    char eid[33];               /* upper-case hex */
    const scp81_request *hdr;   /* X-Admin-* headers */
    const char *path;           /* request target as sent */
    const uint8_t *body;        /* the response script (empty on a first POST or an error status) */
    size_t body_len;
} ram_post;

/* A POST (loop thread). The owner answers with one ram_reply_* call, now or later (the connection
 * stays valid until then). */
typedef void (*ram_post_cb)(ram_conn *c, const ram_post *p, void *arg);
/* The connection is gone (closed by either side, or the server stopped); data = what the owner set
 * with ram_conn_set_data. Loop thread. */
typedef void (*ram_close_cb)(void *data, void *arg);

typedef struct ram_server_config {
    const char *listen;            /* "host:port" (port 0 picks one) */
    unsigned handshake_threads;    /* the PSK lookup (database + HSM work) runs on these threads */
    int handshake_timeout_s;
    int idle_timeout_s;            /* no byte for this long: close (a card that stopped answering) */
    int request_timeout_s;
    unsigned max_conns;
    size_t max_body;
    scp81_psk_lookup_fn lookup;    /* called on a handshake thread; may block (it waits for a worker) */
    void *lookup_arg;
    ram_post_cb on_post;
    ram_close_cb on_close;
    void *arg;
} ram_server_config;

sm_rc ram_server_start(struct event_base *base, const ram_server_config *cfg, ram_server **out, sm_err *err);
/* Stops accepting, closes every connection (on_close for each), stops the handshake threads. Every
 * POST must have been answered before (a connection held by a pending answer outlives the server). */
void ram_server_stop(ram_server *s);
int ram_server_port(const ram_server *s);
unsigned ram_server_conns(const ram_server *s);

void ram_conn_set_data(ram_conn *c, void *data);
void *ram_conn_data(ram_conn *c);
const char *ram_conn_addr(ram_conn *c);

/* 200 with a command script (AE 80 .. 00 00): next_uri is where the card posts its answer;
 * target_aid (may be NULL) adds X-Admin-Targeted-Application. */
void ram_reply_script(ram_conn *c, const char *next_uri, const uint8_t *target_aid, size_t aid_len,
                      const uint8_t *script, size_t len);
/* 204: with next_uri the card polls again later; without, the session ends. */
void ram_reply_none(ram_conn *c, const char *next_uri);
/* An HTTP error (400, 403, 404, 500, 503) and close. */
void ram_reply_error(ram_conn *c, int status, const char *why);

#endif
