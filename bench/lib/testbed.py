"""bench/run's set-up on 127.0.0.1: relay-test-target (HTTPS), the helper process, a
relay-gateway without TLS (ws) and one with TLS (wss), and a relay-init sidecar against each."""
import os
import re
import subprocess
import sys
import time

from .common import BENCH, sh, wait_for_line
from .processes import Processes


class Testbed:
    """The processes every scenario measures, and what it needs to reach them: ports, the CA,
    the token. `gateways[mode]` is (gateway pid, relay-init pid, relay-init port) for ws / wss."""

    def __init__(self, bin_dir):
        self.bin = bin_dir
        self.processes = Processes("relay-bench.")
        self.work = self.processes.work

    def start(self, name, argv, env=None):
        return self.processes.start(name, argv, env)

    def stop_all(self):
        self.processes.stop_all(remove_work=True)

    def setup(self):
        target, log = self.start("target", [f"{self.bin}/relay-test-target", "--cert-dir", self.work,
                                            "--names", "target.test,localhost"])
        self.target_port = int(wait_for_line(log, r"listening on [^:]+:(\d+)").group(1))
        helper, log = self.start("helper", [sys.executable, os.path.join(BENCH, "lib", "helper.py")])
        match = wait_for_line(log, r"echo (\d+) firehose (\d+) blackhole (\d+)")
        self.echo_port, self.firehose_port, self.black_hole_port = (int(match.group(i)) for i in (1, 2, 3))
        self.ca = os.path.join(self.work, "ca.pem")
        self.token = os.urandom(16).hex()
        # The system bundle relay-init merges in must know the gateway's issuer for https.
        self.system_ca = os.path.join(self.work, "system-ca.pem")
        with open(self.system_ca, "w") as out:
            out.write(open("/etc/ssl/certs/ca-certificates.crt").read() + "\n" + open(self.ca).read())
        self.gateways = {}
        self.gateway_urls = {}
        for mode, tls in (("ws", []), ("wss", ["--tls-cert", os.path.join(self.work, "server.pem"),
                                                "--tls-key", os.path.join(self.work, "server-key.pem")])):
            gateway, log = self.start(f"gateway-{mode}", [
                f"{self.bin}/relay-gateway", "--listen", "127.0.0.1:0", *(tls or ["--insecure-http"]),
                "--token", f"bench:{self.token}", "--ca-cert", self.ca, "--map-host", "target.test=127.0.0.1",
                "--max-tunnels-per-session", "100000", "--log-level", "error"])
            port = int(wait_for_line(log, r"listening on [^:]+:(\d+)").group(1))
            self.gateway_urls[mode] = f"{'https' if tls else 'http'}://localhost:{port}"
            relay, relay_port = self.start_relay(mode)
            self.gateways[mode] = (gateway.pid, relay.pid, relay_port)

    def relay_init_argv(self, mode, env_file, ca_bundle):
        """relay-init as a sidecar (or, with `--` and a child appended, as init) against the
        gateway of `mode`; the token comes from RELAY_INIT_TOKEN in `relay_env()`."""
        return [f"{self.bin}/relay-init", "--gateway", self.gateway_urls[mode], "--session-id", "bench",
                "--env-file", env_file, "--ca-bundle", ca_bundle, "--system-ca", self.system_ca,
                "--log-level", "error", "--fail-closed"]

    def relay_env(self):
        return dict(os.environ, RELAY_INIT_TOKEN=self.token)

    def start_relay(self, mode, name=None):
        """A relay-init sidecar against the gateway of `mode`; returns it and its port."""
        name = name or f"relay-init-{mode}"
        env_file = os.path.join(self.work, f"{name}.env")
        relay, log = self.start(name, self.relay_init_argv(
            mode, env_file, os.path.join(self.work, f"{name}-bundle.crt")), env=self.relay_env())
        deadline = time.time() + 30
        while not (os.path.exists(env_file) and "RELAY_INIT_PROXY_PORT" in open(env_file).read()):
            if relay.poll() is not None or time.time() > deadline:
                sys.exit(f"relay-init ({mode}) did not start:\n" + open(log).read())
            time.sleep(0.05)
        return relay, int(re.search(r"RELAY_INIT_PROXY_PORT='(\d+)'", open(env_file).read()).group(1))

    def curl(self, direction, size, extra):
        """Wall seconds of one curl transfer of `size` bytes from (download) or to (upload) the
        target; `extra` says which way curl goes (--proxy, --connect-to, --resolve)."""
        url = f"https://target.test:{self.target_port}"
        base = ["curl", "--silent", "--show-error", "--fail", "--cacert", self.ca, "--noproxy", ""] + extra
        if direction == "download":
            argv = base + ["-o", "/dev/null", f"{url}/bytes/{size}"]
            start = time.perf_counter()
            sh(*argv)
        else:
            argv = base + ["-T", "-", f"{url}/sha256"]
            start = time.perf_counter()
            feeder = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
            out = subprocess.run(argv, stdin=feeder.stdout, capture_output=True, text=True, check=True).stdout
            feeder.wait()
            assert out.split()[1] == str(size), out
        return time.perf_counter() - start
