"""Exponential back-off for the receipt deletion: 2 s doubling to a 30 s cap (SPEC §5).

The base comes from `DELETION_RETRY_BASE_SECONDS` so tests can shorten it without changing the shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

RETRY_CAP_SECONDS = 30.0


def backoff_delays(base: float, attempts: int, cap: float = RETRY_CAP_SECONDS) -> list[float]:
    """The waits before each of `attempts` retries: base, 2·base, 4·base, ... never above `cap`."""
    return [min(base * 2**n, cap) for n in range(attempts)]


def retry_failed_keys(
    delete: Callable[[Sequence[str]], list[str]],
    keys: Sequence[str],
    delays: Sequence[float],
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Call `delete` on `keys`, then again on what failed after each delay; returns what never went."""
    failed = delete(keys) if keys else []
    for delay in delays:
        if not failed:
            break
        sleep(delay)
        failed = delete(failed)
    return failed
