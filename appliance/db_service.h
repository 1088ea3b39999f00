/* db_service: the `db` service of smboxd. Start: reach the database (starting the embedded cluster
 * when it is the configured one and not running), apply pending migrations under the advisory lock,
 * refuse a newer schema, record the start in the audit trail. Each worker gets its own connection
 * (worker hook; it connects on first use); a timer has a worker write the signed audit checkpoints
 * and purge old idempotency keys. app->db is the db_pool. */
#ifndef SM_DB_SERVICE_H
#define SM_DB_SERVICE_H

#include "appliance/app.h"

sm_rc sm_db_start(sm_app *app, sm_err *err);
void sm_db_stop(sm_app *app);
/* Worker hook: w->db = a db_conn of the service's pool. */
sm_rc sm_db_worker_init(sm_worker *w, void *ctx, sm_err *err);
void sm_db_worker_fini(sm_worker *w, void *ctx);

#endif
