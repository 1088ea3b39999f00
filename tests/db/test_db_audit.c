/* db/audit: entries are part of their action's transaction (and stop it when they cannot be written),
 * chains stay linear under concurrent appenders, checkpoints are signed and due by policy, and
 * verification names the first entry that was changed, deleted or reordered, in the database and in
 * an exported bundle verified offline (also when the bundle itself was tampered with). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/audit.h"
#include "db/migrate.h"
#include "db/pg.h"
#include "lib/hex.h"
#include "tests/support/testenv.h"
#include "tests/support/testpg.h"

static testpg PG;
static testenv_hsm T;
static hsm_ctx *HSM;
static hsm_sess *SESS;
static db_audit_signer SIGNER;
static char TMP[256];
static int dbn;
/* entries the schema template brings (one per migration, chain "template/migrate") */
#define MIGR ((long)db_nmigrations)

static int setup(void **state)
{
    if (testpg_start(&PG) != 0 || testenv_hsm_setup(&T) != 0)
        return -1;
    HSM = testenv_hsm_open(&T, 2);
    sm_err err = {0};
    if (hsm_session_get(HSM, &SESS, &err) != SM_OK)
        return -1;
    hsm_keyspec ks = {.type = HSM_KT_EC_PRIV, .curve = HSM_CURVE_P256, .usage = HSM_U_SIGN, .label = "t-audit"};
    hsm_key priv, pub;
    if (hsm_ec_generate(SESS, &ks, &priv, &pub, &err) != SM_OK ||
        db_audit_signer_init(&SIGNER, SESS, &priv, &pub, "t-audit", &err) != SM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return testenv_mkdtemp(TMP, sizeof TMP, "smbox-audit");
}

static int teardown(void **state)
{
    hsm_session_put(SESS);
    hsm_close(HSM);
    testenv_hsm_teardown(&T);
    testpg_stop(&PG);
    testenv_rmtree(TMP);
    return 0;
}

/* A fresh migrated database and a pool on it. */
static db_pool *fresh(char *ci, size_t cap)
{
    char name[32];
    snprintf(name, sizeof name, "audit_%d", dbn++);
    assert_int_equal(testpg_schema_db(&PG, name, ci, cap), 0);
    return testpg_pool(ci, 8);
}

static long scalar(db_conn *c, const char *sql_text)
{
    db_stmt st = {sql_text, 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    if (db_exec(c, &st, NULL, &r, &err) != SM_OK)
        fail_msg("%s", err.msg);
    long n = (long)db_res_int(r, 0, 0);
    db_res_free(r);
    return n;
}

static void append_n(db_conn *c, int n, const char *what)
{
    sm_err err = {0};
    for (int i = 0; i < n; i++)
        if (db_audit_appendf(c, &err, "ssh:alice@10.0.0.5", what, "89049032000000000000000000000001", "ok",
                             "n=%d tab\there newline\nthere", i) != SM_OK)
            fail_msg("%s", err.msg);
}

static void checkpoint(db_conn *c)
{
    sm_err err = {0};
    bool written = false;
    if (db_audit_checkpoint(c, &SIGNER, NULL, &written, &err) != SM_OK)
        fail_msg("%s", err.msg);
    assert_true(written);
}

/* Builds a database with two chains of 20 entries each, checkpointed at 20, then 5 more on the first. */
static db_pool *standard(char *ci, size_t cap, db_conn **a, db_conn **b)
{
    db_pool *p = fresh(ci, cap);
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, a, &err), SM_OK);
    assert_int_equal(db_pool_take(p, b, &err), SM_OK);
    append_n(*a, 20, "es4.EnableProfile");
    append_n(*b, 20, "smctl.db.status");
    checkpoint(*a);
    append_n(*a, 5, "es2.DownloadProfile");
    return p;
}

static void done(db_pool *p, db_conn *a, db_conn *b)
{
    db_pool_give(a);
    db_pool_give(b);
    db_pool_close(p);
}

/* ---- writing ------------------------------------------------------------------------------------ */

static void test_append_verify_and_coverage(void **state)
{
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    sm_err err = {0};
    db_audit_report rep;
    assert_int_equal(db_audit_verify(a, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, MIGR + 45);
    assert_int_equal(rep.chains, 3); /* the template's migration chain too */
    assert_int_equal(rep.checkpoints, 1);
    assert_int_equal(rep.uncovered, 5);
    assert_int_equal(strlen(rep.key_fp), 64);
    /* a rolled-back action takes its entry with it; the chain just continues */
    assert_int_equal(db_begin(a, &err), SM_OK);
    assert_int_equal(db_audit_append(a, "mno:1.2.3", "es4.DeleteProfile", "8988", "ok", NULL, &err), SM_OK);
    db_rollback(a);
    append_n(a, 1, "after.rollback");
    checkpoint(a);
    assert_int_equal(db_audit_verify(a, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, MIGR + 46);
    assert_int_equal(rep.uncovered, 0);
    assert_int_equal(rep.checkpoints, 2);
    assert_int_equal(scalar(a, "SELECT count(*) FROM audit_log WHERE action = 'es4.DeleteProfile'"), 0);
    /* the trail refuses ordinary changes */
    assert_int_not_equal(testpg_sql(ci, "UPDATE audit_log SET actor = 'x' WHERE seq = 1"), 0);
    assert_int_not_equal(testpg_sql(ci, "DELETE FROM audit_log"), 0);
    done(p, a, b);
}

DB_STMT(q_act_create, 0, "CREATE TABLE action_done (id int PRIMARY KEY)");
DB_STMT(q_act_ins, 0, "INSERT INTO action_done VALUES (1)");

/* If the audit entry cannot be written, the action does not happen. */
static void test_audit_failure_stops_action(void **state)
{
    char ci[600];
    db_pool *p = fresh(ci, sizeof ci);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_act_create, NULL, NULL, &err), SM_OK);
    /* the audit table refuses one kind of entry (standing in for a full disk, a revoked grant...) */
    assert_int_equal(testpg_sql(ci, "CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                    "IF NEW.action = 'refused' THEN RAISE EXCEPTION 'audit unavailable'; END IF; "
                                    "RETURN NEW; END $$; CREATE TRIGGER no_audit BEFORE INSERT ON audit_log "
                                    "FOR EACH ROW EXECUTE FUNCTION no_audit()"),
                     0);
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_act_ins, NULL, NULL, &err), SM_OK);
    assert_int_equal(db_audit_append(c, "ssh:bob", "refused", "x", "ok", NULL, &err), SM_EDB);
    assert_non_null(strstr(err.msg, "audit unavailable"));
    sm_err_clear(&err);
    assert_int_not_equal(db_commit(c, &err), SM_OK);
    sm_err_clear(&err);
    assert_int_equal(scalar(c, "SELECT count(*) FROM action_done"), 0);
    db_audit_report rep;
    assert_int_equal(db_audit_verify(c, &rep, &err), SM_OK);
    /* once the connection's chain has a committed head, an append goes with the next statement or the
     * COMMIT (db_exec_later): a refused one fails that COMMIT, and the action is rolled back with it */
    append_n(c, 2, "before");
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_act_ins, NULL, NULL, &err), SM_OK);
    sm_rc rc = db_audit_append(c, "ssh:bob", "refused", "x", "ok", NULL, &err);
    if (rc == SM_OK)
        rc = db_commit(c, &err);
    else
        db_rollback(c);
    assert_int_equal(rc, SM_EDB);
    if (!strstr(err.msg, "audit unavailable"))
        fail_msg("%s", err.msg);
    sm_err_clear(&err);
    assert_false(db_in_tx(c));
    assert_int_equal(scalar(c, "SELECT count(*) FROM action_done"), 0);
    /* the head of the chain gone after all (never in service: a restore from an older copy, say): the
     * append sent ahead fails with that, rather than doing nothing */
    append_n(c, 1, "again"); /* the failure made the connection forget the head: seen again */
    assert_int_equal(testpg_sql(ci, "DELETE FROM audit_chain"), 0);
    assert_int_equal(db_begin(c, &err), SM_OK);
    assert_int_equal(db_exec(c, &q_act_ins, NULL, NULL, &err), SM_OK);
    rc = db_audit_append(c, "ssh:bob", "after.loss", "x", "ok", NULL, &err);
    if (rc == SM_OK)
        rc = db_commit(c, &err);
    else
        db_rollback(c);
    assert_int_equal(rc, SM_EDB);
    assert_non_null(strstr(err.msg, "is missing or malformed"));
    sm_err_clear(&err);
    assert_int_equal(scalar(c, "SELECT count(*) FROM action_done"), 0);
    /* the next append looks at the head again: a new head would restart the chain at 1, which its
     * entries already hold: refused too */
    assert_int_not_equal(db_audit_append(c, "ssh:bob", "after.loss.again", "x", "ok", NULL, &err), SM_OK);
    sm_err_clear(&err);
    db_pool_give(c);
    db_pool_close(p);
}

struct appender {
    db_pool *p;
    int n;
    sm_rc rc;
};

static void *appender(void *arg)
{
    struct appender *a = arg;
    db_conn *c;
    sm_err err = {0};
    a->rc = db_pool_take_lane(a->p, "test/shared", &c, &err);
    for (int i = 0; a->rc == SM_OK && i < a->n; i++)
        a->rc = db_audit_append(c, "thread", "concurrent", "obj", "ok", NULL, &err);
    if (a->rc != SM_OK)
        fprintf(stderr, "appender: %s\n", err.msg);
    db_pool_give(c);
    return NULL;
}

/* Several processes/threads on one chain: the head row lock keeps it linear. */
static void test_concurrent_appends_one_chain(void **state)
{
    char ci[600];
    db_pool *p = fresh(ci, sizeof ci);
    struct appender ap[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        ap[i] = (struct appender){p, 50, SM_EINTERNAL};
        pthread_create(&th[i], NULL, appender, &ap[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ap[i].rc, SM_OK);
    }
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    assert_int_equal(scalar(c, "SELECT max(seq) FROM audit_log WHERE chain = 'test/shared'"), 200);
    db_audit_report rep;
    assert_int_equal(db_audit_verify(c, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, MIGR + 200);
    db_pool_give(c);
    db_pool_close(p);
}

/* Appends in a transaction that rolls back leave the head where the last commit left it; the next
 * append (same connection, in or out of a transaction) continues from there; so does an append after
 * the session was cut and after another connection appended to the same chain in between; the
 * statement's hash matches the verifier's (multi-byte text included) and at_us is the database clock. */
static void test_append_rollback_reconnect(void **state)
{
    char ci[600];
    db_pool *p = fresh(ci, sizeof ci);
    db_conn *a, *b;
    sm_err err = {0};
    assert_int_equal(db_pool_take_lane(p, "test/rb", &a, &err), SM_OK);
    append_n(a, 3, "before");
    /* several appends in one transaction, rolled back */
    assert_int_equal(db_begin(a, &err), SM_OK);
    append_n(a, 4, "rolled.back");
    assert_int_equal(scalar(a, "SELECT seq FROM audit_chain WHERE chain = 'test/rb'"), 7);
    db_rollback(a);
    assert_int_equal(scalar(a, "SELECT seq FROM audit_chain WHERE chain = 'test/rb'"), 3);
    /* the next append, inside a transaction, then one on its own */
    assert_int_equal(db_begin(a, &err), SM_OK);
    assert_int_equal(db_audit_append(a, "mno:1.2.3", "after.rollback", "obj", "ok", "Zürich — 東京", &err), SM_OK);
    assert_int_equal(db_audit_append(a, "mno:1.2.3", "after.rollback", "obj", "ok", "", &err), SM_OK);
    assert_int_equal(db_commit(a, &err), SM_OK);
    append_n(a, 1, "after.commit");
    assert_int_equal(scalar(a, "SELECT count(*) FROM audit_log WHERE chain = 'test/rb' AND action = 'rolled.back'"),
                     0);
    /* a failed statement in the transaction (the append's own or another's) rolls it all back */
    assert_int_equal(db_begin(a, &err), SM_OK);
    append_n(a, 2, "failed.tx");
    db_stmt bad = {"SELECT 1/0", 0, 0};
    assert_int_not_equal(db_exec(a, &bad, NULL, NULL, &err), SM_OK);
    assert_int_not_equal(db_commit(a, &err), SM_OK);
    sm_err_clear(&err);
    append_n(a, 1, "after.failed");
    /* the session cut between two appends (the server ends it): the next one reconnects and chains on */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", db_conn_backend_pid(a));
    assert_int_equal(testpg_sql(ci, sql), 0);
    append_n(a, 1, "after.reconnect");
    /* ... and cut inside a transaction that appended: nothing of it stays, the chain goes on */
    assert_int_equal(db_begin(a, &err), SM_OK);
    append_n(a, 1, "lost.tx");
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", db_conn_backend_pid(a));
    assert_int_equal(testpg_sql(ci, sql), 0);
    /* the append fails, or (sent ahead with the commit, db_exec_later) the commit does */
    (void)db_audit_append(a, "x", "lost.tx", "obj", "ok", NULL, &err);
    sm_err_clear(&err);
    assert_int_not_equal(db_commit(a, &err), SM_OK);
    sm_err_clear(&err);
    append_n(a, 1, "after.lost");
    /* another connection on the same chain name appends in between */
    assert_int_equal(db_pool_take_lane(p, "test/rb", &b, &err), SM_OK);
    append_n(b, 2, "other.writer");
    append_n(a, 1, "after.other");
    assert_int_equal(scalar(a, "SELECT seq FROM audit_chain WHERE chain = 'test/rb'"), 12);
    assert_int_equal(scalar(a, "SELECT count(*) FROM audit_log WHERE chain = 'test/rb'"), 12);
    assert_int_equal(scalar(a, "SELECT count(*) FROM audit_log WHERE chain = 'test/rb' AND action IN "
                               "('rolled.back', 'failed.tx', 'lost.tx')"),
                     0);
    /* the database clock: within a minute of the server's now */
    assert_int_equal(scalar(a, "SELECT count(*) FROM audit_log WHERE chain = 'test/rb' AND abs(at_us - "
                               "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint) > 60000000"),
                     0);
    db_audit_report rep;
    assert_int_equal(db_audit_verify(a, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, MIGR + 12);
    checkpoint(a);
    assert_int_equal(db_audit_verify(a, &rep, &err), SM_OK);
    assert_int_equal(rep.uncovered, 0);
    /* a changed multi-byte detail is still caught (the hash covers its bytes) */
    assert_int_equal(testpg_sql(ci, "ALTER TABLE audit_log DISABLE TRIGGER USER; "
                                    "UPDATE audit_log SET details = 'Zurich — 東京' WHERE details = 'Zürich — 東京'"),
                     0);
    assert_int_equal(db_audit_verify(a, &rep, &err), SM_EVERIFY);
    assert_string_equal(rep.bad_chain, "test/rb");
    assert_int_equal(rep.bad_seq, 4);
    db_pool_give(a);
    db_pool_give(b);
    db_pool_close(p);
}

static void test_checkpoint_policy(void **state)
{
    char ci[600];
    db_pool *p = fresh(ci, sizeof ci);
    db_conn *c;
    sm_err err = {0};
    assert_int_equal(db_pool_take(p, &c, &err), SM_OK);
    db_audit_policy pol = {.every = 5, .max_age_s = 3600};
    bool w = false;
    /* the first checkpoint is always due (the migration entries are there) */
    assert_int_equal(db_audit_checkpoint(c, &SIGNER, &pol, &w, &err), SM_OK);
    assert_true(w);
    /* nothing new: nothing to checkpoint, even when forced */
    assert_int_equal(db_audit_checkpoint(c, &SIGNER, NULL, &w, &err), SM_OK);
    assert_false(w);
    append_n(c, 3, "x");
    assert_int_equal(db_audit_checkpoint(c, &SIGNER, &pol, &w, &err), SM_OK);
    assert_false(w);
    append_n(c, 2, "x");
    assert_int_equal(db_audit_checkpoint(c, &SIGNER, &pol, &w, &err), SM_OK);
    assert_true(w);
    /* the age rule: with max_age 1 s, wait on the database clock rather than sleeping blindly */
    append_n(c, 1, "x");
    assert_int_equal(testpg_sql(ci, "SELECT pg_sleep(1.1)"), 0);
    pol.max_age_s = 1;
    assert_int_equal(db_audit_checkpoint(c, &SIGNER, &pol, &w, &err), SM_OK);
    assert_true(w);
    assert_int_equal(scalar(c, "SELECT count(*) FROM audit_checkpoint"), 3);
    db_pool_give(c);
    db_pool_close(p);
}

/* ---- tampering in the database ------------------------------------------------------------------- */

static const char *UNLOCK = "ALTER TABLE audit_log DISABLE TRIGGER USER; ALTER TABLE audit_checkpoint DISABLE TRIGGER USER;";

static void expect_broken(db_conn *c, const char *chain, long seq, const char *word)
{
    db_audit_report rep;
    sm_err err = {0};
    assert_int_equal(db_audit_verify(c, &rep, &err), SM_EVERIFY);
    fprintf(stderr, "verify: %s\n", err.msg);
    if (chain)
        assert_string_equal(rep.bad_chain, chain);
    if (seq)
        assert_int_equal(rep.bad_seq, seq);
    if (!strstr(rep.problem, word))
        fail_msg("expected '%s' in: %s", word, rep.problem);
    assert_non_null(strstr(err.msg, rep.problem));
}

static void tamper(const char *ci, const char *sql_text)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s %s", UNLOCK, sql_text);
    assert_int_equal(testpg_sql(ci, buf), 0);
}

static void test_tamper_update(void **state)
{
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    tamper(ci, "UPDATE audit_log SET actor = 'ssh:mallory' WHERE chain = 'test/w0' AND seq = 5");
    expect_broken(a, "test/w0", 5, "changed");
    done(p, a, b);
}

static void test_tamper_delete(void **state)
{
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    tamper(ci, "DELETE FROM audit_log WHERE chain = 'test/w1' AND seq = 7");
    expect_broken(a, "test/w1", 7, "deleted");
    done(p, a, b);
}

static void test_tamper_delete_renumbered(void **state)
{
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    tamper(ci, "DELETE FROM audit_log WHERE chain = 'test/w1' AND seq = 7; "
               "UPDATE audit_log SET seq = seq - 1 WHERE chain = 'test/w1' AND seq > 7");
    expect_broken(a, "test/w1", 7, "deleted");
    done(p, a, b);
}

static void test_tamper_reorder(void **state)
{
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    tamper(ci, "UPDATE audit_log SET seq = -1 WHERE chain = 'test/w0' AND seq = 10; "
               "UPDATE audit_log SET seq = 10 WHERE chain = 'test/w0' AND seq = 11; "
               "UPDATE audit_log SET seq = 11 WHERE chain = 'test/w0' AND seq = -1");
    expect_broken(a, "test/w0", 10, "reordered");
    done(p, a, b);
}

static void test_tamper_truncate_tail(void **state)
{
    /* the last entries before the checkpoint removed and the chain head rewritten to match: only the
     * signed checkpoint still knows */
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    tamper(ci, "DELETE FROM audit_log WHERE chain = 'test/w1' AND seq > 17; "
               "UPDATE audit_chain h SET seq = 17, hash = l.hash FROM audit_log l "
               "WHERE h.chain = 'test/w1' AND l.chain = h.chain AND l.seq = 17");
    expect_broken(a, "test/w1", 18, "checkpoint 1 recorded seq 20");
    done(p, a, b);
}

static void test_tamper_checkpoint(void **state)
{
    char ci[600];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    checkpoint(a);
    append_n(b, 3, "more");
    checkpoint(a);
    tamper(ci, "UPDATE audit_checkpoint SET signature = overlay(signature placing '\\x00'::bytea from 5) WHERE seq = 2");
    expect_broken(a, NULL, 0, "checkpoint 2: the signature does not verify");
    tamper(ci, "DELETE FROM audit_checkpoint WHERE seq = 2");
    expect_broken(a, NULL, 0, "checkpoint 2 is missing");
    done(p, a, b);
}

/* ---- bundles ---------------------------------------------------------------------------------------- */

static long LEFT;

static void export_to(db_conn *c, const char *from, const char *to, const char *path, long *n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    sm_err err = {0};
    if (db_audit_export(c, from, to, f, n, &LEFT, &err) != SM_OK)
        fail_msg("%s", err.msg);
    fclose(f);
}

static sm_rc verify_file(const char *path, const char *pin, db_audit_report *rep, sm_err *err)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    sm_rc rc = db_audit_verify_bundle(f, pin, rep, err);
    fclose(f);
    return rc;
}

static void db_now(db_conn *c, char *out, size_t cap)
{
    db_stmt st = {"SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", 0, 0};
    db_res *r = NULL;
    sm_err err = {0};
    assert_int_equal(db_exec(c, &st, NULL, &r, &err), SM_OK);
    snprintf(out, cap, "%s", db_res_text(r, 0, 0));
    db_res_free(r);
}

static void test_bundle_offline(void **state)
{
    char ci[600], path[400], mid[64];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    checkpoint(a); /* covers the 5 extra entries */
    db_now(a, mid, sizeof mid);
    append_n(a, 4, "later");
    append_n(b, 6, "later");
    checkpoint(b);
    append_n(b, 2, "not.yet.checkpointed");

    /* everything, up to now */
    long n = 0;
    snprintf(path, sizeof path, "%s/all.bundle", TMP);
    export_to(a, NULL, NULL, path, &n);
    /* the last 2 entries are not covered by a checkpoint yet: left out, the rest verifies */
    assert_int_equal(n, MIGR + 55);
    assert_int_equal(LEFT, 2);
    db_audit_report rep;
    sm_err err = {0};
    assert_int_equal(verify_file(path, NULL, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, MIGR + 55);
    checkpoint(b);
    export_to(a, NULL, NULL, path, &n);
    assert_int_equal(LEFT, 0);
    assert_int_equal(verify_file(path, NULL, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, MIGR + 57);
    assert_int_equal(rep.checkpoints, 4);
    assert_int_equal(rep.uncovered, 0);
    /* pinned to the ceremony's key: by fingerprint prefix, or by the full public key */
    char fp16[17];
    snprintf(fp16, sizeof fp16, "%.16s", rep.key_fp);
    char pubhex[131];
    sm_hex_encode(SIGNER.pub, SIGNER.publen, pubhex);
    assert_int_equal(verify_file(path, fp16, &rep, &err), SM_OK);
    assert_int_equal(verify_file(path, pubhex, &rep, &err), SM_OK);
    assert_int_equal(verify_file(path, "00112233445566778899", &rep, &err), SM_EVERIFY);
    assert_non_null(strstr(err.msg, "not the expected one"));
    sm_err_clear(&err);

    /* a window: from the middle on; anchored on the checkpoint before it */
    char part[400];
    snprintf(part, sizeof part, "%s/part.bundle", TMP);
    export_to(a, mid, NULL, part, &n);
    assert_int_equal(n, 12);
    assert_int_equal(verify_file(part, NULL, &rep, &err), SM_OK);
    assert_int_equal(rep.entries, 12);

    /* the same bundle, with the database stopped: verification needs nothing but the file */
    assert_int_equal(testpg_server_stop(&PG), 0);
    assert_int_equal(verify_file(path, NULL, &rep, &err), SM_OK);
    assert_int_equal(testpg_server_start(&PG), 0);
    done(p, a, b);
}

/* sed-like edit of a bundle: replaces the first occurrence of `from` after a line starting with prefix */
static void edit_bundle(const char *src, const char *dst, const char *line_has, const char *from, const char *to,
                        int drop)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    assert_non_null(in);
    assert_non_null(out);
    char line[8192];
    int done_once = 0;
    while (fgets(line, sizeof line, in)) {
        if (!done_once && strstr(line, line_has)) {
            done_once = 1;
            if (drop)
                continue;
            char *p = strstr(line, from);
            assert_non_null(p);
            char buf[8192];
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - line), line, to, p + strlen(from));
            fputs(buf, out);
            continue;
        }
        fputs(line, out);
    }
    assert_true(done_once);
    fclose(in);
    fclose(out);
}

static void test_bundle_tampered(void **state)
{
    char ci[600], path[400], bad[400], bad2[400];
    db_conn *a, *b;
    db_pool *p = standard(ci, sizeof ci, &a, &b);
    checkpoint(a);
    long n = 0;
    snprintf(path, sizeof path, "%s/t.bundle", TMP);
    snprintf(bad, sizeof bad, "%s/bad.bundle", TMP);
    snprintf(bad2, sizeof bad2, "%s/bad2.bundle", TMP);
    export_to(a, NULL, NULL, path, &n);
    assert_int_equal(n, MIGR + 45);
    db_audit_report rep;
    sm_err err = {0};
    assert_int_equal(verify_file(path, NULL, &rep, &err), SM_OK);

    /* an entry's actor changed */
    edit_bundle(path, bad, "\ttest/w1\t9\t", "ssh:alice", "ssh:mallory", 0);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EVERIFY);
    assert_string_equal(rep.bad_chain, "test/w1");
    assert_int_equal(rep.bad_seq, 9);
    assert_non_null(strstr(rep.problem, "changed"));
    sm_err_clear(&err);

    /* an entry removed: the end line's count tells first; with the count fixed, the chain does */
    edit_bundle(path, bad, "\ttest/w0\t12\t", "", "", 1);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EVERIFY);
    assert_non_null(strstr(rep.problem, "entries"));
    sm_err_clear(&err);
    char cnt[24], cnt1[24];
    snprintf(cnt, sizeof cnt, "%ld", MIGR + 45);
    snprintf(cnt1, sizeof cnt1, "%ld", MIGR + 44);
    edit_bundle(bad, bad2, "end\t", cnt, cnt1, 0);
    assert_int_equal(verify_file(bad2, NULL, &rep, &err), SM_EVERIFY);
    assert_string_equal(rep.bad_chain, "test/w0");
    assert_int_equal(rep.bad_seq, 12);
    assert_non_null(strstr(rep.problem, "deleted"));
    sm_err_clear(&err);

    /* two entries' sequence numbers swapped */
    edit_bundle(path, bad, "\ttest/w0\t3\t", "\ttest/w0\t3\t", "\ttest/w0\t99\t", 0);
    edit_bundle(bad, bad2, "\ttest/w0\t4\t", "\ttest/w0\t4\t", "\ttest/w0\t3\t", 0);
    edit_bundle(bad2, bad, "\ttest/w0\t99\t", "\ttest/w0\t99\t", "\ttest/w0\t4\t", 0);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EVERIFY);
    assert_int_equal(rep.bad_seq, 3);
    assert_non_null(strstr(rep.problem, "reordered"));
    sm_err_clear(&err);

    /* a checkpoint's signature damaged */
    edit_bundle(path, bad, "checkpoint\t1\t", "\t", "\t", 0); /* sanity: the identity edit verifies */
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_OK);
    FILE *f = fopen(path, "r");
    FILE *o = fopen(bad, "w");
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "checkpoint\t1\t", 13)) {
            size_t l = strlen(line);
            line[l - 3] = line[l - 3] == '0' ? '1' : '0'; /* last hex digit of the signature */
        }
        fputs(line, o);
    }
    fclose(f);
    fclose(o);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EVERIFY);
    assert_non_null(strstr(rep.problem, "signature"));
    sm_err_clear(&err);

    /* the last checkpoint removed: the entries after the one before it are no longer signed */
    f = fopen(path, "r");
    o = fopen(bad, "w");
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "checkpoint\t2\t", 13) != 0)
            fputs(line, o);
    fclose(f);
    fclose(o);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EVERIFY);
    assert_non_null(strstr(rep.problem, "not covered"));
    assert_int_equal(rep.uncovered, 5);
    sm_err_clear(&err);

    /* the checkpoints stripped: entries alone prove nothing */
    f = fopen(path, "r");
    o = fopen(bad, "w");
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "checkpoint\t", 11) != 0)
            fputs(line, o);
    fclose(f);
    fclose(o);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EVERIFY);
    sm_err_clear(&err);

    /* not a bundle at all */
    f = fopen(bad, "w");
    fputs("hello\n", f);
    fclose(f);
    assert_int_equal(verify_file(bad, NULL, &rep, &err), SM_EPARSE);
    done(p, a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_verify_and_coverage),
        cmocka_unit_test(test_audit_failure_stops_action),
        cmocka_unit_test(test_concurrent_appends_one_chain),
        cmocka_unit_test(test_append_rollback_reconnect),
        cmocka_unit_test(test_checkpoint_policy),
        cmocka_unit_test(test_tamper_update),
        cmocka_unit_test(test_tamper_delete),
        cmocka_unit_test(test_tamper_delete_renumbered),
        cmocka_unit_test(test_tamper_reorder),
        cmocka_unit_test(test_tamper_truncate_tail),
        cmocka_unit_test(test_tamper_checkpoint),
        cmocka_unit_test(test_bundle_offline),
        cmocka_unit_test(test_bundle_tampered),
    };
    return cmocka_run_group_tests_name("db_audit", tests, setup, teardown);
}
