#!/bin/sh
# Makes the files docker/compose.yaml mounts as secrets, in docker/secrets/:
# a private CA (ca.crt), the gateway's TLS certificate for the name "gateway"
# signed by it (gateway.crt, gateway.key), a random token for session
# "workload-1" (workload-token) and the gateway's tokens file (tokens).
# For a local demo only: a real deployment gets these from its secret store.
# Usage: docker/make-demo-secrets.sh [DIR]   (default: docker/secrets; kept if present)
set -eu

dir=${1:-$(dirname -- "$0")/secrets}
if [ -e "$dir/ca.crt" ]; then
    echo "$dir already holds demo secrets; remove it to make new ones" >&2
    exit 0
fi
mkdir -p -- "$dir"
# Keys and tokens must not be readable by other users of this machine.
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=relay-init demo CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=gateway" -keyout "$dir/gateway.key" -out "$dir/gateway.csr" 2>/dev/null
# A SAN is what clients check (the CN is ignored); "gateway" is the compose
# service name, "relay-gateway" the Kubernetes Service name.
printf 'subjectAltName=DNS:gateway,DNS:relay-gateway\nextendedKeyUsage=serverAuth\n' >"$dir/gateway.ext"
openssl x509 -req -in "$dir/gateway.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -extfile "$dir/gateway.ext" -out "$dir/gateway.crt" 2>/dev/null
rm -f -- "$dir/gateway.csr" "$dir/gateway.ext" "$dir/ca.srl"

token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$token" >"$dir/workload-token"
printf '# SESSION:TOKEN\nworkload-1:%s\n' "$token" >"$dir/tokens"
# Compose bind-mounts these files into containers whose processes run as other
# users (the gateway runs as uid 10001): the certificates and the gateway's files
# must be readable there. The CA key is not mounted anywhere.
chmod 0644 "$dir/ca.crt" "$dir/gateway.crt" "$dir/gateway.key" "$dir/tokens" "$dir/workload-token"
echo "demo secrets written to $dir"
