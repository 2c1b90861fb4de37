"""Asking again: waiting for something to become true (`receipts up` waiting for its processes, tests waiting
for a run to finish), and doing something every few seconds while other work goes on (a run's heartbeat, its
progress reports). One loop each, so every wait has a deadline and every repeat stops with its work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def poll_until(produce: Callable[[], T | None], *, what: str, timeout: float, every: float = 0.2) -> T:
    """Call `produce` every `every` s until it returns something truthy, and return that.

    `produce` may raise to stop early (a process that exited); after `timeout` s, `TimeoutError` names `what`.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = produce()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


@contextmanager
def repeating(action: Callable[[], object], *, every: float, name: str) -> Iterator[None]:
    """Call `action` every `every` s from a daemon thread while the block runs; stop (and wait ≤5 s) after it.

    An exception in `action` skips that tick only: what it writes is written again on the next one.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                action()
            except Exception:
                continue

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
