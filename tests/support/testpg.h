/* testpg: a throw-away PostgreSQL cluster for the tests (db/cluster.c on a temporary directory, unix
 * socket only, no fsync), one per test program, a database per test, stopped and removed at the end.
 * As root the server runs as the postgres system user. */
#ifndef SM_TESTPG_H
#define SM_TESTPG_H

#include <stdbool.h>
#include <stddef.h>

#include "db/cluster.h"
#include "db/pg.h"

typedef struct testpg {
    char dir[256];   /* temporary directory (0755 so the server's user can reach it) */
    db_cluster cl;   /* data directory <dir>/pg */
    bool up;
} testpg;

/* initdb + start; returns 0 on success (prints why not). */
int testpg_start(testpg *t);
/* Stops the server and removes the directory. */
void testpg_stop(testpg *t);
/* Creates a database (optionally from a template) and writes its connection string. 0 on success. */
int testpg_createdb(testpg *t, const char *name, const char *template_db, char *conninfo, size_t cap);
/* A new database with the smbox schema applied (migrations run once into a template, then copied).
 * Its audit trail starts with the migration entries, on the chain "template/migrate". */
int testpg_schema_db(testpg *t, const char *name, char *conninfo, size_t cap);
/* Stops the server (immediate: like a crash) and starts it again. 0 on success. */
int testpg_restart(testpg *t, bool immediate);
/* Stops / starts the server alone. */
int testpg_server_stop(testpg *t);
int testpg_server_start(testpg *t);

/* A pool on a database of the cluster (node "test"); aborts on failure. */
db_pool *testpg_pool(const char *conninfo, unsigned size);
/* Runs SQL as the superuser on a database (psql-free: libpq directly); for tampering in tests. */
int testpg_sql(const char *conninfo, const char *sql);

#endif
