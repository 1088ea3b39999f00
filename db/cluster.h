/* cluster: the private PostgreSQL cluster smbox runs when no DSN is configured (initdb under
 * <var_dir>/pg, listening on a unix socket inside that directory only, never TCP), started and
 * stopped by smboxd, `smctl db start|stop` and the tests. As root it runs as the postgres user. */
#ifndef SM_DB_CLUSTER_H
#define SM_DB_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

typedef struct db_cluster {
    char datadir[256];  /* absolute; also the socket directory */
    char bindir[256];   /* where initdb, pg_ctl live */
    char user[64];      /* superuser initdb creates ("smbox") */
    bool fast;          /* throw-away clusters (tests): no fsync, small memory */
} db_cluster;

typedef struct db_cluster_state {
    bool initialised;   /* PG_VERSION present */
    bool running;       /* postmaster alive and accepting connections */
    long pid;
    char version[16];   /* PG_VERSION contents */
} db_cluster_state;

/* Resolves datadir to an absolute path and finds the server binaries: bindir if given, else
 * $SMBOX_PG_BINDIR, `pg_config --bindir`, the newest /usr/lib/postgresql/N/bin. Checks the socket
 * path fits a unix socket address. */
sm_rc db_cluster_setup(db_cluster *cl, const char *datadir, const char *bindir, sm_err *err);

/* initdb when the directory holds no cluster yet (created 0700, owned by the server's user), then
 * the smbox settings: listen_addresses = '', the socket in datadir, mode 0700. Idempotent. */
sm_rc db_cluster_init(const db_cluster *cl, sm_err *err);

/* Starts the server (pg_ctl start -w) unless it runs already; started says which. The server log is
 * <datadir>/server.log. */
sm_rc db_cluster_start(const db_cluster *cl, bool *started, sm_err *err);

/* Stops it (fast shutdown: sessions are disconnected; immediate: no checkpoint, as a crash would).
 * Not running is not an error. */
sm_rc db_cluster_stop(const db_cluster *cl, bool immediate, sm_err *err);

sm_rc db_cluster_status(const db_cluster *cl, db_cluster_state *st, sm_err *err);

/* libpq connection string for a database of the cluster ("host=<datadir> user=smbox dbname=..."). */
void db_cluster_conninfo(const db_cluster *cl, const char *dbname, char *out, size_t cap);

/* Creates a database ([a-z0-9_]{1,63}) unless it exists, optionally from a template database. */
sm_rc db_cluster_createdb(const db_cluster *cl, const char *dbname, const char *template_db, sm_err *err);

/* Runs one of the cluster's client programs (pgbench, psql, ...) from bindir as the server's user,
 * with output appended to logpath (NULL: inherited). Returns the exit status, -1 if it could not run. */
int db_cluster_run(const db_cluster *cl, const char *prog, const char *const *args, const char *logpath);

#endif
