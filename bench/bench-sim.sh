#!/usr/bin/env bash
# bench-sim: what one core of the independent simulator (tests/sim) handles per second: card-side key
# establishments, SCP03t installs of a TS.48 profile and SCP80 packets, each next to the raw OpenSSL
# operations it is made of (measured in the same run), plus the time to manufacture a fleet.
# usage: bench/bench-sim.sh build/<variant>   (BENCH_SECONDS per measurement, default 2; FLEET_COUNT, default 10000)
set -euo pipefail
bdir=${1:?usage: bench/bench-sim.sh build/<variant>}
sim="$bdir/sim/sim"
[ -x "$sim" ] || { echo "bench-sim: $sim not built (make BUILD_ROOT=... build)" >&2; exit 1; }
secs=${BENCH_SECONDS:-2}
count=${FLEET_COUNT:-10000}
profile=${BENCH_PROFILE:-tests/profiles/TS48v7_SAIP2.3_NoBERTLV.der}
echo "bench-sim: $(nproc) cores on the box, pinned to one: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
taskset -c 0 "$sim" bench --seconds "$secs" --profile "$profile"
tmp=$(mktemp -d /tmp/bench-sim.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s.%N)
taskset -c 0 "$sim" fleet --count "$count" --out "$tmp" --no-es1 >/dev/null
end=$(date +%s.%N)
awk -v n="$count" -v s="$start" -v e="$end" \
    'BEGIN { t = e - s; printf "fleet manufacturing (keys, ECASD certificates, batch file, state): %d eUICCs in %.2f s = %.0f/s\n", n, t, n / t }'
