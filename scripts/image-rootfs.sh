#!/usr/bin/env bash
# The container images' runtime stages as root filesystems, without Docker, and a run of
# them: proves the images hold every shared library and file the binaries need.
#
#   scripts/image-rootfs.sh build [runtime|demo|gateway]...   build (or reuse) the roots
#   scripts/image-rootfs.sh check [--rig] [--skip-build]      build, then run them
#   scripts/image-rootfs.sh packages                          each root's suite and packages
#
# A root is Debian (the suite of the Dockerfile's base image, from the Debian mirror this
# machine's apt uses: /etc/apt/sources.list*) made with mmdebstrap --variant=minbase (what
# debian:*-slim is made from), plus exactly the packages the stage's `apt-get install`
# lines name. Both are read from the Dockerfiles, so the roots cannot drift from them:
#   runtime   docker/Dockerfile, stage `runtime`          (the relay-init image)
#   demo      docker/Dockerfile, stage `demo`             (runtime + the curl CLI)
#   gateway   docker/Dockerfile.gateway, its last stage   (the relay-gateway image)
# Each root is cached in .cache/rootfs/KEY/ (or $IMAGE_ROOTFS_CACHE/KEY/), KEY a hash of
# the suite, the package list and this script's VERSION, so it is built once per list.
# The stage's other steps (its COPY lines, with the release binaries stripped as
# scripts/install.sh --strip installs them, and the non-apt parts of its RUN lines) are
# applied on every run, on an overlay over the cached root in a private mount namespace,
# so the cache never holds them.
#
# check: a relay-test-target (its CA served by the gateway), relay-gateway in the `gateway`
# root as the image runs it (its ENTRYPOINT, its CMD's files in /etc/relay-gateway, TLS,
# USER 10001), then, each chrooted in a new PID namespace, the relay-init image's ENTRYPOINT:
#   in `runtime` (no curl there): relay-init is PID 1, reaches the gateway, fetches its CA
#       with libcurl (fail-closed, so any setup failure is exit 69) and runs `sh -c ...`
#       with the proxy environment;
#   in `demo`: `curl https://target.test:PORT/hello` through the tunnel, the target trusted
#       only through the CA relay-init fetched.
# The runtime image has no curl, and curl (or any host binary) bind-mounted from the host
# would bring the host's libraries' needs, not the image's; so the curl run uses the
# Dockerfile's own `demo` stage, and the runtime stage is checked alone without it.
# Without --rig everything runs on this host's loopback. With --rig the variables of
# `eval "$(scripts/netns.sh up)"` (RIG_WORKLOAD, RIG_GATEWAY, RIG_TARGET, RIG_GATEWAY_ADDR,
# RIG_TARGET_ADDR; exported) place the target, the gateway (on the image's own --listen
# 0.0.0.0:8443) and the workload in those namespaces; without them, --rig brings up a rig
# of its own with scripts/netns.sh and removes it at the end.
#
# Needs root, python3, openssl, util-linux (unshare), and mmdebstrap (installed with
# apt-get when missing). The release binaries come from
#   swift build -c release --static-swift-stdlib --scratch-path .build-release
# (built here unless --skip-build; RELAY_ROOTFS_BIN=DIR uses prebuilt ones instead); the
# test target is the release or else the debug relay-test-target.
# IMAGE_ROOTFS_MIRROR=URI overrides the mirror read from apt's sources.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# Part of every cache key: change it when the way a root is made changes.
readonly VERSION=1
readonly VARIANT=minbase
# IMAGE_ROOTFS_CACHE=DIR keeps the roots elsewhere, e.g. where a CI machine keeps them
# between clean clones (.ci/run does).
readonly CACHE=${IMAGE_ROOTFS_CACHE:-$repo/.cache/rootfs}
readonly BUILD_FLAGS=(-c release --static-swift-stdlib --scratch-path .build-release)
# What parse_stage's output assigns (eval), and the state of a check.
suite="" user="" root_dir="" work="" bin=""
packages=() steps=() env=() entrypoint=() cmd=() pids=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "image-rootfs: $*" >&2; exit 1; }

# The stage's Dockerfile and stage name (empty: the last stage).
stage_of() {
    case $1 in
        runtime) echo "docker/Dockerfile runtime" ;;
        demo) echo "docker/Dockerfile demo" ;;
        gateway) echo "docker/Dockerfile.gateway -" ;;
        *) die "unknown root '$1' (runtime, demo or gateway)" ;;
    esac
}

# Reads one stage of a Dockerfile (and the stages it is built FROM) and prints bash
# assignments: suite, packages=(), steps=() (COPY and RUN steps in order, each a
# NUL-free string "copy-bin NAME DEST", "copy SRC DEST" or "run SHELL"), env=(K=V...),
# user, entrypoint=(), cmd=().
parse_stage() {
    python3 - "$1" "$2" <<'PY'
import json, re, shlex, sys

path, wanted = sys.argv[1], sys.argv[2]
lines, buf = [], ""
for raw in open(path, encoding="utf-8"):
    stripped = raw.strip()
    if stripped.startswith("#") or (not stripped and not buf):
        continue  # comments, also inside continued lines, as Docker reads them
    if stripped.endswith("\\"):
        buf += stripped[:-1] + " "
        continue
    lines.append(buf + stripped)
    buf = ""

args, stages, current = {}, [], None
for line in lines:
    word, _, rest = line.partition(" ")
    word, rest = word.upper(), rest.strip()
    if word == "ARG" and current is None:
        name, _, default = rest.partition("=")
        args[name] = default
    elif word == "FROM":
        parts = rest.split()
        base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), parts[0])
        name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
        current = {"name": name, "base": base, "body": []}
        stages.append(current)
    elif current is not None:
        current["body"].append((word, rest))

def stage(name):
    if name == "-":
        return stages[-1]
    for s in stages:
        if s["name"] == name:
            return s
    sys.exit(f"{path}: no stage {name}")

chain, s = [], stage(wanted)
while True:
    chain.insert(0, s)
    if any(other["name"] == s["base"] for other in stages):
        s = stage(s["base"])
    else:
        break
m = re.fullmatch(r"debian:([a-z]+)(-slim)?", chain[0]["base"])
if not m:
    sys.exit(f"{path}: stage {wanted} is not built from debian:SUITE[-slim] but {chain[0]['base']}")
suite = m.group(1)

packages, steps, env, user, entrypoint, cmd = [], [], [], "", [], []
for s in chain:
    for word, rest in s["body"]:
        if word == "RUN":
            if rest.startswith("--") or "<<" in rest:
                sys.exit(f"{path}: RUN with flags or a heredoc is not understood: {rest}")
            keep = []
            for part in (p.strip() for p in rest.split("&&")):
                tokens = shlex.split(part)
                while tokens and re.fullmatch(r"\w+=.*", tokens[0]):
                    tokens.pop(0)  # DEBIAN_FRONTEND=noninteractive
                if tokens[:2] == ["apt-get", "update"] or part == "rm -rf /var/lib/apt/lists/*":
                    continue
                if tokens[:2] == ["apt-get", "install"]:
                    packages += [t for t in tokens[2:] if not t.startswith("-")]
                    continue
                if "apt" in tokens[:1] or "apt-get" in tokens[:1] or "dpkg" in tokens[:1]:
                    sys.exit(f"{path}: package step not understood: {part}")
                keep.append(part)
            if keep:
                steps.append("run " + " && ".join(keep))
        elif word == "COPY":
            parts = shlex.split(rest)
            origin = None
            while parts and parts[0].startswith("--"):
                flag = parts.pop(0)
                if flag.startswith("--from="):
                    origin = flag[len("--from="):]
                else:
                    sys.exit(f"{path}: COPY flag not understood: {flag}")
            if len(parts) != 2:
                sys.exit(f"{path}: COPY of one file only: {rest}")
            source, dest = parts
            if origin is None:
                steps.append(f"copy {source} {dest}")
            elif origin == "builder" and source.startswith("/out/bin/"):
                steps.append(f"copy-bin {source[len('/out/bin/'):]} {dest}")
            else:
                sys.exit(f"{path}: COPY from {origin} not understood: {rest}")
        elif word == "ENV":
            env += shlex.split(rest)
        elif word == "USER":
            user = rest
        elif word == "ENTRYPOINT":
            entrypoint, cmd = json.loads(rest), []  # Docker: ENTRYPOINT resets CMD
        elif word == "CMD":
            cmd = json.loads(rest)

def array(name, values):
    print(f"{name}=(" + " ".join(shlex.quote(v) for v in values) + ")")

print(f"suite={shlex.quote(suite)}")
array("packages", packages)
array("steps", steps)
array("env", env)
print(f"user={shlex.quote(user)}")
array("entrypoint", entrypoint)
array("cmd", cmd)
PY
}

# The apt sources of this machine for SUITE (SUITE, SUITE-updates, SUITE-security), as
# one-line "deb URI SUITE COMPONENTS" entries, one a line.
mirror_lines() {
    if [ -n "${IMAGE_ROOTFS_MIRROR:-}" ]; then
        echo "deb $IMAGE_ROOTFS_MIRROR $1 main"
        return
    fi
    python3 - "$1" <<'PY'
import glob, re, sys

suite = sys.argv[1]
found = []
def add(kind, uri, suites, components):
    for s in suites:
        if kind == "deb" and (s == suite or s.startswith(suite + "-")):
            found.append(f"deb {uri} {s} {' '.join(components) or 'main'}")
files = glob.glob("/etc/apt/sources.list") + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for name in files:
    for line in open(name, encoding="utf-8"):
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(line) >= 3:
            add(line[0], line[1], [line[2]], line[3:])
for name in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(name, encoding="utf-8").read()):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if fields.get("enabled", ["yes"])[0] == "no":
            continue
        for kind in fields.get("types", []):
            for uri in fields.get("uris", []):
                add(kind, uri, fields.get("suites", []), fields.get("components", []))
if not found:
    sys.exit(f"no 'deb' source for {suite} in /etc/apt/sources.list*; set IMAGE_ROOTFS_MIRROR=URI")
print("\n".join(dict.fromkeys(found)))
PY
}

# Prints the cache directory of ROOT (runtime|demo|gateway), building it first if missing.
# Reads the stage into the caller's variables (suite, packages, steps, ...).
ensure_root() {
    local name=$1 dockerfile stage definition key dir tmp started
    read -r dockerfile stage <<<"$(stage_of "$name")"
    definition=$(parse_stage "$dockerfile" "$stage") || die "cannot read $dockerfile"
    eval "$definition"
    key=$(printf '%s\n' "version $VERSION" "variant $VARIANT" "suite $suite" "${packages[@]}" | sha256sum | cut -c1-16)
    dir=$CACHE/$key
    if [ -d "$dir/root" ]; then
        root_dir=$dir
        return
    fi
    if ! command -v mmdebstrap >/dev/null; then
        echo "image-rootfs: installing mmdebstrap" >&2
        apt-get install -y --no-install-recommends mmdebstrap >&2 \
            || { apt-get update >&2 && apt-get install -y --no-install-recommends mmdebstrap >&2; }
    fi
    mkdir -p "$CACHE"
    # Half-built roots of runs that were killed.
    find "$CACHE" -maxdepth 1 -name '.building.*' -mmin +120 -exec rm -rf --one-file-system {} +
    tmp=$(mktemp -d "$CACHE/.building.XXXXXX")
    local mirrors=()
    mapfile -t mirrors < <(mirror_lines "$suite")
    ((${#mirrors[@]})) || die "no mirror for $suite"
    local include
    include=$(IFS=,; echo "${packages[*]}")
    echo "image-rootfs: building the $name root ($suite $VARIANT + ${packages[*]}) in $dir" >&2
    started=$SECONDS
    if ! mmdebstrap --quiet --variant="$VARIANT" ${include:+--include="$include"} \
        "$suite" "$tmp/root" "${mirrors[@]}" >"$tmp/mmdebstrap.log" 2>&1; then
        cat "$tmp/mmdebstrap.log" >&2
        rm -rf "$tmp"
        die "mmdebstrap failed for the $name root"
    fi
    printf '%s\n' "${packages[@]}" >"$tmp/packages"
    printf '%s\n' "${mirrors[@]}" >"$tmp/sources"
    # Another run may have finished the same root meanwhile: keep the first one.
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
    echo "image-rootfs: built the $name root in $((SECONDS - started)) s" >&2
    root_dir=$dir
}

# The directory holding the release relay-init and relay-gateway (the images' binaries),
# built first unless --skip-build.
release_bin() {
    if [ -n "${RELAY_ROOTFS_BIN:-}" ]; then
        echo "$RELAY_ROOTFS_BIN"
        return
    fi
    if ((!skip_build)); then
        local product
        for product in relay-init relay-gateway; do
            swift build "${BUILD_FLAGS[@]}" --product "$product" >&2
        done
    fi
    local dir=$repo/.build-release/release  # SwiftPM's link to the release bin path
    if [ ! -x "$dir/relay-init" ] || [ ! -x "$dir/relay-gateway" ]; then
        die "no release relay-init and relay-gateway in $dir: swift build ${BUILD_FLAGS[*]}"
    fi
    echo "$dir"
}

# relay-test-target runs outside the images: the release one when built, else the debug
# one (scripts/test.sh builds it with the tests).
target_binary() {
    local candidate
    for candidate in "$bin/relay-test-target" "$repo/.build/debug/relay-test-target"; do
        [ -x "$candidate" ] && { echo "$candidate"; return; }
    done
    die "no relay-test-target in $bin or .build/debug: swift build --product relay-test-target"
}

# Mounts a writable overlay of the cached root NAME at $work/NAME and applies the stage's
# COPY and RUN steps there (inside the private mount namespace of `check`).
prepare_root() {
    local name=$1 root=$work/$1 step kind a b
    ensure_root "$name"
    mkdir -p "$root" "$work/$name.upper" "$work/$name.work"
    if ! mount -t overlay overlay \
        -o "lowerdir=$root_dir/root,upperdir=$work/$name.upper,workdir=$work/$name.work" "$root" 2>/dev/null; then
        cp -a "$root_dir/root/." "$root/"  # no overlayfs here: a copy
    fi
    mount --bind /dev "$root/dev"
    for step in "${steps[@]}"; do
        kind=${step%% *}
        a=${step#* }
        case $kind in
            copy-bin)
                b=${a#* }
                a=${a%% *}
                install -D -m 0755 -s "$bin/$a" "$root$b"
                ;;
            copy)
                b=${a#* }
                a=${a%% *}
                mkdir -p "$(dirname "$root$b")"
                cp --preserve=mode "$repo/$a" "$root$b"
                ;;
            run) chroot "$root" /bin/sh -c "$a" ;;
        esac
    done
}

# Waits for "<name> listening on ADDR:PORT" in a log file (while PID lives) and prints PORT.
port_of() {
    local line
    for _ in $(seq 300); do
        line=$(grep -m1 "listening on" "$1" 2>/dev/null || true)
        if [ -n "$line" ]; then
            echo "${line##*:}"
            return
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "image-rootfs: no 'listening on' line in $1:" >&2
    cat "$1" >&2
    return 1
}

# Runs COMMAND in the namespace VAR names (RIG_WORKLOAD, ...) when --rig, else here. It
# execs, so a background `in_host ... &` has the command's own PID in $! (to kill it).
in_host() {
    local namespace=$1
    shift
    if ((rig)); then
        exec ip netns exec "${!namespace}" "$@"
    else
        exec "$@"
    fi
}

# The image's environment for a chroot: Docker's default PATH, HOME, the stage's ENV.
image_env() {
    printf '%s\n' "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "HOME=/root" "${env[@]}"
}

check_inner() {
    rig=$1
    skip_build=$2
    mount --make-rprivate /
    work=$(mktemp -d /tmp/relay-image-rootfs.XXXXXX)
    pids=()
    cleanup() {
        local status=$? pid log
        # The children first: an `unshare --fork` ignores SIGTERM, and its --kill-child
        # signal is lost once the child changes its uid (the gateway's USER); the child is
        # the PID namespace's init, so killing it ends everything in there.
        {
            for pid in "${pids[@]}"; do
                # shellcheck disable=SC2046 # a list of PIDs
                kill -KILL $(cat "/proc/$pid/task/$pid/children" 2>/dev/null) "$pid" || true
            done
            wait || true
        } 2>/dev/null  # not "Killed" for each
        if ((status)); then
            for log in "$work"/target.log "$work"/gateway.log; do
                [ -s "$log" ] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }
            done
        fi
        local name
        for name in runtime demo gateway; do
            umount "$work/$name/dev" 2>/dev/null || true
            umount "$work/$name" 2>/dev/null || true  # the overlay (a copy is no mount)
        done
        # Never into a mount that is still there (the roots' /dev is the host's).
        rm -rf --one-file-system "$work"
    }
    trap cleanup EXIT
    trap "exit 143" TERM INT HUP
    bin=$(release_bin)
    local target_addr=127.0.0.1 gateway_addr=127.0.0.1 listen=127.0.0.1:0
    if ((rig)); then
        target_addr=$RIG_TARGET_ADDR
        gateway_addr=$RIG_GATEWAY_ADDR
        listen=""  # the image's own --listen (0.0.0.0:8443)
    fi

    # The target, with its throwaway CA.
    mkdir -p "$work/target"
    local target_bin
    target_bin=$(target_binary)
    in_host RIG_TARGET "$target_bin" --cert-dir "$work/target" --names target.test \
        --listen "$target_addr:0" >"$work/target.log" 2>&1 &
    pids+=($!)
    local target_port
    target_port=$(port_of "$work/target.log" "${pids[-1]}")

    # The gateway, as its image runs it: the CMD's files in /etc/relay-gateway, as USER.
    prepare_root gateway
    local groot=$work/gateway token
    token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mkdir -p "$groot/etc/relay-gateway"
    echo "check:$token" >"$groot/etc/relay-gateway/tokens"
    cp "$work/target/ca.pem" "$groot/etc/relay-gateway/ca.crt"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=relay-gateway -addext "subjectAltName=IP:$gateway_addr" \
        -keyout "$groot/etc/relay-gateway/tls.key" -out "$groot/etc/relay-gateway/tls.crt" 2>/dev/null
    chown -R "${user:-0}" "$groot/etc/relay-gateway"
    local args=("${cmd[@]}") i
    if [ -n "$listen" ]; then
        for i in "${!args[@]}"; do [ "${args[i]}" = --listen ] && args[i + 1]=$listen; done
    fi
    local genv=()
    mapfile -t genv < <(image_env)
    in_host RIG_GATEWAY unshare --pid --fork --kill-child --mount-proc="$groot/proc" \
        chroot --userspec="${user:-0:0}" "$groot" /usr/bin/env -i "${genv[@]}" \
        "${entrypoint[@]}" "${args[@]}" --map-host "target.test=$target_addr" >"$work/gateway.log" 2>&1 &
    pids+=($!)
    local gateway_port
    gateway_port=$(port_of "$work/gateway.log" "${pids[-1]}")
    echo "image-rootfs: target https://target.test:$target_port, gateway https://$gateway_addr:$gateway_port (gateway root)"

    local name status=0 output
    for name in runtime demo; do
        prepare_root "$name"
        local root=$work/$name wenv=()
        cp "$groot/etc/relay-gateway/tls.crt" "$root/etc/gateway-tls-ca.crt"
        mapfile -t wenv < <(image_env)
        wenv+=(RELAY_INIT_GATEWAY="https://$gateway_addr:$gateway_port" RELAY_INIT_SESSION_ID=check
            RELAY_INIT_TOKEN="$token" RELAY_GATEWAY_TLS_CA=/etc/gateway-tls-ca.crt RELAY_INIT_FAIL_CLOSED=1)
        local run_command=()
        if [ "$name" = runtime ]; then
            # shellcheck disable=SC2016 # expanded by the image's sh
            run_command=(sh -c 'echo "pid1=$(cat /proc/1/comm)"; echo "proxy=$HTTPS_PROXY"; grep -c "BEGIN CERTIFICATE" "$SSL_CERT_FILE"')
        else
            run_command=(curl -sS --fail "https://target.test:$target_port/hello")
        fi
        echo "+ [$name root] ${entrypoint[*]} ${run_command[*]}"
        output=$(in_host RIG_WORKLOAD unshare --pid --fork --kill-child --mount-proc="$root/proc" \
            chroot "$root" /usr/bin/env -i "${wenv[@]}" "${entrypoint[@]}" "${run_command[@]}" 2>"$work/$name.err") \
            || status=$?
        printf '%s\n' "$output"
        if ((status)); then
            cat "$work/$name.err" >&2
            die "the $name root's run failed (exit $status)"
        fi
        case $name in
            runtime)
                grep -qx "pid1=relay-init" <<<"$output" || die "relay-init is not PID 1 in the runtime root"
                grep -q "^proxy=http://" <<<"$output" || die "no proxy environment in the runtime root"
                ;;
            demo) [ "$output" = "hello from target" ] || die "unexpected output from curl in the demo root" ;;
        esac
    done
    echo "image-rootfs: check passed"
}

action=${1:-}
shift || true
rig=0
skip_build=0
case $action in
    build)
        (($#)) || set -- runtime demo gateway
        for name in "$@"; do
            ensure_root "$name"
            echo "$name: $root_dir/root"
        done
        ;;
    check)
        for option in "$@"; do
            case $option in
                --rig) rig=1 ;;
                --skip-build) skip_build=1 ;;
                *) die "unknown option '$option'" ;;
            esac
        done
        ((EUID == 0)) || die "check needs root (mounts, chroot, PID namespaces)"
        # The roots first, outside the private namespace (they are kept).
        for name in gateway runtime demo; do ensure_root "$name"; done
        if ((rig)) && [ -z "${RIG_WORKLOAD:-}" ]; then
            # No rig given: one of our own, removed at the end (netns.sh gc removes it
            # should this script be killed, as it owns it).
            [ -x scripts/netns.sh ] || die "--rig needs RIG_* variables or scripts/netns.sh"
            eval "$(scripts/netns.sh up --owner $$)"
            own_rig=$RIG_ID
            trap 'scripts/netns.sh down "$own_rig" >/dev/null' EXIT
        fi
        if ((rig)); then
            for variable in RIG_WORKLOAD RIG_GATEWAY RIG_TARGET RIG_GATEWAY_ADDR RIG_TARGET_ADDR; do
                [ -n "${!variable:-}" ] || die "--rig needs $variable (eval \"\$(scripts/netns.sh up)\")"
                export "${variable?}"
            done
        fi
        unshare --mount --propagation private -- "$0" __check-inner "$rig" "$skip_build"
        ;;
    __check-inner) check_inner "$@" ;;
    packages)
        for name in runtime demo gateway; do
            read -r dockerfile stage <<<"$(stage_of "$name")"
            definition=$(parse_stage "$dockerfile" "$stage") || die "cannot read $dockerfile"
            eval "$definition"
            echo "$name $suite ${packages[*]}"
        done
        ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 64 ;;
esac
