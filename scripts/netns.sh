#!/usr/bin/env bash
# Three hosts in network namespaces, for tests and the bench: the setting relay-init is for.
#
#   target    the test targets            198.19.X.2  (eth0, to gateway)
#   gateway   relay-gateway               198.18.X.1  (wl0, to workload)  198.19.X.1 (tg0, to target)
#   workload  relay-init and the clients  198.18.X.2  (eth0, to gateway only)
#
# The workload has no default route, no route to the target and no DNS server (an empty
# resolv.conf through ip netns exec's /etc/netns/NAME/); the gateway does not forward.
# Addresses are from 198.18.0.0/15 (benchmarking: neither private nor in NO_PROXY's defaults).
# Run as root; needs iproute2 (ip, tc).
#
#   netns.sh up [--rtt MS] [--jitter MS] [--loss PCT] [--owner PID]
#       Builds a rig and prints RIG_ID, RIG_WORKLOAD, RIG_GATEWAY, RIG_TARGET (namespace
#       names), RIG_GATEWAY_ADDR (the gateway as the workload sees it) and RIG_TARGET_ADDR
#       (the target as the gateway sees it) as shell assignments: eval "$(netns.sh up)".
#       The rig belongs to PID (default: the session leader, i.e. your shell; programs pass
#       their own PID); `gc` removes it once that process is gone. Every `up` runs `gc` first.
#   netns.sh exec ID HOST COMMAND...     runs COMMAND in HOST (workload, gateway or target)
#   netns.sh shell ID [HOST]             an interactive shell there (default: workload)
#   netns.sh link ID down|up             takes the workload <-> gateway link down or up
#   netns.sh netem ID [--rtt MS] [--jitter MS] [--loss PCT]
#       Delay, jitter and loss on the workload <-> gateway link: each direction gets half the
#       round trip (and half the jitter) and the loss. Each call sets all three (one left out
#       is 0); no option: a clean link again.
#   netns.sh down ID                     removes the rig (idempotent)
#   netns.sh gc                          removes the rigs whose owner has exited
#   netns.sh list                        the rigs and their owners
#
# The link is a veth pair shaped with tc netem. On a kernel without the netem qdisc
# (CONFIG_NET_SCH_NETEM), a rig created with any of --rtt/--jitter/--loss (0 included) gets
# a user-space link instead: two TUN devices and a forwarder (python3) that delays and drops,
# driven by the same `netem`, `link` and `down` commands. `up` without them keeps the veth.
set -euo pipefail

state_root=${RELAY_NETNS_STATE:-/run/relay-netns}
program=$(basename "$0")

die() {
    echo "$program: $*" >&2
    exit 1
}

usage() {
    sed -n '/^#   netns.sh/,/^# The link/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 64
}

require_tools() {
    [[ $(id -u) -eq 0 ]] || die "needs root (ip netns, veth pairs, tc)"
    command -v ip >/dev/null || die "ip is missing: install iproute2 (scripts/install-deps.sh)"
    command -v tc >/dev/null || die "tc is missing: install iproute2 (scripts/install-deps.sh)"
}

valid_id() {
    [[ ${1:-} =~ ^[0-9a-f]{6}$ ]] || die "not a rig ID: '${1:-}' (six hex digits, as \`up\` prints)"
}

ns_name() { # ID HOST
    echo "relay-$1-$2"
}

host_ns() { # ID HOST
    case $2 in
        workload | gateway | target) ns_name "$1" "$2" ;;
        *) die "unknown host '$2' (workload, gateway or target)" ;;
    esac
}

# The third octet of the rig's addresses: only readability (each rig has its own namespaces).
octet() {
    echo $((16#${1:0:2}))
}

# Field 22 of /proc/PID/stat (start time in ticks): a PID with another start time is another process.
start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086 # word splitting into fields is the point
    set -- $stat
    echo "${20}"
}

number() { # NAME VALUE
    [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 needs a non-negative number, not '$2'"
}

# Parses --rtt/--jitter/--loss (and --owner when allowed) into rtt, jitter, loss, owner, shaped.
parse_shape() {
    rtt=0 jitter=0 loss=0 shaped=""
    while (($#)); do
        case $1 in
            --rtt | --jitter | --loss)
                (($# >= 2)) || die "$1 needs a value"
                number "$1" "$2"
                printf -v "${1#--}" '%s' "$2"
                shaped=1
                shift 2
                ;;
            --owner)
                [[ ${allow_owner:-} ]] || die "unknown option $1"
                [[ ${2:-} =~ ^[0-9]+$ ]] || die "--owner needs a PID"
                owner=$2
                shift 2
                ;;
            *) die "unknown option $1" ;;
        esac
    done
}

half() { # MS -> MS/2 with three decimals
    awk -v v="$1" 'BEGIN { printf "%.3f", v / 2 }'
}

netem_supported() { # NS DEV
    ip netns exec "$1" tc qdisc add dev "$2" root netem delay 0ms 2>/dev/null \
        && ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null
}

# The user-space link: reads IP packets from one TUN device and writes them to the other
# after DELAY ms (+- JITTER, order kept), dropping LOSS %; rereads its parameters on SIGHUP.
# Exits when a device goes away (its namespace was deleted).
forwarder_program='
import fcntl, heapq, os, random, select, signal, struct, sys, time
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
names, params_file, ready_file = sys.argv[1:3], sys.argv[3], sys.argv[4]
def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd
a, b = tun(names[0]), tun(names[1])
params = [0.0, 0.0, 0.0]
def load(*_):
    with open(params_file) as f:
        params[:] = [float(x) for x in f.read().split()]
load()
signal.signal(signal.SIGHUP, load)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
open(ready_file, "w").close()
queue, seq, last, held, limit = [], 0, {a: 0.0, b: 0.0}, {a: 0, b: 0}, 20000
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    readable = select.select([a, b], [], [], timeout)[0]
    delay, jitter, loss = params[0] / 1000, params[1] / 1000, params[2] / 100
    for fd in readable:
        out = b if fd == a else a
        for _ in range(256):
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                sys.exit(0)
            if loss and random.random() < loss or held[out] >= limit:
                continue
            now = time.monotonic()
            due = max(now + delay + (random.uniform(-jitter, jitter) if jitter else 0.0), last[out])
            last[out] = due
            heapq.heappush(queue, (due, seq, out, packet))
            held[out] += 1
            seq += 1
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, out, packet = heapq.heappop(queue)
        held[out] -= 1
        try:
            os.write(out, packet)
        except OSError:
            pass
'

write_link_params() { # ID RTT JITTER LOSS
    echo "$(half "$2") $(half "$3") $4" >"$state_root/$1/link.params"
}

# Creates the user-space link between workload (eth0) and gateway (wl0).
emulated_link() { # ID
    local id=$1 state=$state_root/$1 python
    local a=rw$1 b=rg$1
    python=${RIG_PYTHON:-$(command -v python3)} || die "python3 is needed for the user-space link (no netem in this kernel)"
    write_link_params "$id" "$rtt" "$jitter" "$loss"
    rm -f "$state/forwarder.ready"
    setsid "$python" -c "$forwarder_program" "$a" "$b" "$state/link.params" "$state/forwarder.ready" \
        </dev/null >"$state/forwarder.log" 2>&1 &
    echo $! >"$state/forwarder.pid"
    local tries=0
    until [[ -e $state/forwarder.ready ]]; do
        kill -0 "$(cat "$state/forwarder.pid")" 2>/dev/null || die "the link forwarder failed: $(cat "$state/forwarder.log")"
        ((++tries < 500)) || die "the link forwarder did not start"
        sleep 0.01
    done
    ip link set dev "$a" netns "$(ns_name "$id" workload)"
    ip link set dev "$b" netns "$(ns_name "$id" gateway)"
    ip -n "$(ns_name "$id" workload)" link set dev "$a" name eth0
    ip -n "$(ns_name "$id" gateway)" link set dev "$b" name wl0
    echo emulated >"$state/link"
}

shape() { # ID
    local id=$1 state=$state_root/$1
    if [[ $(cat "$state/link" 2>/dev/null) == emulated ]]; then
        write_link_params "$id" "$rtt" "$jitter" "$loss"
        kill -HUP "$(cat "$state/forwarder.pid")"
        return
    fi
    local delay spread host device ns
    delay=$(half "$rtt")
    spread=$(half "$jitter")
    for host in workload:eth0 gateway:wl0; do
        device=${host#*:}
        ns=$(ns_name "$id" "${host%:*}")
        if [[ $rtt == 0 && $jitter == 0 && $loss == 0 ]]; then
            ip netns exec "$ns" tc qdisc del dev "$device" root 2>/dev/null || true
        elif ! ip netns exec "$ns" tc qdisc replace dev "$device" root netem limit 100000 \
            delay "${delay}ms" "${spread}ms" loss "${loss}%"; then
            die "tc netem failed: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM / sch_netem); create the rig with \`up --rtt 0\` to get the user-space link instead"
        fi
    done
}

cmd_up() {
    local allow_owner=1 owner
    # By default the session leader (the shell of `eval "$(netns.sh up)"`, not the command
    # substitution's short-lived subshell); the parent when the leader is gone.
    owner=$(ps -o sid= -p $$ | tr -d ' ')
    start_time "$owner" >/dev/null || owner=$PPID
    parse_shape "$@"
    start_time "$owner" >/dev/null || die "owner $owner is not a running process"
    cmd_gc
    mkdir -p "$state_root"
    local id state
    while :; do
        id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
        state=$state_root/$id
        mkdir "$state" 2>/dev/null && break
    done
    echo "$owner $(start_time "$owner")" >"$state/owner"
    trap 'cmd_down "$id" >/dev/null 2>&1 || true' EXIT

    local x w g t
    x=$(octet "$id")
    w=$(ns_name "$id" workload)
    g=$(ns_name "$id" gateway)
    t=$(ns_name "$id" target)
    for ns in "$w" "$g" "$t"; do
        ip netns add "$ns"
        ip -n "$ns" link set dev lo up
        # The namespace's identity, for `down` from another mount namespace (where
        # /run/netns/NAME is not mounted): processes in it are found through /proc/PID/ns/net.
        stat -L -c %i "/run/netns/$ns" >>"$state/inodes"
    done
    mkdir -p "/etc/netns/$w"
    : >"/etc/netns/$w/resolv.conf"

    ip -n "$g" link add name tg0 type veth peer name eth0 netns "$t"
    ip -n "$g" addr add "198.19.$x.1/24" dev tg0
    ip -n "$t" addr add "198.19.$x.2/24" dev eth0
    ip -n "$g" link set dev tg0 up
    ip -n "$t" link set dev eth0 up

    ip -n "$w" link add name eth0 type veth peer name wl0 netns "$g"
    if [[ $shaped ]] && ! netem_supported "$w" eth0; then
        ip -n "$w" link del dev eth0
        emulated_link "$id"
    else
        echo veth >"$state/link"
    fi
    ip -n "$w" addr add "198.18.$x.2/24" dev eth0
    ip -n "$g" addr add "198.18.$x.1/24" dev wl0
    ip -n "$w" link set dev eth0 up
    ip -n "$g" link set dev wl0 up
    [[ ! $shaped ]] || shape "$id"

    trap - EXIT
    printf 'RIG_ID=%s\nRIG_WORKLOAD=%s\nRIG_GATEWAY=%s\nRIG_TARGET=%s\nRIG_GATEWAY_ADDR=%s\nRIG_TARGET_ADDR=%s\n' \
        "$id" "$w" "$g" "$t" "198.18.$x.1" "198.19.$x.2"
}

cmd_down() {
    valid_id "${1:-}"
    local id=$1 state=$state_root/$1 host
    if [[ -f $state/forwarder.pid ]]; then
        local forwarder tries=0
        forwarder=$(cat "$state/forwarder.pid")
        kill "$forwarder" 2>/dev/null || true
        while kill -0 "$forwarder" 2>/dev/null && ((++tries < 200)); do sleep 0.01; done
        kill -KILL "$forwarder" 2>/dev/null || true
    fi
    # Processes left in the namespaces would keep them (and their links) alive.
    if [[ -s $state/inodes ]]; then
        local link pid
        for link in /proc/[0-9]*/ns/net; do
            pid=${link#/proc/}
            pid=${pid%%/*}
            [[ $pid != "$$" ]] || continue
            if grep -qx "$(readlink "$link" 2>/dev/null | tr -dc 0-9)" "$state/inodes"; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
    fi
    for host in workload gateway target; do
        local ns
        ns=$(ns_name "$id" "$host")
        if [[ -e /run/netns/$ns ]]; then
            ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
            ip netns del "$ns" 2>/dev/null || rm -f "/run/netns/$ns"
        fi
        rm -rf "/etc/netns/$ns"
    done
    rm -rf "$state"
}

cmd_gc() {
    [[ -d $state_root ]] || return 0
    local state id owner started
    for state in "$state_root"/*/; do
        [[ -d $state ]] || continue
        id=$(basename "$state")
        [[ $id =~ ^[0-9a-f]{6}$ ]] || continue
        read -r owner started <"$state/owner" 2>/dev/null || owner=""
        if [[ -z $owner ]]; then
            # Being created right now, or its creator died before it could say who it was.
            [[ -n $(find "$state" -maxdepth 0 -mmin +1) ]] || continue
        elif [[ $(start_time "$owner" || true) == "$started" ]]; then
            continue
        fi
        echo "$program: removing rig $id (owner ${owner:-unknown} is gone)" >&2
        cmd_down "$id"
    done
}

cmd_list() {
    [[ -d $state_root ]] || return 0
    local state owner started
    for state in "$state_root"/*/; do
        [[ -d $state ]] || continue
        read -r owner started <"$state/owner" 2>/dev/null || owner="?"
        echo "$(basename "$state") owner=$owner link=$(cat "$state/link" 2>/dev/null || echo '?')"
    done
}

existing() { # ID
    valid_id "${1:-}"
    [[ -d $state_root/$1 ]] || die "no rig $1 (see \`$program list\`)"
}

main() {
    (($#)) || usage
    local command=$1
    shift
    case $command in
        -h | --help | help) usage ;;
    esac
    require_tools
    case $command in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        gc) cmd_gc ;;
        list) cmd_list ;;
        exec)
            (($# >= 3)) || die "usage: exec ID HOST COMMAND..."
            existing "$1"
            local ns
            ns=$(host_ns "$1" "$2")
            shift 2
            exec ip netns exec "$ns" "$@"
            ;;
        shell)
            existing "${1:-}"
            local ns
            ns=$(host_ns "$1" "${2:-workload}")
            echo "$program: shell in $ns (exit to leave; the rig stays until \`$program down $1\`)" >&2
            RIG_HOST=${2:-workload} exec ip netns exec "$ns" "${SHELL:-/bin/bash}"
            ;;
        link)
            existing "${1:-}"
            [[ ${2:-} == up || ${2:-} == down ]] || die "usage: link ID down|up"
            ip -n "$(ns_name "$1" workload)" link set dev eth0 "$2"
            ip -n "$(ns_name "$1" gateway)" link set dev wl0 "$2"
            ;;
        netem)
            existing "${1:-}"
            local id=$1
            shift
            parse_shape "$@"
            shape "$id"
            ;;
        *) usage ;;
    esac
}

main "$@"
