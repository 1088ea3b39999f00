#!/bin/sh
# make test-opencryptoki: the hsm/ suite (tests/hsm) against openCryptoki's software token, to show
# the layer is portable across PKCS#11 implementations. Needs root (pkcsslotd, group pkcs11).
# The token labelled smbox-ock-test (slot of the soft token) is (re-)initialised for each run;
# openCryptoki's soft token takes PINs of 4-8 characters and ships with SO PIN 87654321.
set -eu
bdir=${1:?usage: tests/opencryptoki.sh build/<variant>}
mod=/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so
[ -e "$mod" ] || { echo "opencryptoki: $mod missing (make deps installs opencryptoki)"; exit 1; }
if ! pgrep -x pkcsslotd >/dev/null; then
    pkcsslotd
    started=1
fi
tmp=$(mktemp -d /tmp/smbox-ock.XXXXXX)
cleanup() {
    rm -rf "$tmp"
    [ -n "${started:-}" ] && pkill -x pkcsslotd || true
}
trap cleanup EXIT
umask 077
printf '87654321\n' >"$tmp/so-pin"
printf 'ock-1234\n' >"$tmp/pin"
cat >"$tmp/smbox.yaml" <<CONF
node:
  var_dir: $tmp
hsm:
  module: $mod
  token_label: smbox-ock-test
  pin_file: pin
CONF
"$bdir/bin/smctl" -c "$tmp/smbox.yaml" hsm init-token --so-pin-file "$tmp/so-pin" --reinit
export SMBOX_TEST_P11_MODULE=$mod SMBOX_TEST_P11_TOKEN=smbox-ock-test SMBOX_TEST_P11_PIN=ock-1234 \
       SMBOX_TEST_P11_SO_PIN=87654321
SMBOX_TEST_FILTER=test_hsm tests/run.sh "$bdir"
