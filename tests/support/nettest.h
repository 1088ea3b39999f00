/* nettest: shared set-up for the net/ tests — a SoftHSM2 token holding the TLS key, a test PKI with
 * a certificate per role, the ES server on 127.0.0.1 with a worker pool and its loop on a thread,
 * and a small blocking TLS client. */
#ifndef SM_NETTEST_H
#define SM_NETTEST_H

#include <pthread.h>
#include <stdbool.h>

#include "appliance/workers.h"
#include "net/es_server.h"
#include "tests/support/testenv.h"
#include "tests/support/testpki.h"

typedef struct nettest {
    testenv_hsm T;
    hsm_ctx *hsm;
    testpki pki;
    struct event_base *base;
    sm_workers *workers;
    net_tls *tls;
    es_server *srv;
    int port;
    pthread_t loop;
    int audits;
    pthread_mutex_t mu;
    char server_fp[65];
    /* kept to restart the server on the same token, PKI and port */
    es_server_config sc;
    es_peer_entry peers[16];
    char listen[32];
    sm_worker_hook whooks[4];
    size_t nwhooks;
    void (*bind_cb)(es_server *s, void *arg);
    void *bind_arg;
} nettest;

typedef struct nettest_opts {
    double rate, burst;
    int request_timeout_s, idle_timeout_s;
    size_t max_body;
    const sm_worker_hook *whooks;  /* per-worker set-up (database connection) */
    size_t nwhooks;
    const es_hooks *hooks;         /* NULL: in-memory replay store, audits counted in nettest.audits */
} nettest_opts;

/* Builds everything; binding happens in bind_cb (before the loop starts). Aborts on failure. */
void nettest_start(nettest *n, const nettest_opts *o, void (*bind_cb)(es_server *s, void *arg), void *arg);
void nettest_stop(nettest *n);
/* Stops the server and its workers and starts them again (same token, PKI, port): a process restart. */
void nettest_restart(nettest *n);

typedef struct tresp {
    int status;            /* HTTP status; -1 = TLS handshake refused, -2 = connection failure */
    char *body;
    size_t len;
} tresp;

/* One request on a fresh connection with the client certificate <who> (NULL: none). */
tresp nettest_post(nettest *n, const char *who, const char *path, const char *ctype, const char *body);
void tresp_free(tresp *r);

/* Keep-alive client connection. */
typedef struct tconn tconn;
tconn *nettest_connect(nettest *n, const char *who);
tresp tconn_post(tconn *c, const char *path, const char *ctype, const char *body);
/* Raw writes, for slow or oversized requests: returns bytes written or -1. */
long tconn_write(tconn *c, const void *p, size_t len);
/* Reads one response (blocking up to timeout_s); status -2 when the connection closed without one. */
tresp tconn_read(tconn *c, int timeout_s);
void tconn_close(tconn *c);

#endif
