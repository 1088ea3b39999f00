#include "appliance/hsmconf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/secmem.h"

sm_rc sm_hsm_open_config(const sm_config *cfg, unsigned sessions, hsm_ctx **out, sm_err *err)
{
    char conf[4096], pinfile[4096];
    sm_config_var_path(cfg, cfg->hsm.softhsm2_conf, conf, sizeof conf);
    if (conf[0] && !getenv("SOFTHSM2_CONF") && access(conf, R_OK) == 0)
        setenv("SOFTHSM2_CONF", conf, 0);
    sm_config_var_path(cfg, cfg->hsm.pin_env && *cfg->hsm.pin_env ? NULL : cfg->hsm.pin_file, pinfile,
                       sizeof pinfile);
    char *pin = NULL;
    size_t pinlen = 0;
    sm_rc rc = sm_config_secret(pinfile, cfg->hsm.pin_env, "HSM PIN", &pin, &pinlen, err);
    if (rc != SM_OK)
        return rc;
    unsigned n = sessions;
    if (!n)
        n = cfg->hsm.sessions > 0 ? (unsigned)cfg->hsm.sessions : (unsigned)cfg->workers.threads + 2;
    hsm_config hc = {
        .module_path = cfg->hsm.module,
        .token_label = cfg->hsm.token_label,
        .pin = pin,
        .pin_len = pinlen,
        .sessions = n,
    };
    rc = hsm_open(&hc, out, err);
    sm_secmem_free(pin, pinlen + 1);
    return rc;
}
