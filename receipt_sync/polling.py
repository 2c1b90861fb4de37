"""Waiting for something to become true by asking again: `receipts up` waiting for its processes, and tests
waiting for a run to finish. One loop, so every wait has a deadline and says what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
