/* smsc: the simulated SMSC: an SMPP 3.4 server (bind, submit_sm, deliver_sm for MO and delivery
 * receipts, enquire_link, unbind) that routes MT SMS to the device owning the MSISDN, with faults. */
#ifndef SIM_SMSC_H
#define SIM_SMSC_H

#include <stddef.h>
#include <stdint.h>

#include "tests/sim/world.h"

sim_rc sim_smsc_listen(sim_world *w, const char *addr, sim_err *err);
void sim_smsc_free(sim_world *w);
/* Mobile-originated SMS from a device to an SM-SR address: deliver_sm to a bound ESME (queued if none). */
void sim_smsc_mo(sim_world *w, const char *src, const char *dst, const uint8_t *ud, size_t n);
/* Faults: "lose" N (next N MT), "duplicate" N, "delay" MS (every MT), "reset" 0. Returns 0 if known. */
int sim_smsc_fault(sim_world *w, const char *name, unsigned long v);
/* Bound ESME sessions and queued MO messages (control `stats`). */
void sim_smsc_status(sim_world *w, size_t *binds, size_t *queued);
/* Port actually listened on (for --smpp-listen 127.0.0.1:0). */
uint16_t sim_smsc_port(sim_world *w);

#endif
