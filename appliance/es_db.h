/* es_db: the ES layer's hooks into the database — refused calls in the audit trail (db/audit.h), one
 * transaction per accepted call holding its replay key (db/idem.h), its answer and any outbox entry,
 * asynchronous responses and notifications through the durable outbox (db/outbox.h) with a sender
 * over es_client. Every hook uses the calling worker's connection (sm_worker.db). */
#ifndef SM_ES_DB_H
#define SM_ES_DB_H

#include <stdatomic.h>
#include <stdbool.h>

#include "db/outbox.h"
#include "net/es_server.h"

/* Fills the hooks: audit always (to the database through the worker's connection, else to the log);
 * with db, also the transaction, replay and outbox hooks. ctx is unused. */
void sm_es_db_hooks(es_hooks *h, bool db);

/* Queues an ES message in the outbox, inside the caller's transaction on c. proc_id (0 = none) names
 * the procedure that sent a request: the answer the outbox sender gets for it (or its refusal) wakes
 * that procedure with an es_answer (net/es_answer.h). A local: URL is delivered in-process. */
sm_rc sm_es_outbox_add(db_conn *c, const es_outbound *o, int64_t proc_id, sm_err *err);

/* What the outbox sender works with: the client (HTTPS), our server and GSMA ids (local: deliveries,
 * net/es_local.h; server NULL = none), the stop flag, and a kick run after it woke a procedure. */
typedef struct sm_es_pump_env {
    es_client *client;
    es_server *server;
    const char *smdp_id, *smsr_id;
    atomic_bool *stopping;
    void (*kick)(void *arg);
    void *kick_arg;
    int batch;               /* messages claimed at once (0 = db_outbox's default) */
    long lease_ms;           /* claim on a message while it is delivered (0 = db_outbox's default) */
} sm_es_pump_env;

/* Delivers one batch of due outbox messages of the ES layer (blocking: call on a worker; deliveries
 * in-process run on it too, in their own transactions). *sent + *failed = messages claimed. */
sm_rc sm_es_outbox_pump_env(db_conn *c, const char *owner, const sm_es_pump_env *env, int *sent, int *failed,
                            sm_err *err);

/* The same with the client only (no local deliveries). stopping, when set, makes the remaining sends
 * fail (retried later). */
sm_rc sm_es_outbox_pump(db_conn *c, const char *owner, es_client *client, atomic_bool *stopping, int *sent,
                        int *failed, sm_err *err);

#endif
