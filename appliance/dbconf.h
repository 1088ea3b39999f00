/* dbconf: reaches the database as the configuration says: the embedded cluster under node.var_dir
 * (started when needed) or the server of database.dsn (never started by us), with the password from
 * database.password_file / _env. Shared by smboxd's db service and smctl. */
#ifndef SM_DBCONF_H
#define SM_DBCONF_H

#include <stdbool.h>

#include "appliance/config.h"
#include "db/cluster.h"
#include "db/pg.h"

#define SM_DB_NAME "smbox" /* the embedded cluster's database */

typedef struct sm_dbconf {
    bool embedded;
    db_cluster cl;          /* embedded only */
    char conninfo[1024];    /* libpq connection string (never with a password) */
} sm_dbconf;

/* Decides embedded or external; refuses a DSN that carries a password. */
sm_rc sm_dbconf_resolve(const sm_config *cfg, sm_dbconf *out, sm_err *err);

/* Embedded only: initdb when there is no cluster yet, start it unless it runs, create the database.
 * started says whether this call started the server. */
sm_rc sm_dbconf_embedded_up(const sm_dbconf *dc, bool *started, sm_err *err);

/* Configures a pool (p from db_pool_new, or NULL for a new one) for this database: conninfo, password,
 * node name, size (0 = database.pool_size, or workers + 2). */
sm_rc sm_dbconf_pool(const sm_config *cfg, const sm_dbconf *dc, db_pool *p, unsigned size, const char *app_name,
                     db_pool **out, sm_err *err);

#endif
