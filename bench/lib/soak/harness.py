"""The soak run: relay-gateway and a relay-init sidecar on loopback, the target servers, the
phases in order, a snapshot of /proc after each and the checks; then the table."""
import asyncio
import os
import re
import resource
import subprocess
import sys
import time

from ..procfs import Proc
from ..processes import Processes
from . import churn, stall
from .bounds import THREAD_SLACK
from .clients import echo_tunnel
from ..echo import echo_handler
from .servers import StreamServer
from .waits import settle, wait_for

SESSION = "soak"


def raise_fd_limit(concurrent):
    """RLIMIT_NOFILE up to the hard limit (children inherit it); exits if that is too low for
    `concurrent` tunnels."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 3 * concurrent + 512
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} descriptors {concurrent} tunnels need")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Soak:
    """One soak run: its processes, the rows of its table and the checks that failed."""

    def __init__(self, args):
        self.args = args
        self.processes = Processes("relay-soak.")
        self.work = self.processes.work
        self.rows = []
        self.failures = []
        self.after_concurrent = None  # the snapshot after the first round of concurrent tunnels

    def check(self, ok, message):
        print(("  ok    " if ok else "  FAIL  ") + message, flush=True)
        if not ok:
            self.failures.append(message)

    def start(self, name, argv, env=None):
        return self.processes.start(name, argv, env)

    def stop_all(self):
        self.processes.stop_all()

    async def setup(self, echo_port, stream_port):
        ca = os.path.join(self.work, "ca.pem")
        # The gateway must serve some CA certificate (relay-init checks that it parses as one):
        # relay-test-target writes a fresh one before it prints its listening line.
        maker = subprocess.Popen([f"{self.args.bin}/relay-test-target", "--cert-dir", self.work, "--plain-http"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        maker.stdout.readline()
        maker.terminate()
        maker.wait()
        token = os.urandom(16).hex()
        gateway, log = self.start("gateway", [
            f"{self.args.bin}/relay-gateway", "--listen", "127.0.0.1:0", "--insecure-http",
            "--token", f"{SESSION}:{token}", "--ca-cert", ca,
            "--map-host", "echo.test=127.0.0.1", "--map-host", "stream.test=127.0.0.1",
            "--max-tunnels-per-session", str(self.args.concurrent + 100), "--log-level", "error"])
        port = int(await self.wait_for_line(log, r"listening on [^:]+:(\d+)"))
        env_file = os.path.join(self.work, "proxy.env")
        relay, relay_log = self.start("relay-init", [
            f"{self.args.bin}/relay-init", "--gateway", f"http://127.0.0.1:{port}", "--session-id", SESSION,
            "--env-file", env_file, "--ca-bundle", os.path.join(self.work, "bundle.crt"), "--system-ca", ca,
            "--log-level", "warning", "--fail-closed"], env=dict(os.environ, RELAY_INIT_TOKEN=token))
        await wait_for(lambda: relay.poll() is not None or (
            os.path.exists(env_file) and "RELAY_INIT_PROXY_PORT" in open(env_file).read()), "relay-init to start", 30)
        if relay.poll() is not None:
            sys.exit("relay-init did not start:\n" + open(relay_log).read())
        self.port = int(re.search(r"RELAY_INIT_PROXY_PORT='(\d+)'", open(env_file).read()).group(1))
        self.relay, self.gateway = Proc(relay.pid, "relay-init"), Proc(gateway.pid, "relay-gateway")
        self.echo = f"echo.test:{echo_port}"
        self.stream = f"stream.test:{stream_port}"

    async def wait_for_line(self, log, pattern):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(pattern, open(log).read())
            if match:
                return match.group(1)
            await asyncio.sleep(0.05)
        sys.exit(f"timed out waiting for {pattern!r} in {log}:\n" + open(log).read())

    async def snapshot(self, phase, seconds=None, note=""):
        relay_fds = await settle(self.relay.fds)
        gateway_fds = await settle(self.gateway.fds)
        rss = await settle(self.relay.rss_kib, quiet=0.5)
        row = dict(phase=phase, fds=relay_fds, rss=rss, threads=self.relay.threads(), gw_fds=gateway_fds,
                   gw_rss=self.gateway.rss_kib(), seconds=seconds, note=note)
        self.rows.append(row)
        return row

    async def back_to_baseline(self, after):
        try:
            await wait_for(lambda: self.relay.fds() == self.idle["fds"] and self.gateway.fds() == self.idle["gw_fds"],
                           "descriptors back to the baseline", timeout=20)
            ok = True
        except TimeoutError:
            ok = False
        self.check(ok, f"{after}: relay fds {self.relay.fds()} (baseline {self.idle['fds']}), "
                       f"gateway fds {self.gateway.fds()} (baseline {self.idle['gw_fds']})"
                   + ("" if ok else f"\n        relay holds: {self.relay.fd_targets()}"))
        threads = self.relay.threads()
        self.check(threads <= self.idle["threads"] + THREAD_SLACK,
                   f"{after}: relay threads {threads} (idle {self.idle['threads']}, bound +{THREAD_SLACK})")

    async def short(self, index):
        reader, writer = await echo_tunnel(self.port, self.echo, index)
        writer.close()
        await writer.wait_closed()

    async def run(self):
        echo = await asyncio.start_server(echo_handler, "127.0.0.1", 0, backlog=1024)
        download = StreamServer("send", self.args.memory_mib)
        upload = StreamServer("receive", self.args.memory_mib)
        current = {"server": download}
        stream = await asyncio.start_server(lambda r, w: current["server"].handle(r, w), "127.0.0.1", 0)
        await self.setup(echo.sockets[0].getsockname()[1], stream.sockets[0].getsockname()[1])
        for index in range(10):  # warm-up: first-use allocations are not leaks
            await self.short(index)
        self.idle = await self.snapshot("idle (warmed up)")
        skip = set(self.args.skip.split(",")) if self.args.skip else set()
        if "download" not in skip:
            await stall.stalled_transfer(self, "download", download)
        if "upload" not in skip:
            current["server"] = upload
            await stall.stalled_transfer(self, "upload", upload)
        if "concurrent" not in skip:
            for _ in range(2):
                await churn.concurrent(self)
        if "sequential" not in skip:
            await churn.sequential(self)
        if "parallel" not in skip:
            await churn.parallel(self)
        echo.close()
        stream.close()

    def report(self):
        print(f"\nrelay-init ({self.args.bin}) pid {self.relay.pid}, relay-gateway pid {self.gateway.pid}\n")
        print("| phase | relay fds | relay RSS MiB | relay threads | gateway fds | gateway RSS MiB | time s | note |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for r in self.rows:
            seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else ""
            print(f"| {r['phase']} | {r['fds']} | {r['rss'] / 1024:.1f} | {r['threads']} | {r['gw_fds']} | "
                  f"{r['gw_rss'] / 1024:.1f} | {seconds} | {r['note']} |")
