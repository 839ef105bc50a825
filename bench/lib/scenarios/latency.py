"""CONNECT latency: --connections sequential rounds (connect → CONNECT → status line → 1-byte
echo → close) through the relay, next to the same echo through a socat fork null chain and
direct. The figures are {path: {"status": [ms...], "echo": [ms...]}}."""
import statistics
import sys

from ..common import fmt, percentile
from ..hops import one_round, socat_pair

NAME = "latency"


def measure(bed, args):
    count = args.connections
    _, _, relay_port = bed.gateways["ws"]
    first, second, first_port = socat_pair(bed.echo_port, fork=True)
    results = {}
    try:
        for path, port, connect in (("direct", bed.echo_port, False), ("null chain", first_port, False),
                                    ("tunnel ws", relay_port, True)):
            one_round(port, connect, bed.echo_port)  # warm up (first connection, caches)
            samples = [one_round(port, connect, bed.echo_port) for _ in range(count)]
            results[path] = {"status": [s[0] for s in samples if s[0] is not None],
                             "echo": [s[1] for s in samples]}
    finally:
        for proc in (first, second):
            proc.terminate()
            proc.wait()
    print("  latency done", file=sys.stderr, flush=True)
    return results


def report(latency, args):
    lines = ["", f"### CONNECT latency: {args.connections} sequential connections, ms\n",
             "status = connect → CONNECT → `200` status line; round trip = connect → (CONNECT → status →) "
             "1-byte echo → close. The null chain is two `socat fork` forwarders to the same echo server.\n",
             "| path | status p50 | status p99 | round trip p50 | round trip p99 | round trip p50 × null chain |",
             "|---|---:|---:|---:|---:|---:|"]
    null_p50 = statistics.median(latency["null chain"]["echo"])
    for path, s in latency.items():
        st = s["status"]
        lines.append(f"| {path} | {fmt(percentile(st, 50) if st else None, '.3f')} | "
                     f"{fmt(percentile(st, 99) if st else None, '.3f')} | {percentile(s['echo'], 50):.3f} | "
                     f"{percentile(s['echo'], 99):.3f} | {percentile(s['echo'], 50) / null_p50:.2f} |")
    st = latency["tunnel ws"]["status"]
    targets = [("CONNECT → status line p50", f"{percentile(st, 50):.3f} ms", "≤ 0.5 ms", percentile(st, 50) <= 0.5),
               ("CONNECT → status line p99", f"{percentile(st, 99):.3f} ms", "≤ 2 ms", percentile(st, 99) <= 2)]
    return lines, targets
