/* ctl: the simulator's control interface for tests (docs/simulator.md "Control protocol"): a unix
 * socket speaking one command per line, answered by data lines and a final "OK" or "ERR <message>". */
#ifndef SIM_CTL_H
#define SIM_CTL_H

#include "tests/sim/world.h"

sim_rc sim_ctl_listen(sim_world *w, const char *path, sim_err *err);
void sim_ctl_free(sim_world *w);
/* Executes one command line; appends the whole answer (data lines + OK/ERR line) to out. */
void sim_ctl_exec(sim_world *w, const char *line, sim_buf *out);

#endif
