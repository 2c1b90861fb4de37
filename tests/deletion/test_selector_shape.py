"""A deletion's selector is typed (DeletionSelector) but stored and reported as the same JSON as before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.queries.deletions import DeletionSummary, normalize_selector
from receipt_sync.errors import InvalidRequest

SELECTORS = [
    {"all": True},
    {"ids": [3, 7, 42]},
    {"filter": {"status": "new", "vendor": "Acme", "date_from": "2024-01-01", "date_to": "2024-12-31"}},
]


def _summary(selector: dict[str, object]) -> DeletionSummary:
    return DeletionSummary(
        id=1, business_id=2, status="queued", selector=selector, total=0, processed=0, succeeded=0, failed_count=0,
        attachments_deleted=0, attachments_failed=0, percent=0.0, cursor=None, flow_run_id=None, error_message=None,
        heartbeat_at=None, started_at=None, finished_at=None, created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )  # fmt: skip


@pytest.mark.parametrize("selector", SELECTORS)
def test_a_stored_selector_is_reported_exactly_as_stored(selector: dict[str, object]) -> None:
    summary = _summary(selector)
    assert summary.as_dict()["selector"] == selector
    assert summary.as_json()["selector"] == selector


@pytest.mark.parametrize("selector", SELECTORS)
def test_normalizing_a_normal_selector_changes_nothing(selector: dict[str, object]) -> None:
    assert normalize_selector(selector) == selector


def test_normalizing_cleans_ids_and_filters() -> None:
    assert normalize_selector({"ids": [7, 3, 7]}) == {"ids": [3, 7]}
    assert normalize_selector({"filter": {"currency": "eur", "text": None}}) == {"filter": {"currency": "eur"}}
    with pytest.raises(InvalidRequest, match="exactly one"):
        normalize_selector({"all": True, "ids": [1]})
