"""Which failures a task retries (only those that can succeed on a second try), and how long it waits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from receipt_sync.errors import StorageError, TransientMailError
from receipt_sync.retry import backoff_delays as exponential_delays
from receipt_sync.settings import get_settings

TRANSIENT = (TransientMailError, StorageError, OperationalError, TimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, TRANSIENT)


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry transient errors; auth, malformed data and bugs fail at once."""
    try:
        state.result()
    except BaseException as exc:
        return is_transient(exc)
    return False


def backoff_delays(retries: int) -> list[float]:
    """Prefect's `retry_delay_seconds`: doubling from `TASK_RETRY_BASE_SECONDS`, read at run time so tests
    can shorten it, capped at 60 s (Google advises 32–64 s)."""
    return exponential_delays(get_settings().task_retry_base_seconds, retries, cap=60.0)
