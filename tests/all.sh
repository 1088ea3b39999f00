#!/usr/bin/env bash
# The running half of `make test`, once both variants and the fuzzers are built under ROOT: the release
# and the ASan+UBSan suites one after the other (with SMBOX_TEST_PARALLEL=1, at the same time when
# tests/netns.sh can give the ASan suite a network of its own, so that the ports their tests pick
# cannot collide), the fuzz targets (FUZZ_SECONDS each, default 10, FUZZ_JOBS at a time), the project
# checks, and one closing "N passed, N failed". Each stage's time is printed after it. The ASan suite
# runs the end-to-end download test with 40 downloads per batch (SMBOX_E2E_BATCH_ASAN), the release
# suite with the full 100.
set -u
root=${1:?usage: tests/all.sh BUILD_ROOT}
export SMBOX_SUMMARY=$root/summary.txt
rm -f "$SMBOX_SUMMARY"
took() { echo "-- $1: $(( $(date +%s) - $2 )) s"; }

t0=$(date +%s)
if [ "${SMBOX_TEST_PARALLEL:-0}" = 1 ] && tests/netns.sh --check; then
    echo "-- release and ASan suites at once (ASan in a network namespace of its own; its lines follow)"
    alog="$root/asan/suite.log"
    SMBOX_E2E_BATCH=${SMBOX_E2E_BATCH_ASAN:-40} tests/netns.sh tests/run.sh "$root/asan" >"$alog" 2>&1 &
    apid=$!
    tests/run.sh "$root/rel"
    wait "$apid"
    cat "$alog"
else
    tests/run.sh "$root/rel"
    SMBOX_E2E_BATCH=${SMBOX_E2E_BATCH_ASAN:-40} tests/run.sh "$root/asan"
fi
took "release and ASan suites" "$t0"

t0=$(date +%s)
FUZZ_SECONDS=${FUZZ_SECONDS:-10} tests/fuzz.sh "$root/fuzz"
took "fuzz targets" "$t0"

tests/checks.sh "$root"
tests/summary.sh "$SMBOX_SUMMARY"
