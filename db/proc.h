/* proc: the durable procedure engine. One row per running GSMA procedure; workers of any node claim
 * due ones (FOR UPDATE SKIP LOCKED + a lease and a fencing token), run the step handler the domain
 * code registered for the procedure's kind inside one transaction with the state change, retry
 * failures with backoff and expire procedures past their validity deadline.
 *
 * Guarantees: a step's effects and its transition commit together or not at all; a worker whose
 * lease was taken over cannot commit (owner and token are checked in the final UPDATE); a crashed
 * worker's procedure is resumed by another worker once its lease expires. Handlers must keep
 * effects outside the database (an OTA message, an HTTPS call) idempotent or route them through the
 * outbox, since a step may run again after a crash. */
#ifndef SM_DB_PROC_H
#define SM_DB_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pg.h"

#define DB_STEP_MAX 64

/* What a handler sees. Strings are valid during the call only. */
typedef struct db_proc {
    int64_t id;
    const char *kind;
    const char *step;
    const char *eid, *iccid;        /* "" when none */
    const char *requester, *call_id;
    int attempt;                    /* 1 on the first try of this step, 2 after one failure... */
    int transitions;                /* steps completed so far */
    int64_t deadline_us;            /* validity deadline, microseconds since 1970 (0 = none) */
    const uint8_t *data;            /* step data as the previous step left it */
    size_t data_len;
    const char *owner;              /* lease owner running it */
    int64_t token;
} db_proc;

typedef enum db_next_kind {
    DB_NEXT_STEP = 1,  /* run step `step` next (after delay_ms) */
    DB_NEXT_WAIT,      /* park until db_proc_wake (an eUICC notification, a peer's answer) or the deadline */
    DB_NEXT_DONE,      /* finished; result kept */
    DB_NEXT_FAIL,      /* finished unsuccessfully; result and error kept */
} db_next_kind;

/* What a handler decides. data/result are malloc'd by the handler and freed by the engine. */
typedef struct db_next {
    db_next_kind kind;
    char step[DB_STEP_MAX];
    long delay_ms;
    bool set_data;
    uint8_t *data;
    size_t data_len;
    uint8_t *result;
    size_t result_len;
    char error[200];
} db_next;

/* Runs inside the step's transaction on conn. SM_OK with next filled: the effects and the transition
 * commit together. Any error rolls everything back; the step is retried with backoff (a transient
 * failure) until max_attempts, then the procedure fails. */
typedef sm_rc (*db_step_fn)(db_conn *c, const db_proc *p, db_next *next, void *arg, sm_err *err);
/* Runs inside the transaction that ends a procedure without its handler's consent: expired (past the
 * deadline) or failed (attempts exhausted, or a crash loop). Optional: queue the `Expired`/`Failed`
 * response in the outbox here. */
typedef sm_rc (*db_end_fn)(db_conn *c, const db_proc *p, const char *why, void *arg, sm_err *err);

typedef struct db_proc_kind {
    const char *kind;       /* [A-Za-z0-9_.-]{1,63}, e.g. "es2.DownloadProfile" */
    db_step_fn step;
    db_end_fn expired;      /* may be NULL */
    db_end_fn failed;       /* may be NULL */
    void *arg;
    int max_attempts;       /* tries per step (0 = 8) */
    long backoff_base_ms;   /* 0 = 500 */
    long backoff_max_ms;    /* 0 = 300000 */
} db_proc_kind;

typedef struct db_engine db_engine;

/* owner names this process in leases ("<node>/<pid>"); lease_ms is how long a claimed step may take
 * before another worker may take it over (0 = 30000). */
db_engine *db_engine_new(const char *owner, long lease_ms);
void db_engine_free(db_engine *e);
/* Registers a kind (before the engine runs). The engine only claims kinds it knows. */
sm_rc db_engine_register(db_engine *e, const db_proc_kind *k, sm_err *err);

/* ---- procedures --------------------------------------------------------------------------------- */

typedef struct db_proc_new {
    const char *kind;
    const char *step;        /* first step */
    const char *eid, *iccid, *requester, *call_id; /* may be NULL */
    const uint8_t *data;
    size_t data_len;
    long validity_s;         /* 0 = no deadline */
    long delay_ms;           /* first run no earlier than this */
} db_proc_new;

/* Creates a procedure in the caller's transaction (with the request's idempotency key). */
sm_rc db_proc_create(db_conn *c, const db_proc_new *n, int64_t *id, sm_err *err);

/* Wakes a waiting procedure (caller's transaction): it becomes due now, at `step` (NULL: the step it
 * parked with), with new data when data != NULL. SM_ESTATE when it is not waiting. */
sm_rc db_proc_wake(db_conn *c, int64_t id, const char *step, const uint8_t *data, size_t len, sm_err *err);

typedef struct db_proc_info {
    int64_t id;
    char kind[64];
    char step[DB_STEP_MAX];
    char state[16];          /* ready | running | waiting | done | failed | expired */
    int attempts;
    int transitions;
    char lease_owner[128];
    char last_error[256];
    uint8_t *result;         /* malloc'd (free with db_proc_info_clear) */
    size_t result_len;
} db_proc_info;
sm_rc db_proc_get(db_conn *c, int64_t id, db_proc_info *out, sm_err *err);
void db_proc_info_clear(db_proc_info *i);

/* ---- the driver ---------------------------------------------------------------------------------- */

typedef struct db_engine_stats {
    int claimed;
    int steps;      /* transitions committed */
    int retried;    /* steps that failed and were rescheduled */
    int fenced;     /* claims lost to another worker (lease expired) */
    int expired;
    int failed;     /* procedures given up */
} db_engine_stats;

/* A claimed procedure, between db_engine_claim and db_engine_execute. */
typedef struct db_claim {
    int64_t id;
    int64_t token;
    char owner[160];
    char kind[64];
    char step[DB_STEP_MAX];
    char *eid, *iccid, *requester, *call_id;
    int attempt;
    int transitions;
    int64_t deadline_us;
    bool overdue;
    uint8_t *data;
    size_t data_len;
} db_claim;

/* Claims up to max due procedures of the registered kinds for worker `who` (lease owner =
 * "<owner>/<who>"), in one short transaction with an asynchronous commit. */
sm_rc db_engine_claim(db_engine *e, db_conn *c, const char *who, int max, db_claim **out, size_t *n, sm_err *err);
/* Runs one claimed step: lock it if the lease is still ours, run the handler (or expire / give up),
 * write the outcome fenced by owner and token, commit. A lost lease is counted in st->fenced, not an
 * error. Errors are database failures the caller may log and retry later. */
sm_rc db_engine_execute(db_engine *e, db_conn *c, const db_claim *cl, db_engine_stats *st, sm_err *err);
void db_claims_free(db_claim *v, size_t n);

/* claim + execute each: one pass of a worker. st accumulates (may be NULL). */
sm_rc db_engine_run(db_engine *e, db_conn *c, const char *who, int max, db_engine_stats *st, sm_err *err);

#endif
