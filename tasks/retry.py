"""Prefect task retries of the one retry policy (receipt_sync/retry.py): which failures a task retries and how
long it waits. Mail errors are not among them: `GmailSource` spent the mail budget in process already."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from sqlalchemy.exc import DBAPIError, OperationalError

from receipt_sync.errors import StorageError, TransientMailError
from receipt_sync.retry import JITTER, TASK_RETRIES, TASK_RETRY_CAP_SECONDS, backoff_delays
from receipt_sync.settings import get_settings

TRANSIENT = (StorageError, OperationalError, TimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    """A failure worth a task retry: the database or storage went away. Mail errors were retried in process."""
    if isinstance(exc, TransientMailError):
        return False
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


def task_retry_delays(retries: int) -> list[float]:
    """Prefect's `retry_delay_seconds`: doubling from `TASK_RETRY_BASE_SECONDS`, capped at 60 s."""
    return backoff_delays(get_settings().task_retry_base_seconds, retries, cap=TASK_RETRY_CAP_SECONDS)


class TaskRetryOptions(TypedDict):
    """The retry options of `@task(...)`, as Prefect names them."""

    retries: int
    retry_delay_seconds: Callable[[int], list[float]]
    retry_jitter_factor: float
    retry_condition_fn: Callable[[Any, Any, Any], bool]


def transient_retries() -> TaskRetryOptions:
    """The `@task(...)` options of a task that touches the database or storage (`@task(**transient_retries())`)."""
    return {
        "retries": TASK_RETRIES,
        "retry_delay_seconds": task_retry_delays,
        "retry_jitter_factor": JITTER,
        "retry_condition_fn": retry_transient_only,
    }
