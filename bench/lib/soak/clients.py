"""Clients in front of the relay: a CONNECT, an echo round trip through it, closing many."""
import asyncio

ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"


async def open_tunnel(port, target):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if head != ESTABLISHED:
        writer.close()
        raise RuntimeError(f"CONNECT {target} answered {head!r}")
    return reader, writer


async def echo_tunnel(port, target, index):
    reader, writer = await open_tunnel(port, target)
    payload = f"tunnel {index}\n".encode()
    writer.write(payload)
    echoed = await reader.readexactly(len(payload))
    if echoed != payload:
        raise RuntimeError(f"tunnel {index} echoed {echoed!r}")
    return reader, writer


async def close_all(writers):
    for writer in writers:
        writer.close()
    for writer in writers:
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
