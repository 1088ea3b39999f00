#!/bin/sh
# make bench-smdp: a throw-away SoftHSM2 token (or the module given in SMBOX_BENCH_MODULE with its
# token and PIN), then bench_smdp: SM-DP order throughput beside the bare HSM operations it needs.
set -eu
bdir=${1:?usage: bench/bench-smdp.sh build/<variant>}
if [ -z "${SMBOX_BENCH_MODULE:-}" ]; then
    tmp=$(mktemp -d /tmp/smbox-bench-smdp.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$tmp" >"$tmp/softhsm2.conf"
    export SOFTHSM2_CONF="$tmp/softhsm2.conf"
    softhsm2-util --init-token --free --label bench --pin bench-pin-1234 --so-pin bench-so-5678 >/dev/null
    export SMBOX_BENCH_MODULE=/usr/lib/softhsm/libsofthsm2.so SMBOX_BENCH_TOKEN=bench SMBOX_BENCH_PIN=bench-pin-1234
fi
export SMBOX_SRCDIR=${SMBOX_SRCDIR:-$(pwd)}
"$bdir/bench/bench_smdp"
