#include <stdarg.h>
#include <stdlib.h>

#include "appliance/hsmconf.h"
#include "appliance/smctl.h"

int smctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("smctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const sm_config *smctl_config(smctl_ctx *c)
{
    if (c->cfg)
        return c->cfg;
    sm_err err = {0};
    if (sm_config_load(c->config_path, &c->cfg, &err) != SM_OK) {
        smctl_fail("%s", err.msg);
        return NULL;
    }
    return c->cfg;
}

hsm_sess *smctl_hsm(smctl_ctx *c)
{
    if (c->sess)
        return c->sess;
    const sm_config *cfg = smctl_config(c);
    if (!cfg)
        return NULL;
    sm_err err = {0};
    if (sm_hsm_open_config(cfg, 1, &c->hsm, &err) != SM_OK || hsm_session_get(c->hsm, &c->sess, &err) != SM_OK) {
        smctl_fail("%s", err.msg);
        return NULL;
    }
    return c->sess;
}
