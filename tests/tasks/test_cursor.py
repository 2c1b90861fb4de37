"""The page cursor travels as a frozen dataclass but is stored as JSON in the run's checkpoint: the stored shape
must not change, so a checkpoint written before the cursor was typed still resumes, and the other way round."""

from __future__ import annotations

import json

from tasks.cursor import MailboxCursor, sweep_cursor
from tasks.planning import SyncPlan

# A checkpoint exactly as the code of before (the cursor as a dict between tasks) wrote it.
OLD_CHECKPOINT = {
    "cursor": {
        "phase": "full",
        "business_id": 3,
        "mailbox_id": 5,
        "page_token": "page-2",
        "start_history_id": None,
        "after": "2024-01-01T00:00:00+00:00",
        "before": None,
        "query": "receipt OR invoice",
        "remaining": 40,
        "retry_failed": False,
    },
    "history_id": "981",
}


def test_a_checkpoint_written_before_resumes_at_the_same_page() -> None:
    stored = json.loads(json.dumps(OLD_CHECKPOINT))
    cursor = MailboxCursor.stored(stored["cursor"])
    assert cursor == MailboxCursor(
        phase="full", business_id=3, mailbox_id=5, page_token="page-2", after="2024-01-01T00:00:00+00:00",
        query="receipt OR invoice", remaining=40,
    )  # fmt: skip
    assert SyncPlan(cursor, stored["history_id"], "resuming").checkpoint() == OLD_CHECKPOINT


def test_the_stored_cursor_keeps_its_json_keys_and_ignores_unknown_ones() -> None:
    cursor = MailboxCursor.from_dict({**OLD_CHECKPOINT["cursor"], "written_by": "a later version"})
    assert cursor.to_dict() == OLD_CHECKPOINT["cursor"]
    assert list(cursor.to_dict()) == list(OLD_CHECKPOINT["cursor"])


def test_a_plan_with_nothing_to_list_stores_a_null_cursor() -> None:
    plan = SyncPlan(None, "981", "mailbox unchanged")
    assert plan.checkpoint() == {"cursor": None, "history_id": "981"}
    assert MailboxCursor.stored(plan.checkpoint()["cursor"]) is None


def test_equal_cursors_are_one_page_for_the_read_ahead() -> None:
    walk = {"after": None, "before": "2025-01-01T00:00:00+00:00", "page_token": "p", "listed": 100}
    first, again = sweep_cursor(3, 5, walk), MailboxCursor.from_dict(sweep_cursor(3, 5, walk).to_dict())
    assert first == again and hash(first) == hash(again) and first.sweep
