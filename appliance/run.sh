#!/usr/bin/env bash
# make run: sets up what is missing under var/ (development HSM token and key ceremony, and the
# further pieces each layer adds below), then runs smboxd in the foreground on its embedded
# defaults. Ctrl-C stops everything cleanly.
set -euo pipefail
bdir=${1:?usage: appliance/run.sh build/<variant>}
bin=$(cd "$bdir/bin" && pwd)
var=${SMBOX_VAR:-var}
mkdir -p "$var"
echo "== smbox: development HSM token and key ceremony ($var/softhsm)"
mk/devtoken.sh "$bin/smctl" "$var"
echo "== smbox: development TLS certificate for the HSM key of the ES interfaces ($var/pki)"
"$bin/smctl" es dev-pki
echo "== smbox: starting smboxd (Ctrl-C stops it)"
exec "$bin/smboxd"
