#include "tests/support/testpg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db/migrate.h"
#include "tests/support/testenv.h"

int testpg_start(testpg *t)
{
    memset(t, 0, sizeof *t);
    if (testenv_mkdtemp(t->dir, sizeof t->dir, "smbox-pg") != 0)
        return -1;
    chmod(t->dir, 0755);
    char data[300];
    snprintf(data, sizeof data, "%s/pg", t->dir);
    sm_err err = {0};
    if (db_cluster_setup(&t->cl, data, NULL, &err) != SM_OK) {
        fprintf(stderr, "testpg: %s\n", err.msg);
        return -1;
    }
    t->cl.fast = true;
    if (db_cluster_init(&t->cl, &err) != SM_OK || db_cluster_start(&t->cl, NULL, &err) != SM_OK) {
        fprintf(stderr, "testpg: %s\n", err.msg);
        testenv_rmtree(t->dir);
        return -1;
    }
    t->up = true;
    return 0;
}

void testpg_stop(testpg *t)
{
    sm_err err = {0};
    if (t->up && db_cluster_stop(&t->cl, false, &err) != SM_OK)
        fprintf(stderr, "testpg: %s\n", err.msg);
    t->up = false;
    if (t->dir[0])
        testenv_rmtree(t->dir);
    t->dir[0] = 0;
}

int testpg_createdb(testpg *t, const char *name, const char *template_db, char *conninfo, size_t cap)
{
    sm_err err = {0};
    if (db_cluster_createdb(&t->cl, name, template_db, &err) != SM_OK) {
        fprintf(stderr, "testpg: %s\n", err.msg);
        return -1;
    }
    db_cluster_conninfo(&t->cl, name, conninfo, cap);
    return 0;
}

int testpg_schema_db(testpg *t, const char *name, char *conninfo, size_t cap)
{
    char tmpl[600];
    if (testpg_createdb(t, "schema_template", NULL, tmpl, sizeof tmpl) != 0)
        return -1;
    db_pool *p = testpg_pool(tmpl, 1);
    db_conn *c = NULL;
    sm_err err = {0};
    db_schema_status st;
    int rc = 0;
    /* its migration audit entry goes to a chain of its own ("template/migrate") */
    if (db_pool_take_lane(p, "template/migrate", &c, &err) != SM_OK || db_schema_status_get(c, &st, &err) != SM_OK ||
        (st.pending && db_migrate(c, "test", NULL, &err) != SM_OK)) {
        fprintf(stderr, "testpg: migrating the template: %s\n", err.msg);
        rc = -1;
    }
    /* no session may stay on a template that is being copied */
    if (c)
        db_disconnect(c);
    db_pool_give(c);
    db_pool_close(p);
    if (rc != 0)
        return rc;
    return testpg_createdb(t, name, "schema_template", conninfo, cap);
}

int testpg_server_stop(testpg *t)
{
    sm_err err = {0};
    if (db_cluster_stop(&t->cl, false, &err) != SM_OK) {
        fprintf(stderr, "testpg: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int testpg_server_start(testpg *t)
{
    sm_err err = {0};
    if (db_cluster_start(&t->cl, NULL, &err) != SM_OK) {
        fprintf(stderr, "testpg: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int testpg_restart(testpg *t, bool immediate)
{
    sm_err err = {0};
    if (db_cluster_stop(&t->cl, immediate, &err) != SM_OK || db_cluster_start(&t->cl, NULL, &err) != SM_OK) {
        fprintf(stderr, "testpg: %s\n", err.msg);
        return -1;
    }
    return 0;
}

db_pool *testpg_pool(const char *conninfo, unsigned size)
{
    db_config cfg = {.conninfo = conninfo, .node = "test", .size = size};
    db_pool *p = NULL;
    sm_err err = {0};
    if (db_pool_open(&cfg, &p, &err) != SM_OK) {
        fprintf(stderr, "testpg_pool: %s\n", err.msg);
        abort();
    }
    return p;
}

int testpg_sql(const char *conninfo, const char *sql)
{
    db_pool *p = testpg_pool(conninfo, 1);
    db_conn *c = NULL;
    sm_err err = {0};
    int rc = db_pool_take(p, &c, &err) == SM_OK && db_exec_script(c, sql, &err) == SM_OK ? 0 : -1;
    if (rc)
        fprintf(stderr, "testpg_sql: %s: %s\n", sql, err.msg);
    if (c)
        db_pool_give(c);
    db_pool_close(p);
    return rc;
}
