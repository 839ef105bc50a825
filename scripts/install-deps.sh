#!/usr/bin/env bash
# Installs what building and testing relay-init needs on Debian/Ubuntu (run as root),
# and Python's protobuf runtime for the codec cross-check. Safe to run again.
#
#   scripts/install-deps.sh           build and test dependencies (iproute2: the network rig of
#                                     scripts/netns.sh; mmdebstrap, openssl: scripts/image-rootfs.sh)
#   scripts/install-deps.sh --bench   also what bench/run uses: tini (start-up reference),
#                                     matplotlib (the chart), perf (--perf), hyperfine, gcc,
#                                     valgrind and binutils (--instructions)
set -euo pipefail

packages=(libcurl4-openssl-dev curl git socat python3 python3-yaml ca-certificates util-linux procps shellcheck iproute2 openssl mmdebstrap)
case ${1:-} in
    --bench) packages+=(tini python3-matplotlib linux-perf hyperfine gcc valgrind binutils) ;;
    "") ;;
    *) echo "install-deps.sh: unknown argument '$1' (only --bench)" >&2; exit 64 ;;
esac
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip --version >/dev/null 2>&1 || {
    # A fresh machine may have every package above and still no package lists.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-pip >/dev/null
}
# The python3 on PATH may not be Debian's (pyenv): make sure it has what the tests import
# (PyYAML for the deployment-file checks, requests for the end-to-end client test).
for module in yaml:pyyaml requests:requests; do
    python3 -c "import ${module%%:*}" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "${module#*:}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${module#*:}"
done
python3 -c 'import google.protobuf' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore protobuf 2>/dev/null \
    || python3 -m pip install -q --break-system-packages protobuf

command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:/opt/swift/bin:$PATH"
command -v swift >/dev/null || { echo "swift toolchain not found (expected on PATH or in /opt/swift)" >&2; exit 1; }
