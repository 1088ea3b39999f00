/* script: TS 102 226 remote command scripts as the card executes them: expanded definite (AA) and
 * indefinite (AE 80 .. 00 00) command scripts of C-APDU TLVs (22) and SCP03t TLVs, compact format. */
#ifndef SIM_SCRIPT_H
#define SIM_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/euicc.h"

/* Runs a script addressed to target (NULL or the ISD-R AID = ISD-R, else an ISD-P). Writes the
 * response script (AB L / AF 80 .. 00 00, with 80 01 n first, then 23 R-APDUs and SCP03t response
 * TLVs) to out. *power_lost is set if the card lost power (no response must be sent).
 * Returns SIM_ENOTFOUND when the target application does not exist (X-Admin-Script-Status
 * unknown-application), SIM_EPARSE when the script is malformed. */
sim_rc sim_script_run(sim_euicc *e, const uint8_t *target, size_t tlen, const uint8_t *s, size_t n, sim_buf *out,
                      int *power_lost, sim_err *err);
/* Compact format (SMS): concatenated C-APDUs to the ISD-R (isdp NULL) or an ISD-P; response = count ||
 * last SW || last data. */
sim_rc sim_script_compact(sim_euicc *e, sim_profile *isdp, const uint8_t *s, size_t n, sim_buf *out, sim_err *err);

#endif
