/* isdp: the ISD-P side of ES8: INSTALL [for personalization] + STORE DATA key establishment (via the
 * ECASD), SCP03t session (84/85/86) feeding the profile package interpreter, SCP03 APDU management. */
#ifndef SIM_ISDP_H
#define SIM_ISDP_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/ecka.h"
#include "tests/sim/euicc.h"
#include "tests/sim/profile.h"
#include "tests/sim/scp03.h"

typedef struct sim_isdp_rt {
    sim_ecka_state ecka;
    int perso;
    sim_buf sd;             /* STORE DATA bytes not yet forming a whole command */
    sim_scp03_sess s03;
    int tlv_session;        /* the open SCP03 session came from 84/85 (SCP03t) */
    sim_pkg_parser pkg;
    int pkg_active;
    uint32_t segments;      /* 86 TLVs accepted in this session */
} sim_isdp_rt;

void sim_isdp_rt_free(sim_profile *p);
/* One C-APDU addressed to the ISD-P. rdata receives response data; *sw the status word. */
sim_rc sim_isdp_apdu(sim_euicc *e, sim_profile *p, const uint8_t *apdu, size_t n, sim_buf *rdata, uint16_t *sw,
                     sim_err *err);
/* One SCP03t TLV (84, 85 or 86). Appends the response TLV (or a 9F4x error TLV) to resp.
 * *power_lost is set when the power-loss fault fires (no response must be sent). */
sim_rc sim_isdp_tlv(sim_euicc *e, sim_profile *p, const uint8_t *tlv, size_t n, sim_buf *resp, int *power_lost,
                    sim_err *err);

#endif
