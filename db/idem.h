/* idem: idempotent request handling. A request is keyed by (requester, FunctionCallIdentifier or
 * MessageID); the first one records the key inside its transaction and, when done, its response; a
 * repeat gets that response (or "still pending") and starts nothing. */
#ifndef SM_DB_IDEM_H
#define SM_DB_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

typedef enum db_idem_state {
    DB_IDEM_NEW = 0,     /* first time: go ahead (the key is now taken by this transaction) */
    DB_IDEM_PENDING,     /* seen before, no final response yet (async work still running) */
    DB_IDEM_DONE,        /* seen before: answer with the stored response */
} db_idem_state;

typedef struct db_idem {
    db_idem_state state;
    uint8_t *response;   /* DB_IDEM_DONE: the first answer (malloc'd; free with db_idem_clear) */
    size_t response_len;
    int64_t proc_id;     /* procedure started by the first request (0 = none) */
} db_idem;

/* Insert-or-return in one statement (INSERT ... ON CONFLICT DO UPDATE ... RETURNING), inside the
 * caller's transaction: concurrent duplicates wait for the first transaction and then see its row.
 * A rolled-back first attempt leaves no key behind (the retry is then NEW). */
sm_rc db_idem_begin(db_conn *c, const char *requester, const char *call_id, db_idem *out, sm_err *err);

/* The two keys of one call (its FunctionCallIdentifier and its MessageID; either may be NULL or "")
 * in one statement, with the rule the server applies: key1 is inserted-or-returned; key2 only when
 * key1 is absent or new. *out is the first key found already (key1, else key2: *which = 1 or 2), or
 * NEW (*which = 0) when every key given is now taken by this transaction. */
sm_rc db_idem_begin2(db_conn *c, const char *requester, const char *key1, const char *key2, db_idem *out,
                     int *which, sm_err *err);

/* Links the procedure the request started (same transaction as db_idem_begin). */
sm_rc db_idem_set_proc(db_conn *c, const char *requester, const char *call_id, int64_t proc_id, sm_err *err);

/* Stores the final response (synchronous functions: same transaction; asynchronous ones: the
 * transaction that ends the procedure). SM_ESTATE if it was completed already. */
sm_rc db_idem_complete(db_conn *c, const char *requester, const char *call_id, const uint8_t *response, size_t len,
                       sm_err *err);

/* db_idem_complete for both keys of a call in one statement (NULL or "" = no such key); SM_ESTATE if
 * any of them was not pending (the others are completed all the same). */
sm_rc db_idem_complete2(db_conn *c, const char *requester, const char *key1, const char *key2,
                        const uint8_t *response, size_t len, sm_err *err);

/* Forgets keys older than max_age_s (retention of the dedup window); *removed may be NULL. */
sm_rc db_idem_purge(db_conn *c, long max_age_s, long *removed, sm_err *err);

void db_idem_clear(db_idem *r);

#endif
