#!/bin/sh
# Container entrypoint: hands the container's PID 1 to relay-init.
#
#   (no arguments)          relay-init -- sh          the image's default command
#   COMMAND [ARG...]        relay-init -- COMMAND...  wrap it: proxy up, then the command
#   -OPTION... [-- CMD...]  relay-init -OPTION...     relay-init options first; without
#                                                     `--` that is sidecar mode
#
# relay-init itself reads its settings from the RELAY_INIT_* variables (see
# `relay-init --help`); this script adds none, so `docker run -e` and compose
# `environment:` are the one place to configure it.
#
# Optional: RELAY_GATEWAY_TLS_CA names a PEM file with the CA that signed the
# gateway's TLS certificate (a private CA). relay-init verifies the gateway
# against one system bundle (RELAY_INIT_SYSTEM_CA), and pointing that at the
# private CA alone would drop the public roots every tool behind the proxy
# needs. So the system bundle and that CA are concatenated next to relay-init's
# merged bundle, and RELAY_INIT_SYSTEM_CA is pointed at the result.
set -eu

if [ -n "${RELAY_GATEWAY_TLS_CA:-}" ] && [ ! -r "$RELAY_GATEWAY_TLS_CA" ]; then
    # Not fatal here: relay-init then fails to verify the gateway and applies
    # its own policy (fail open, or exit 69 with RELAY_INIT_FAIL_CLOSED=1).
    echo "docker-entrypoint: RELAY_GATEWAY_TLS_CA=$RELAY_GATEWAY_TLS_CA is not readable; ignored" >&2
elif [ -n "${RELAY_GATEWAY_TLS_CA:-}" ]; then
    system_ca=${RELAY_INIT_SYSTEM_CA:-/etc/ssl/certs/ca-certificates.crt}
    bundle_dir=$(dirname -- "${RELAY_INIT_CA_BUNDLE:-/run/relay-init/ca-bundle.crt}")
    combined=$bundle_dir/system-and-gateway-ca.crt
    mkdir -p -- "$bundle_dir"
    # A missing system bundle is only a warning for relay-init too: keep going
    # with the gateway's CA alone. The file is built under a temporary name and
    # renamed, so a restart never sees half a bundle.
    {
        if [ -r "$system_ca" ]; then cat -- "$system_ca"; echo; fi
        cat -- "$RELAY_GATEWAY_TLS_CA"
    } >"$combined.tmp"
    mv -f -- "$combined.tmp" "$combined"
    RELAY_INIT_SYSTEM_CA=$combined
    export RELAY_INIT_SYSTEM_CA
fi

# exec, not a child: relay-init must be PID 1 itself to receive the signals
# `docker stop` sends and to reap zombies; a shell left in between would
# swallow both.
if [ "$#" -eq 0 ]; then
    exec relay-init -- sh
fi
case $1 in
    -*) exec relay-init "$@" ;;
    *) exec relay-init -- "$@" ;;
esac
