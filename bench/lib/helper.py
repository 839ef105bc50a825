"""The helper process of bench/run: an echo server (1-byte echo for the latency test, many idle
connections for the memory test), a firehose that writes zeros until the peer closes (the
stalled-client test) and a black hole that accepts and never reads (the stalled-target test).
Runs as its own process (`python3 bench/lib/helper.py`) so that it does not share a GIL with
the measuring client; prints "echo PORT firehose PORT blackhole PORT" once listening."""
import asyncio
import socket

from echo import echo_handler  # run as a script: bench/lib is on sys.path


def main():
    async def firehose(reader, writer):
        block = bytes(256 * 1024)
        try:
            while True:
                writer.write(block)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    async def black_hole(reader, writer):
        # Accepts and never reads: an upload to it stalls once the socket buffers are full.
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        await asyncio.Event().wait()

    async def serve():
        echo_server = await asyncio.start_server(echo_handler, "127.0.0.1", 0, backlog=2048)
        fire_server = await asyncio.start_server(firehose, "127.0.0.1", 0)
        hole_server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
        print(f"echo {echo_server.sockets[0].getsockname()[1]} firehose {fire_server.sockets[0].getsockname()[1]}"
              f" blackhole {hole_server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
