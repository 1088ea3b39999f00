/* outbox: messages to peers (MNO, M2M SP, SM-DP, SM-SR notifications and async responses) written in
 * the same transaction as the state change that causes them, then delivered at least once by a
 * pluggable sender (net/ provides the HTTPS one) with retries and exponential backoff. */
#ifndef SM_DB_OUTBOX_H
#define SM_DB_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

typedef struct db_outbox_msg {
    const char *dest_role;   /* mno | m2msp | eum | smdp | smsr */
    const char *dest_id;     /* the peer's GSMA identifier (es.peers id) */
    const char *kind;        /* "ES4.HandleProfileEnabledNotification", "ES2.DownloadProfileResponse", ... */
    const char *relates_to;  /* the request's MessageID for async responses, or NULL */
    const uint8_t *payload;
    size_t len;
    int64_t proc_id;         /* 0 = none */
    int max_attempts;        /* 0 = 20; then the message is 'dead' (kept, reported) */
} db_outbox_msg;

/* Queues a message. Call inside the transaction of the state change it reports. After the commit, this
 * process's commit hook (db_outbox_on_commit) runs: its own pump delivers the message. A process
 * without a hook (smctl, a node that does not pump) instead has the same transaction send NOTIFY
 * DB_OUTBOX_CHANNEL (payload: its origin, db_outbox_origin) so that the nodes' pumps wake when it
 * commits. id may be NULL: the row is then sent ahead (db_exec_later), and an error may instead be
 * reported by the transaction's next statement or its COMMIT. */
sm_rc db_outbox_add(db_conn *c, const db_outbox_msg *m, int64_t *id, sm_err *err);

#define DB_OUTBOX_CHANNEL "smbox_outbox"
/* Process-wide: fn(arg) runs on the committing thread after each commit that queued messages (the
 * local pump's kick; thread-safe, quick). NULL removes it. */
void db_outbox_on_commit(void (*fn)(void *), void *arg);
/* The payload this process's notifications carry ("<node>/<pid>" of the connection's pool), so that its
 * own listener can tell them from other nodes'. */
void db_outbox_origin(const db_pool *p, char *out, size_t cap);

typedef struct db_outbox_item {
    int64_t id;
    char *dest_role, *dest_id, *kind, *relates_to;
    uint8_t *payload;
    size_t len;
    int attempt;             /* 1 for the first delivery attempt */
    int max_attempts;
    int64_t proc_id;
    int64_t token;           /* lease token (fencing) */
} db_outbox_item;

typedef struct db_outbox_opts {
    int batch;               /* messages claimed at once (0 = 16) */
    long lease_ms;           /* time to deliver before another node may retry (0 = 60000) */
    long backoff_base_ms;    /* delay after the first failure (0 = 1000), doubled each time */
    long backoff_max_ms;     /* cap (0 = 3600000) */
} db_outbox_opts;

/* Claims due messages (FOR UPDATE SKIP LOCKED; each gets a lease and a token). items is malloc'd:
 * free with db_outbox_items_free. */
sm_rc db_outbox_claim(db_conn *c, const char *owner, const db_outbox_opts *o, db_outbox_item **items, size_t *n,
                      sm_err *err);
/* Marks a claimed message delivered. SM_ESTATE if its lease was taken over meanwhile (the peer may then
 * receive it twice: delivery is at least once, peers deduplicate on the message id). */
sm_rc db_outbox_complete(db_conn *c, const db_outbox_item *it, sm_err *err);
/* The same inside the transaction of an in-process delivery, sent ahead (db_exec_later): a lease taken
 * over meanwhile fails that transaction, so the delivery's effects and its record commit together or
 * not at all (exactly once), the COMMIT naming the lost lease (db_outbox_lease_lost). */
sm_rc db_outbox_complete_in_tx(db_conn *c, const db_outbox_item *it, sm_err *err);
/* Whether err (and the connection's last SQLSTATE) is db_outbox_complete_in_tx's lost lease. */
bool db_outbox_lease_lost(const db_conn *c, const char *errmsg);
/* Records a failed attempt: retried after the backoff, or 'dead' when permanent or out of attempts. */
sm_rc db_outbox_fail(db_conn *c, const db_outbox_item *it, const char *why, bool permanent, const db_outbox_opts *o,
                     sm_err *err);
void db_outbox_items_free(db_outbox_item *items, size_t n);

/* Delivers one message; SM_OK = the peer accepted it. On failure set *permanent when retrying is
 * pointless (peer refused the message itself); err says why (stored, never with secrets). */
typedef sm_rc (*db_outbox_sender)(const db_outbox_item *it, void *arg, bool *permanent, sm_err *err);

/* Claims a batch, sends each (outside any transaction), records the outcomes. sent/failed may be NULL;
 * *sent + *failed = the messages claimed (0: nothing was due). */
sm_rc db_outbox_pump(db_conn *c, const char *owner, db_outbox_sender send, void *arg, const db_outbox_opts *o,
                     int *sent, int *failed, sm_err *err);

/* Counts by state, for status. */
typedef struct db_outbox_counts {
    long pending, sending, delivered, dead;
} db_outbox_counts;
sm_rc db_outbox_count(db_conn *c, db_outbox_counts *out, sm_err *err);

#endif
