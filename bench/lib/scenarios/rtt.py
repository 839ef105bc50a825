"""The relay under real round trips (--rtt 0,20,80): one rig of scripts/netns.sh, the target in
`target`, relay-gateway (ws) in `gateway` (names mapped there only), a relay-init sidecar and
the clients in `workload`, the workload ↔ gateway link reshaped for each RTT. Per RTT, through
the relay and through the socat null chain over the same link (socat in workload → socat in
gateway → target):
  latency   K sequential connect (→ CONNECT → 200) → 1-byte echo → close, K = --connections
            (at most 200)
  download  a --size-mib curl download: MB/s, CPU s/GiB of relay-init / the 1st socat
  packages  --rtt-requests HTTPS GETs of a small file, each on a new connection and TLS
            session, as npm / pip do without connection reuse: total seconds
The figures are {rtt: {path: {...}}} plus the link kind."""
import json
import os
import re
import statistics
import subprocess
import sys
import time

from ..common import BENCH, fmt, free_port, percentile, wait_for_line
from ..hops import reap_with_rusage
from ..processes import Processes
from ..procfs import cpu_seconds
from ..rig import Rig, wait_listening

NAME = "rtt"
CLIENT = os.path.join(BENCH, "lib", "rttclient.py")
SMALL = 16 * 1024  # the package-manager file: a small tarball or wheel's metadata
ECHO = """
import asyncio, sys
async def echo(r, w):
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()
async def main():
    server = await asyncio.start_server(echo, "0.0.0.0", int(sys.argv[1]), backlog=2048)
    print("echo listening", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class Hosts:
    """The processes of the scenario in the rig: target, echo, gateway, relay-init sidecar."""

    def __init__(self, bed, rig, procs):
        self.bed, self.rig, self.procs = bed, rig, procs
        work = self.procs.work
        _, log = self.procs.start("target", rig.argv("target", [
            f"{bed.bin}/relay-test-target", "--cert-dir", bed.work, "--names", "target.test,localhost",
            "--listen", "0.0.0.0:0"]))
        self.target_port = int(wait_for_line(log, r"listening on [^:]+:(\d+)").group(1))
        self.echo_port = free_port()
        _, log = self.procs.start("echo", rig.argv("target", [sys.executable, "-c", ECHO, str(self.echo_port)]))
        wait_for_line(log, "echo listening")
        gateway, log = self.procs.start("gateway", rig.argv("gateway", [
            f"{bed.bin}/relay-gateway", "--listen", f"{rig.gateway_addr}:0", "--insecure-http",
            "--token", f"bench:{bed.token}", "--ca-cert", bed.ca, "--map-host", f"target.test={rig.target_addr}",
            "--max-tunnels-per-session", "100000", "--log-level", "error"]))
        gateway_port = int(wait_for_line(log, r"listening on [^:]+:(\d+)").group(1))
        env_file = os.path.join(work, "relay-init.env")
        relay, log = self.procs.start("relay-init", rig.argv("workload", [
            f"{bed.bin}/relay-init", "--gateway", f"http://{rig.gateway_addr}:{gateway_port}", "--session-id", "bench",
            "--env-file", env_file, "--ca-bundle", os.path.join(work, "bundle.crt"), "--system-ca", bed.system_ca,
            "--log-level", "error", "--fail-closed"]), env=bed.relay_env())
        deadline = time.time() + 30
        while not (os.path.exists(env_file) and "RELAY_INIT_PROXY_PORT" in open(env_file).read()):
            if relay.poll() is not None or time.time() > deadline:
                sys.exit("relay-init in the rig did not start:\n" + open(log).read())
            time.sleep(0.05)
        self.relay_pid = relay.pid
        self.relay_port = int(re.search(r"RELAY_INIT_PROXY_PORT='(\d+)'", open(env_file).read()).group(1))
        # Fork null chains for the many-connection figures, to the echo server and the target.
        self.null_echo = self.socat_pair(self.echo_port, fork=True)[2]
        self.null_target = self.socat_pair(self.target_port, fork=True)[2]

    def socat_pair(self, to_port, fork=False):
        """socat in workload (127.0.0.1) → socat in gateway → the target host's to_port;
        returns (first, second, first port)."""
        listen = ",fork" if fork else ""
        second_port, first_port = free_port(), free_port()
        second, _ = self.procs.start(f"socat-{second_port}", self.rig.argv("gateway", [
            "socat", f"TCP-LISTEN:{second_port},bind={self.rig.gateway_addr},reuseaddr,nodelay{listen}",
            f"TCP:{self.rig.target_addr}:{to_port},nodelay"]))
        wait_listening(second.pid, second_port)
        first, _ = self.procs.start(f"socat-{first_port}", self.rig.argv("workload", [
            "socat", f"TCP-LISTEN:{first_port},bind=127.0.0.1,reuseaddr,nodelay{listen}",
            f"TCP:{self.rig.gateway_addr}:{second_port},nodelay"]))
        wait_listening(first.pid, first_port)
        return first, second, first_port

    def client(self, *args):
        """bench/lib/rttclient.py in workload; its JSON."""
        out = subprocess.run(self.rig.argv("workload", [sys.executable, CLIENT, *map(str, args)]),
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def download(self, size, extra):
        argv = ["curl", "--silent", "--show-error", "--fail", "--cacert", self.bed.ca, "--noproxy", "", *extra,
                "-o", "/dev/null", f"https://target.test:{self.target_port}/bytes/{size}"]
        start = time.perf_counter()
        subprocess.run(self.rig.argv("workload", argv), check=True)
        return time.perf_counter() - start



def download(hosts, path, size):
    """(seconds, CPU seconds of relay-init or the first socat) of one download."""
    if path == "tunnel ws":
        before = cpu_seconds(hosts.relay_pid)
        seconds = hosts.download(size, ["--proxy", f"http://127.0.0.1:{hosts.relay_port}"])
        return seconds, cpu_seconds(hosts.relay_pid) - before
    first, second, port = hosts.socat_pair(hosts.target_port)
    seconds = hosts.download(size, ["--connect-to", f"target.test:{hosts.target_port}:127.0.0.1:{port}"])
    cpu = reap_with_rusage(first)
    reap_with_rusage(second)
    return seconds, cpu


def measure(bed, args):
    if not args.rtt:
        return None
    rtts = [float(x) if "." in x else int(x) for x in args.rtt.split(",")]
    count = min(args.connections, 200)
    size = args.size_mib << 20
    rig = Rig()
    procs = Processes("relay-bench-rtt.")
    figures = {"link": rig.link, "connections": count, "requests": args.rtt_requests, "rtts": {}}
    try:
        hosts = Hosts(bed, rig, procs)
        for rtt in rtts:
            rig.rtt(rtt)
            row = {}
            for path, port, tunnel in (("null chain", None, False), ("tunnel ws", hosts.relay_port, True)):
                flag = ["--tunnel"] if tunnel else []
                lat = hosts.client("latency", port or hosts.null_echo, count, hosts.echo_port, *flag)["samples"]
                runs = [download(hosts, path, size) for _ in range(args.repeat)]
                fetch = hosts.client("fetch", port or hosts.null_target, args.rtt_requests, hosts.target_port,
                                     f"bytes/{SMALL}", bed.ca, *flag)
                row[path] = {"status": [s[0] for s in lat if s[0] is not None], "echo": [s[1] for s in lat],
                             "mbps": size / statistics.median(r[0] for r in runs) / 1e6,
                             "cpu": statistics.median(r[1] for r in runs) / (size / (1 << 30)),
                             "requests": fetch["samples"], "total": fetch["total"]}
                print(f"  rtt {rtt:>3} ms {path:10} echo p50 {percentile(row[path]['echo'], 50):7.1f} ms  "
                      f"{row[path]['mbps']:6.0f} MB/s  {args.rtt_requests} requests {fetch['total']:6.2f} s",
                      file=sys.stderr, flush=True)
            figures["rtts"][rtt] = row
    finally:  # also on errors and Ctrl-C; a bench killed outright leaves the rig to `netns.sh gc`
        procs.stop_all(remove_work=True)
        rig.down()
    return figures


def report(figures, args):
    link = ("a veth pair shaped by tc netem" if figures["link"] == "veth" else
            "the user-space link of scripts/netns.sh (this kernel has no netem: a python TUN forwarder, "
            "whose own ceiling caps the MB/s of both paths alike)")
    lines = ["", f"### Under real round trips: workload ↔ gateway at {', '.join(map(str, figures['rtts']))} ms RTT\n",
             f"Three network namespaces (scripts/netns.sh); the link is {link}. Null chain = socat in workload → "
             f"socat in gateway → target over the same link. Latency: {figures['connections']} sequential "
             f"connections, ms (round trip = connect → (CONNECT → 200 →) 1-byte echo → close). Download: "
             f"{args.size_mib} MiB, median of {args.repeat}; CPU is relay-init's or the 1st socat's. Packages: "
             f"{figures['requests']} HTTPS GETs of {SMALL // 1024} KiB, each on a new connection and TLS session.\n",
             "| RTT ms | path | CONNECT → 200 p50 | p99 | round trip p50 | p99 | × null | download MB/s | × null | "
             "CPU s/GiB | × null | packages s | × null |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rtt, row in figures["rtts"].items():
        null = row["null chain"]
        for path, f in row.items():
            st = f["status"]
            echo50, null50 = percentile(f["echo"], 50), percentile(null["echo"], 50)
            lines.append(
                f"| {rtt} | {path} | {fmt(percentile(st, 50) if st else None, '.1f')} | "
                f"{fmt(percentile(st, 99) if st else None, '.1f')} | {echo50:.1f} | {percentile(f['echo'], 99):.1f} | "
                f"{echo50 / null50:.2f} | {f['mbps']:.0f} | {f['mbps'] / null['mbps']:.2f} | {f['cpu']:.2f} | "
                f"{fmt(f['cpu'] / null['cpu'] if null['cpu'] else None, '.2f')} | {f['total']:.2f} | "
                f"{f['total'] / null['total']:.2f} |")
    return lines, []
