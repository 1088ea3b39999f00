#!/bin/sh
# make bench-e2e: profile downloads per second through the whole appliance on this box (smboxd,
# PostgreSQL, SoftHSM2 and the simulated fleet sharing the cores), with per-phase latency and the
# ceiling computed in the same run from the measured cost of the HSM operations, database
# transactions and TLS exchanges one download needs (bench/e2e/bench_e2e.c). Its world lives in a
# temporary directory and is removed at the end.
# SMBOX_BENCH_DOWNLOADS (200), SMBOX_BENCH_INFLIGHT (64), SMBOX_BENCH_WORKERS (4, the appliance's default workers.threads), SMBOX_BENCH_ENABLE=1.
set -eu
bdir=${1:?usage: bench/bench-e2e.sh build/<variant>}
SMBOX_SRCDIR=${SMBOX_SRCDIR:-$(pwd)}
SMBOX_BIN_DIR=$(cd "$bdir/bin" && pwd)
export SMBOX_SRCDIR SMBOX_BIN_DIR
enable=
[ "${SMBOX_BENCH_ENABLE:-0}" = 1 ] && enable=-e
exec "$bdir/bench/bench_e2e" -n "${SMBOX_BENCH_DOWNLOADS:-200}" -c "${SMBOX_BENCH_INFLIGHT:-64}" \
    -w "${SMBOX_BENCH_WORKERS:-4}" $enable
