/* es_server: the ES interfaces as a service — routes HTTPS requests to the SOAP or REST binding,
 * identifies the caller from its certificate, enforces per-identity rate limits, runs decoding,
 * authorisation (each interface open only to its callers), replay detection and the bound handler
 * on a worker, answers, and sends asynchronous responses and notifications through es_client. */
#ifndef SM_NET_ES_SERVER_H
#define SM_NET_ES_SERVER_H

#include <event2/event.h>

#include "lib/buf.h"
#include "net/es_client.h"
#include "net/es_table.h"
#include "net/peer.h"
#include "net/tls.h"

typedef struct es_server es_server;

/* Where decoded calls run: the appliance's worker pool (threads with an HSM session and a database
 * connection). job runs on a worker with its context; done runs on the loop thread afterwards.
 * submit returns SM_ELIMIT when the queue is full (the caller is answered "busy"). */
typedef struct es_executor {
    sm_rc (*submit)(void *ctx, void (*job)(void *worker, void *arg), void (*done)(void *arg), void *arg);
    void *ctx;
} es_executor;

/* One refused call, for the audit trail. */
typedef struct es_audit_rec {
    const char *event;      /* "es_unknown_requester", "es_not_allowed", "es_requester_mismatch" */
    const es_peer *peer;    /* the authenticated certificate and what it mapped to */
    const char *qname;      /* "ES2.GetEIS" (with "Response" for callbacks) */
    const char *reason;     /* human-readable */
    const char *message_id;
    const char *fcid;
} es_audit_rec;

/* An outbound message for the durable outbox (async responses, notifications). */
typedef struct es_outbound {
    const char *url;
    const char *peer_id;
    es_role peer_role;
    es_binding binding;
    const es_msg *msg;
} es_outbound;

typedef enum es_idem_state { ES_IDEM_NEW = 0, ES_IDEM_PENDING, ES_IDEM_DONE } es_idem_state;

/* Hooks to the database layer, called on worker threads with the worker's context. Any may be NULL:
 * audit then goes to the log (sub=audit), replay detection to a bounded in-memory store, outbound
 * messages straight to es_client (in-memory retries only). */
typedef struct es_hooks {
    /* A database transaction around each accepted call on the worker's connection: call_begin before
     * replay detection (true = a transaction is open; the handler then runs inside it and must not
     * commit or roll it back — savepoints only), call_end after the answer and any outbox entry were
     * recorded (commit; roll back when ok is false). call_end returns false when ok was true but the
     * commit failed (a statement sent ahead refused, a serialization failure, a lost session): nothing
     * of the call stays, and the answer prepared is replaced by a failure the caller may retry. */
    bool (*call_begin)(void *ctx, void *worker);
    bool (*call_end)(void *ctx, void *worker, bool ok);
    void (*audit)(void *ctx, void *worker, const es_audit_rec *rec);
    /* replay detection keyed by (requester, key), a call's keys "fcid:<FunctionCallIdentifier>" and
     * "mid:<MessageID>" ("" = the call has none) taken together: the MessageID's only when the fcid's is
     * absent or new. NEW takes the keys (a concurrent duplicate then sees PENDING), DONE returns the
     * stored answer (malloc'd) and *which says whose (1 = the fcid's, 2 = the MessageID's); complete
     * stores the answer under both — the shape of db/idem.h (db_idem_begin2 / db_idem_complete2) */
    es_idem_state (*idem_begin)(void *ctx, void *worker, const char *requester, const char *kf, const char *km,
                                char **stored, int *which);
    void (*idem_complete)(void *ctx, void *worker, const char *requester, const char *kf, const char *km,
                          const char *stored);
    sm_rc (*outbox_enqueue)(void *ctx, void *worker, const es_outbound *o, sm_err *err);
    void *ctx;
} es_hooks;

typedef struct es_server_config {
    const char *listen;            /* "host:port" */
    net_tls *tls;
    es_peer_list peers;            /* es.peers (copied) */
    size_t max_body_bytes, max_header_bytes;
    unsigned max_xml_depth;
    unsigned long max_xml_nodes;
    double rate_per_second, rate_burst;
    int idle_timeout_s, request_timeout_s, handshake_timeout_s;
    unsigned max_conns, handshake_threads;
    const char *public_url;        /* our base URL (wsa:From) */
    const char *smdp_id, *smsr_id; /* our GSMA identifiers */
    int client_timeout_s, client_retries, client_backoff_ms;
    es_executor exec;
    es_hooks hooks;
} es_server_config;

/* Starts the handshake pool, the client and the listener on base. */
sm_rc es_server_start(struct event_base *base, const es_server_config *cfg, es_server **out, sm_err *err);
/* Binds the handler of a function ("ES2.GetEIS") for a kind of message (requests, notifications,
 * async responses). Call before traffic (handlers are read by workers without locks). */
sm_rc es_server_bind(es_server *s, const char *qname, es_kind kind, es_handler_fn fn, void *arg, sm_err *err);
/* Stops accepting; runs the loop until in-flight requests are answered and written (at most
 * timeout_s); then frees everything. Loop thread, loop not running. */
void es_server_stop(es_server *s, int timeout_s);
int es_server_port(const es_server *s);
es_client *es_server_client(es_server *s);
/* Replaces the trust list's stakeholders (SIGHUP): new and existing connections are identified
 * against it from their next request. Loop thread. */
sm_rc es_server_set_peers(es_server *s, const es_peer_list *l, sm_err *err);
/* Applies new rate limits (SIGHUP). Loop thread. */
void es_server_set_rate(es_server *s, double rate, double burst);

/* Sends the asynchronous response of a deferred call. From a worker inside its transaction (worker
 * non-NULL) it goes to the durable outbox when one is wired (delivered after commit, at least once);
 * otherwise straight to the client. Any thread. */
sm_rc es_server_reply_async(es_server *s, void *worker, const es_reply_to *r, const es_status *st,
                            const es_value *out, sm_err *err);
/* Sends a notification ("ES4.HandleProfileEnabledNotification") to a configured peer; same rules. */
sm_rc es_server_notify(es_server *s, void *worker, const char *qname, const char *peer_id, es_binding b,
                       const es_value *body, sm_err *err);

/* Runs one already-received message through the same pipeline as an HTTPS request (decode,
 * authorisation of `caller`, replay keys, handler, answer, async response or outbox entry) on the
 * calling worker, without a connection: the in-process delivery of net/es_local.h. target is the
 * request path ("/gsma/soap/es3", "/gsma/rest/es3/CreateISDPResponse"); *http and answer (may be
 * NULL) get what an HTTP client would have received. Errors: the message could not be run at all. */
sm_rc es_server_dispatch(es_server *s, void *worker, const es_peer *caller, const char *target, const void *body,
                         size_t len, int *http, sm_buf *answer, sm_err *err);

/* Counters. */
typedef struct es_server_stats {
    unsigned long requests, refused_auth, rate_limited, busy, replayed, faults, async_sent;
    unsigned long uncommitted; /* calls whose transaction failed at COMMIT (answered as not done) */
    /* TLS handshakes completed and the time pool threads spent inside them (HSM signature included) */
    unsigned long handshakes, handshake_busy_us_total, handshake_busy_us_max;
} es_server_stats;
void es_server_get_stats(es_server *s, es_server_stats *out);

#endif
