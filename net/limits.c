/* Token buckets per identity. */
#include "net/limits.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024
#define MAX_ENTRIES 65536

typedef struct tb {
    struct tb *next;
    char *key;
    double tokens, last;
} tb;

struct es_ratelimit {
    double rate, burst;
    tb *b[NBUCKETS];
    size_t n;
};

es_ratelimit *es_ratelimit_new(double rate, double burst)
{
    es_ratelimit *r = calloc(1, sizeof *r);
    if (r)
        es_ratelimit_set(r, rate, burst);
    return r;
}

void es_ratelimit_set(es_ratelimit *r, double rate, double burst)
{
    r->rate = rate > 0 ? rate : 1;
    r->burst = burst >= 1 ? burst : 1;
}

static void drop_all(es_ratelimit *r)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        while (r->b[i]) {
            tb *t = r->b[i];
            r->b[i] = t->next;
            free(t->key);
            free(t);
        }
    r->n = 0;
}

void es_ratelimit_free(es_ratelimit *r)
{
    if (!r)
        return;
    drop_all(r);
    free(r);
}

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h % NBUCKETS;
}

/* drops buckets that have refilled completely (they carry no state) */
static void sweep(es_ratelimit *r, double now)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        for (tb **p = &r->b[i]; *p;) {
            tb *t = *p;
            if (t->tokens + (now - t->last) * r->rate >= r->burst) {
                *p = t->next;
                free(t->key);
                free(t);
                r->n--;
            } else {
                p = &t->next;
            }
        }
}

bool es_ratelimit_take(es_ratelimit *r, const char *key, double now)
{
    size_t h = hash(key);
    tb *t = r->b[h];
    while (t && strcmp(t->key, key))
        t = t->next;
    if (!t) {
        if (r->n >= MAX_ENTRIES)
            sweep(r, now);
        if (r->n >= MAX_ENTRIES)
            return false; /* table full of active identities: refuse rather than grow without bound */
        t = calloc(1, sizeof *t);
        if (!t || !(t->key = strdup(key))) {
            free(t);
            return false;
        }
        t->tokens = r->burst;
        t->last = now;
        t->next = r->b[h];
        r->b[h] = t;
        r->n++;
    }
    t->tokens += (now - t->last) * r->rate;
    if (t->tokens > r->burst)
        t->tokens = r->burst;
    t->last = now;
    if (t->tokens < 1)
        return false;
    t->tokens -= 1;
    return true;
}
