"""Targets behind the gateway (servers in the soak's process, on the same asyncio loop)."""
import asyncio
import hashlib
import random


def block(index):
    """MiB number `index` of the stream: each MiB differs, so a lost or repeated MiB shows."""
    return index.to_bytes(8, "little") + BASE[8:]


BASE = random.Random(20261127).randbytes(1 << 20)


def expected_digest(mib):
    digest = hashlib.sha256()
    for index in range(mib):
        digest.update(block(index))
    return digest.hexdigest()


class StreamServer:
    """One connection at a time. `send`: writes `mib` MiB as fast as the peer takes it, then
    closes. `receive`: reads nothing until `resume` is set, then reads and hashes everything."""

    def __init__(self, mode, mib):
        self.mode, self.mib = mode, mib
        self.sent = 0
        self.received = 0
        self.digest = hashlib.sha256()
        self.resume = asyncio.Event()
        self.done = asyncio.Event()

    async def handle(self, reader, writer):
        try:
            if self.mode == "send":
                for index in range(self.mib):
                    writer.write(block(index))
                    await writer.drain()
                    self.sent += 1 << 20
                writer.close()
            else:
                # Not reading: asyncio stops reading the socket once its small buffer is full,
                # so the kernel's window closes and the sender is held back.
                writer.transport.pause_reading()
                await self.resume.wait()
                writer.transport.resume_reading()
                while data := await reader.read(1 << 20):
                    self.digest.update(data)
                    self.received += len(data)
                writer.close()
        except ConnectionError:
            pass
        finally:
            self.done.set()
