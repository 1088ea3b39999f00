#!/bin/sh
# Runs a command in a network namespace of its own with only a loopback interface, so that the ports
# its tests pick (bind to port 0, close, hand the number to a server they start) cannot be taken by
# tests running at the same time outside it. Needs root (unshare --net) and ip(8).
#   tests/netns.sh --check     exit 0 when this is possible here
#   tests/netns.sh CMD ARGS..  run CMD in a namespace of its own
set -eu
if [ "${1:-}" = --check ]; then
    [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || exit 1
    exec unshare --net sh -c 'ip link set lo up && ip -o addr show dev lo | grep -q "127.0.0.1"' 2>/dev/null
fi
[ $# -gt 0 ] || { echo "usage: tests/netns.sh --check | CMD ARGS..." >&2; exit 2; }
exec unshare --net sh -c 'ip link set lo up && exec "$@"' netns "$@"
