#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[SM_RC_COUNT] = {
    [SM_OK] = "SM_OK",           [SM_EINVAL] = "SM_EINVAL",       [SM_ENOMEM] = "SM_ENOMEM",
    [SM_EIO] = "SM_EIO",         [SM_ECONFIG] = "SM_ECONFIG",     [SM_EPARSE] = "SM_EPARSE",
    [SM_ENOTFOUND] = "SM_ENOTFOUND", [SM_EEXIST] = "SM_EEXIST",   [SM_EPIN] = "SM_EPIN",
    [SM_EHSM] = "SM_EHSM",       [SM_EMECH] = "SM_EMECH",         [SM_ESESSION] = "SM_ESESSION",
    [SM_EVERIFY] = "SM_EVERIFY", [SM_EDB] = "SM_EDB",             [SM_ETIMEOUT] = "SM_ETIMEOUT",
    [SM_EPERM] = "SM_EPERM",     [SM_ESTATE] = "SM_ESTATE",       [SM_ELIMIT] = "SM_ELIMIT",
    [SM_EREPLAY] = "SM_EREPLAY", [SM_ECRYPTO] = "SM_ECRYPTO",     [SM_EPROTO] = "SM_EPROTO",
    [SM_EINTERNAL] = "SM_EINTERNAL",
};

const char *sm_rc_name(sm_rc rc)
{
    if ((unsigned)rc >= SM_RC_COUNT || !names[rc])
        return "SM_E?";
    return names[rc];
}

sm_rc sm_errf(sm_err *err, sm_rc rc, const char *fmt, ...)
{
    if (!err || err->code != SM_OK)
        return rc;
    err->code = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return rc;
}

void sm_err_prefix(sm_err *err, const char *fmt, ...)
{
    if (!err || err->code == SM_OK)
        return;
    char pre[SM_ERR_MSG], old[SM_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t pl = strnlen(pre, sizeof pre - 3);
    memcpy(err->msg, pre, pl);
    err->msg[pl++] = ':';
    err->msg[pl++] = ' ';
    size_t ol = strnlen(old, sizeof old);
    if (ol > sizeof err->msg - 1 - pl)
        ol = sizeof err->msg - 1 - pl;
    memcpy(err->msg + pl, old, ol);
    err->msg[pl + ol] = '\0';
}

void sm_err_clear(sm_err *err)
{
    if (!err)
        return;
    err->code = SM_OK;
    err->msg[0] = '\0';
}
