#!/bin/sh
# Adds up the "<passed> <failed>" lines that the test stages appended; prints the closing line.
f=${1:?usage: tests/summary.sh FILE}
awk '{p+=$1; f+=$2} END {printf "%d passed, %d failed\n", p, f; exit (f > 0 || NR == 0) ? 1 : 0}' "$f"
