/* db/pg, db/migrate, db/cluster against a real throw-away PostgreSQL: migrations from empty and
 * again (no-op), a newer or altered schema refused, concurrent migrators, statements and COPY, the
 * pool's limit, a clear error for an unreachable server, passwords kept out of messages, and a server
 * restart: the idle connection reconnects, the in-flight transaction is reported failed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/audit.h"
#include "db/migrate.h"
#include "db/pg.h"
#include "tests/support/testenv.h"
#include "tests/support/testpg.h"

static testpg PG;

static int setup(void **state)
{
    return testpg_start(&PG);
}

static int teardown(void **state)
{
    testpg_stop(&PG);
    return 0;
}

static long count(db_conn *c, const char *sql_text)
{
    /* constant SQL only: each call site passes a literal */
    db_stmt st = {sql_text, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &st, NULL, &r, &err) != SM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

static void test_migrate_from_empty_then_noop(void **state)
{
    char ci[600];
    assert_int_equal(testpg_createdb(&PG, "mig_fresh", NULL, ci, sizeof ci), 0);
    db_pool *p = testpg_pool(ci, 2);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    db_schema_status st;
    assert_int_equal(db_schema_status_get(c, &st, &err), SM_OK);
    assert_int_equal(st.version, 0);
    assert_int_equal(st.latest, db_schema_latest());
    assert_true(st.pending >= 1);
    assert_int_equal(db_schema_check(c, &err), SM_ESTATE);
    assert_non_null(strstr(err.msg, "pending"));
    sm_err_clear(&err);

    int applied = -1;
    assert_int_equal(db_migrate(c, "tester", &applied, &err), SM_OK);
    assert_int_equal(applied, (int)db_nmigrations);
    assert_int_equal(db_schema_status_get(c, &st, &err), SM_OK);
    assert_int_equal(st.version, db_schema_latest());
    assert_int_equal(st.pending, 0);
    assert_int_equal(db_schema_check(c, &err), SM_OK);
    /* each migration left an audit entry in its own transaction */
    assert_int_equal(count(c, "SELECT count(*) FROM audit_log WHERE action = 'db.migrate' AND actor = 'tester'"),
                     (long)db_nmigrations);

    /* again: nothing to do */
    assert_int_equal(db_migrate(c, "tester", &applied, &err), SM_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(count(c, "SELECT count(*) FROM smbox_schema"), (long)db_nmigrations);
    db_pool_give(c);
    db_pool_close(p);
}

static void test_newer_schema_refused(void **state)
{
    char ci[600];
    assert_int_equal(testpg_schema_db(&PG, "mig_newer", ci, sizeof ci), 0);
    assert_int_equal(testpg_sql(ci, "INSERT INTO smbox_schema (version, name, checksum, applied_by) "
                                    "VALUES (9999, '9999_future', '\\x00', 'a newer smbox')"),
                     0);
    db_pool *p = testpg_pool(ci, 1);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(db_schema_check(c, &err), SM_ESTATE);
    assert_non_null(strstr(err.msg, "9999"));
    assert_non_null(strstr(err.msg, "newer"));
    sm_err_clear(&err);
    int applied = -1;
    assert_int_equal(db_migrate(c, "tester", &applied, &err), SM_ESTATE);
    assert_int_equal(applied, 0);
    assert_non_null(strstr(err.msg, "newer"));
    db_pool_give(c);
    db_pool_close(p);
}

static void test_changed_migration_refused(void **state)
{
    char ci[600];
    assert_int_equal(testpg_schema_db(&PG, "mig_changed", ci, sizeof ci), 0);
    assert_int_equal(testpg_sql(ci, "UPDATE smbox_schema SET checksum = '\\x00' WHERE version = 1"), 0);
    db_pool *p = testpg_pool(ci, 1);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(db_schema_check(c, &err), SM_ESTATE);
    assert_non_null(strstr(err.msg, "0001"));
    assert_non_null(strstr(err.msg, "checksum"));
    db_pool_give(c);
    db_pool_close(p);
}

struct migr {
    db_pool *p;
    int applied;
    sm_rc rc;
};

static void *migrator(void *arg)
{
    struct migr *m = arg;
    db_conn *c;
    sm_err err = {0};
    m->rc = db_pool_take(m->p, &c, &err);
    if (m->rc == SM_OK) {
        m->rc = db_migrate(c, "racer", &m->applied, &err);
        db_pool_give(c);
    }
    if (m->rc != SM_OK)
        fprintf(stderr, "migrator: %s\n", err.msg);
    return NULL;
}

/* Two nodes starting at once: the advisory lock lets one migrate, the other finds nothing to do. */
static void test_concurrent_migrators(void **state)
{
    char ci[600];
    assert_int_equal(testpg_createdb(&PG, "mig_race", NULL, ci, sizeof ci), 0);
    db_pool *p = testpg_pool(ci, 4);
    struct migr a = {p, -1, SM_EINTERNAL}, b = {p, -1, SM_EINTERNAL};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, migrator, &a);
    pthread_create(&tb, NULL, migrator, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, SM_OK);
    assert_int_equal(b.rc, SM_OK);
    assert_int_equal(a.applied + b.applied, (int)db_nmigrations);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(db_schema_check(c, &err), SM_OK);
    db_pool_give(c);
    db_pool_close(p);
}

DB_STMT(q_tmp_create, 0, "CREATE TABLE IF NOT EXISTS t_types (id int PRIMARY KEY, s text, b bytea, n bigint)");
DB_STMT(q_tmp_ins, 4, "INSERT INTO t_types VALUES ($1, $2, $3, $4)");
DB_STMT(q_tmp_get, 1, "SELECT s, b, n FROM t_types WHERE id = $1");

static void test_statements_types_copy(void **state)
{
    char ci[600];
    assert_int_equal(testpg_createdb(&PG, "types", NULL, ci, sizeof ci), 0);
    db_pool *p = testpg_pool(ci, 1);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_tmp_create, NULL, NULL, &err), SM_OK);
    /* a value that would break naive SQL splicing goes through untouched */
    const char *evil = "x'); DROP TABLE t_types; --\t\\\n";
    uint8_t bin[5] = {0, 1, 0xff, '\'', 0};
    db_params pa;
    db_params_init(&pa);
    db_p_int(&pa, 1);
    db_p_text(&pa, evil);
    db_p_bytea(&pa, bin, sizeof bin);
    db_p_int(&pa, -9000000000LL);
    assert_int_equal(db_exec(c, &q_tmp_ins, &pa, NULL, &err), SM_OK);
    /* the same key again: SM_EEXIST */
    assert_int_equal(db_exec(c, &q_tmp_ins, &pa, NULL, &err), SM_EEXIST);
    assert_string_equal(db_last_sqlstate(c), "23505");
    sm_err_clear(&err);
    db_params_init(&pa);
    db_p_int(&pa, 2);
    db_p_null(&pa);
    db_p_bytea(&pa, NULL, 0);
    db_p_null(&pa);
    assert_int_equal(db_exec(c, &q_tmp_ins, &pa, NULL, &err), SM_OK);
    /* wrong parameter count is a bug, reported before anything is sent */
    assert_int_equal(db_exec(c, &q_tmp_get, NULL, NULL, &err), SM_EINTERNAL);
    sm_err_clear(&err);

    db_res *r = NULL;
    db_params_init(&pa);
    db_p_int(&pa, 1);
    assert_int_equal(db_exec(c, &q_tmp_get, &pa, &r, &err), SM_OK);
    assert_int_equal(db_res_rows(r), 1);
    assert_string_equal(db_res_text(r, 0, 0), evil);
    uint8_t *b = NULL;
    size_t bl = 0;
    assert_int_equal(db_res_bytea(r, 0, 1, &b, &bl, &err), SM_OK);
    assert_int_equal(bl, sizeof bin);
    assert_memory_equal(b, bin, sizeof bin);
    free(b);
    assert_true(db_res_int(r, 0, 2) == -9000000000LL);
    db_res_free(r);
    db_params_init(&pa);
    db_p_int(&pa, 2);
    assert_int_equal(db_exec(c, &q_tmp_get, &pa, &r, &err), SM_OK);
    assert_true(db_res_null(r, 0, 0));
    assert_true(db_res_null(r, 0, 1));
    db_res_free(r);

    /* COPY with awkward values */
    assert_int_equal(db_copy_begin(c, "COPY t_types (id, s, b, n) FROM STDIN", &err), SM_OK);
    for (int i = 10; i < 1010; i++) {
        char id[16], n[24];
        snprintf(id, sizeof id, "%d", i);
        snprintf(n, sizeof n, "%d", i * 3);
        const char *f[4] = {id, i == 10 ? evil : "plain", "\\x00ff", i % 2 ? n : NULL};
        assert_int_equal(db_copy_row(c, f, 4, &err), SM_OK);
    }
    long rows = 0;
    assert_int_equal(db_copy_end(c, &rows, &err), SM_OK);
    assert_int_equal(rows, 1000);
    db_params_init(&pa);
    db_p_int(&pa, 10);
    assert_int_equal(db_exec(c, &q_tmp_get, &pa, &r, &err), SM_OK);
    assert_string_equal(db_res_text(r, 0, 0), evil);
    assert_int_equal(db_res_bytea(r, 0, 1, &b, &bl, &err), SM_OK);
    assert_int_equal(bl, 2);
    assert_int_equal(b[1], 0xff);
    free(b);
    assert_true(db_res_null(r, 0, 2));
    db_res_free(r);
    assert_int_equal(count(c, "SELECT count(*) FROM t_types"), 1002);

    /* a failed statement fails its transaction, and commit says so */
    assert_int_equal(db_begin(c, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 1);
    db_p_text(&pa, "dup");
    db_p_null(&pa);
    db_p_null(&pa);
    assert_int_equal(db_exec(c, &q_tmp_ins, &pa, NULL, &err), SM_EEXIST);
    sm_err_clear(&err);
    assert_int_equal(db_exec(c, &q_tmp_get, &pa, NULL, &err), SM_EINTERNAL); /* wrong count: still a bug first */
    sm_err_clear(&err);
    db_params_init(&pa);
    db_p_int(&pa, 2);
    assert_int_equal(db_exec(c, &q_tmp_get, &pa, NULL, &err), SM_EDB);
    sm_err_clear(&err);
    assert_int_equal(db_commit(c, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "rolled back"));
    db_pool_give(c);
    db_pool_close(p);
}

static void test_pool_limit(void **state)
{
    char ci[600];
    assert_int_equal(testpg_createdb(&PG, "pool", NULL, ci, sizeof ci), 0);
    db_pool *p = testpg_pool(ci, 2);
    db_conn *a, *b, *x;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &a, &err), SM_OK);
    assert_int_equal(db_pool_take(p, &b, &err), SM_OK);
    assert_int_equal(db_pool_take(p, &x, &err), SM_ELIMIT);
    sm_err_clear(&err);
    assert_string_not_equal(db_conn_lane(a), db_conn_lane(b));
    assert_int_equal(db_connect(a, &err), SM_OK);
    int pid = db_conn_backend_pid(a);
    assert_true(pid > 0);
    assert_true(db_server_version(a) >= 140000);
    db_pool_give(a);
    assert_int_equal(db_pool_take(p, &x, &err), SM_OK);
    /* the session is kept for the next taker */
    assert_int_equal(db_conn_backend_pid(x), pid);
    db_pool_give(x);
    db_pool_give(b);
    db_pool_close(p);
}

static void test_unreachable_server_clear_error(void **state)
{
    char dir[256], ci[600];
    assert_int_equal(testenv_mkdtemp(dir, sizeof dir, "smbox-nopg"), 0);
    /* a DSN pointing at a server that is not running (no socket there) */
    snprintf(ci, sizeof ci, "postgresql://smbox:s3cr3t-pw@/smbox?host=%s&connect_timeout=2", dir);
    assert_true(db_conninfo_has_password(ci));
    db_pool *p = testpg_pool(ci, 1);
    assert_null(strstr(db_pool_target(p), "s3cr3t-pw"));
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(db_connect(c, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_non_null(strstr(err.msg, dir));
    assert_null(strstr(err.msg, "s3cr3t-pw"));
    assert_false(db_ping(ci));
    sm_err_clear(&err);
    assert_int_equal(db_begin(c, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "cannot connect"));
    db_pool_give(c);
    db_pool_close(p);
    testenv_rmtree(dir);

    char red[600];
    db_redact_conninfo("host=/x password='a b\\'c' dbname=y", red, sizeof red);
    assert_string_equal(red, "host=/x password=*** dbname=y");
    db_redact_conninfo("postgresql://u:pw@h:5/db?sslmode=require&password=zz", red, sizeof red);
    assert_null(strstr(red, "pw@"));
    assert_null(strstr(red, "zz"));
    assert_non_null(strstr(red, "u@h:5/db"));
    assert_false(db_conninfo_has_password("host=/x dbname=y"));
}

DB_STMT(q_r_create, 0, "CREATE TABLE IF NOT EXISTS t_restart (id int PRIMARY KEY)");
DB_STMT(q_r_ins, 1, "INSERT INTO t_restart VALUES ($1)");
DB_STMT(q_r_count, 0, "SELECT count(*) FROM t_restart");

/* The server restarts under two connections: the idle one reconnects on its own; the one in the middle
 * of a transaction reports it failed (and does not replay it), then works again. */
static void test_reconnect_after_restart(void **state)
{
    char ci[600];
    assert_int_equal(testpg_createdb(&PG, "restart", NULL, ci, sizeof ci), 0);
    db_pool *p = testpg_pool(ci, 2);
    db_conn *idle, *busy;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &idle, &err), SM_OK);
    assert_int_equal(db_pool_take(p, &busy, &err), SM_OK);
    assert_int_equal(db_exec(idle, &q_r_create, NULL, NULL, &err), SM_OK);
    int idle_pid = db_conn_backend_pid(idle);
    assert_int_equal(db_begin(busy, &err), SM_OK);
    db_params pa;
    db_params_init(&pa);
    db_p_int(&pa, 1);
    assert_int_equal(db_exec(busy, &q_r_ins, &pa, NULL, &err), SM_OK);

    assert_int_equal(testpg_restart(&PG, false), 0);

    db_params_init(&pa);
    db_p_int(&pa, 2);
    assert_int_equal(db_exec(busy, &q_r_ins, &pa, NULL, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "connection lost"));
    assert_non_null(strstr(err.msg, "not committed"));
    assert_true(db_last_conn_lost(busy));
    assert_true(db_last_transient(busy));
    sm_err_clear(&err);
    assert_int_equal(db_commit(busy, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "not committed"));
    sm_err_clear(&err);
    assert_false(db_in_tx(busy));
    /* nothing of the cut transaction survived */
    db_res *r = NULL;
    if (db_exec(idle, &q_r_count, NULL, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(db_res_int(r, 0, 0), 0);
    db_res_free(r);
    assert_int_not_equal(db_conn_backend_pid(idle), idle_pid);
    /* and the busy one works again in a new transaction */
    assert_int_equal(db_begin(busy, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 3);
    assert_int_equal(db_exec(busy, &q_r_ins, &pa, NULL, &err), SM_OK);
    assert_int_equal(db_commit(busy, &err), SM_OK);
    assert_int_equal(db_exec(idle, &q_r_count, NULL, &r, &err), SM_OK);
    assert_int_equal(db_res_int(r, 0, 0), 1);
    db_res_free(r);

    /* a crash (immediate stop) while the connection sat idle: a transaction begun later works, its first
     * statement (sent with the BEGIN) included */
    assert_int_equal(testpg_restart(&PG, true), 0);
    assert_int_equal(db_begin(busy, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 4);
    if (db_exec(busy, &q_r_ins, &pa, NULL, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(db_commit(busy, &err), SM_OK);
    assert_int_equal(db_exec(idle, &q_r_count, NULL, &r, &err), SM_OK);
    assert_true(db_res_int(r, 0, 0) >= 1); /* row 3 may be lost in the crash: the test cluster commits asynchronously */
    db_res_free(r);

    /* server down: a clear error, then it comes back */
    assert_int_equal(testpg_server_stop(&PG), 0);
    assert_int_equal(db_begin(busy, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "cannot connect"));
    sm_err_clear(&err);
    assert_int_equal(testpg_server_start(&PG), 0);
    assert_int_equal(db_exec(busy, &q_r_count, NULL, &r, &err), SM_OK);
    db_res_free(r);
    db_pool_give(idle);
    db_pool_give(busy);
    db_pool_close(p);
}

DB_STMT(q_t_create, 0, "CREATE TABLE IF NOT EXISTS t_first (k int PRIMARY KEY)");
DB_STMT(q_t_ins, 1, "INSERT INTO t_first (k) VALUES ($1)");
DB_STMT(q_t_count, 0, "SELECT count(*) FROM t_first");
DB_STMT(q_t_async, 0, "SELECT current_setting('synchronous_commit')");
DB_STMT(q_t_sync_on, 0, "SELECT set_config('synchronous_commit', 'on', false)");

static long t_count(db_conn *c)
{
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &q_t_count, NULL, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

/* A database of its own with table t_first, and a pool of one connection, taken. */
static db_pool *t_world(const char *name, char *ci, size_t cap, db_conn **c)
{
    sm_err err = {0};
    assert_int_equal(testpg_createdb(&PG, name, NULL, ci, cap), 0);
    db_pool *p = testpg_pool(ci, 1);
    assert_int_equal(db_pool_take(p, c, &err), SM_OK);
    assert_int_equal(db_exec(*c, &q_t_create, NULL, NULL, &err), SM_OK);
    return p;
}

/* A transaction's BEGIN travels with its first statement: the statement's failure fails the transaction
 * (rolled back at commit), an empty transaction commits, an asynchronous commit is asked for with the
 * COMMIT and stays local to its transaction. */
static void test_tx_first_statement(void **state)
{
    char ci[600];
    db_conn *c;
    db_pool *p = t_world("first", ci, sizeof ci, &c);
    sm_err err = {0};
    db_params pa;
    for (int round = 0; round < 2; round++) { /* the statement not yet prepared, then prepared */
        assert_int_equal(db_begin(c, &err), SM_OK);
        db_params_init(&pa);
        db_p_int(&pa, 10 + round);
        assert_int_equal(db_exec(c, &q_t_ins, &pa, NULL, &err), SM_OK);
        assert_int_equal(db_commit(c, &err), SM_OK);
    }
    assert_int_equal(t_count(c), 2);
    /* a first statement that fails: the transaction is failed and nothing of it stays */
    assert_int_equal(db_begin(c, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 10);
    assert_int_equal(db_exec(c, &q_t_ins, &pa, NULL, &err), SM_EEXIST);
    db_params_init(&pa);
    db_p_int(&pa, 12);
    assert_int_equal(db_exec(c, &q_t_ins, &pa, NULL, &err), SM_EDB);
    sm_err_clear(&err);
    assert_int_equal(db_commit(c, &err), SM_EDB);
    sm_err_clear(&err);
    assert_false(db_in_tx(c));
    assert_int_equal(t_count(c), 2);
    /* rolled back after its first statement */
    assert_int_equal(db_begin(c, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 13);
    assert_int_equal(db_exec(c, &q_t_ins, &pa, NULL, &err), SM_OK);
    db_rollback(c);
    assert_int_equal(t_count(c), 2);
    /* empty: nothing sent, nothing to commit */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(db_begin(c, &err), SM_OK);
    db_rollback(c);
    /* asynchronous commit: committed, and the setting does not leak into the next transaction */
    db_res *r = NULL;
    assert_int_equal(db_exec(c, &q_t_sync_on, NULL, NULL, &err), SM_OK); /* the session's (the test cluster's is off) */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_tx_async_commit(c, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 14);
    assert_int_equal(db_exec(c, &q_t_ins, &pa, NULL, &err), SM_OK);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(t_count(c), 3);
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_t_async, NULL, &r, &err), SM_OK);
    assert_string_equal(db_res_text(r, 0, 0), "on");
    db_res_free(r);
    assert_int_equal(db_commit(c, &err), SM_OK);
    /* the session killed while idle: the next transaction reconnects, its first statement runs once */
    int pid = db_conn_backend_pid(c);
    char sql[120];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    assert_int_equal(testpg_sql(ci, sql), 0);
    usleep(200000);
    assert_int_equal(db_begin(c, &err), SM_OK);
    db_params_init(&pa);
    db_p_int(&pa, 15);
    if (db_exec(c, &q_t_ins, &pa, NULL, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_not_equal(db_conn_backend_pid(c), pid);
    assert_int_equal(t_count(c), 4);
    db_pool_give(c);
    db_pool_close(p);
}

/* Statements sent ahead (db_exec_later) go with the next statement or the COMMIT: their effects are
 * there for the statements after them and after the commit; one that fails fails the transaction, is
 * named by the next statement's or the COMMIT's error, and nothing of the transaction stays; the
 * connection is usable after. */
typedef sm_rc (*send_fn)(db_conn *, db_stmt *, const db_params *, sm_err *);

static long ins_by(send_fn fn, const char *name, db_conn *c, int k)
{
    db_params pa;
    db_params_init(&pa);
    db_p_int(&pa, k);
    sm_err err = {0};
    sm_rc rc = fn(c, &q_t_ins, &pa, &err);
    if (rc != SM_OK)
        fail_msg("%s %d: %s", name, k, err.msg);
    return rc;
}
#define later_ins(c, k) ins_by(db_exec_later, "db_exec_later", c, k)
#define ahead_ins(c, k) ins_by(db_exec_ahead, "db_exec_ahead", c, k)

/* The failed insert sent ahead is reported, by name, by the next statement, or by the COMMIT. */
static void next_reports(db_conn *c)
{
    sm_err err = {0};
    assert_int_equal(db_exec(c, &q_t_count, NULL, NULL, &err), SM_EEXIST);
    assert_non_null(strstr(err.msg, "INSERT INTO t_first"));
}

static void commit_reports(db_conn *c)
{
    sm_err err = {0};
    assert_int_equal(db_commit(c, &err), SM_EEXIST);
    assert_non_null(strstr(err.msg, "INSERT INTO t_first"));
    assert_false(db_in_tx(c));
}

static void test_exec_later(void **state)
{
    char ci[600];
    db_conn *c;
    db_pool *p = t_world("later", ci, sizeof ci, &c);
    sm_err err = {0};
    /* outside a transaction it runs at once (and prepares the statement) */
    later_ins(c, 1);
    assert_int_equal(t_count(c), 1);
    /* ahead of a statement: seen by it, and committed with the COMMIT */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 1);
    for (int k = 2; k <= 4; k++)
        later_ins(c, k);
    assert_int_equal(t_count(c), 4);
    later_ins(c, 5);
    later_ins(c, 6);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(t_count(c), 6);
    /* db_exec_ahead, as the transaction's first statement, takes the BEGIN along: rolled back with
     * it ... */
    assert_int_equal(db_begin(c, &err), SM_OK);
    ahead_ins(c, 50);
    db_rollback(c);
    assert_int_equal(t_count(c), 6);
    /* ... committed with it, with nothing else in the transaction ... */
    assert_int_equal(db_begin(c, &err), SM_OK);
    ahead_ins(c, 50);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(t_count(c), 7);
    /* ... and failing, it fails the transaction: the next statement names it, nothing stays */
    assert_int_equal(db_begin(c, &err), SM_OK);
    ahead_ins(c, 2); /* exists */
    later_ins(c, 51);
    next_reports(c);
    db_rollback(c);
    assert_false(db_in_tx(c));
    assert_int_equal(t_count(c), 7);
    assert_int_equal(db_begin(c, &err), SM_OK);
    ahead_ins(c, 3); /* exists: the COMMIT reports it */
    commit_reports(c);
    assert_int_equal(t_count(c), 7);
    /* later in the transaction it is db_exec_later */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 7);
    ahead_ins(c, 52);
    assert_int_equal(t_count(c), 8);
    db_rollback(c);
    assert_int_equal(t_count(c), 7);
    /* more than a pipeline holds: sent in several */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 7);
    for (int k = 100; k < 200; k++)
        later_ins(c, k);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(t_count(c), 107);
    /* one that fails: the next statement reports it by name, the transaction is rolled back */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 107);
    later_ins(c, 7);
    later_ins(c, 2); /* exists */
    later_ins(c, 8);
    next_reports(c);
    assert_int_equal(db_commit(c, &err), SM_EDB);
    sm_err_clear(&err);
    assert_false(db_in_tx(c));
    assert_int_equal(t_count(c), 107);
    /* ... or the COMMIT does, which then rolls back */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 107);
    later_ins(c, 9);
    later_ins(c, 3);
    commit_reports(c);
    assert_int_equal(t_count(c), 107);
    /* rolled back with statements in flight: none of them stays */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 107);
    later_ins(c, 10);
    db_rollback(c);
    assert_int_equal(t_count(c), 107);
    /* asynchronous commit with statements in flight */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 107);
    assert_int_equal(db_tx_async_commit(c, &err), SM_OK);
    later_ins(c, 11);
    assert_int_equal(db_commit(c, &err), SM_OK);
    assert_int_equal(t_count(c), 108);
    /* the session killed with statements in flight: an error, nothing committed, the next one reconnects */
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(t_count(c), 108);
    later_ins(c, 12);
    char sql[120];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", db_conn_backend_pid(c));
    assert_int_equal(testpg_sql(ci, sql), 0);
    usleep(200000);
    assert_int_equal(db_commit(c, &err), SM_EDB);
    sm_err_clear(&err);
    assert_false(db_in_tx(c));
    assert_int_equal(t_count(c), 108);
    db_pool_give(c);
    db_pool_close(p);
}

/* A large column read on its own by id (the repositories keep only its length in their rows). */
DB_STMT(q_b_create, 0, "CREATE TABLE t_blob (id bigint PRIMARY KEY, b bytea)");
DB_STMT(q_b_fill, 0, "INSERT INTO t_blob VALUES (1, decode(repeat('ab', 5000), 'hex')), (2, NULL)");
DB_STMT(q_b_get, 1, "SELECT b FROM t_blob WHERE id = $1 AND b IS NOT NULL");

static void test_bytea_by_id(void **state)
{
    char ci[600];
    db_conn *c;
    db_pool *p = t_world("blob", ci, sizeof ci, &c);
    sm_err err = {0};
    assert_int_equal(db_exec(c, &q_b_create, NULL, NULL, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_b_fill, NULL, NULL, &err), SM_OK);
    uint8_t *b = NULL;
    assert_int_equal(db_bytea_by_id(c, &q_b_get, 1, 5000, "blob", &b, &err), SM_OK);
    assert_non_null(b);
    assert_int_equal(b[0], 0xAB);
    assert_int_equal(b[4999], 0xAB);
    free(b);
    assert_int_equal(db_bytea_by_id(c, &q_b_get, 1, 4999, "blob", &b, &err), SM_EINTERNAL);
    assert_null(b);
    assert_non_null(strstr(err.msg, "blob of 1 is 5000 bytes, not 4999"));
    sm_err_clear(&err);
    assert_int_equal(db_bytea_by_id(c, &q_b_get, 2, 10, "blob", &b, &err), SM_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no blob for 2"));
    sm_err_clear(&err);
    assert_int_equal(db_bytea_by_id(c, &q_b_get, 3, 10, "blob", &b, &err), SM_ENOTFOUND);
    sm_err_clear(&err);
    db_pool_give(c);
    db_pool_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_from_empty_then_noop),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_changed_migration_refused),
        cmocka_unit_test(test_concurrent_migrators),
        cmocka_unit_test(test_statements_types_copy),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_unreachable_server_clear_error),
        cmocka_unit_test(test_reconnect_after_restart),
        cmocka_unit_test(test_tx_first_statement),
        cmocka_unit_test(test_exec_later),
        cmocka_unit_test(test_bytea_by_id),
    };
    return cmocka_run_group_tests_name("db_pg", tests, setup, teardown);
}
