/* migrate: the versioned schema. db/migrations/NNNN_name.sql are compiled into the binary; they are
 * applied in order under one advisory lock, each in its own transaction, and recorded (with a
 * checksum) in smbox_schema. A database newer than the binary, or one whose applied migration
 * differs from the compiled one, is refused. */
#ifndef SM_DB_MIGRATE_H
#define SM_DB_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "db/pg.h"

typedef struct db_migration {
    int version;
    const char *name; /* "0001_initial" */
    const char *sql;
    size_t len;
} db_migration;

/* Generated from db/migrations (db/embed-sql.sh); terminated by a zero entry. */
extern const db_migration db_migrations[];
extern const size_t db_nmigrations;

/* Highest version this binary knows. */
int db_schema_latest(void);

typedef struct db_schema_status {
    int version;        /* highest applied version (0 = empty database) */
    int latest;         /* db_schema_latest() */
    int pending;        /* compiled migrations not applied yet */
    bool newer;         /* the database has versions this binary does not know */
    int mismatch;       /* first applied version whose checksum differs from the compiled file (0 = none) */
} db_schema_status;

/* Reads the schema state without changing anything. */
sm_rc db_schema_status_get(db_conn *c, db_schema_status *st, sm_err *err);

/* Applies every pending migration, under the advisory lock (other nodes wait, then find nothing to
 * do). Each migration and its audit entry (action "db.migrate", by actor) commit together.
 * SM_ESTATE when the database is newer than the binary or a checksum differs. applied may be NULL. */
sm_rc db_migrate(db_conn *c, const char *actor, int *applied, sm_err *err);

/* For start-up: SM_OK only when the schema is exactly the binary's (SM_ESTATE otherwise, with a
 * message saying what to do). */
sm_rc db_schema_check(db_conn *c, sm_err *err);

#endif
