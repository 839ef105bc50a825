"""bench/run --perf: perf record (call graphs) of relay-init and relay-gateway during one tunnel
ws transfer, then the top symbols by self time, demangled."""
import os
import re
import shutil
import signal
import subprocess
import time

from .common import BENCH, ROOT


def profile(bed, direction, size):
    gateway_pid, relay_pid, relay_port = bed.gateways["ws"]
    out = os.path.join(BENCH, "out")
    os.makedirs(out, exist_ok=True)
    recorders = []
    for name, pid in (("relay-init", relay_pid), ("relay-gateway", gateway_pid)):
        data = os.path.join(out, f"perf-{direction}-{name}.data")
        recorders.append((name, data, subprocess.Popen(
            ["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", data],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(0.5)
    seconds = bed.curl(direction, size, ["--proxy", f"http://127.0.0.1:{relay_port}"])
    for _, _, proc in recorders:
        proc.send_signal(signal.SIGINT)
        proc.wait()
    print(f"{direction} of {size >> 20} MiB through tunnel ws under perf: {size / seconds / 1e6:.0f} MB/s\n")
    for name, data, _ in recorders:
        report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--percent-limit", "1",
                                 "-g", "none", "-F", "overhead,dso,sym"], capture_output=True, text=True).stdout
        lines = [l.rstrip() for l in report.splitlines() if l.strip() and not l.startswith("#")]
        if shutil.which("swift"):  # Swift symbols are mangled in the report
            lines = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(lines),
                                   capture_output=True, text=True).stdout.splitlines()
        print(f"## {name} (self time, perf data: {os.path.relpath(data, ROOT)})\n")
        print("\n".join(re.sub(r"\s{3,}", "  ", l) for l in lines[:25]) + "\n")
