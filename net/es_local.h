/* es_local: in-process delivery between the two roles of one appliance (its SM-DP calling its own
 * SM-SR over ES3, the SM-SR's asynchronous responses and notifications back). A message addressed to
 * local:<path> (a peer whose es.peers endpoint is `local`) is written to the durable outbox like any
 * other; the outbox sender then runs it through our own ES server's pipeline on its worker
 * (es_server_dispatch): same decoding, authorisation (the caller is our other role, by its GSMA id and
 * role), replay keys, handler, audit and outbox — only the TLS round trip to ourselves is gone. */
#ifndef SM_NET_ES_LOCAL_H
#define SM_NET_ES_LOCAL_H

#include <stdbool.h>

#include "lib/buf.h"
#include "net/es_server.h"

#define ES_LOCAL_ENDPOINT "local" /* es.peers endpoint of a co-located role */
#define ES_LOCAL_SCHEME "local:"

/* An es.peers endpoint naming a co-located role; a local:<path> URL. */
bool es_local_endpoint(const char *endpoint);
bool es_local_url(const char *url);
/* The URL of a message of f (kind) in binding b: local:/gsma/soap/es3, local:/gsma/rest/es3/SendData. */
void es_local_make_url(es_binding b, const es_function *f, es_kind kind, char *out, size_t cap);

/* Who a local message comes from: our role that is not the destination (to our SM-SR: our SM-DP,
 * smdp_id; to our SM-DP: our SM-SR, smsr_id). Other destinations are never local (SM_EINVAL). */
sm_rc es_local_caller(const char *smdp_id, const char *smsr_id, es_role dest_role, es_peer *out, sm_err *err);

/* Delivers one encoded message (as the outbox stores it) to our own server on the calling worker,
 * outside any transaction of the caller (the call opens its own). *http is what an HTTPS peer would
 * have answered (200/202 accepted; 4xx refused; 5xx try again), answer (may be NULL) its body. */
sm_rc es_local_deliver(es_server *s, void *worker, const es_peer *caller, const char *url, const void *payload,
                       size_t len, int *http, sm_buf *answer, sm_err *err);

#endif
