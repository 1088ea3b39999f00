/* The database as configured: embedded cluster or DSN, password from a secret. */
#include "appliance/dbconf.h"

#include <stdio.h>
#include <string.h>

#include "lib/secmem.h"

sm_rc sm_dbconf_resolve(const sm_config *cfg, sm_dbconf *out, sm_err *err)
{
    memset(out, 0, sizeof *out);
    const char *dsn = cfg->database.dsn;
    if (dsn && *dsn) {
        if (db_conninfo_has_password(dsn))
            return sm_errf(err, SM_ECONFIG, "database.dsn must not carry a password: put it in "
                                            "database.password_file or database.password_env");
        if (strlen(dsn) >= sizeof out->conninfo)
            return sm_errf(err, SM_ECONFIG, "database.dsn is too long");
        snprintf(out->conninfo, sizeof out->conninfo, "%s", dsn);
        return SM_OK;
    }
    out->embedded = true;
    char dir[1024];
    sm_config_var_path(cfg, cfg->database.embedded_dir && *cfg->database.embedded_dir ? cfg->database.embedded_dir : "pg",
                       dir, sizeof dir);
    sm_rc rc = db_cluster_setup(&out->cl, dir, cfg->database.pg_bindir, err);
    if (rc != SM_OK)
        return rc;
    db_cluster_conninfo(&out->cl, SM_DB_NAME, out->conninfo, sizeof out->conninfo);
    return SM_OK;
}

sm_rc sm_dbconf_embedded_up(const sm_dbconf *dc, bool *started, sm_err *err)
{
    if (started)
        *started = false;
    if (!dc->embedded)
        return sm_errf(err, SM_ESTATE, "database.dsn is set: smbox uses that server and never starts one");
    sm_rc rc = db_cluster_init(&dc->cl, err);
    if (rc == SM_OK)
        rc = db_cluster_start(&dc->cl, started, err);
    if (rc == SM_OK)
        rc = db_cluster_createdb(&dc->cl, SM_DB_NAME, NULL, err);
    return rc;
}

sm_rc sm_dbconf_pool(const sm_config *cfg, const sm_dbconf *dc, db_pool *p, unsigned size, const char *app_name,
                     db_pool **out, sm_err *err)
{
    char *pw = NULL;
    size_t pwlen = 0;
    sm_rc rc = SM_OK;
    if ((cfg->database.password_file && *cfg->database.password_file) ||
        (cfg->database.password_env && *cfg->database.password_env)) {
        char file[4096];
        sm_config_var_path(cfg, cfg->database.password_env && *cfg->database.password_env ? NULL
                                                                                          : cfg->database.password_file,
                           file, sizeof file);
        rc = sm_config_secret(file, cfg->database.password_env, "database password", &pw, &pwlen, err);
        if (rc != SM_OK)
            return rc;
    }
    unsigned n = size;
    if (!n)
        n = cfg->database.pool_size > 0 ? (unsigned)cfg->database.pool_size : (unsigned)cfg->workers.threads + 2;
    db_config dcfg = {
        .conninfo = dc->conninfo,
        .password = pw,
        .node = cfg->node.name,
        .app_name = app_name,
        .size = n,
    };
    if (p) {
        rc = db_pool_configure(p, &dcfg, err);
        if (rc == SM_OK)
            *out = p;
    } else {
        rc = db_pool_open(&dcfg, out, err);
    }
    sm_secmem_free(pw, pwlen + 1);
    return rc;
}
