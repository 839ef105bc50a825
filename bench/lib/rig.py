"""The three-host rig of scripts/netns.sh (workload, gateway, target in network namespaces),
for the bench: up, a process in one host, the link's RTT, down."""
import os
import re
import subprocess
import sys
import time

from .common import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "netns.sh")


class Rig:
    """A rig owned by this process (`netns.sh gc` removes it should the bench die outright).
    Created with `--rtt 0`, so that a kernel without netem gets the user-space link at once."""

    def __init__(self):
        if os.geteuid() != 0:
            sys.exit("the rtt scenario needs root (network namespaces): run bench/run as root")
        out = subprocess.run([SCRIPT, "up", "--rtt", "0", "--owner", str(os.getpid())],
                             check=True, capture_output=True, text=True).stdout
        values = dict(re.findall(r"^(RIG_\w+)=(\S+)$", out, re.M))
        self.id = values["RIG_ID"]
        self.gateway_addr, self.target_addr = values["RIG_GATEWAY_ADDR"], values["RIG_TARGET_ADDR"]
        listing = subprocess.run([SCRIPT, "list"], capture_output=True, text=True).stdout
        match = re.search(rf"^{self.id} .*link=(\S+)", listing, re.M)
        # "veth" (shaped with tc netem) or "emulated" (the python TUN forwarder: no netem here)
        self.link = match.group(1) if match else "?"

    def argv(self, host, argv):
        """`argv` run in `host` (ip netns exec replaces itself with it: the PID is argv's)."""
        return ["ip", "netns", "exec", f"relay-{self.id}-{host}", *argv]

    def rtt(self, ms):
        subprocess.run([SCRIPT, "netem", self.id, "--rtt", str(ms)], check=True)

    def down(self):
        subprocess.run([SCRIPT, "down", self.id], check=False)


def wait_listening(pid, port, timeout=10):
    """Waits for a listening TCP socket on `port` in the network namespace of `pid` (its
    /proc/PID/net/tcp), without connecting: a socat without fork serves one connection."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/net/tcp") as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.split(":")[1], 16) == port:
                        return
        except OSError:
            pass
        time.sleep(0.01)
    sys.exit(f"nothing listens on {port} (pid {pid})")
