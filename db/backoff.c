/* Exponential backoff with jitter. */
#include "db/backoff.h"

#include <stdlib.h>

long db_backoff_ms(int failures, long base_ms, long max_ms)
{
    if (base_ms <= 0)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    long d = base_ms;
    for (int i = 1; i < failures && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    long span = d / 5; /* +-20% */
    if (span > 0)
        d += (long)arc4random_uniform((unsigned)(2 * span + 1)) - span;
    return d > 0 ? d : 1;
}
