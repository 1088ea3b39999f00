/* appliance/config: schema-driven YAML parsing, defaults, errors naming file, line and key. */
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

#include "appliance/config.h"
#include "lib/secmem.h"
#include "tests/support/testenv.h"

static char dir[256];

static const char *write_yaml(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static sm_rc load(const char *text, sm_config **c, sm_err *err)
{
    return sm_config_load(write_yaml("c.yaml", text), c, err);
}

static void test_defaults(void **state)
{
    sm_config *c = NULL;
    sm_err err = {0};
    assert_int_equal(sm_config_load(NULL, &c, &err), SM_OK);
    assert_string_equal(c->hsm.module, "/usr/lib/softhsm/libsofthsm2.so");
    assert_string_equal(c->hsm.token_label, "smbox-dev");
    assert_int_equal(c->workers.threads, 4);
    assert_null(c->database.dsn);
    assert_int_equal(c->es.npeers, 0);
    sm_config_free(c);
}

static void test_full_file(void **state)
{
    sm_config *c = NULL;
    sm_err err = {0};
    const char *y = "node:\n  name: node-a\nlog:\n  level: debug\nhsm:\n  module: /opt/hsm.so\n  pin_env: MY_PIN\n"
                    "  pin_file: ''\nworkers:\n  threads: 8\nes:\n  peers:\n    - id: mno-1\n      role: mno\n"
                    "      fingerprint: abcd\n      endpoint: https://mno.example/es2\n    - id: eum-1\n"
                    "      role: eum\n";
    assert_int_equal(load(y, &c, &err), SM_OK);
    assert_string_equal(c->node.name, "node-a");
    assert_string_equal(c->log.level, "debug");
    assert_string_equal(c->hsm.module, "/opt/hsm.so");
    assert_string_equal(c->hsm.pin_env, "MY_PIN");
    assert_int_equal(c->workers.threads, 8);
    assert_int_equal(c->es.npeers, 2);
    assert_string_equal(c->es.peers[0].id, "mno-1");
    assert_string_equal(c->es.peers[0].role, "mno");
    assert_string_equal(c->es.peers[1].role, "eum");
    assert_null(c->es.peers[1].endpoint);
    sm_config_free(c);
}

static void expect_error(const char *yaml, const char *needle)
{
    sm_config *c = NULL;
    sm_err err = {0};
    sm_rc rc = load(yaml, &c, &err);
    if (rc == SM_OK)
        fail_msg("accepted: %s", yaml);
    assert_int_equal(rc, SM_ECONFIG);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
    assert_non_null(strstr(err.msg, "c.yaml"));
}

static void test_errors(void **state)
{
    expect_error("hsm:\n  modul: x\n", "c.yaml:2: unknown key 'hsm.modul'");
    expect_error("nosuch: 1\n", "unknown key 'nosuch'");
    expect_error("workers:\n  threads: two\n", "c.yaml:2: key 'workers.threads': expected an integer");
    expect_error("workers:\n  threads: 0\n", "outside 1..256");
    expect_error("log:\n  level: chatty\n", "'chatty' is not one of");
    expect_error("hsm: x\n", "is a section");
    expect_error("hsm:\n  pin: '1234'\n", "secrets never go in the file");
    expect_error("database:\n  password: x\n", "secrets never go in the file");
    expect_error("hsm:\n  pin_env: P\n", "both set"); /* pin_file has a default */
    expect_error("database:\n  dsn: 'mysql://x'\n", "postgresql://");
    expect_error("database:\n  dsn: 'postgresql://u:secret@h/db'\n", "carries a password");
    expect_error("es:\n  peers:\n    - id: x\n", "'es.peers[0].role' is required");
    expect_error("es:\n  peers:\n    - role: mno\n", "'es.peers[0].id' is required");
    expect_error("es:\n  peers: 3\n", "expected a list of mappings");
    expect_error("es:\n  peers:\n    - id: x\n      role: king\n", "not one of");
    expect_error("[1, 2]\n", "top level must be a mapping");
    expect_error("hsm:\n  module: [\n", "YAML syntax error");
    expect_error("node:\n  name:\n    x: 1\n", "expected a string");
    /* a missing file is an error naming it */
    sm_config *c = NULL;
    sm_err err = {0};
    assert_int_equal(sm_config_load("/nonexistent/smbox.yaml", &c, &err), SM_ECONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/smbox.yaml"));
}

static void test_secret_sources(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pin", dir);
    FILE *f = fopen(path, "w");
    fputs("s3cret\n", f);
    fclose(f);
    chmod(path, 0600);
    char *s = NULL;
    size_t n = 0;
    sm_err err = {0};
    assert_int_equal(sm_config_secret(path, NULL, "HSM PIN", &s, &n, &err), SM_OK);
    assert_int_equal(n, 6);
    assert_string_equal(s, "s3cret");
    sm_secmem_free(s, n + 1);
    /* a world-readable secret file is refused */
    chmod(path, 0644);
    assert_int_equal(sm_config_secret(path, NULL, "HSM PIN", &s, &n, &err), SM_EPERM);
    assert_non_null(strstr(err.msg, "HSM PIN"));
    assert_null(strstr(err.msg, "s3cret"));
    sm_err_clear(&err);
    setenv("SMBOX_TEST_SECRET", "from-env", 1);
    assert_int_equal(sm_config_secret(NULL, "SMBOX_TEST_SECRET", "database password", &s, &n, &err), SM_OK);
    assert_string_equal(s, "from-env");
    sm_secmem_free(s, n + 1);
    assert_int_equal(sm_config_secret(NULL, "SMBOX_TEST_UNSET_VAR", "database password", &s, &n, &err),
                     SM_ENOTFOUND);
    sm_err_clear(&err);
    assert_int_equal(sm_config_secret(NULL, NULL, "HSM PIN", &s, &n, &err), SM_ECONFIG);
}

static void test_docs_match_schema(void **state)
{
    /* docs/config.md is the schema's output, byte for byte */
    char *gen = NULL;
    size_t genlen = 0;
    FILE *m = open_memstream(&gen, &genlen);
    sm_config_write_docs(m);
    fclose(m);
    char path[1024];
    FILE *f = fopen(testenv_path(path, sizeof path, "docs/config.md"), "rb");
    assert_non_null(f);
    char *disk = calloc(1, genlen + 2);
    size_t got = fread(disk, 1, genlen + 1, f);
    fclose(f);
    if (got != genlen || memcmp(disk, gen, genlen) != 0)
        fail_msg("docs/config.md is stale: regenerate with `smctl config docs > docs/config.md`");
    free(disk);
    free(gen);
}

static void test_dump_roundtrip(void **state)
{
    sm_config *c = NULL, *c2 = NULL;
    sm_err err = {0};
    assert_int_equal(load("es:\n  peers:\n    - id: a\n      role: smdp\n", &c, &err), SM_OK);
    char *out = NULL;
    size_t outlen = 0;
    FILE *m = open_memstream(&out, &outlen);
    sm_config_dump(c, m);
    fclose(m);
    /* the dump is itself a valid configuration giving the same values (pin_env cleared: exclusive) */
    assert_int_equal(load(out, &c2, &err), SM_OK);
    assert_string_equal(c2->es.peers[0].role, "smdp");
    assert_string_equal(c2->hsm.module, c->hsm.module);
    assert_int_equal(c2->es.max_body_bytes, c->es.max_body_bytes);
    free(out);
    sm_config_free(c);
    sm_config_free(c2);
}

static int setup(void **state)
{
    return testenv_mkdtemp(dir, sizeof dir, "smbox-cfg");
}

static int teardown(void **state)
{
    testenv_rmtree(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors),            cmocka_unit_test(test_secret_sources),
        cmocka_unit_test(test_docs_match_schema), cmocka_unit_test(test_dump_roundtrip),
    };
    return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
