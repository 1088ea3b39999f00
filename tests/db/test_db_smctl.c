/* smctl db / smctl audit / smboxd's db service end to end, driving the built binaries
 * ($SMBOX_BIN_DIR) on a throw-away var directory: the embedded cluster started and stopped by smctl,
 * status and migrations, the key ceremony recorded with the operator's identity, verify, checkpoint,
 * export and offline bundle verification (with the database stopped and no configuration), tampering
 * named, smboxd migrating at start and refusing a newer schema, a DSN to a stopped server and a DSN
 * carrying a password refused with clear messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testenv.h"
#include "tests/support/testpg.h"

static testenv_hsm T;
static char DIR_[256], CFG[400], OUT[400], CI[700];
static const char *BIN;

static int setup(void **state)
{
    BIN = getenv("SMBOX_BIN_DIR");
    if (!BIN)
        return 0;
    if (testenv_hsm_setup(&T) != 0 || testenv_mkdtemp(DIR_, sizeof DIR_, "smbox-dbctl") != 0)
        return -1;
    char pin[400];
    snprintf(pin, sizeof pin, "%s/pin", DIR_);
    FILE *f = fopen(pin, "w");
    fprintf(f, "%s\n", T.pin);
    fclose(f);
    chmod(pin, 0600);
    snprintf(CFG, sizeof CFG, "%s/smbox.yaml", DIR_);
    f = fopen(CFG, "w");
    fprintf(f,
            "node:\n  name: ctl-test\n  var_dir: %s\nhsm:\n  module: %s\n  token_label: %s\n  pin_file: pin\n"
            "  key_prefix: dbt\nes:\n  listen: 127.0.0.1:0\n",
            DIR_, T.module, T.label);
    fclose(f);
    snprintf(OUT, sizeof OUT, "%s/out", DIR_);
    snprintf(CI, sizeof CI, "host=%s/pg user=smbox dbname=smbox", DIR_);
    return 0;
}

static int teardown(void **state)
{
    if (!BIN)
        return 0;
    testenv_sh("%s/smctl -c %s db stop >/dev/null 2>&1", BIN, CFG);
    testenv_hsm_teardown(&T);
    testenv_rmtree(DIR_);
    return 0;
}

/* runs smctl with the test configuration; output in OUT */
static int smctl(const char *args)
{
    return testenv_sh("%s/smctl -c %s %s >%s 2>&1", BIN, CFG, args, OUT);
}

static int out_has(const char *s) { return testenv_sh("grep -qF -- '%s' %s", s, OUT) == 0; }

static void show_out(void) { testenv_sh("sed 's/^/    | /' %s >&2", OUT); }

#define EXPECT(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            show_out();                                                                                               \
            fail_msg("%s", #cond);                                                                                    \
        }                                                                                                             \
    } while (0)

static void test_embedded_cluster_and_schema(void **state)
{
    if (!BIN)
        skip();
    EXPECT(smctl("db status") == 1);
    EXPECT(out_has("not created yet"));
    EXPECT(out_has("connection   FAILED"));
    EXPECT(smctl("db start") == 0);
    EXPECT(out_has("embedded PostgreSQL started in"));
    EXPECT(smctl("db start") == 0);
    EXPECT(out_has("already running"));
    EXPECT(smctl("db status") == 1); /* schema not there yet */
    EXPECT(out_has("1 pending") || out_has("pending"));
    EXPECT(smctl("db migrate") == 0);
    EXPECT(out_has("applied ") && !out_has("applied 0 migration")); /* every migration of db/migrations */
    EXPECT(smctl("db migrate") == 0);
    EXPECT(out_has("applied 0 migration"));
    EXPECT(smctl("db status") == 0);
    EXPECT(out_has("0 pending"));
    EXPECT(out_has("running"));
    /* only a unix socket, in the data directory, not world-reachable */
    EXPECT(testenv_sh("grep -q \"^listen_addresses = ''\" %s/pg/postgresql.conf", DIR_) == 0);
    EXPECT(testenv_sh("test -S %s/pg/.s.PGSQL.5432 && test \"$(stat -c %%a %s/pg)\" = 700", DIR_, DIR_) == 0);
}

static void test_ceremony_audited_and_bundle(void **state)
{
    if (!BIN)
        skip();
    EXPECT(testenv_sh("SSH_CONNECTION='10.9.8.7 50000 10.0.0.1 22' %s/smctl -c %s hsm init >%s 2>&1", BIN, CFG,
                      OUT) == 0);
    EXPECT(out_has("every step recorded in the audit trail as ssh:"));
    EXPECT(out_has("@10.9.8.7"));
    EXPECT(smctl("audit verify") == 0);
    EXPECT(out_has("audit trail OK"));
    EXPECT(smctl("audit checkpoint") == 0);
    EXPECT(out_has("checkpoint written"));
    char bundle[400], bad[400];
    snprintf(bundle, sizeof bundle, "%s/trail.bundle", DIR_);
    snprintf(bad, sizeof bad, "%s/bad.bundle", DIR_);
    char args[600];
    snprintf(args, sizeof args, "audit export --out %s", bundle);
    EXPECT(smctl(args) == 0);
    EXPECT(out_has("bundle verifies"));
    /* who ran the ceremony, and every key it made, are in the bundle */
    EXPECT(testenv_sh("grep -c 'hsm.ceremony.key' %s | grep -qx 6", bundle) == 0);
    EXPECT(testenv_sh("grep 'hsm.ceremony.key' %s | grep -q 'ssh:.*@10.9.8.7'", bundle) == 0);
    EXPECT(testenv_sh("grep -q 'smctl.db.migrate' %s", bundle) == 0);
    /* the auditor's machine: no database (stopped), no configuration, no HSM */
    EXPECT(smctl("db stop") == 0);
    EXPECT(testenv_sh("cd / && %s/smctl -c /nonexistent.yaml audit verify --bundle %s >%s 2>&1", BIN, bundle, OUT) ==
           0);
    EXPECT(out_has("bundle OK"));
    /* pinned to a key that is not the ceremony's: refused */
    EXPECT(testenv_sh("%s/smctl audit verify --bundle %s --key 0123456789abcdef0123 >%s 2>&1", BIN, bundle, OUT) == 1);
    EXPECT(out_has("not the expected one"));
    /* a tampered bundle: the operator rewritten in one ceremony entry */
    EXPECT(testenv_sh("sed '0,/hsm.ceremony.key/s/ssh:[a-z]*@10.9.8.7/ssh:mallory@10.6.6.6/' %s >%s", bundle, bad) ==
           0);
    EXPECT(testenv_sh("%s/smctl audit verify --bundle %s >%s 2>&1", BIN, bad, OUT) == 1);
    EXPECT(out_has("bundle BROKEN"));
    EXPECT(out_has("was changed"));
    EXPECT(smctl("db start") == 0);
}

static void test_tampered_trail_named(void **state)
{
    if (!BIN)
        skip();
    EXPECT(smctl("db status") == 0);
    EXPECT(testpg_sql(CI, "ALTER TABLE audit_log DISABLE TRIGGER USER; "
                          "UPDATE audit_log SET outcome = 'exists' WHERE action = 'hsm.ceremony.key' "
                          "AND object = 'dbt-kek'; ALTER TABLE audit_log ENABLE TRIGGER USER") == 0);
    EXPECT(smctl("audit verify") == 1);
    EXPECT(out_has("audit trail BROKEN"));
    EXPECT(out_has("ctl-test/ctl"));
    EXPECT(out_has("was changed"));
}

static void test_smboxd_migrates_and_refuses_newer(void **state)
{
    if (!BIN)
        skip();
    /* a fresh database for smboxd: it applies the migrations itself */
    char cfg2[400];
    snprintf(cfg2, sizeof cfg2, "%s/smbox2.yaml", DIR_);
    EXPECT(testenv_sh("cp %s %s && printf 'database:\\n  embedded_dir: pg2\\n' >>%s", CFG, cfg2, cfg2) == 0);
    EXPECT(testenv_sh("%s/smctl -c %s es dev-pki >/dev/null 2>&1", BIN, cfg2) == 0);
    EXPECT(testenv_sh("%s/smboxd -c %s >%s 2>&1 & p=$!; "
                      "w() { for i in $(seq 300); do grep -q \"$1\" %s && return 0; sleep 0.1; done; return 1; }; "
                      "w 'event=ready workers' && kill -TERM $p; wait $p",
                      BIN, cfg2, OUT, OUT) == 0);
    EXPECT(out_has("event=migrated migration=0001_initial"));
    EXPECT(out_has("event=checkpoint"));
    EXPECT(out_has("event=cluster_stopped")); /* it started the cluster, so it stopped it */
    EXPECT(out_has("event=stopped status=0"));
    /* its start and stop are in the trail, signed */
    EXPECT(testenv_sh("%s/smctl -c %s db start >/dev/null 2>&1", BIN, cfg2) == 0);
    EXPECT(testenv_sh("%s/smctl -c %s audit export --out %s/b2 >%s 2>&1", BIN, cfg2, DIR_, OUT) == 0);
    EXPECT(testenv_sh("grep -q 'daemon.start' %s/b2 && grep -q 'daemon.stop' %s/b2", DIR_, DIR_) == 0);
    /* a database from a newer smbox: smboxd and smctl refuse it */
    char ci2[700];
    snprintf(ci2, sizeof ci2, "host=%s/pg2 user=smbox dbname=smbox", DIR_);
    EXPECT(testpg_sql(ci2, "INSERT INTO smbox_schema (version, name, checksum, applied_by) "
                           "VALUES (9999, '9999_future', '\\x00', 'smbox 9')") == 0);
    EXPECT(testenv_sh("%s/smboxd -c %s >%s 2>&1", BIN, cfg2, OUT) != 0);
    EXPECT(out_has("newer than this smbox"));
    EXPECT(testenv_sh("%s/smctl -c %s db migrate >%s 2>&1", BIN, cfg2, OUT) == 1);
    EXPECT(out_has("newer than this smbox"));
    EXPECT(testenv_sh("%s/smctl -c %s db status >%s 2>&1", BIN, cfg2, OUT) == 1);
    EXPECT(out_has("DATABASE NEWER"));
    EXPECT(testenv_sh("%s/smctl -c %s db stop >/dev/null 2>&1", BIN, cfg2) == 0);
}

static void test_dsn_errors(void **state)
{
    if (!BIN)
        skip();
    char cfg3[400];
    snprintf(cfg3, sizeof cfg3, "%s/smbox3.yaml", DIR_);
    /* a DSN pointing at a server that is not running */
    EXPECT(testenv_sh("cp %s %s && printf 'database:\\n  dsn: postgresql://smbox@/smbox?host=%s/nowhere\\n' >>%s", CFG,
                      cfg3, DIR_, cfg3) == 0);
    EXPECT(testenv_sh("%s/smctl -c %s db status >%s 2>&1", BIN, cfg3, OUT) == 1);
    EXPECT(out_has("database     external postgresql://smbox@/smbox"));
    EXPECT(out_has("cannot connect"));
    EXPECT(out_has("nowhere"));
    EXPECT(testenv_sh("%s/smctl -c %s db start >%s 2>&1", BIN, cfg3, OUT) == 1);
    EXPECT(out_has("never starts one"));
    EXPECT(testenv_sh("%s/smboxd -c %s >%s 2>&1", BIN, cfg3, OUT) == 1);
    EXPECT(out_has("cannot connect"));
    /* a password in the DSN is refused (and not echoed): by the configuration check, and by the database
     * layer should the check be bypassed */
    EXPECT(testenv_sh("cp %s %s && printf 'database:\\n  dsn: postgresql://smbox:hunter2pw@db.example/smbox\\n' >>%s",
                      CFG, cfg3, cfg3) == 0);
    EXPECT(testenv_sh("%s/smctl -c %s db status >%s 2>&1", BIN, cfg3, OUT) == 1);
    EXPECT(out_has("carries a password") || out_has("must not carry a password"));
    EXPECT(testenv_sh("grep -q hunter2pw %s", OUT) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_cluster_and_schema),
        cmocka_unit_test(test_ceremony_audited_and_bundle),
        cmocka_unit_test(test_tampered_trail_named),
        cmocka_unit_test(test_smboxd_migrates_and_refuses_newer),
        cmocka_unit_test(test_dsn_errors),
    };
    return cmocka_run_group_tests_name("db_smctl", tests, setup, teardown);
}
