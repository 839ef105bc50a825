"""Memory: RSS (MiB) of a fresh relay-init sidecar (ws): idle, with --tunnels idle tunnels, after
they close, and while a client stalls on an endless download or uploads to a target that never
reads (peak growth over 10 s, 5 s with --quick)."""
import socket
import sys
import time

from ..hops import open_tunnel
from ..tunnel import connect_request
from ..procfs import rss_anon_mib, rss_mib

NAME = "memory"


def measure(bed, args):
    tunnels, stall_seconds = args.tunnels, 5 if args.quick else 10
    relay, relay_port = bed.start_relay("ws", "relay-init-memory")
    figures = {}
    time.sleep(0.5)
    figures["idle"] = rss_mib(relay.pid)
    figures["idle anon"] = rss_anon_mib(relay.pid)
    # One tunnel first so that lazily created state (event loops, TLS, allocator arenas) is
    # counted as idle rather than as the first tunnel's cost.
    sock = open_tunnel(relay_port, bed.echo_port)
    sock.close()
    time.sleep(0.5)
    figures["idle after one tunnel"] = rss_mib(relay.pid)
    figures["idle after one tunnel anon"] = rss_anon_mib(relay.pid)
    socks = []
    for _ in range(tunnels):
        socks.append(open_tunnel(relay_port, bed.echo_port))
    # Every tunnel is established end to end: a byte goes round each one.
    for sock in socks:
        sock.sendall(b"x")
    for sock in socks:
        assert sock.recv(1) == b"x"
    time.sleep(1)
    figures["open"] = rss_mib(relay.pid)
    figures["open anon"] = rss_anon_mib(relay.pid)
    for sock in socks:
        sock.close()
    time.sleep(3)
    figures["closed"] = rss_mib(relay.pid)
    figures["closed anon"] = rss_anon_mib(relay.pid)
    # A client that asks for a download and never reads: the relay must stop reading too.
    sock = socket.create_connection(("127.0.0.1", relay_port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(connect_request(f"target.test:{bed.firehose_port}"))
    before = rss_mib(relay.pid)
    peak = before
    deadline = time.time() + stall_seconds
    while time.time() < deadline:
        time.sleep(0.1)
        peak = max(peak, rss_mib(relay.pid))
    figures["stall growth"] = peak - before
    sock.close()
    # A client that uploads without end to a target that never reads: the relay must stop
    # reading from the client.
    sock = socket.create_connection(("127.0.0.1", relay_port))
    sock.sendall(connect_request(f"target.test:{bed.black_hole_port}"))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    sock.setblocking(False)
    block = bytes(256 * 1024)
    before = rss_mib(relay.pid)
    peak = before
    deadline = time.time() + stall_seconds
    while time.time() < deadline:
        try:
            sock.send(block)
        except BlockingIOError:
            time.sleep(0.1)
        peak = max(peak, rss_mib(relay.pid))
    figures["upload stall growth"] = peak - before
    sock.close()
    relay.terminate()
    relay.wait()
    print("  memory done", file=sys.stderr, flush=True)
    return figures


def report(memory, args):
    lines = ["", "### Memory: relay-init (sidecar, ws) RSS, MiB\n",
             "RssAnon is the relay's own memory (heap, stacks, buffers); the rest of the RSS is "
             "file-backed pages of the binary and the shared libraries (libcurl and its ~30 "
             "dependencies), clean and shared with other processes.\n",
             "| state | RSS MiB | vs idle | RssAnon MiB |", "|---|---:|---:|---:|"]
    idle = memory["idle"]
    for state in ("idle", "idle after one tunnel", "open", "closed"):
        label = {"open": f"{args.tunnels} idle tunnels open", "closed": "after they closed (+3 s)"}.get(state, state)
        lines.append(f"| {label} | {memory[state]:.1f} | {memory[state] - idle:+.1f} | {memory[state + ' anon']:.1f} |")
    lines.append(f"| stalled client on an endless download: growth over the stall | "
                 f"{memory['stall growth']:+.1f} | | |")
    lines.append(f"| endless upload to a target that never reads: growth over the stall | "
                 f"{memory['upload stall growth']:+.1f} | | |")
    per_1000 = (memory["open"] - idle) * 1000 / args.tunnels
    targets = [("RSS idle", f"{idle:.1f} MiB", "≤ 16 MiB", idle <= 16),
               ("RSS growth per 1,000 idle tunnels", f"{per_1000:+.1f} MiB", "≤ +24 MiB", per_1000 <= 24),
               ("RSS after close vs idle", f"{memory['closed'] - idle:+.1f} MiB", "≤ 4 MiB",
                memory["closed"] - idle <= 4),
               ("RSS growth, stalled client", f"{memory['stall growth']:+.1f} MiB", "≤ 16 MiB",
                memory["stall growth"] <= 16),
               ("RSS growth, stalled target", f"{memory['upload stall growth']:+.1f} MiB", "≤ 16 MiB",
                memory["upload stall growth"] <= 16)]
    return lines, targets
