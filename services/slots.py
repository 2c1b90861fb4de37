"""One run of a kind per business at a time, through a Prefect global concurrency limit keyed by business.

The limit must exist before it is used: with `strict=False` a missing limit limits nothing (PREFECT.md),
so the limit is upserted first and acquired strictly. Slots are leases, so a killed holder's slot frees
itself after `lease_duration`; the database's one-active-run index is the guard that never expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import concurrency


def business_limit_name(kind: str, business_id: int) -> str:
    """`sync-business-42`: Prefect refuses `/ % & > <` in limit names."""
    return f"{kind}-business-{int(business_id)}"


def ensure_business_limit(kind: str, business_id: int) -> str:
    name = business_limit_name(kind, business_id)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    return name


def free_dead_holders_slot(kind: str, business_id: int) -> None:
    """Free the slot of a holder our database proved dead (a stale run), without waiting for its lease.

    Only called after the business's stale run was failed: the database guard still keeps one run at a time.
    """
    name = ensure_business_limit(kind, business_id)
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))


@contextmanager
def business_slot(
    kind: str, business_id: int, *, timeout_seconds: float = 600, lease_seconds: float = 60
) -> Iterator[None]:
    """Hold the business's single slot for `kind` while the body runs."""
    name = ensure_business_limit(kind, business_id)
    with concurrency(name, occupy=1, timeout_seconds=timeout_seconds, lease_duration=lease_seconds, strict=True):
        yield
