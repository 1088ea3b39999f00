/* devtoken: a throw-away development token for offline tools (`smctl tool`): a fresh SoftHSM2
 * token in a temporary directory removed at close, or the token named by SMBOX_TOOL_P11_MODULE /
 * SMBOX_TOOL_TOKEN / SMBOX_TOOL_PIN. Tools create session objects only; nothing persists. */
#ifndef SM_DEVTOKEN_H
#define SM_DEVTOKEN_H

#include <stdbool.h>

#include "hsm/hsm.h"
#include "lib/err.h"

#define DEVTOKEN_SOFTHSM2 "/usr/lib/softhsm/libsofthsm2.so"

typedef struct devtoken {
    char dir[512];     /* temporary directory of a throw-away token ("" otherwise) */
    char module[512];
    char label[33];
    bool temporary;
    hsm_ctx *ctx;
    hsm_sess *sess;
} devtoken;

/* Opens (creating if needed) the development token and borrows one session. */
sm_rc devtoken_open(devtoken *t, sm_err *err);
/* Returns the session, closes the HSM context and removes a temporary token. Safe to call twice. */
void devtoken_close(devtoken *t);

#endif
