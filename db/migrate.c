/* Schema migrations: compiled-in SQL files applied in order under an advisory lock. */
#include "db/migrate.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "db/audit.h"
#include "lib/hex.h"
#include "lib/log.h"

#define MIGRATE_LOCK_KEY 0x736d626f78LL /* "smbox" */

DB_STMT(q_exists, 0, "SELECT to_regclass('smbox_schema') IS NOT NULL");
DB_STMT(q_applied, 0, "SELECT version, name, checksum FROM smbox_schema ORDER BY version");
DB_STMT(q_lock, 1, "SELECT pg_advisory_lock($1)");
DB_STMT(q_unlock, 1, "SELECT pg_advisory_unlock($1)");
DB_STMT(q_is_applied, 1, "SELECT 1 FROM smbox_schema WHERE version = $1");
DB_STMT(q_record, 4,
        "INSERT INTO smbox_schema (version, name, checksum, applied_by) VALUES ($1, $2, $3, $4)");

static const char *BOOTSTRAP =
    "CREATE TABLE IF NOT EXISTS smbox_schema ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum bytea NOT NULL,"
    " applied_by text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

int db_schema_latest(void)
{
    int v = 0;
    for (size_t i = 0; i < db_nmigrations; i++)
        if (db_migrations[i].version > v)
            v = db_migrations[i].version;
    return v;
}

static const db_migration *find(int version)
{
    for (size_t i = 0; i < db_nmigrations; i++)
        if (db_migrations[i].version == version)
            return &db_migrations[i];
    return NULL;
}

static void checksum(const db_migration *m, uint8_t out[32])
{
    SHA256((const uint8_t *)m->sql, m->len, out);
}

sm_rc db_schema_status_get(db_conn *c, db_schema_status *st, sm_err *err)
{
    memset(st, 0, sizeof *st);
    st->latest = db_schema_latest();
    db_res *r = NULL;
    sm_rc rc = db_exec(c, &q_exists, NULL, &r, err);
    if (rc != SM_OK)
        return rc;
    bool exists = db_res_bool(r, 0, 0);
    db_res_free(r);
    if (!exists) {
        st->pending = (int)db_nmigrations;
        return SM_OK;
    }
    rc = db_exec(c, &q_applied, NULL, &r, err);
    if (rc != SM_OK)
        return rc;
    int napplied_known = 0;
    for (int i = 0; i < db_res_rows(r); i++) {
        int v = (int)db_res_int(r, i, 0);
        if (v > st->version)
            st->version = v;
        const db_migration *m = find(v);
        if (!m) {
            if (v > st->latest)
                st->newer = true;
            continue;
        }
        napplied_known++;
        uint8_t want[32], got[32];
        size_t gl = 0;
        checksum(m, want);
        if (db_res_bytea_into(r, i, 2, got, sizeof got, &gl, NULL) != SM_OK || gl != 32 ||
            memcmp(want, got, 32) != 0) {
            if (!st->mismatch)
                st->mismatch = v;
        }
    }
    db_res_free(r);
    st->pending = (int)db_nmigrations - napplied_known;
    return SM_OK;
}

static sm_rc refuse(const db_schema_status *st, sm_err *err)
{
    if (st->newer)
        return sm_errf(err, SM_ESTATE,
                       "database schema is at version %d, newer than this smbox knows (%d): refusing to use it; "
                       "run the smbox release that migrated it, or point database.dsn at the right database",
                       st->version, st->latest);
    if (st->mismatch)
        return sm_errf(err, SM_ESTATE,
                       "database migration %04d was applied from a different file than the one compiled into this "
                       "smbox (checksum differs): refusing to continue",
                       st->mismatch);
    return SM_OK;
}

sm_rc db_migrate(db_conn *c, const char *actor, int *applied, sm_err *err)
{
    if (applied)
        *applied = 0;
    if (db_in_tx(c))
        return sm_errf(err, SM_ESTATE, "migrate: called inside a transaction");
    db_params p;
    db_params_init(&p);
    db_p_int(&p, MIGRATE_LOCK_KEY);
    sm_rc rc = db_exec(c, &q_lock, &p, NULL, err);
    if (rc != SM_OK) {
        sm_err_prefix(err, "migrate: taking the migration lock");
        return rc;
    }
    rc = db_exec_script(c, BOOTSTRAP, err);
    db_schema_status st;
    if (rc == SM_OK)
        rc = db_schema_status_get(c, &st, err);
    if (rc == SM_OK)
        rc = refuse(&st, err);
    for (size_t i = 0; rc == SM_OK && i < db_nmigrations; i++) {
        const db_migration *m = &db_migrations[i];
        db_res *r = NULL;
        db_params_init(&p);
        db_p_int(&p, m->version);
        rc = db_exec(c, &q_is_applied, &p, &r, err);
        bool done = rc == SM_OK && db_res_rows(r) > 0;
        db_res_free(r);
        if (rc != SM_OK || done)
            continue;
        uint8_t sum[32];
        checksum(m, sum);
        char hex[65];
        sm_hex_encode(sum, 8, hex);
        rc = db_begin(c, err);
        if (rc == SM_OK)
            rc = db_exec_script(c, m->sql, err);
        if (rc == SM_OK) {
            db_params_init(&p);
            db_p_int(&p, m->version);
            db_p_text(&p, m->name);
            db_p_bytea(&p, sum, sizeof sum);
            db_p_text(&p, actor ? actor : "smbox");
            rc = db_exec(c, &q_record, &p, NULL, err);
        }
        if (rc == SM_OK)
            rc = db_audit_appendf(c, err, actor ? actor : "smbox", "db.migrate", m->name, "ok", "sha256=%s...", hex);
        if (rc == SM_OK)
            rc = db_commit(c, err);
        else
            db_rollback(c);
        if (rc != SM_OK) {
            sm_err_prefix(err, "migrate: applying %s", m->name);
            break;
        }
        if (applied)
            (*applied)++;
        sm_log(SM_LOG_NOTICE, "db", "migrated", "migration=%s", m->name);
    }
    sm_err uerr = {0};
    db_params_init(&p);
    db_p_int(&p, MIGRATE_LOCK_KEY);
    if (db_connected(c))
        db_exec(c, &q_unlock, &p, NULL, &uerr);
    return rc;
}

sm_rc db_schema_check(db_conn *c, sm_err *err)
{
    db_schema_status st;
    sm_rc rc = db_schema_status_get(c, &st, err);
    if (rc != SM_OK)
        return rc;
    rc = refuse(&st, err);
    if (rc != SM_OK)
        return rc;
    if (st.pending)
        return sm_errf(err, SM_ESTATE, "database schema is at version %d, this smbox needs %d: %d migration(s) pending "
                                       "(`smctl db migrate`)",
                       st.version, st.latest, st.pending);
    return SM_OK;
}
