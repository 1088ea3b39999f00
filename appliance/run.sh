#!/usr/bin/env bash
# make run: sets up what is missing under var/ (mk/devworld.sh: the development HSM token and key
# ceremony, the test PKI with certificates for the HSM keys, a simulated fleet registered through its
# EUM batch file, the TS.48 template and a small order, var/smbox.yaml), starts the simulator (devices
# + SMSC) and smboxd, prints where everything listens and the command that downloads a profile.
# Ctrl-C (or SIGTERM) stops smboxd, the simulator and the embedded PostgreSQL cleanly.
# Environment: SMBOX_VAR (var), and mk/devworld.sh's (SMBOX_FLEET, ports...).
set -euo pipefail
bdir=${1:?usage: appliance/run.sh build/<variant>}
bin=$(cd "$bdir/bin" && pwd)
sim=$(cd "$bdir/sim" && pwd)/sim
var=${SMBOX_VAR:-var}
es_port=${SMBOX_ES_PORT:-8443}
smpp_port=${SMBOX_SMPP_PORT:-2775}
admin_port=${SMBOX_ADMIN_PORT:-8444}
mno_port=${SMBOX_MNO_PORT:-8445}

mk/devworld.sh "$bin" "$sim" "$var" all
var=$(cd "$var" && pwd)
cfg=$var/smbox.yaml
export SMBOX_CONFIG=$cfg
mkdir -p "$var/log"

sim_pid='' smboxd_pid='' stopping=0
stop_all() {
    [ "$stopping" = 1 ] && return 0
    stopping=1
    trap '' INT TERM
    echo
    echo "== smbox: stopping (smboxd, simulator, embedded PostgreSQL)"
    [ -n "$smboxd_pid" ] && kill -TERM "$smboxd_pid" 2>/dev/null || true
    [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null || true
    [ -n "$smboxd_pid" ] && wait "$smboxd_pid" 2>/dev/null || true
    [ -n "$sim_pid" ] && wait "$sim_pid" 2>/dev/null || true
    "$bin/smctl" db stop 2>&1 | sed 's/^/   /' || true
    echo "== smbox: stopped (state kept in $var; \`make run\` again reuses it)"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# smboxd and the simulator run in their own sessions: Ctrl-C reaches this script only, which then
# signals each of them once (a second signal during smboxd's shutdown would cut it short).
# The embedded cluster: smboxd starts it when it is not running and then stops it at exit; devworld
# started it for the registrations, so hand it over.
"$bin/smctl" db stop >/dev/null 2>&1 || true

echo "== smbox: starting the simulator ($(($(wc -l <"$var/fleet/euicc-batch.txt") - 2)) devices, SMSC on 127.0.0.1:$smpp_port)"
setsid "$sim" run --state "$var/fleet/state" --smpp-listen "127.0.0.1:$smpp_port" \
    --sm-sr-url "https://127.0.0.1:$admin_port/gsma/adminagent" --ctl "$var/sim.sock" >"$var/log/sim.log" 2>&1 &
sim_pid=$!

echo "== smbox: starting smboxd (log: $var/log/smboxd.log)"
setsid "$bin/smboxd" -c "$cfg" 2>"$var/log/smboxd.log" &
smboxd_pid=$!
for _ in $(seq 1 600); do
    grep -q 'event=ready workers' "$var/log/smboxd.log" 2>/dev/null && break
    if ! kill -0 "$smboxd_pid" 2>/dev/null; then
        echo "smboxd did not start:" >&2
        tail -20 "$var/log/smboxd.log" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q 'event=ready workers' "$var/log/smboxd.log" || { echo "smboxd is not ready after 60 s" >&2; exit 1; }

demo="$bin/smctl -c $cfg demo download"
if ! "$bin/smctl" help 2>/dev/null | grep -q "^  demo "; then
    demo="curl --cacert $var/pki/tls-ca.crt --cert $var/pki/tls-mno1.crt --key $var/pki/tls-mno1.key \\
       -H 'Content-Type: application/json' https://127.0.0.1:$es_port/gsma/rest/es2/DownloadProfile \\
       -d '{\"header\":{\"functionCallIdentifier\":\"demo-1\",\"validityPeriod\":600},
            \"body\":{\"Eid\":\"$(sed -n 2p "$var/fleet/euicc-batch.txt" | sed 's/^eis;eid=\([0-9]*\);.*/\1/')\",\"SmSr-id\":\"2.999.30.1\",\"ProfileType\":\"TS48v7-SAIP2.3\",\"EnableProfile\":true}}'"
fi
cat <<EOF

== smbox is running (node $(grep -m1 '^  name:' "$cfg" | sed 's/.*: //'), pid $smboxd_pid)
   ES interfaces (HTTPS, mutual TLS)   https://127.0.0.1:$es_port   (SM-DP 2.999.20.1 + SM-SR 2.999.30.1)
   SCP81 admin endpoint (PSK-TLS)      https://127.0.0.1:$admin_port   (devices open their sessions here)
   SMSC (simulator, SMPP 3.4)          127.0.0.1:$smpp_port   (smboxd's ES5 SMS channel)
   simulator control socket            $var/sim.sock   (e.g. $sim ctl --ctl $var/sim.sock list 5)
   MNO endpoint (async answers)        https://127.0.0.1:$mno_port   (the demo command listens there)
   PostgreSQL (embedded)               $var/pg   (unix socket only)
   HSM token (SoftHSM2)                $var/softhsm   (keys: $bin/smctl hsm list)
   configuration                       $cfg
   logs                                $var/log/smboxd.log, $var/log/sim.log

   Download, install and enable a profile on a simulated device, step by step:

   $demo

   Ctrl-C stops everything.
EOF
# wait for either process; if one dies, stop the other
while kill -0 "$smboxd_pid" 2>/dev/null && kill -0 "$sim_pid" 2>/dev/null; do
    sleep 0.5 &
    wait $! || true
done
kill -0 "$smboxd_pid" 2>/dev/null || { echo "smboxd exited:" >&2; tail -5 "$var/log/smboxd.log" >&2; }
kill -0 "$sim_pid" 2>/dev/null || { echo "the simulator exited:" >&2; tail -5 "$var/log/sim.log" >&2; }
exit 1
