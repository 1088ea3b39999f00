/* smctl db: the embedded cluster (start, stop), the schema (status, migrate); and what every smctl
 * command that reaches the database shares: its connection, the operator's identity and the audit
 * entry of the command itself. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appliance/dbconf.h"
#include "appliance/smctl.h"
#include "db/audit.h"
#include "db/migrate.h"
#include "db/outbox.h"

static struct {
    bool resolved;
    sm_dbconf dc;
    db_pool *pool;
    db_conn *conn;
    bool cleanup_registered;
} G;

static void db_cleanup(void)
{
    if (G.conn)
        db_pool_give(G.conn);
    G.conn = NULL;
    db_pool_close(G.pool);
    G.pool = NULL;
}

/* smctl_fail for an error that may have been printed already (empty message) */
static int fail_err(const sm_err *err) { return err->msg[0] ? smctl_fail("%s", err->msg) : 1; }

static sm_rc resolve(smctl_ctx *c, sm_err *err)
{
    if (G.resolved)
        return SM_OK;
    const sm_config *cfg = smctl_config(c);
    if (!cfg) /* smctl_config said why */
        return err ? (err->code = SM_ECONFIG) : SM_ECONFIG;
    sm_rc rc = sm_dbconf_resolve(cfg, &G.dc, err);
    G.resolved = rc == SM_OK;
    return rc;
}

static sm_rc open_db(smctl_ctx *c, sm_err *err)
{
    if (G.conn)
        return SM_OK;
    sm_rc rc = resolve(c, err);
    if (rc != SM_OK)
        return rc;
    if (!G.pool) {
        rc = sm_dbconf_pool(c->cfg, &G.dc, NULL, 2, "smctl", &G.pool, err);
        if (rc != SM_OK)
            return rc;
        if (!G.cleanup_registered)
            atexit(db_cleanup);
        G.cleanup_registered = true;
    }
    char lane[160];
    snprintf(lane, sizeof lane, "%s/ctl", c->cfg->node.name);
    rc = db_pool_take_lane(G.pool, lane, &G.conn, err);
    if (rc == SM_OK && (rc = db_connect(G.conn, err)) != SM_OK) {
        db_pool_give(G.conn);
        G.conn = NULL;
        if (G.dc.embedded)
            sm_err_prefix(err, "is the embedded database running? (`smctl db start`)");
    }
    return rc;
}

db_conn *smctl_db(smctl_ctx *c)
{
    sm_err err = {0};
    if (open_db(c, &err) != SM_OK) {
        fail_err(&err);
        return NULL;
    }
    return G.conn;
}

db_conn *smctl_db_try(smctl_ctx *c, char *why, size_t cap)
{
    sm_err err = {0};
    if (open_db(c, &err) != SM_OK) {
        snprintf(why, cap, "%s", err.msg[0] ? err.msg : "the configuration did not load");
        return NULL;
    }
    return G.conn;
}

const char *smctl_actor(void)
{
    static char actor[256];
    if (actor[0])
        return actor;
    /* the uid is what the system vouches for; $SSH_CONNECTION only adds where the session came from */
    struct passwd *pw = getpwuid(getuid());
    char user[64];
    if (pw)
        snprintf(user, sizeof user, "%s", pw->pw_name);
    else
        snprintf(user, sizeof user, "uid:%ld", (long)getuid());
    const char *ssh = getenv("SSH_CONNECTION");
    char from[64] = "";
    if (ssh && *ssh) {
        size_t n = strcspn(ssh, " ");
        snprintf(from, sizeof from, "%.*s", (int)(n < 60 ? n : 60), ssh);
    }
    const char *sudo = getuid() == 0 ? getenv("SUDO_USER") : NULL;
    snprintf(actor, sizeof actor, "%s:%s%s%s%s%.40s%s", from[0] ? "ssh" : "local", user, from[0] ? "@" : "", from,
             sudo && *sudo ? " (sudo by " : "", sudo && *sudo ? sudo : "", sudo && *sudo ? ")" : "");
    return actor;
}

/* Option values that may be secret are not written to the trail. */
static bool secret_opt(const char *a)
{
    return a[0] == '-' && (strstr(a, "pin") || strstr(a, "key") || strstr(a, "password") || strstr(a, "secret") ||
                           strstr(a, "psk"));
}

int smctl_audit_cmd(smctl_ctx *c, int argc, char **argv, const char *outcome)
{
    if (!G.conn)
        return 0; /* this invocation did not reach the database */
    char action[96], object[512] = "";
    snprintf(action, sizeof action, "smctl.%s%s%s", argv[0], argc > 1 && argv[1][0] != '-' ? "." : "",
             argc > 1 && argv[1][0] != '-' ? argv[1] : "");
    size_t o = 0;
    for (int i = argc > 1 && argv[1][0] != '-' ? 2 : 1; i < argc && o + 2 < sizeof object; i++) {
        bool hide = i > 1 && secret_opt(argv[i - 1]);
        o += (size_t)snprintf(object + o, sizeof object - o, "%s%s", o ? " " : "", hide ? "***" : argv[i]);
        if (o >= sizeof object)
            o = sizeof object - 1;
    }
    sm_err err = {0};
    if (db_audit_append(G.conn, smctl_actor(), action, object, outcome, NULL, &err) != SM_OK) {
        fprintf(stderr, "smctl: note: this command was not recorded in the audit trail: %s\n", err.msg);
        return -1;
    }
    return 0;
}

void smctl_db_help(FILE *out)
{
    fprintf(out,
            "  start    embedded cluster: create it under node.var_dir (database.embedded_dir) when missing, start it\n"
            "           (unix socket in its directory, no TCP), create the database; refused when database.dsn is set\n"
            "  stop     embedded cluster: stop it (fast shutdown)\n"
            "  status   where the database is, whether it answers, the schema version against this smctl's, the\n"
            "           audit trail, procedures and outbox; exit status 1 when unreachable or not at this version\n"
            "  migrate  apply the pending migrations (under the cluster-wide migration lock); refuses a database\n"
            "           newer than this smctl\n"
            "Every invocation that reaches the database is recorded in the audit trail with the operator.\n");
}

static int do_start(smctl_ctx *c, int argc, char **argv)
{
    sm_err err = {0};
    if (resolve(c, &err) != SM_OK)
        return fail_err(&err);
    if (!G.dc.embedded)
        return smctl_fail("database.dsn is set: smbox uses that server and never starts one");
    bool started = false;
    if (sm_dbconf_embedded_up(&G.dc, &started, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("embedded PostgreSQL %s in %s\n", started ? "started" : "already running", G.dc.cl.datadir);
    char why[600];
    if (smctl_db_try(c, why, sizeof why)) {
        db_schema_status st;
        if (db_schema_status_get(G.conn, &st, &err) == SM_OK && st.version == 0)
            printf("empty database: `smctl db migrate` (or smboxd at start) creates the schema\n");
        else
            smctl_audit_cmd(c, argc, argv, started ? "ok" : "already-running");
    }
    return 0;
}

static int do_stop(smctl_ctx *c, int argc, char **argv)
{
    sm_err err = {0};
    if (resolve(c, &err) != SM_OK)
        return fail_err(&err);
    if (!G.dc.embedded)
        return smctl_fail("database.dsn is set: smbox never stops that server");
    db_cluster_state st;
    if (db_cluster_status(&G.dc.cl, &st, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    if (!st.running) {
        printf("embedded PostgreSQL in %s is not running\n", G.dc.cl.datadir);
        return 0;
    }
    char why[600];
    if (smctl_db_try(c, why, sizeof why))
        smctl_audit_cmd(c, argc, argv, "ok"); /* recorded before the server goes */
    db_cleanup();
    if (db_cluster_stop(&G.dc.cl, false, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("embedded PostgreSQL in %s stopped\n", G.dc.cl.datadir);
    return 0;
}

DB_STMT(q_audit_sum, 0,
        "SELECT coalesce(sum(seq), 0), count(*) FROM audit_chain WHERE chain NOT LIKE '#%'");
DB_STMT(q_last_ck, 0,
        "SELECT seq, to_char(to_timestamp(at_us / 1000000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "total FROM audit_checkpoint ORDER BY seq DESC LIMIT 1");
DB_STMT(q_procs, 0, "SELECT state, count(*) FROM proc GROUP BY state ORDER BY state");

static int do_status(smctl_ctx *c, int argc, char **argv)
{
    sm_err err = {0};
    if (resolve(c, &err) != SM_OK)
        return fail_err(&err);
    if (G.dc.embedded) {
        db_cluster_state st;
        if (db_cluster_status(&G.dc.cl, &st, &err) != SM_OK)
            return smctl_fail("%s", err.msg);
        printf("database     embedded cluster %s (%s%s%s)\n", G.dc.cl.datadir,
               st.initialised ? "PostgreSQL " : "not created yet", st.version,
               !st.initialised ? "" : st.running ? ", running" : ", stopped");
    } else {
        char red[1024];
        db_redact_conninfo(G.dc.conninfo, red, sizeof red);
        printf("database     external %s\n", red);
    }
    char why[600];
    if (!smctl_db_try(c, why, sizeof why)) {
        printf("connection   FAILED: %s\n", why);
        return 1;
    }
    int v = db_server_version(G.conn);
    printf("connection   ok (server %d.%d, session pid %d)\n", v / 10000, v % 10000, db_conn_backend_pid(G.conn));
    db_schema_status ss;
    if (db_schema_status_get(G.conn, &ss, &err) != SM_OK)
        return smctl_fail("%s", err.msg);
    printf("schema       version %d, this smctl knows %d, %d pending%s", ss.version, ss.latest, ss.pending,
           ss.newer ? ", DATABASE NEWER THAN THIS SMCTL" : "");
    if (ss.mismatch)
        printf(", migration %04d CHANGED SINCE IT WAS APPLIED", ss.mismatch);
    printf("\n");
    int rc = ss.pending || ss.newer || ss.mismatch ? 1 : 0;
    if (ss.version > 0) {
        db_res *r = NULL;
        if (db_exec(G.conn, &q_audit_sum, NULL, &r, &err) == SM_OK)
            printf("audit        %lld entries in %lld chains", (long long)db_res_int(r, 0, 0),
                   (long long)db_res_int(r, 0, 1));
        int64_t total = db_res_int(r, 0, 0);
        db_res_free(r);
        r = NULL;
        if (db_exec(G.conn, &q_last_ck, NULL, &r, &err) == SM_OK) {
            if (db_res_rows(r))
                printf(", last checkpoint #%lld at %s (%lld entries since)", (long long)db_res_int(r, 0, 0),
                       db_res_text(r, 0, 1), (long long)(total - db_res_int(r, 0, 2)));
            else
                printf(", no checkpoint yet");
        }
        printf("\n");
        db_res_free(r);
        r = NULL;
        if (db_exec(G.conn, &q_procs, NULL, &r, &err) == SM_OK) {
            printf("procedures  ");
            for (int i = 0; i < db_res_rows(r); i++)
                printf(" %s %lld", db_res_text(r, i, 0), (long long)db_res_int(r, i, 1));
            printf("%s\n", db_res_rows(r) ? "" : " none");
        }
        db_res_free(r);
        db_outbox_counts oc;
        if (db_outbox_count(G.conn, &oc, &err) == SM_OK)
            printf("outbox       pending %ld, sending %ld, delivered %ld, dead %ld\n", oc.pending, oc.sending,
                   oc.delivered, oc.dead);
        smctl_audit_cmd(c, argc, argv, "ok");
    }
    return rc;
}

static int do_migrate(smctl_ctx *c, int argc, char **argv)
{
    db_conn *db = smctl_db(c);
    if (!db)
        return 1;
    sm_err err = {0};
    int applied = 0;
    if (db_migrate(db, smctl_actor(), &applied, &err) != SM_OK) {
        smctl_audit_cmd(c, argc, argv, "failed");
        return smctl_fail("%s", err.msg);
    }
    printf("applied %d migration(s); schema at version %d\n", applied, db_schema_latest());
    smctl_audit_cmd(c, argc, argv, "ok");
    return 0;
}

int smctl_db_main(smctl_ctx *c, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "start"))
        return do_start(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "stop"))
        return do_stop(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "status"))
        return do_status(c, argc, argv);
    if (argc == 2 && !strcmp(argv[1], "migrate"))
        return do_migrate(c, argc, argv);
    smctl_db_help(stderr);
    return 2;
}
