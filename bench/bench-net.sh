#!/usr/bin/env bash
# make bench-net: SOAP over mutual TLS (ES2.GetEIS from a cached record, key in a SoftHSM2 token
# through the libp11 engine, the full smbox ES stack) beside a bare libevent HTTPS 200-OK server, in
# the same run, same load generator (64 keep-alive connections, loopback only). Prints requests/s
# and p99 for both, the ratio, and whether the targets (>= 0.3 of bare, p99 < 10 ms) are met.
# Usage: bench/bench-net.sh build/<variant>   (BENCH_SECONDS, BENCH_CONNS, BENCH_LOAD_THREADS override the defaults)
set -euo pipefail
b=${1:?usage: bench/bench-net.sh build/<variant>}
bin=$(cd "$b" && pwd)
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-64}
lthreads=${BENCH_LOAD_THREADS:-2}
dir=$(mktemp -d "${TMPDIR:-/tmp}/smbox-bench-net.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

# a throw-away token, the appliance keys and a development PKI (as `make run` does)
mkdir -p "$dir/var/softhsm/tokens"
printf 'directories.tokendir = %s/var/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" \
    >"$dir/var/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$dir/var/softhsm/softhsm2.conf
export BENCH_PIN=bench-pin-1234
softhsm2-util --init-token --free --label bench --pin "$BENCH_PIN" --so-pin bench-so-5678 >/dev/null
cat >"$dir/smbox.yaml" <<YAML
node:
  var_dir: $dir/var
hsm:
  token_label: bench
  pin_file: ''
  pin_env: BENCH_PIN
  key_prefix: bench
YAML
"$bin/bin/smctl" -c "$dir/smbox.yaml" hsm init >/dev/null
"$bin/bin/smctl" -c "$dir/smbox.yaml" es dev-pki >/dev/null
pki=$dir/var/pki
ca=$pki/tls-ca.crt
issue() { # name -> name.key name.crt signed by the development CA
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$1.key" -subj "/CN=$1" \
        -out "$pki/$1.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$pki/$1.ext"
    openssl x509 -req -in "$pki/$1.csr" -CA "$ca" -CAkey "$ca.key" -CAcreateserial -days 2 -extfile "$pki/$1.ext" \
        -out "$pki/$1.crt" 2>/dev/null
}
issue client
issue bare
fp=$(openssl x509 -in "$pki/client.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)

start() { # log, command...: starts a server, waits for "ready port=N", sets $port
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's/^ready port=\([0-9]*\)$/\1/p' "$log")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "bench-net: server did not start:"; cat "$log"; exit 1
}
stop_last() { local p=${pids[-1]}; kill "$p"; wait "$p" 2>/dev/null || true; unset 'pids[-1]'; }
load() { # port path body-file
    "$bin/bench/bench_net_load" --port "$1" --path "$2" --body "$3" --cert "$pki/client.crt" --key "$pki/client.key" \
        --ca "$ca" --conns "$conns" --threads "$lthreads" --seconds "$secs"
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

cat >"$dir/soap.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:rps="http://namespaces.gsma.org/esim-messaging/3"><soap:Header><wsa:From><wsa:Address>https://mno.example/es2</wsa:Address></wsa:From><wsa:To>https://127.0.0.1/gsma/soap/es2</wsa:To><wsa:MessageID>mno.example/%ID%</wsa:MessageID><wsa:Action>http://gsma.com/ES2/DataPreparation/ES2-GetEISRequest</wsa:Action></soap:Header><soap:Body><rps:ES2-GetEISRequest><rps:FunctionCallIdentifier>bench-%ID%</rps:FunctionCallIdentifier><rps:ValidityPeriod>60</rps:ValidityPeriod><rps:Eid>89001012012341234012345678901224</rps:Eid><rps:Smsr-id>1.3.6.1.4.1.99999.1.2</rps:Smsr-id></rps:ES2-GetEISRequest></soap:Body></soap:Envelope>
XML

echo "== bare libevent HTTPS 200-OK server (evhttp, mutual TLS, 1 KiB body), $conns connections, ${secs}s"
start "$dir/bare.log" "$bin/bench/bench_net_bare" --cert "$pki/bare.crt" --key "$pki/bare.key" --ca "$ca"
bare=$(load "$port" / "$dir/soap.xml")
echo "   $bare"
bhs=$("$bin/bench/bench_net_load" --port "$port" --path / --body "$dir/soap.xml" --cert "$pki/client.crt" \
    --key "$pki/client.key" --ca "$ca" --handshakes "${BENCH_HANDSHAKES:-300}")
echo "   new connections: $bhs"
stop_last

echo "== smbox ES server: SOAP ES2.GetEIS over mutual TLS (HSM key via libp11), $conns connections, ${secs}s"
start "$dir/es.log" "$bin/bench/bench_net" --token bench --key bench-tls-es --cert "$pki/smbox-tls.crt" --ca "$ca" \
    --peer-fp "$fp"
# the answer is a real GetEIS response, not an error that happens to be HTTP 200
sed 's/%ID%/check-1/g' "$dir/soap.xml" >"$dir/one.xml"
curl -s --cert "$pki/client.crt" --key "$pki/client.key" --cacert "$ca" -H 'Content-Type: application/soap+xml' \
    --data-binary @"$dir/one.xml" "https://127.0.0.1:$port/gsma/soap/es2" >"$dir/one.out"
grep -q '<rps:Status>EXECUTED_SUCCESS</rps:Status>' "$dir/one.out" && grep -q '<rps:Eis>' "$dir/one.out" ||
    { echo "bench-net: unexpected answer:"; cat "$dir/one.out"; exit 1; }
es=$(load "$port" /gsma/soap/es2 "$dir/soap.xml")
echo "   $es"
ehs=$("$bin/bench/bench_net_load" --port "$port" --path /gsma/soap/es2 --body "$dir/soap.xml" --cert "$pki/client.crt" \
    --key "$pki/client.key" --ca "$ca" --handshakes "${BENCH_HANDSHAKES:-300}")
echo "   new connections: $ehs"
stop_last
echo "   handshake work on the pool threads (off the loop): $(grep '^handshakes=' "$dir/es.log")"
# the same server with the TLS key in a PEM file (development mode): the difference is the HSM's share
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/devkey.pem" 2>/dev/null
openssl req -new -key "$pki/devkey.pem" -subj /CN=dev -out "$pki/dev.csr" 2>/dev/null
openssl x509 -req -in "$pki/dev.csr" -CA "$ca" -CAkey "$ca.key" -CAcreateserial -days 2 -extfile "$pki/bare.ext" \
    -out "$pki/dev.crt" 2>/dev/null
start "$dir/dev.log" "$bin/bench/bench_net" --token bench --key bench-tls-es --cert "$pki/dev.crt" --ca "$ca" \
    --peer-fp "$fp" --dev-key "$pki/devkey.pem"
"$bin/bench/bench_net_load" --port "$port" --path /gsma/soap/es2 --body "$dir/soap.xml" --cert "$pki/client.crt" \
    --key "$pki/client.key" --ca "$ca" --handshakes "${BENCH_HANDSHAKES:-300}" >/dev/null
stop_last
echo "   same with the key in a PEM file (no HSM):          $(grep '^handshakes=' "$dir/dev.log")"

brps=$(field rps "$bare"); erps=$(field rps "$es"); bp99=$(field p99_ms "$bare"); ep99=$(field p99_ms "$es")
ratio=$(awk -v e="$erps" -v b="$brps" 'BEGIN { printf "%.2f", (b > 0 ? e / b : 0) }')
echo
printf '%-40s %12s %10s\n' "server" "requests/s" "p99 ms"
printf '%-40s %12s %10s\n' "bare libevent HTTPS 200 OK" "$brps" "$bp99"
printf '%-40s %12s %10s\n' "smbox SOAP ES2.GetEIS (mTLS, HSM key)" "$erps" "$ep99"
printf '%-40s %12s %10s\n' "new connections (handshake + 1 call)/s" "$(field per_s "$bhs") bare" "$(field per_s "$ehs") smbox"
printf '%-40s %12s %10s\n' "  mean ms per new connection" "$(field mean_ms "$bhs") bare" "$(field mean_ms "$ehs") smbox"
echo "ratio smbox/bare: $ratio (target >= 0.30)"
awk -v r="$ratio" -v p="$ep99" 'BEGIN {
    printf "target throughput: %s\n", (r >= 0.30 ? "met" : "MISSED");
    printf "target p99 < 10 ms: %s\n", (p < 10 ? "met" : "MISSED") }'
