/* batch: the EUM's eUICC registration output: the line-oriented batch file the appliance imports
 * (docs/euicc-batch-format.md, version 1) and the ES1.RegisterEIS request bodies; plus the reader
 * that verifies a batch file the same way the appliance must. */
#ifndef SIM_BATCH_H
#define SIM_BATCH_H

#include <stdio.h>

#include "tests/sim/fleet.h"
#include "tests/sim/pki.h"

/* Writes DIR/euicc-batch.txt (and DIR/es1/<EID>.xml when es1 != 0) for every card of the fleet. */
sim_rc sim_batch_write(const sim_fleet *f, const sim_pki *pki, const char *dir, int es1, sim_err *err);

/* One record as the importer sees it after verification and key unwrapping. */
typedef struct sim_batch_rec {
    char eid[33], msisdn[16];
    uint8_t kic[16], kid[16], dek[16], psk[16];
    uint8_t scp80_kvn, scp81_kvn;
} sim_batch_rec;
/* Reads and verifies a batch file: header, each record's EUM signature (eum_pub), KCVs after
 * unwrapping with tk, the trailer count and hash. cb is called per record (may be NULL). */
sim_rc sim_batch_verify(const char *path, EVP_PKEY *eum_pub, const uint8_t tk[16],
                        void (*cb)(const sim_batch_rec *r, void *arg), void *arg, size_t *count, sim_err *err);

#endif
