#!/usr/bin/env python3
"""The client side of the rtt scenario, run inside the rig's `workload` namespace (the bench
itself stays in the root namespace). Prints its samples as JSON on stdout.

  rttclient.py latency PORT COUNT TARGET_PORT [--tunnel]
      COUNT sequential rounds: connect to 127.0.0.1:PORT (with --tunnel: → CONNECT
      target.test:TARGET_PORT → `200`) → 1-byte echo → close; samples are
      [status ms or null, round trip ms].
  rttclient.py fetch PORT COUNT TARGET_PORT PATH CA [--tunnel]
      COUNT HTTPS GETs of https://target.test:TARGET_PORT/PATH, each on a new TCP connection
      and a new TLS session, as a package manager without connection reuse does; samples
      are the ms of each request, and "total" the seconds of them all.
"""
import json
import socket
import ssl
import sys
import time

from tunnel import connect_request, read_head  # run as a script: bench/lib is on sys.path


def connect(port, through):
    """A socket to 127.0.0.1:port; with `through` (HOST:PORT), a CONNECT tunnel there."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if through:
        sock.sendall(connect_request(through))
        read_head(sock)
    return sock


def latency(port, count, through):
    samples = []
    for i in range(count + 1):  # the first one warms up
        start = time.perf_counter()
        sock = connect(port, through)
        status = (time.perf_counter() - start) * 1000 if through else None
        sock.sendall(b"x")
        if sock.recv(1) != b"x":
            raise ConnectionError("no echo")
        sock.close()
        if i:
            samples.append([status, (time.perf_counter() - start) * 1000])
    return {"samples": samples}


def fetch(port, count, target_port, path, ca, through):
    context = ssl.create_default_context(cafile=ca)
    host = "target.test"
    samples = []
    begin = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        with context.wrap_socket(connect(port, through), server_hostname=host) as tls:
            tls.sendall(f"GET /{path} HTTP/1.1\r\nHost: {host}:{target_port}\r\nConnection: close\r\n\r\n".encode())
            response = b""
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                response += data
        if not response.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(f"bad response: {response[:200]!r}")
        samples.append((time.perf_counter() - start) * 1000)
    return {"samples": samples, "total": time.perf_counter() - begin}


def main():
    argv = [a for a in sys.argv[1:] if a != "--tunnel"]
    through = f"target.test:{argv[3]}" if "--tunnel" in sys.argv else None
    if argv[0] == "latency":
        result = latency(int(argv[1]), int(argv[2]), through)
    else:
        result = fetch(int(argv[1]), int(argv[2]), argv[3], argv[4], argv[5], through)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
