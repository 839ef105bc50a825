#!/usr/bin/env bash
# The main job on a built-in default: a local HTTPS target (with its own CA), a local
# relay-gateway, and `relay-init -- curl https://target.test:PORT/hello` through the tunnel.
# The container-side tools trust the target only through the CA that relay-init fetched
# from the gateway and exported; there is no DNS for target.test except the gateway's --map-host.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --product relay-init
swift build --product relay-gateway
swift build --product relay-test-target
bin=$(swift build --show-bin-path)

work=$(mktemp -d /tmp/relay-init-demo.XXXXXX)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Waits for "<name> listening on ADDR:PORT" in a log file and prints PORT.
port_of() {
    for _ in $(seq 100); do
        line=$(grep -m1 "listening on" "$1" 2>/dev/null || true)
        [ -n "$line" ] && { echo "${line##*:}"; return; }
        sleep 0.1
    done
    echo "no listening line in $1:" >&2; cat "$1" >&2; exit 1
}

"$bin/relay-test-target" --cert-dir "$work" --names target.test,localhost >"$work/target.log" 2>&1 &
pids+=($!)
target_port=$(port_of "$work/target.log")

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$bin/relay-gateway" --listen 127.0.0.1:0 --insecure-http --token "demo:$token" \
    --ca-cert "$work/ca.pem" --map-host target.test=127.0.0.1 >"$work/gateway.log" 2>&1 &
pids+=($!)
gateway_port=$(port_of "$work/gateway.log")

echo "target: https://target.test:$target_port (CA $work/ca.pem)   gateway: http://127.0.0.1:$gateway_port"
echo "+ relay-init --gateway http://127.0.0.1:$gateway_port --session-id demo -- curl -sS https://target.test:$target_port/hello"
RELAY_INIT_TOKEN="$token" "$bin/relay-init" \
    --gateway "http://127.0.0.1:$gateway_port" --session-id demo \
    --env-file "$work/proxy.env" --ca-bundle "$work/ca-bundle.crt" \
    -- curl -sS --fail "https://target.test:$target_port/hello"
