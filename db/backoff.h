/* backoff: the retry delay shared by the procedure engine and the outbox: exponential from a base,
 * capped, with +-20% jitter so that nodes retrying the same failure spread out. */
#ifndef SM_DB_BACKOFF_H
#define SM_DB_BACKOFF_H

/* Delay before retry number `failures` (1 = after the first failure), in milliseconds. */
long db_backoff_ms(int failures, long base_ms, long max_ms);

#endif
