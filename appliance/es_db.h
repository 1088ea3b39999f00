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

/* Delivers due outbox messages of the ES layer through client (blocking: call on a worker). stopping,
 * when set, makes the remaining sends fail (retried later). */
sm_rc sm_es_outbox_pump(db_conn *c, const char *owner, es_client *client, atomic_bool *stopping, int *sent,
                        int *failed, sm_err *err);

#endif
