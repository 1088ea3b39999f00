/* bench: `sim bench`: what one simulator core handles per second (card-side key establishment,
 * SCP03t installation of a TS.48 profile, SCP80 packets) next to raw OpenSSL operations of the same run. */
#ifndef SIM_BENCH_H
#define SIM_BENCH_H

#include "tests/sim/err.h"

sim_rc sim_bench_run(double seconds, const char *profile_path, sim_err *err);

#endif
