#!/usr/bin/env bash
# Runs every test program of one build variant (build/<variant>/tests/*, and the simulator's)
# with cmocka's TAP output, prints a line per program and "N passed, N failed" at the end.
# With SMBOX_SUMMARY=file, also appends "<passed> <failed>" to that file (make test adds them up).
set -u
bdir=${1:?usage: tests/run.sh build/<variant>}
export SMBOX_SRCDIR=${SMBOX_SRCDIR:-$(pwd)}
export SMBOX_BIN_DIR=${SMBOX_BIN_DIR:-$(cd "$bdir" && pwd)/bin}
export CMOCKA_MESSAGE_OUTPUT=TAP
# ASan: leaks inside PKCS#11 modules and libraries are not ours; ours are checked by tests/lsan.supp
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SMBOX_SRCDIR/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
timeout_s=${SMBOX_TEST_TIMEOUT:-600}
logdir="$bdir/test-logs"
mkdir -p "$logdir"
passed=0 failed=0
shopt -s nullglob
progs=("$bdir"/tests/test_* "$bdir"/sim/test_*)
filter=${SMBOX_TEST_FILTER:-}
for t in "${progs[@]}"; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
    log="$logdir/$name.log"
    start=$(date +%s)
    timeout --kill-after=10 "$timeout_s" "$t" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    # cmocka's TAP marks a skipped test "not ok N # SKIP name": neither a pass nor a failure
    sk=$(grep -cE '^(not )?ok [0-9]+ .*# SKIP' "$log")
    p=$(grep -E '^ok [0-9]+' "$log" | grep -cv '# SKIP')
    f=$(grep -E '^not ok [0-9]+' "$log" | grep -cv '# SKIP')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1   # crashed, timed out or failed outside a test case
        echo "  $name: exited with status $rc outside any test case (see $log)"
    fi
    passed=$((passed + p)) failed=$((failed + f))
    status=ok; [ "$f" -gt 0 ] && status=FAIL
    printf '%-5s %-36s %4d passed %3d failed %3d skipped %4ds  [%s]\n' "$status" "$name" "$p" "$f" "$sk" "$secs" "$(basename "$bdir")"
    if [ "$f" -gt 0 ]; then
        grep -E '^not ok|ERROR|error|FAIL|Assert|runtime error|Sanitizer' "$log" | grep -v '# SKIP' | head -20 | sed 's/^/      /'
    fi
done
[ -n "${SMBOX_SUMMARY:-}" ] && echo "$passed $failed" >>"$SMBOX_SUMMARY"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
