"""The hops bench/run builds around the relay: socat null chains, CONNECT requests through a
relay-init sidecar, and one connection's round trip."""
import os
import socket
import subprocess
import sys
import time

from .common import free_port
from .tunnel import connect_request, read_head


def socat_pair(to_port, buffer=None, fork=False):
    """Two socat forwarders, first → second → to_port; returns (first, second, first_port)."""
    second_port, first_port = free_port(), free_port()
    opts = ["-b", str(buffer)] if buffer else []
    listen = ",fork" if fork else ""
    second = subprocess.Popen(["socat", *opts, f"TCP-LISTEN:{second_port},bind=127.0.0.1,reuseaddr{listen}",
                               f"TCP:127.0.0.1:{to_port}"])
    first = subprocess.Popen(["socat", *opts, f"TCP-LISTEN:{first_port},bind=127.0.0.1,reuseaddr{listen}",
                              f"TCP:127.0.0.1:{second_port}"])
    for port in (second_port, first_port):
        wait_listening(port)
    return first, second, first_port


def wait_listening(port, timeout=5):
    """Waits for a listening socket on `port` without connecting to it: a socat without
    `fork` serves exactly one connection."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.split(":")[1], 16) == port:
                    return
        time.sleep(0.01)
    sys.exit(f"nothing listens on {port}")


def reap_with_rusage(proc):
    """Waits for `proc` and returns its CPU seconds (user + system) from its rusage."""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped here; keep Popen from waiting for it again
    return usage.ru_utime + usage.ru_stime


def open_tunnel(relay_port, target_port):
    """A socket with an established tunnel through the relay on `relay_port` to `target_port`."""
    sock = socket.create_connection(("127.0.0.1", relay_port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_request(f"target.test:{target_port}"))
    read_head(sock)
    return sock


def one_round(port, connect, target_port):
    """(connect → status line, connect → 1-byte echo → close) in ms; status is None without CONNECT."""
    start = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    status = None
    if connect:
        sock.sendall(connect_request(f"target.test:{target_port}"))
        read_head(sock)
        status = (time.perf_counter() - start) * 1000
    sock.sendall(b"x")
    if sock.recv(1) != b"x":
        raise ConnectionError("no echo")
    sock.close()
    return status, (time.perf_counter() - start) * 1000
