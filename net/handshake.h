/* handshake: TLS handshakes run off the event loop. A TLS handshake signs with the HSM-held key
 * (server CertificateVerify / ServerKeyExchange, client CertificateVerify), a blocking PKCS#11 call
 * through libp11; a small pool of threads, each with its own event base, drives handshakes (and
 * outbound TCP connects) non-blocking and hands the established SSL back to the loop. */
#ifndef SM_NET_HANDSHAKE_H
#define SM_NET_HANDSHAKE_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "lib/err.h"

typedef struct net_hs_pool net_hs_pool;

/* Runs on the loop thread. ok: ssl and fd are the caller's again (established, non-blocking);
 * failure: ssl == NULL, fd == -1 (the pool freed and closed them), why says what failed. */
typedef void (*net_hs_done)(void *arg, SSL *ssl, evutil_socket_t fd, const char *why);

sm_rc net_hs_pool_start(struct event_base *loop, unsigned threads, net_hs_pool **out, sm_err *err);
/* Stops the threads; every handshake not yet delivered completes with why = "stopping". Loop thread. */
void net_hs_pool_stop(net_hs_pool *p);

/* Server side: fd is an accepted socket, ssl a fresh SSL of the server context. Loop thread. */
void net_hs_accept(net_hs_pool *p, evutil_socket_t fd, SSL *ssl, int timeout_ms, net_hs_done cb, void *arg);
/* Client side: resolves host:port, connects (TCP_NODELAY), then SSL_connect. Loop thread. */
void net_hs_connect(net_hs_pool *p, const char *host, const char *port, SSL *ssl, int timeout_ms, net_hs_done cb,
                    void *arg);

/* Handshakes queued or running (for status and tests). */
unsigned net_hs_pending(net_hs_pool *p);

/* What the pool absorbs: per completed handshake, the time a pool thread spent inside
 * SSL_do_handshake (its private-key operation on the HSM included) — time the loop does not block. */
typedef struct net_hs_stats {
    unsigned long handshakes, busy_us_total, busy_us_max;
} net_hs_stats;
void net_hs_get_stats(net_hs_pool *p, net_hs_stats *out);

#endif
