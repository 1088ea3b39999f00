/* state: saving and loading the whole fleet (cards, key sets with counters, profiles, pending
 * notifications, fault switches) to DIR/cards.state, line-oriented and versioned, mode 0600. */
#ifndef SIM_STATE_H
#define SIM_STATE_H

#include "tests/sim/fleet.h"

sim_rc sim_state_save(const sim_fleet *f, const char *dir, sim_err *err);
sim_rc sim_state_load(sim_fleet *f, const char *dir, sim_err *err);
/* Human-readable dump of one card (`sim show EID`, control `show`): key=value lines, no secrets. */
sim_rc sim_state_show(const sim_euicc *e, sim_buf *out, sim_err *err);

#endif
