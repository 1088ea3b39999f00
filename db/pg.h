/* pg: the only door to libpq in smbox. A pool hands out connections (one per worker, kept for
 * its life); each connects lazily, reconnects after a server restart, runs prepared statements
 * only, and reports a transaction cut by a lost connection as failed (never replays it).
 *
 * Rules the layer enforces:
 *  - SQL text is constant (db_stmt); values travel as parameters, never spliced into SQL;
 *  - a statement is prepared once per connection (named), re-prepared after a reconnect;
 *  - a connection lost inside a transaction fails that transaction and every later statement of it
 *    with SM_EDB ("connection lost ..."); the next db_begin reconnects;
 *  - the password is passed to libpq as a parameter and never appears in a message or log line.
 */
#ifndef SM_DB_PG_H
#define SM_DB_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct db_pool db_pool;
typedef struct db_conn db_conn;
typedef struct db_res db_res;

typedef struct db_config {
    const char *conninfo;   /* libpq connection string or postgresql:// URI (no password in it) */
    const char *password;   /* optional secret, handed to libpq only */
    const char *node;       /* node name: audit chains ("<node>/w<slot>") and lease owners */
    const char *app_name;   /* application_name (default "smbox") */
    unsigned size;          /* most connections handed out at once (0 = 8); those taken before
                             * db_pool_configure count against it */
    unsigned connect_timeout_s; /* 0 = 5 */
} db_config;

/* ---- pool ----------------------------------------------------------------------------------- */

/* An unconfigured pool: connections may be taken before db_pool_configure (they connect on first
 * use). Used where connections are handed out before the configuration is known (worker hooks). */
db_pool *db_pool_new(void);
/* Copies the configuration (the password into locked memory). Once only. */
sm_rc db_pool_configure(db_pool *p, const db_config *cfg, sm_err *err);
/* new + configure. */
sm_rc db_pool_open(const db_config *cfg, db_pool **out, sm_err *err);
/* Closes the pool; every connection must have been given back. */
void db_pool_close(db_pool *p);
const char *db_pool_node(const db_pool *p);
/* The connection string with any password removed, for messages. */
const char *db_pool_target(const db_pool *p);

/* Takes a connection slot (not yet connected; it connects on first use). SM_ELIMIT when all
 * `size` slots are out. The slot number names the connection's audit chain. */
sm_rc db_pool_take(db_pool *p, db_conn **out, sm_err *err);
/* Same with a fixed audit chain name (smctl uses "<node>/ctl"). */
sm_rc db_pool_take_lane(db_pool *p, const char *lane, db_conn **out, sm_err *err);
/* Gives a connection back (rolls back an open transaction; keeps the session for the next taker). */
void db_pool_give(db_conn *c);

/* ---- connection ----------------------------------------------------------------------------- */

/* Connects now if not connected (start-up checks and clear errors). */
sm_rc db_connect(db_conn *c, sm_err *err);
bool db_connected(const db_conn *c);
/* Closes the session (the next use reconnects). For tests and after fatal errors. */
void db_disconnect(db_conn *c);
const char *db_conn_lane(const db_conn *c);
/* Kept with the connection for db/audit.c: its lane's audit chain has a committed head (appends may
 * then be sent ahead, db_exec_later). Forgotten when statements sent ahead fail and when the session
 * is closed, so the next append looks at the head again. */
bool db_conn_lane_head(const db_conn *c);
void db_conn_set_lane_head(db_conn *c);
db_pool *db_conn_pool(const db_conn *c);
/* Backend process id of the current session (0 = none), for status and tests. */
int db_conn_backend_pid(const db_conn *c);
/* Server version as PQserverVersion gives it (e.g. 150018), 0 when not connected. */
int db_server_version(const db_conn *c);

/* Transactions. db_begin (re)connects when needed: nothing is in flight then, so that is safe. */
sm_rc db_begin(db_conn *c, sm_err *err);
/* SM_EDB when the commit failed or the connection was lost during it (outcome then unknown to the
 * client; the message says so). The transaction is over either way. */
sm_rc db_commit(db_conn *c, sm_err *err);
/* Rolls back if a transaction is open; never fails (a lost connection rolled back already). */
void db_rollback(db_conn *c);
bool db_in_tx(const db_conn *c);
/* Runs fn inside the caller's transaction when one is open, else inside a new one (committed when fn
 * succeeds, rolled back otherwise). The building block of every multi-statement change. */
sm_rc db_tx(db_conn *c, sm_rc (*fn)(db_conn *c, void *arg, sm_err *err), void *arg, sm_err *err);
/* Makes the current transaction's commit asynchronous (SET LOCAL synchronous_commit = off): for
 * writes whose loss in a server crash is harmless (claims, leases). */
sm_rc db_tx_async_commit(db_conn *c, sm_err *err);
/* Runs fn(arg) on the calling thread once the current transaction has committed (not when it rolls
 * back or fails); outside a transaction, at once. Repeated (fn, arg) pairs run once; at most 4 distinct
 * ones per transaction (more are dropped: use it for wake-ups that a poll backs up, e.g. the outbox
 * pump's kick). fn must not use c. */
void db_on_commit(db_conn *c, void (*fn)(void *), void *arg);

/* ---- statements ----------------------------------------------------------------------------- */

/* A constant SQL statement, prepared on each connection at first use. Declare with DB_STMT. */
typedef struct db_stmt {
    const char *sql;
    int nparams;
    int id; /* assigned at first use (process-wide) */
} db_stmt;
#define DB_STMT(var, n, sqltext) static db_stmt var = {sqltext, n, 0}

#define DB_MAXPARAMS 24

/* Parameters of one execution. Values are copied by pointer: they must live until db_exec returns. */
typedef struct db_params {
    int n;
    const char *v[DB_MAXPARAMS];
    int len[DB_MAXPARAMS];
    int fmt[DB_MAXPARAMS]; /* 0 text, 1 binary */
    char num[DB_MAXPARAMS][24];
    bool overflow;
} db_params;

void db_params_init(db_params *p);
void db_p_text(db_params *p, const char *s);   /* NULL = SQL NULL */
void db_p_int(db_params *p, int64_t v);
void db_p_bool(db_params *p, bool v);
void db_p_bytea(db_params *p, const uint8_t *b, size_t len); /* NULL = SQL NULL */
void db_p_null(db_params *p);

/* Runs a statement (params may be NULL for none). out, when not NULL, receives the result (free
 * with db_res_free). Inside a transaction an error fails the transaction. Outside one the statement
 * runs in its own implicit transaction; a connection lost while it ran is reported, not retried.
 * Errors: SM_EEXIST for a unique violation, SM_EDB otherwise (message names the statement's first
 * words, the SQLSTATE and the server's message). */
sm_rc db_exec(db_conn *c, db_stmt *st, const db_params *p, db_res **out, sm_err *err);
/* Queues a statement whose result the caller does not need in the open transaction (libpq pipeline
 * mode): it goes out with the next statement or the COMMIT, in the same round trip. Its failure fails
 * the transaction and is reported by that next db_exec or db_commit (which then rolls back), naming the
 * statement. Outside a transaction, or before the transaction's first statement, it runs as db_exec. */
sm_rc db_exec_later(db_conn *c, db_stmt *st, const db_params *p, sm_err *err);
/* db_exec_later that, as the transaction's first statement, takes the BEGIN along instead of running
 * now. The first statement otherwise reconnects once, transparently, a session the server closed while
 * it sat idle; sent ahead, such a loss fails the transaction (nothing of it committed): for callers that
 * retry anyway (the procedure engine's steps). */
sm_rc db_exec_ahead(db_conn *c, db_stmt *st, const db_params *p, sm_err *err);
/* A statement sent ahead that must fail rather than do nothing when its row is not there (a lease gone,
 * a chain head missing) casts its message to an integer: `coalesce((...), 'message')::int`, which fails
 * with SQLSTATE 22P02 quoting the message. True when the connection's last error (errmsg) is such a
 * refusal whose message contains marker. */
bool db_refused_with(const db_conn *c, const char *errmsg, const char *marker);
/* Runs a trusted multi-statement SQL script (migrations only; never built from input). */
sm_rc db_exec_script(db_conn *c, const char *sql, sm_err *err);
/* SQLSTATE of the last failed statement on this connection ("" if none). */
const char *db_last_sqlstate(const db_conn *c);
/* True when the last error was a lost connection. */
bool db_last_conn_lost(const db_conn *c);
/* True for errors worth retrying in a new transaction (serialization failure, deadlock, lost
 * connection, lock timeout). */
bool db_last_transient(const db_conn *c);

/* ---- results -------------------------------------------------------------------------------- */

int db_res_rows(const db_res *r);
long db_res_affected(const db_res *r);
bool db_res_null(const db_res *r, int row, int col);
/* Text of a value ("" for NULL); valid until db_res_free. */
const char *db_res_text(const db_res *r, int row, int col);
int64_t db_res_int(const db_res *r, int row, int col);
bool db_res_bool(const db_res *r, int row, int col);
/* Copies a text value into out (truncation is an error). */
sm_rc db_res_copy(const db_res *r, int row, int col, char *out, size_t cap, sm_err *err);
/* Decodes a bytea value into a new malloc'd buffer (NULL, 0 for SQL NULL). */
sm_rc db_res_bytea(const db_res *r, int row, int col, uint8_t **out, size_t *len, sm_err *err);
/* Runs st (one parameter, id) and reads the bytea of its one row, which must be want bytes long (a
 * value whose length was read before: db/ repositories that fetch large columns only when needed).
 * SM_ENOTFOUND without a row, SM_EINTERNAL for another length; what names the value in the error. */
sm_rc db_bytea_by_id(db_conn *c, db_stmt *st, int64_t id, size_t want, const char *what, uint8_t **out,
                     sm_err *err);
/* Decodes a bytea value into a caller buffer. */
sm_rc db_res_bytea_into(const db_res *r, int row, int col, uint8_t *out, size_t cap, size_t *len, sm_err *err);
void db_res_free(db_res *r);

/* ---- bulk load -------------------------------------------------------------------------------- */

/* COPY ... FROM STDIN (text format) with a constant statement; rows are appended with db_copy_row
 * (fields escaped here) and finished with db_copy_end. */
sm_rc db_copy_begin(db_conn *c, const char *copy_sql, sm_err *err);
/* One row of n fields (NULL = \N). */
sm_rc db_copy_row(db_conn *c, const char *const *fields, int n, sm_err *err);
sm_rc db_copy_end(db_conn *c, long *rows, sm_err *err);

/* ---- notifications ---------------------------------------------------------------------------- */

/* A session of its own (outside the pool's slots) that LISTENs on a channel: another node's commit that
 * sent NOTIFY on it wakes this one. Opening connects and blocks (call it on a worker, never on the event
 * loop); reading never blocks, so the loop can wait on its socket. After a server restart or a lost
 * connection db_listener_read fails: close it and open another (notifications sent meanwhile are lost,
 * so poll once after reopening). channel is an identifier of [a-z0-9_], at most 63 characters. */
typedef struct db_listener db_listener;
sm_rc db_listener_open(db_pool *p, const char *channel, db_listener **out, sm_err *err);
int db_listener_fd(const db_listener *l);
/* Consumes what the socket holds; *n = notifications on the channel whose payload is not `ignore`
 * (NULL: every one). SM_EDB when the session is gone. */
sm_rc db_listener_read(db_listener *l, const char *ignore, int *n, sm_err *err);
/* Backend process id of the listening session (0 = none), for status and tests. */
int db_listener_backend_pid(const db_listener *l);
void db_listener_close(db_listener *l);

/* ---- misc ------------------------------------------------------------------------------------- */

/* The connection string without its password (URI userinfo password and password=...). */
void db_redact_conninfo(const char *in, char *out, size_t cap);
/* True when the connection string carries a password (refused: it belongs in a secret file). */
bool db_conninfo_has_password(const char *conninfo);
/* Server reachable? (PQping; no authentication.) */
bool db_ping(const char *conninfo);

#endif
