"""The echo target both bench/run's helper process and bench/soak serve."""
import socket


async def echo_handler(reader, writer):
    """Writes back what it reads until EOF (TCP_NODELAY: one byte goes out at once)."""
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
