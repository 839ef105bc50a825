"""Waiting on figures that move: a value that has settled, a predicate with a deadline."""
import asyncio
import time


async def settle(sample, quiet=0.3, timeout=15, what=None):
    """The value `sample()` returns once it has not changed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = sample(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(what or f"still changing after {timeout} s (last {last})")
        await asyncio.sleep(0.02)
        now = sample()
        if now != last:
            last, since = now, time.monotonic()
    return last


async def wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)
