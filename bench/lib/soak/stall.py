"""Stalled-peer phases: --memory-mib MiB to a client that stops reading (download) or from a
client to a target that does not read (upload). The sender must be held back and stay held, the
relay's and the gateway's peak RSS stay within RSS_STALL_BOUND_MIB, and the bytes arrive intact
once the slow side resumes."""
import asyncio
import hashlib
import time

from ..procfs import PeakSampler
from .clients import open_tunnel
from .bounds import RSS_STALL_BOUND_MIB
from .servers import block, expected_digest
from .waits import settle


async def stalled_transfer(soak, direction, server):
    mib = soak.args.memory_mib
    before = await settle(soak.relay.rss_kib, quiet=0.5)
    gateway_before = await settle(soak.gateway.rss_kib, quiet=0.5)
    sampler = PeakSampler(soak.relay)
    gateway_sampler = PeakSampler(soak.gateway)
    start = time.monotonic()
    reader, writer = await open_tunnel(soak.port, soak.stream)
    if direction == "download":
        # The client reads nothing: held back once every buffer on the way is full.
        writer.transport.pause_reading()
        held = await held_back(soak, lambda: server.sent, "the target")
        writer.transport.resume_reading()
        digest, count = hashlib.sha256(), 0
        while data := await reader.read(1 << 20):
            digest.update(data)
            count += len(data)
        intact = count == mib << 20 and digest.hexdigest() == expected_digest(mib)
        writer.close()
    else:
        sent = [0]

        async def send():
            for index in range(mib):
                writer.write(block(index))
                await writer.drain()
                sent[0] += 1 << 20
            writer.close()

        sender = asyncio.ensure_future(send())
        held = await held_back(soak, lambda: sent[0], "the client")
        server.resume.set()
        await sender
        await asyncio.wait_for(server.done.wait(), 300)
        intact = server.received == mib << 20 and server.digest.hexdigest() == expected_digest(mib)
        count = server.received
    seconds = time.monotonic() - start
    peak = sampler.stop()
    gateway_peak = gateway_sampler.stop()
    growth = (peak - before) / 1024
    gateway_growth = (gateway_peak - gateway_before) / 1024
    soak.check(intact, f"{direction} of {mib} MiB with a stalled {'reader' if direction == 'download' else 'writer'} "
                       f"arrived intact ({count} bytes)")
    soak.check(growth < RSS_STALL_BOUND_MIB,
               f"{direction}: relay peak RSS {peak / 1024:.1f} MiB, {growth:.1f} MiB above the {before / 1024:.1f} MiB "
               f"before (bound {RSS_STALL_BOUND_MIB} MiB); held back after {held / (1 << 20):.0f} MiB")
    # The reference gateway is held to the same bound: were it to buffer, the relay's figure
    # would only look good because the gateway took the bytes.
    soak.check(gateway_growth < RSS_STALL_BOUND_MIB,
               f"{direction}: gateway peak RSS {gateway_peak / 1024:.1f} MiB, {gateway_growth:.1f} MiB above the "
               f"{gateway_before / 1024:.1f} MiB before (bound {RSS_STALL_BOUND_MIB} MiB)")
    await soak.back_to_baseline(f"{direction} with a stalled peer")
    await soak.snapshot(f"{direction} {mib} MiB stalled", seconds,
                        f"peak RSS {peak / 1024:.1f} MiB (+{growth:.1f}), gateway +{gateway_growth:.1f}; "
                        f"held back after {held / (1 << 20):.0f} MiB")


async def held_back(soak, counter, who, quiet=1.0, timeout=120):
    """Bytes sent once `counter` has not moved for `quiet` s: the sender is held back."""
    last = await settle(counter, quiet=quiet, timeout=timeout, what=f"{who} was never held back")
    if last >= soak.args.memory_mib << 20:
        soak.check(False, f"{who} sent everything although the other side was not reading")
    # Once held, it must stay held: a relay that buffers, only slowly, would let it go on.
    await asyncio.sleep(2)
    soak.check(counter() == last, f"{who} stayed held back for 2 s more ({last} -> {counter()} bytes)")
    return last
