/* es_client: outbound ES calls (async responses, notifications, SM-DP -> SM-SR ES3, SM-SR -> SM-SR
 * ES7) over mutual TLS with the HSM-held key, server certificate checked against the trust list (and
 * the expected peer's identity), per-attempt timeouts, retries with exponential back-off (ES messages
 * are idempotent: retries reuse MessageID and FunctionCallIdentifier) and keep-alive connections
 * pooled per host. Runs on the event loop; es_client_post and es_client_call are the thread-safe doors. */
#ifndef SM_NET_ES_CLIENT_H
#define SM_NET_ES_CLIENT_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "net/handshake.h"
#include "net/json.h"
#include "net/peer.h"
#include "net/xml.h"

typedef struct es_client es_client;

typedef struct es_client_config {
    struct event_base *base;
    SSL_CTX *ssl_ctx;             /* net_tls_client_ctx */
    net_hs_pool *hs;
    const es_peer_list *peers;    /* to check the server certificate against the expected peer */
    int timeout_s;                /* per attempt (connect + TLS + answer) */
    int retries;                  /* extra attempts after the first, on transport errors, 408, 429, 5xx */
    int backoff_ms;               /* first back-off; doubles per attempt */
    unsigned max_idle_per_host;   /* pooled keep-alive connections per host:port */
    int idle_s;                   /* pooled connections are closed after this long unused */
    size_t max_body;              /* largest answer accepted */
    xml_limits xlim;
    json_limits jlim;
} es_client_config;

typedef struct es_client_result {
    sm_rc rc;                     /* SM_OK: the peer answered 2xx (msg holds a decoded answer if any) */
    int http_status;              /* 0 when no HTTP answer came */
    int attempts;
    es_msg msg;                   /* decoded answer to a request (sync response, or an async function refused
                                   * at once); msg.fn NULL when the body was empty */
    es_status status;             /* decoded answer's status (or the failure's) */
    char error[256];
} es_client_result;

/* Loop thread; r (and r->msg) is valid during the call only. */
typedef void (*es_client_cb)(const es_client_result *r, void *arg);

sm_rc es_client_new(const es_client_config *cfg, es_client **out, sm_err *err);
/* Pending calls complete with SM_ESTATE "stopping". Loop thread. */
void es_client_free(es_client *c);

/* URL of a message at a peer whose ES base URL is base: SOAP <base>/gsma/soap/es<n>, REST
 * <base>/gsma/rest/es<n>/<Function>[Response]. A base that already has a path is used as is for SOAP.
 * The base `local` (a co-located role, net/es_local.h) gives local:/gsma/soap/es<n> or local:/gsma/rest/... */
void es_client_url(const char *base, es_binding b, const es_function *f, es_kind kind, char *out, size_t cap);

/* Sends m to url (https only). peer_id: the es.peers entry the server must be (NULL: trust list only).
 * cb may be NULL. Loop thread. */
void es_client_send(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                    es_client_cb cb, void *arg);
/* Same from any thread (m is copied); cb runs on the loop thread. */
sm_rc es_client_post(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                     es_client_cb cb, void *arg, sm_err *err);
/* Blocking call for worker threads (never the loop thread): waits for the final outcome. *answer gets
 * the decoded answer (caller clears it with es_msg_clear). */
sm_rc es_client_call(es_client *c, const char *url, const char *peer_id, es_binding b, const es_msg *m,
                     es_msg *answer, int *http_status, sm_err *err);

/* Pre-encoded messages (the durable outbox stores them encoded): no answer decoding. action is the
 * SOAP action (ignored for REST). send_raw: loop thread; post_raw: any thread; call_raw: worker thread,
 * blocks until the final outcome. */
void es_client_send_raw(es_client *c, const char *url, const char *peer_id, es_binding b, const char *action,
                        const void *payload, size_t len, es_client_cb cb, void *arg);
sm_rc es_client_post_raw(es_client *c, const char *url, const char *peer_id, es_binding b, const char *action,
                         const void *payload, size_t len, es_client_cb cb, void *arg, sm_err *err);
sm_rc es_client_call_raw(es_client *c, const char *url, const char *peer_id, es_binding b, const char *action,
                         const void *payload, size_t len, int *http_status, sm_err *err);

/* Counters for status and tests. */
typedef struct es_client_stats {
    unsigned long sent, ok, failed, retried, connects, reused;
} es_client_stats;
void es_client_get_stats(es_client *c, es_client_stats *out);

#endif
