#!/usr/bin/env bash
# Builds relay-init and relay-gateway in release mode and installs them to PREFIX/bin.
# The Dockerfiles run it, so an image holds exactly what this script installs.
#
#   scripts/install.sh [--prefix DIR] [--skip-deps] [--static-swift-stdlib] [--strip] [--dry-run]
#
#   --prefix DIR            install to DIR/bin (default /usr/local)
#   --skip-deps             do not run scripts/install-deps.sh (deps already there)
#   --static-swift-stdlib   link the Swift runtime and Foundation statically, so the
#                           binaries run on a plain Debian with libcurl4 alone
#   --strip                 strip symbols (a release binary is mostly debug info)
#   --dry-run               print the commands instead of running them
set -euo pipefail

usage() { sed -n '5,12s/^# \{0,1\}//p' "$0"; }

prefix=/usr/local
skip_deps=0
dry_run=0
build_flags=(-c release)
install_flags=(-m 0755)
while (($#)); do
    case $1 in
        --prefix)
            (($# >= 2)) || { echo "install.sh: --prefix needs a directory" >&2; exit 64; }
            prefix=$2
            shift 2
            ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --skip-deps) skip_deps=1; shift ;;
        --static-swift-stdlib) build_flags+=(--static-swift-stdlib); shift ;;
        --strip) install_flags+=(-s); shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
    esac
done
[ -n "$prefix" ] || { echo "install.sh: --prefix is empty" >&2; exit 64; }

cd "$(dirname "$0")/.."

# Prints a command as `+ ...` (shell-quoted, so it can be pasted), then runs it
# unless --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    ((dry_run)) || "$@"
}

if ((!skip_deps)); then
    run scripts/install-deps.sh
fi
# install-deps.sh finds the toolchain in /opt/swift when it is not on PATH; do the same.
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:/opt/swift/bin:$PATH"
if ((!dry_run)); then
    command -v swift >/dev/null || { echo "install.sh: swift toolchain not found (expected on PATH or in /opt/swift)" >&2; exit 1; }
fi

products=(relay-init relay-gateway)
for product in "${products[@]}"; do
    run swift build "${build_flags[@]}" --product "$product"
done
if ((dry_run)); then
    # SwiftPM keeps .build/<configuration> as a link to the real bin directory;
    # asking `--show-bin-path` would wait on a running SwiftPM's lock.
    bin=$PWD/.build/release
else
    bin=$(swift build "${build_flags[@]}" --show-bin-path)
fi

run install -d "$prefix/bin"
for product in "${products[@]}"; do
    run install "${install_flags[@]}" "$bin/$product" "$prefix/bin/$product"
done
if ((!dry_run)); then
    for product in "${products[@]}"; do
        echo "installed $prefix/bin/$product ($("$prefix/bin/$product" --version 2>/dev/null || echo "$product"))"
    done
fi
