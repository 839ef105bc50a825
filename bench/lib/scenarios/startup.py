"""Start-up in ms: {command: {"exit": [...], "child": [...]}} over --startups runs of
`relay-init … -- /bin/true` and of the references (tini, /bin/true, a C program linked to
libcurl). "exit" is spawn → exit; "child" is spawn → the child running, stamped by the child
itself (a C program that prints CLOCK_MONOTONIC, the clock of Python's perf_counter) when `cc`
is there."""
import os
import shutil
import subprocess
import sys
import time

from ..common import percentile

NAME = "startup"


def compile_c(work, name, source, *flags):
    """Builds a small C program in the work directory; None without a C compiler."""
    path = os.path.join(work, name)
    with open(path + ".c", "w") as f:
        f.write(source)
    if shutil.which("cc") and subprocess.run(["cc", "-O2", path + ".c", "-o", path, *flags],
                                              capture_output=True).returncode == 0:
        return path
    return None


def measure(bed, args):
    env = bed.relay_env()
    relay = bed.relay_init_argv("ws", os.path.join(bed.work, "startup.env"),
                                os.path.join(bed.work, "startup-bundle.crt")) + ["--"]
    tini = [shutil.which("tini"), "-s", "--"] if shutil.which("tini") else None
    stamp = compile_c(bed.work, "stamp", "#include <stdio.h>\n#include <time.h>\nint main(void) { struct timespec t; "
                      "clock_gettime(CLOCK_MONOTONIC, &t); printf(\"%ld.%09ld\\n\", (long)t.tv_sec, t.tv_nsec); "
                      "return 0; }\n")
    # The floor under relay-init's figure: a C program that only links the system libcurl
    # (and so loads its whole dependency tree) and exits.
    floor = compile_c(bed.work, "curl-floor", "#include <curl/curl.h>\nint main(void) { return curl_version() == 0; }\n",
                      "-lcurl")
    commands = {"/bin/true": (["/bin/true"], stamp and [stamp]),
                "relay-init -- /bin/true": (relay + ["/bin/true"], stamp and relay + [stamp])}
    if tini:
        commands["tini -- /bin/true"] = (tini + ["/bin/true"], stamp and tini + [stamp])
    if floor:
        commands["C program linked to libcurl, exits"] = ([floor], None)
    results = {}
    for name, (argv, stamped) in commands.items():
        exits, children = [], []
        for _ in range(args.startups + 1):
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            exits.append((time.perf_counter() - start) * 1000)
            if stamped:
                start = time.perf_counter()
                out = subprocess.run(stamped, env=env, check=True, capture_output=True, text=True).stdout
                children.append((float(out.strip()) - start) * 1000)
        results[name] = {"exit": exits[1:], "child": children[1:]}  # the first run warms the page cache
    print("  start-up done", file=sys.stderr, flush=True)
    return results


def report(startup, args):
    lines = ["", f"### Start-up: {args.startups} runs, ms\n",
             "child running = spawn → the child reading the monotonic clock (a small C program, so this "
             "includes its own exec; the `/bin/true` row is that program alone); "
             "exit = spawn → exit. relay-init's includes the CA fetch from the loopback gateway, the "
             "bundle and env file, the relay listener and the child; its exit figure adds the child "
             "and the shutdown.\n",
             "| command | child running p50 | child running p90 | exit p50 | exit p90 | exit min |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, times in startup.items():
        child = times["child"]
        child_cells = f"{percentile(child, 50):.2f} | {percentile(child, 90):.2f}" if child else "– | –"
        lines.append(f"| {name} | {child_cells} | {percentile(times['exit'], 50):.2f} | "
                     f"{percentile(times['exit'], 90):.2f} | {min(times['exit']):.2f} |")
    relay = startup["relay-init -- /bin/true"]
    if relay["child"]:
        p50 = percentile(relay["child"], 50)
        targets = [("start-up to child running p50", f"{p50:.1f} ms", "≤ 20 ms", p50 <= 20)]
    else:
        p50 = percentile(relay["exit"], 50)
        targets = [("start-up to child exit p50 (no cc for the stamp)", f"{p50:.1f} ms", "≤ 20 ms", p50 <= 20)]
    return lines, targets
