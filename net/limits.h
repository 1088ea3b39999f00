/* limits: per-identity request rate limiting (token buckets keyed by the stakeholder identity),
 * used on the event loop thread only. Body, header, XML and timeout limits live where they apply
 * (http.c, xml.c, json.c, http_server.c). */
#ifndef SM_NET_LIMITS_H
#define SM_NET_LIMITS_H

#include <stdbool.h>

typedef struct es_ratelimit es_ratelimit;

/* rate tokens per second, burst bucket size. */
es_ratelimit *es_ratelimit_new(double rate, double burst);
void es_ratelimit_free(es_ratelimit *r);
void es_ratelimit_set(es_ratelimit *r, double rate, double burst);
/* Takes one token for key at time now (seconds, monotonic); false when the bucket is empty. */
bool es_ratelimit_take(es_ratelimit *r, const char *key, double now);

#endif
