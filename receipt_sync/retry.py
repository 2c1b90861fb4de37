"""The one retry policy of the product: who retries what, how long it waits, and the worst case.

Two mechanisms, never nested (a failure is retried by exactly one of them):

- **Loops inside a process** use tenacity through `retrying()`: a Gmail call (`GmailSource`: getProfile,
  messages.list, history.list, a batch of fetches whose failed parts are re-queued into the next attempt) and
  the object-storage key loop of a deletion batch. They run where the answer's `Retry-After` and the
  mailbox's quota limiter are known, and a rate-limit refusal must not cost a whole task retry.
- **Prefect task retries** (`tasks/retry.py`) for what a task meets outside those loops: the database
  connection lost, object storage unavailable. They never retry a mail error (`TransientMailError` means the
  in-process budget below is spent) nor a storage outage the key loop already retried.

Waits: exponential from a base (`base · 2ⁿ`), at least the server's `Retry-After`, at most `MAX_WAIT_SECONDS`
(Google: cap back-off at 32–64 s). One jitter: every wait is stretched by a random factor in
`[1, 1 + JITTER]` — `jittered()` in process; Prefect's `retry_jitter_factor=JITTER` bounds its task-retry
randomisation the same way (never above `(1 + JITTER) ·` the nominal delay).

Worst cases (defaults; bases come from settings so tests shorten them without changing the shape):

- One Gmail call, or one message of a batch (truncated/reset/timed-out answer, 5xx, 429, 403 rate limit; a
  batch part failing alone is re-queued into the batch's next attempt): `MAIL_ATTEMPTS` = 6 requests, waits
  1+2+4+8+16 s ×≤1.5 = 46.5 s at most, up to 5 × 32 s = 160 s when Gmail's `Retry-After` asks for more.
  A rate-limit refusal (429, 403 rate limit) is Gmail pacing the mailbox, and the adaptive limiter may send a
  refused message alone again and again while it learns: it is retried for `RATE_LIMIT_PATIENCE_SECONDS`
  (300 s) from the first attempt, and at least 6 times. It waits the answer's Retry-After (jittered) when Gmail
  names one — so at most 300 s ÷ Retry-After requests (300 with Gmail's usual 1 s), each already paced by the
  mailbox's limiter — else the exponential waits above (at most ~14 requests).
- A page or plan task (database or storage failure): `TASK_RETRIES` = 5, so 6 task runs, waits (base 2 s)
  2+4+8+16+32 s ×≤1.5 = 93 s; its mail is fetched once (the page cache survives a task retry).
- Creating the project quota's Prefect limit (services/project_quota.py): 3 attempts, 0.2 + 0.4 s ×≤1.5.
- One document key of a deletion batch: `deletion_storage_attempts` (4) calls in the key loop, waits (base
  2 s) 2+4+8 s ×≤1.5 = 21 s; plus one call per task retry of an outage (the first call refused every key:
  raised at once, not looped), `deletion_task_retries` (5) at most.

So a message is requested at most 6 times by one run, never 6 × 6 as when a page task's retries wrapped the
fetch loop, and a deletion key at most `attempts + task retries` times, not their product.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from tenacity import RetryCallState, Retrying, retry_if_exception_type

MAIL_ATTEMPTS = 6
RATE_LIMIT_PATIENCE_SECONDS = 300.0  # a rate-limit refusal is Gmail pacing us: retried this long, not 6 times
TASK_RETRIES = 5
MAX_WAIT_SECONDS = 32.0
TASK_RETRY_CAP_SECONDS = 60.0
JITTER = 0.5
RETRY_CAP_SECONDS = 30.0  # the deletion's cap (SPEC §5)


def backoff_delays(base: float, attempts: int, cap: float = RETRY_CAP_SECONDS) -> list[float]:
    """The nominal waits before each of `attempts` retries: base, 2·base, 4·base, ... never above `cap`."""
    return [min(base * 2**n, cap) for n in range(attempts)]


def jittered(delay: float) -> float:
    """The one jitter: `delay` stretched by a random factor in [1, 1 + JITTER]."""
    return delay * (1.0 + random.uniform(0.0, JITTER))


def wait_for(
    base: float,
    cap: float = MAX_WAIT_SECONDS,
    retry_after: Callable[[BaseException], float | None] | None = None,
    patient: Callable[[BaseException], bool] | None = None,
) -> Callable[[RetryCallState], float]:
    """A tenacity wait: jittered exponential back-off, at least the failure's Retry-After, at most `cap`.

    A rate-limit refusal that names its Retry-After waits that long (jittered), not longer: the server said when
    to come back, and the mailbox's limiter has already slowed down — growing the wait as well would spend the
    patience on sleeping while a refused message is sent alone during a storm."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = retry_after(exc) if retry_after is not None and exc is not None else None
        if asked and patient is not None and exc is not None and patient(exc):
            return min(jittered(asked), cap)
        nominal = jittered(base * 2 ** (state.attempt_number - 1))
        return min(max(nominal, asked or 0.0), cap)

    return wait


def retrying(
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    *,
    base: float,
    attempts: int = MAIL_ATTEMPTS,
    cap: float = MAX_WAIT_SECONDS,
    retry_after: Callable[[BaseException], float | None] | None = None,
    patient: Callable[[BaseException], bool] | None = None,
    patience_seconds: float = RATE_LIMIT_PATIENCE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A tenacity `Retrying` of this policy: `for attempt in retrying(...): with attempt: ...`; the last
    failure is re-raised as itself once `attempts` are spent — or, for a failure `patient` accepts (a rate
    limit), once `patience_seconds` have passed as well."""

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number < attempts:
            return False
        exc = state.outcome.exception() if state.outcome is not None else None
        waiting = patient is not None and exc is not None and patient(exc)
        return not waiting or (state.seconds_since_start or 0.0) >= patience_seconds

    return Retrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop,
        wait=wait_for(base, cap, retry_after, patient),
        sleep=sleep,
        reraise=True,
    )


class KeysRefused(Exception):
    """Some keys of a bulk call failed; they are retried alone."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"{len(keys)} keys refused")
        self.keys = keys


def retry_failed_keys(
    delete: Callable[[Sequence[str]], list[str]],
    keys: Sequence[str],
    *,
    attempts: int,
    base: float,
    outage: Callable[[int], Exception] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Call `delete` on `keys`, then again on what failed, `attempts` calls at most; returns what never went.

    With `outage`, a first call that refuses every key raises `outage(len(keys))` at once instead of looping:
    an outage is the caller's (task) retry to make, so the two budgets add up instead of multiplying."""
    pending = list(keys)
    if not pending:
        return []
    try:
        for attempt in retrying(KeysRefused, base=base, attempts=attempts, cap=RETRY_CAP_SECONDS, sleep=sleep):
            with attempt:
                failed = delete(pending)
                if outage is not None and attempt.retry_state.attempt_number == 1 and len(failed) == len(pending):
                    raise outage(len(pending))
                pending = failed
                if pending:
                    raise KeysRefused(pending)
    except KeysRefused as refused:
        return refused.keys
    return []
