#!/usr/bin/env bash
# Runs every libFuzzer target in DIR (and in DIR/../fuzz, where other layers may build theirs) for
# $FUZZ_SECONDS seconds each (default 10), $FUZZ_JOBS of them at a time (default: the number of
# cores; each target is single-threaded), seeded from tests/fuzz/corpus/<name>/ (the target's name
# without "fuzz_"). New inputs go to a scratch corpus, never into the tree. Each target counts as one
# test that passes when it finds no crash, leak or timeout; a failure keeps its log and reproducer
# under DIR/fuzz-logs/. Prints "N passed, N failed"; with SMBOX_SUMMARY=file, appends
# "<passed> <failed>" to it.
set -u
dir=${1:?usage: tests/fuzz.sh DIR}
secs=${FUZZ_SECONDS:-10}
src=${SMBOX_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
logdir="$dir/fuzz-logs"
mkdir -p "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

shopt -s nullglob
declare -A seen
targets=()
for d in "$dir" "$dir/../fuzz"; do
    [ -d "$d" ] || continue
    for t in "$d"/*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        real=$(readlink -f "$t")
        [ -n "${seen[$real]:-}" ] && continue
        seen[$real]=1
        targets+=("$t")
    done
done

# one target: runs it, prints its line(s) at once when it ends, leaves "ok" or "FAIL" in $res/<name>
run_one() {
    local t=$1 name short seeds work nseeds log start rc took runs out a
    name=$(basename "$t")
    short=${name#fuzz_}
    seeds="$src/tests/fuzz/corpus/$short"
    work=$(mktemp -d "${TMPDIR:-/tmp}/smbox-fuzz-$short-XXXXXX")
    mkdir -p "$work/corpus" "$work/artifacts"
    local args=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
                -artifact_prefix="$work/artifacts/" "$work/corpus")
    nseeds=0
    if [ -d "$seeds" ]; then
        args+=("$seeds")
        nseeds=$(find "$seeds" -type f | wc -l)
    fi
    log="$logdir/$name.log"
    start=$(date +%s)
    timeout --kill-after=10 $((secs + 120)) "$t" "${args[@]}" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo ok >"$res/$name"
        out=$(printf 'ok    %-28s %8s runs %4d seeds %4ds' "$name" "${runs:-?}" "$nseeds" "$took")
    else
        echo FAIL >"$res/$name"
        out=$(printf 'FAIL  %-28s exit %d after %ds (log %s)' "$name" "$rc" "$took" "$log")
        for a in "$work"/artifacts/*; do
            cp "$a" "$logdir/" && out+=$'\n'"      reproducer: $logdir/$(basename "$a")"
        done
        out+=$'\n'$(grep -E 'ERROR|SUMMARY|runtime error|deadly signal|Timeout' "$log" | head -5 | sed 's/^/      /')
    fi
    rm -rf "$work"
    printf '%s\n' "$out"
}

# FUZZ_JOBS targets at a time (default: one per core); each is still run for $secs seconds
njobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$njobs" -ge 1 ] 2>/dev/null || njobs=1
res=$(mktemp -d "${TMPDIR:-/tmp}/smbox-fuzz-res-XXXXXX")
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$njobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait
passed=0 failed=0
for t in "${targets[@]}"; do
    case "$(cat "$res/$(basename "$t")" 2>/dev/null)" in
        ok) passed=$((passed + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
done
rm -rf "$res"
[ -n "${SMBOX_SUMMARY:-}" ] && echo "$passed $failed" >>"$SMBOX_SUMMARY"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
