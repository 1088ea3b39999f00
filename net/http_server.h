/* http_server: the HTTPS listener and connections of the ES interfaces — accept on the loop, TLS
 * handshake in the handshake pool, then HTTP/1.1 with keep-alive over an OpenSSL bufferevent, with
 * header/body limits, idle and whole-request (slowloris) timeouts and a lingering close after errors.
 * Requests go to one callback; the answer comes back through http_conn_respond (maybe later). */
#ifndef SM_NET_HTTP_SERVER_H
#define SM_NET_HTTP_SERVER_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "net/handshake.h"
#include "net/http.h"

typedef struct http_server http_server;
typedef struct http_conn http_conn;

/* A complete request (loop thread). The callee owns the answer: it must call http_conn_respond once,
 * now or later (holding the connection with http_conn_hold meanwhile). */
typedef void (*http_request_cb)(http_conn *c, http_msg *req, void *arg);
/* Body of an answer the server gives by itself (400, 408, 413, 431, ...): target may be "" when the
 * request line was not read. Fills body and *ctype. */
typedef void (*http_error_cb)(int status, const char *why, const char *target, sm_buf *body, const char **ctype,
                              void *arg);

typedef struct http_server_config {
    const char *listen;          /* "host:port"; port 0 picks a free one */
    SSL_CTX *ssl_ctx;
    net_hs_pool *hs;
    http_limits lim;
    int idle_timeout_s;          /* no byte for this long between or inside requests: close */
    int request_timeout_s;       /* a request must be complete this long after its first byte */
    int handshake_timeout_s;
    unsigned max_conns;
    http_request_cb on_request;
    http_error_cb on_error;
    void *arg;
} http_server_config;

sm_rc http_server_start(struct event_base *base, const http_server_config *cfg, http_server **out, sm_err *err);
/* Stops accepting and closes idle connections; busy ones close after their answer. */
void http_server_shutdown(http_server *s);
/* Frees everything (after shutdown and once no request is in flight). */
void http_server_free(http_server *s);
int http_server_port(const http_server *s);
unsigned http_server_inflight(const http_server *s);
unsigned http_server_conns(const http_server *s);

/* Connection: the TLS session (peer certificate), per-connection user data (freed with free_fn). */
SSL *http_conn_ssl(http_conn *c);
void *http_conn_data(http_conn *c);
void http_conn_set_data(http_conn *c, void *data, void (*free_fn)(void *));
const char *http_conn_addr(http_conn *c);
/* Keeps the connection object valid across an asynchronous answer; release once answered. */
void http_conn_hold(http_conn *c);
void http_conn_release(http_conn *c);
/* Answers the current request. extra_headers: "Name: value\r\n..." or NULL. close: close after it. */
void http_conn_respond(http_conn *c, int status, const char *ctype, const void *body, size_t len,
                       const char *extra_headers, bool close);

#endif
