"""Paths and small helpers shared by bench/run and bench/soak."""
import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
MIB = 1 << 20


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def wait_for_line(proc_log, pattern, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(proc_log) as f:
            match = re.search(pattern, f.read())
        if match:
            return match
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {pattern!r} in {proc_log}:\n" + open(proc_log).read())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fmt(value, spec):
    return format(value, spec) if value is not None else "–"
