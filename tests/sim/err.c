/* err: error record for the simulator. */
#include "tests/sim/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[SIM_RC_COUNT] = {
    "SIM_OK", "SIM_EINVAL", "SIM_ENOMEM", "SIM_EIO", "SIM_EPARSE", "SIM_ENOTFOUND", "SIM_EEXIST",
    "SIM_EVERIFY", "SIM_ESTATE", "SIM_ELIMIT", "SIM_EREPLAY", "SIM_ECRYPTO", "SIM_EPROTO", "SIM_EPERM",
};

const char *sim_rc_name(sim_rc rc)
{
    return (rc >= 0 && rc < SIM_RC_COUNT) ? names[rc] : "SIM_E?";
}

sim_rc sim_errf(sim_err *err, sim_rc rc, const char *fmt, ...)
{
    if (!err || err->code != SIM_OK)
        return rc;
    err->code = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return rc;
}

void sim_err_prefix(sim_err *err, const char *fmt, ...)
{
    if (!err || err->code == SIM_OK)
        return;
    char pre[192], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t pl = strnlen(pre, sizeof pre - 1), room = sizeof err->msg - 1;
    if (pl + 2 > room)
        return;
    memcpy(err->msg, pre, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t ol = strnlen(old, sizeof old - 1);
    if (ol > room - pl - 2)
        ol = room - pl - 2;
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = 0;
}

void sim_err_clear(sim_err *err)
{
    if (err) {
        err->code = SIM_OK;
        err->msg[0] = 0;
    }
}
