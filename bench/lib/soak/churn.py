"""Churn phases: --concurrent tunnels held together (run twice), --sequential short tunnels one
after another, --parallel short tunnels from --workers workers. Each ends with the descriptors
back at the baseline and a snapshot; the relay's RSS must not grow past the first round."""
import asyncio
import time

from .clients import close_all, echo_tunnel
from .bounds import RSS_CHURN_BOUND_MIB, THREAD_SLACK


async def concurrent(soak):
    n = soak.args.concurrent
    gate = asyncio.Semaphore(100)

    async def one(index):
        async with gate:
            return await echo_tunnel(soak.port, soak.echo, index)

    start = time.monotonic()
    tunnels = await asyncio.gather(*(one(i) for i in range(n)))
    opened = time.monotonic() - start
    row = await soak.snapshot(f"{n} open", opened, f"opened in {opened:.1f} s")
    soak.check(row["fds"] == soak.idle["fds"] + 2 * n,
               f"{n} tunnels open: relay fds {row['fds']} = baseline {soak.idle['fds']} + 2x{n}")
    soak.check(row["threads"] <= soak.idle["threads"] + THREAD_SLACK,
               f"{n} tunnels open: relay threads {row['threads']} (idle {soak.idle['threads']}, bound +{THREAD_SLACK})")
    per_tunnel = (row["rss"] - soak.idle["rss"]) / n
    row["note"] += f"; {per_tunnel:.0f} KiB RSS per open tunnel"
    # A last round trip on every tunnel while all are open: none was starved or mixed up.
    for index, (reader, writer) in enumerate(tunnels):
        writer.write(b"still there?\n")
    for index, (reader, writer) in enumerate(tunnels):
        if await reader.readexactly(13) != b"still there?\n":
            soak.check(False, f"tunnel {index} answered something else while {n} were open")
    await close_all([writer for _, writer in tunnels])
    await soak.back_to_baseline(f"closing {n} tunnels")
    row = await soak.snapshot(f"{n} closed")
    if soak.after_concurrent is not None:
        growth = (row["rss"] - soak.after_concurrent["rss"]) / 1024
        soak.check(growth <= RSS_CHURN_BOUND_MIB,
                   f"a second round of {n} tunnels: relay RSS grew {growth:.1f} MiB (bound {RSS_CHURN_BOUND_MIB} MiB)")
    else:
        soak.after_concurrent = row


async def sequential(soak):
    start = time.monotonic()
    for index in range(soak.args.sequential):
        await soak.short(index)
    seconds = time.monotonic() - start
    await soak.back_to_baseline(f"{soak.args.sequential} sequential tunnels")
    await soak.snapshot(f"{soak.args.sequential} sequential", seconds,
                        f"{soak.args.sequential / seconds:.0f} tunnels/s")


async def parallel(soak):
    workers, total = soak.args.workers, soak.args.parallel

    async def worker(offset):
        for index in range(offset, total, workers):
            await soak.short(index)

    start = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    seconds = time.monotonic() - start
    await soak.back_to_baseline(f"{total} parallel tunnels")
    row = await soak.snapshot(f"{total} parallel ({workers} workers)", seconds, f"{total / seconds:.0f} tunnels/s")
    if soak.after_concurrent is not None:
        growth = (row["rss"] - soak.after_concurrent["rss"]) / 1024
        soak.check(growth <= RSS_CHURN_BOUND_MIB,
                   f"churn: relay RSS grew {growth:.1f} MiB after the first round of concurrent tunnels "
                   f"(bound {RSS_CHURN_BOUND_MIB} MiB)")
