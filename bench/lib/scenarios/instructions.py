"""Instructions per MiB in relay-init's data path, counted by valgrind's callgrind: a figure
that, unlike CPU seconds, does not move with what else the machine is doing, so two builds
compare to the percent on a shared machine (`bench/run --instructions --bin OLD`, then
`--bin NEW`). Opt-in (--instructions): callgrind runs the relay some 50 times slower.

For each mode (ws, wss) and direction, a fresh relay-init sidecar runs under callgrind and
carries one small and one large transfer; the difference of the two counts over the
difference of the sizes is the data path's cost per MiB, start-up and tunnel set-up cancelled
out. Rows are (direction, mode, instructions per MiB)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

NAME = "instructions"
SMALL_MIB = 1


def stripped_relay_init(bed):
    """A copy of relay-init without debug info: this valgrind cannot read the DWARF 5 of Swift
    binaries (it gives up on the whole process). The code is the same bytes."""
    path = os.path.join(bed.work, "relay-init.stripped")
    if not os.path.exists(path):
        subprocess.run(["objcopy", "--strip-debug", f"{bed.bin}/relay-init", path], check=True)
    return path


def counted_relay(bed, mode, name):
    """A relay-init sidecar under callgrind; returns
    (process, port, callgrind's output file)."""
    out = os.path.join(bed.work, f"{name}.callgrind")
    env_file = os.path.join(bed.work, f"{name}.env")
    relay_init = bed.relay_init_argv(mode, env_file, os.path.join(bed.work, f"{name}-bundle.crt"))
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + [stripped_relay_init(bed)] + relay_init[1:]
    relay, log = bed.start(name, argv, env=bed.relay_env())
    deadline = time.time() + 300
    while not (os.path.exists(env_file) and "RELAY_INIT_PROXY_PORT" in open(env_file).read()):
        if relay.poll() is not None or time.time() > deadline:
            sys.exit(f"relay-init under callgrind ({mode}) did not start:\n" + open(log).read())
        time.sleep(0.2)
    return relay, int(re.search(r"RELAY_INIT_PROXY_PORT='(\d+)'", open(env_file).read()).group(1)), out


def instructions_after(bed, mode, direction, mib, name):
    """Instructions relay-init executed in all, from start to exit, carrying one transfer."""
    relay, port, out = counted_relay(bed, mode, name)
    bed.curl(direction, mib << 20, ["--proxy", f"http://127.0.0.1:{port}"])
    relay.send_signal(signal.SIGTERM)
    relay.wait(timeout=120)
    totals = [line for line in open(out) if line.startswith(("summary:", "totals:"))]
    return int(totals[0].split()[1])


def measure(bed, args):
    if not args.instructions:
        return None
    if not shutil.which("valgrind"):
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    rows = []
    for direction in args.directions.split(","):
        for mode in ("ws", "wss"):
            small = instructions_after(bed, mode, direction, SMALL_MIB, f"count-{mode}-{direction}-small")
            large = instructions_after(bed, mode, direction, args.instructions_mib, f"count-{mode}-{direction}-large")
            per_mib = (large - small) / (args.instructions_mib - SMALL_MIB)
            rows.append((direction, f"tunnel {mode}", per_mib))
            print(f"  {direction:8} tunnel {mode:4} {per_mib / 1e6:8.2f} M instructions/MiB", file=sys.stderr, flush=True)
    return rows


def report(rows, args):
    lines = ["", f"### relay-init instructions per MiB (callgrind; {SMALL_MIB} vs {args.instructions_mib} MiB)\n",
             "| direction | path | M instructions / MiB |", "|---|---|---:|"]
    lines += [f"| {direction} | {mode} | {per_mib / 1e6:.2f} |" for direction, mode, per_mib in rows]
    return lines, []
