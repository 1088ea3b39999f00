#!/bin/sh
# Project-wide checks that are not unit tests: layering rules, hardening of the built programs,
# no key material in the tree. One line per check; "N passed, N failed" at the end; with
# SMBOX_SUMMARY=file, "<passed> <failed>" is appended to it. Usage: tests/checks.sh [BUILD_ROOT]
# (default build; the release programs under BUILD_ROOT/rel are checked).
set -u
cd "$(dirname "$0")/.."
rel=${1:-build}/rel
passed=0 failed=0
check() { # name, command...
    name=$1; shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1)); printf 'ok    %s\n' "$name"
    else
        failed=$((failed + 1)); printf 'FAIL  %s\n' "$name"; printf '%s\n' "$out" | head -10 | sed 's/^/      /'
    fi
}
# grep -l over tracked and new C sources; prints offenders, fails if any
only_in() { # header, allowed-dir-regex
    bad=$(git ls-files -co --exclude-standard '*.c' '*.h' | grep -vE "$2" | xargs -r grep -l "#include <$1>" 2>/dev/null)
    [ -z "$bad" ] || { echo "$1 included outside its layer: $bad"; return 1; }
}
sim_independent() {
    bad=$(git ls-files -co --exclude-standard 'tests/sim/*.c' 'tests/sim/*.h' |
          xargs -r grep -lE '#include "(lib|hsm|crypto|db|net|appliance)/' 2>/dev/null)
    [ -z "$bad" ] || { echo "tests/sim includes appliance code: $bad"; return 1; }
}
no_private_keys() {
    bad=$(git ls-files | xargs -r grep -l 'BEGIN [A-Z ]*PRIVATE KEY' 2>/dev/null | grep -v '^tests/checks.sh$')
    [ -z "$bad" ] || { echo "private key material committed: $bad"; return 1; }
}
hardened() { # binary
    [ -x "$1" ] || { echo "$1 not built"; return 1; }
    readelf -h "$1" | grep -q 'Type:.*DYN' || { echo "$1: not PIE"; return 1; }
    readelf -l "$1" | grep -q GNU_RELRO || { echo "$1: no RELRO"; return 1; }
    readelf -d "$1" | grep -q 'BIND_NOW\|FLAGS.*NOW' || { echo "$1: RELRO not full (no BIND_NOW)"; return 1; }
    readelf -s "$1" | grep -q __stack_chk_fail || { echo "$1: no stack protector"; return 1; }
    readelf -s "$1" | grep -q '_chk@' || { echo "$1: no FORTIFY_SOURCE calls"; return 1; }
}
config_docs() {
    "$rel"/bin/smctl config docs | cmp -s - docs/config.md || { echo "docs/config.md differs from 'smctl config docs'"; return 1; }
}
image_install() {
    d=$(mktemp -d /tmp/smbox-image.XXXXXX)
    image/install.sh "$rel" "$d" >/dev/null || { rm -rf "$d"; echo "install.sh failed"; return 1; }
    for f in usr/local/sbin/smboxd usr/local/bin/smctl usr/lib/smbox/smctl-ssh lib/systemd/system/smboxd.service \
             etc/ssh/sshd_config.d/smbox-admin.conf etc/smbox/smbox.yaml usr/share/doc/smbox/SECURITY.md; do
        [ -e "$d/$f" ] || { rm -rf "$d"; echo "install.sh did not install $f"; return 1; }
    done
    "$d/usr/local/bin/smctl" config check "$d/etc/smbox/smbox.yaml" >/dev/null || { rm -rf "$d"; echo "installed configuration invalid"; return 1; }
    rm -rf "$d"
}
check "pkcs11.h only in hsm/ (and tests, benches)" only_in 'p11-kit/pkcs11.h' '^(hsm|tests|bench)/'
check "libpq-fe.h only in db/ (and tests, benches)" only_in 'libpq-fe.h' '^(db|tests|bench)/'
check "tests/sim never includes appliance layers" sim_independent
check "no private key committed" no_private_keys
check "smboxd hardened (PIE, full RELRO, canary, FORTIFY)" hardened "$rel"/bin/smboxd
check "smctl hardened (PIE, full RELRO, canary, FORTIFY)" hardened "$rel"/bin/smctl
check "docs/config.md generated from the schema" config_docs
check "image/install.sh installs a working tree into a DESTDIR" image_install
[ -n "${SMBOX_SUMMARY:-}" ] && echo "$passed $failed" >>"$SMBOX_SUMMARY"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
