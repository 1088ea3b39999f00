/* hsmconf: opens the HSM as the configuration describes (module, token, PIN from a file or the
 * environment, SoftHSM2 configuration); shared by smboxd and smctl. */
#ifndef SM_HSMCONF_H
#define SM_HSMCONF_H

#include "appliance/config.h"
#include "hsm/hsm.h"

/* sessions 0 = as configured (hsm.sessions, or workers + 2). */
sm_rc sm_hsm_open_config(const sm_config *cfg, unsigned sessions, hsm_ctx **out, sm_err *err);

#endif
