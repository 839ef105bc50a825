"""Throughput and CPU per GiB: the same curl transfer through each path (direct, socat null
chains, tunnel ws / wss), median of --repeat runs. Rows are
(direction, mode, MB/s, relay or 1st socat CPU s/GiB, gateway or 2nd socat CPU s/GiB)."""
import statistics
import sys

from ..common import fmt
from ..hops import reap_with_rusage, socat_pair
from ..procfs import cpu_seconds

NAME = "throughput"


def measure_one(bed, mode, direction, size):
    """(wall seconds, CPU seconds of the first hop, of the second hop) of one transfer."""
    if mode == "direct":
        seconds = bed.curl(direction, size, ["--resolve", f"target.test:{bed.target_port}:127.0.0.1"])
        return seconds, None, None
    if mode.startswith("null chain"):
        first, second, first_port = socat_pair(bed.target_port, 262144 if "b256k" in mode else None)
        seconds = bed.curl(direction, size, ["--connect-to", f"target.test:{bed.target_port}:127.0.0.1:{first_port}"])
        # socat without fork: the whole process is the forwarder; its rusage is its CPU.
        return seconds, reap_with_rusage(first), reap_with_rusage(second)
    gateway_pid, relay_pid, relay_port = bed.gateways[mode.split()[-1]]
    before = cpu_seconds(relay_pid), cpu_seconds(gateway_pid)
    seconds = bed.curl(direction, size, ["--proxy", f"http://127.0.0.1:{relay_port}"])
    after = cpu_seconds(relay_pid), cpu_seconds(gateway_pid)
    return seconds, after[0] - before[0], after[1] - before[1]


def measure(bed, args):
    size = args.size_mib << 20
    gib = size / (1 << 30)
    rows = []
    for direction in args.directions.split(","):
        for mode in args.modes.split(","):
            runs = [measure_one(bed, mode, direction, size) for _ in range(args.repeat)]
            seconds = statistics.median(r[0] for r in runs)
            hop1 = [r[1] for r in runs if r[1] is not None]
            hop2 = [r[2] for r in runs if r[2] is not None]
            rows.append((direction, mode, size / seconds / 1e6,
                         statistics.median(hop1) / gib if hop1 else None,
                         statistics.median(hop2) / gib if hop2 else None))
            print(f"  {direction:8} {mode:16} {rows[-1][2]:8.0f} MB/s", file=sys.stderr, flush=True)
    return rows


def report(rows, args):
    lines = [f"### Throughput: {args.size_mib} MiB per transfer, median of {args.repeat}\n",
             "Ratios against the null chain (socat, default 8 KiB buffer) of the same run. For the null chains "
             "the first CPU column is the first socat and the second column the second socat.\n",
             "| direction | path | MB/s | × null chain | relay (or 1st socat) CPU s/GiB | × 1st socat | "
             "gateway (or 2nd socat) CPU s/GiB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for direction, mode, rate, cpu1, cpu2 in rows:
        null = next((r for r in rows if r[0] == direction and r[1] == "null chain"), None)
        ratio = rate / null[2] if null else None
        cpu_ratio = cpu1 / null[3] if null and cpu1 is not None and null[3] else None
        lines.append(f"| {direction} | {mode} | {rate:.0f} | {fmt(ratio, '.2f')} | {fmt(cpu1, '.3f')} | "
                     f"{fmt(cpu_ratio, '.2f')} | {fmt(cpu2, '.3f')} |")
    targets = []
    by = {(r[0], r[1]): r for r in rows}
    for direction, rate_min, cpu_max in (("download", 0.8, 1.25), ("upload", 0.6, 2.0)):
        tunnel, null = by.get((direction, "tunnel ws")), by.get((direction, "null chain"))
        if tunnel and null:
            ratio = tunnel[2] / null[2]
            targets.append((f"{direction}: tunnel ws MB/s × null chain", f"{ratio:.2f}", f"≥ {rate_min}",
                            ratio >= rate_min))
            if tunnel[3] is not None and null[3]:
                cpu = tunnel[3] / null[3]
                targets.append((f"{direction}: relay CPU/GiB × 1st socat", f"{cpu:.2f}", f"≤ {cpu_max}",
                                cpu <= cpu_max))
    return lines, targets
