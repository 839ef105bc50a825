"""Opening a CONNECT tunnel by hand, for bench/run's scenarios and the processes it starts as
scripts (rttclient.py): no imports from the package, so both can use it."""


def connect_request(authority):
    """The CONNECT head for `authority` (HOST:PORT)."""
    return f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()


def read_head(sock):
    """Reads the answer's head; raises ConnectionError unless it is a 200."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError(f"closed before the status line: {head!r}")
        head += data
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"tunnel refused: {head!r}")
    return head
