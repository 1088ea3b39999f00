#!/bin/sh
# make bench-db: bench_db on its own throw-away PostgreSQL cluster (started and removed by bench_db):
# 1M-eUICC EIS load by COPY, GetEIS latency, procedure transitions with 2 workers, audit appends, each
# beside plain pgbench on the same cluster. SMBOX_BENCH_EUICCS and SMBOX_BENCH_SECONDS shrink it.
set -eu
bdir=${1:?usage: bench/bench-db.sh build/<variant>}
exec "$bdir/bench/bench_db" -n "${SMBOX_BENCH_EUICCS:-1000000}" -t "${SMBOX_BENCH_SECONDS:-10}"
