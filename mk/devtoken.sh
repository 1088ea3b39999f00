#!/bin/sh
# Creates the development HSM token (SoftHSM2) under VAR_DIR when it does not exist yet:
# VAR_DIR/softhsm/softhsm2.conf, its token store, random PINs in VAR_DIR/secrets (mode 0600),
# the token itself (smctl hsm init-token) and the appliance keys (smctl hsm init). Idempotent.
# Usage: mk/devtoken.sh SMCTL [VAR_DIR]
set -eu
smctl=${1:?usage: mk/devtoken.sh SMCTL [VAR_DIR]}
var=${2:-var}
mkdir -p "$var/softhsm/tokens" "$var/secrets"
chmod 700 "$var/softhsm" "$var/secrets"
conf="$var/softhsm/softhsm2.conf"
abs=$(cd "$var/softhsm" && pwd)
[ -f "$conf" ] || printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$abs" >"$conf"
umask 077
[ -s "$var/secrets/hsm-pin" ] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$var/secrets/hsm-pin"
[ -s "$var/secrets/hsm-so-pin" ] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$var/secrets/hsm-so-pin"
"$smctl" hsm init-token
"$smctl" hsm init
