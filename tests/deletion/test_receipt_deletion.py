"""The receipt deletion flow on PostgreSQL and moto's S3 server, run through Prefect's test harness."""

from __future__ import annotations

from datetime import timedelta

import pytest
from moto.server import ThreadedMotoServer

from flows.receipt_deletion import DeletionIncomplete, receipt_deletion
from models.base import utcnow
from models.db import session_scope
from models.deletion import DeletionRun
from models.queries.deletions import (
    cancel_deletion_run,
    failures_of,
    get_deletion_run,
    pause_deletion_run,
    resume_deletion_run,
)
from receipt_sync.errors import StorageUnavailable
from receipt_sync.polling import poll_until
from receipt_sync.settings import get_settings
from receipt_sync.storage import S3Storage
from services.reconcile import reconcile_runs
from tests.conftest import SettingsOverride
from tests.deletion.conftest import (
    SeamStorage,
    add_stored_receipts,
    deletion_run,
    document_rows_of,
    new_deletion,
    receipt_ids_of,
    seed_business,
    stored_keys,
)
from tests.fixtures.postgres import free_port


def _act_on_run(run_id: int, action: object) -> None:
    """What the API does when a user clicks pause/cancel: a separate transaction on the run row."""
    with session_scope() as session:
        action(session, get_deletion_run(session, run_id))  # type: ignore[operator]


def test_deleting_all_of_one_business_leaves_the_other_business_untouched(storage: S3Storage) -> None:
    same_content = [b"shared invoice", b"another invoice", b"third"]
    a = seed_business(storage, 23, contents=[*same_content, *[f"a{i}".encode() for i in range(10)]])
    b = seed_business(storage, 9, contents=same_content)  # equal content, other business: its own keys
    b_rows, b_objects = document_rows_of(b.business_id), stored_keys(storage, b.business_id)
    run_id = new_deletion(a.business_id, {"all": True})

    summary = receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=5)

    assert receipt_ids_of(a.business_id) == set()
    assert stored_keys(storage, a.business_id) == set()
    assert document_rows_of(b.business_id) == b_rows
    assert stored_keys(storage, b.business_id) == b_objects == b.keys
    run = deletion_run(run_id)
    assert (run.status, run.total, run.processed, run.succeeded, run.failed_count) == ("completed", 23, 23, 23, 0)
    assert run.attachments_deleted == len(a.keys) == 13
    assert run.cursor == max(a.receipt_ids) and run.heartbeat_at is not None
    assert summary["percent"] == 100.0


def test_deleting_a_list_of_ids_keeps_content_shared_with_receipts_not_deleted(storage: S3Storage) -> None:
    a = seed_business(storage, 6, contents=[b"same pdf", b"own 1", b"own 2"])
    other = seed_business(storage, 2)
    chosen = [a.receipt_ids[0], a.receipt_ids[1], a.receipt_ids[2], other.receipt_ids[0]]
    run_id = new_deletion(a.business_id, {"ids": chosen})

    receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=2)

    assert receipt_ids_of(a.business_id) == set(a.receipt_ids[3:])
    assert receipt_ids_of(other.business_id) == set(other.receipt_ids)  # another business's id is ignored
    # receipts 3..5 still use all three contents, so every object stays
    assert stored_keys(storage, a.business_id) == a.keys
    run = deletion_run(run_id)
    assert (run.total, run.succeeded, run.attachments_deleted) == (3, 3, 0)


def test_deleting_by_filter_removes_only_matching_receipts(storage: S3Storage) -> None:
    a = seed_business(storage, 4, vendor="Acme Books", currency="ILS")
    keep = add_stored_receipts(storage, a.business_id, 3, vendor="Other Shop", currency="ILS")
    run_id = new_deletion(a.business_id, {"filter": {"vendor": "acme", "currency": "ils"}})

    receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=3)

    assert receipt_ids_of(a.business_id) == set(keep.receipt_ids)
    assert stored_keys(storage, a.business_id) == keep.keys
    assert deletion_run(run_id).succeeded == 4


class _Endpoint:
    """A moto S3 server that can go away and come back on the same port (moto keeps its data in-process)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def test_deletion_killed_by_a_storage_outage_and_rerun_deletes_everything_once(
    deletion_env: dict[str, str], seam: SeamStorage
) -> None:
    endpoint = _Endpoint()
    endpoint.start()
    try:
        seam.inner = S3Storage("outage-bucket", "docs", endpoint_url=endpoint.url)
        seam.inner.ensure_bucket()  # type: ignore[attr-defined]
        a = seed_business(seam.inner, 20)
        run_id = new_deletion(a.business_id, {"all": True})
        seam.hooks[3] = endpoint.stop  # the S3 endpoint goes away as the third batch starts

        with pytest.raises(StorageUnavailable):
            receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=4)

        failed = deletion_run(run_id)
        assert (failed.status, failed.processed, failed.cursor) == ("failed", 8, a.receipt_ids[7])
        assert "StorageUnavailable" in (failed.error_message or "")
        assert len(receipt_ids_of(a.business_id)) == 12
        endpoint.start()
        _act_on_run(run_id, resume_deletion_run)
        receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=4)

        assert receipt_ids_of(a.business_id) == set()
        assert not any(seam.inner.exists(k) for k in a.keys)
        run = deletion_run(run_id)
        assert (run.status, run.processed, run.succeeded, run.attachments_deleted) == ("completed", 20, 20, 20)
    finally:
        endpoint.stop()


def test_documents_storage_refuses_are_retried_reported_and_their_receipts_kept(
    storage: S3Storage, seam: SeamStorage
) -> None:
    a = seed_business(storage, 10, contents=[f"doc{i}".encode() for i in range(10)])
    keys = sorted(a.keys)
    seam.refuse = {keys[0], keys[5]}
    seam.refuse_once = {keys[2]}  # a transient refusal: the retry deletes it
    run_id = new_deletion(a.business_id, {"all": True})

    with pytest.raises(DeletionIncomplete):
        receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=4)

    run = deletion_run(run_id)
    assert (run.status, run.succeeded, run.failed_count, run.attachments_failed) == ("failed", 8, 2, 2)
    assert run.attachments_deleted == 8 and "could not be deleted" in (run.error_message or "")
    kept = document_rows_of(a.business_id)
    assert {k for _, k in kept} == {keys[0], keys[5]} == stored_keys(storage, a.business_id)
    with session_scope() as session:
        reported = failures_of(session, run_id)
        assert {f.storage_key for f in reported} == {keys[0], keys[5]}
        assert all(f.attempts >= 2 for f in reported)  # the batch and the end-of-run retry

    seam.refuse.clear()  # storage healthy again: resuming retries the refused documents
    _act_on_run(run_id, resume_deletion_run)
    receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=4)

    run = deletion_run(run_id)
    assert (run.status, run.succeeded, run.failed_count, run.attachments_failed) == ("completed", 10, 0, 0)
    assert run.attachments_deleted == 10 and receipt_ids_of(a.business_id) == set()
    assert stored_keys(storage, a.business_id) == set()


def test_receipt_kept_for_a_refused_document_never_points_at_a_deleted_one(
    storage: S3Storage, seam: SeamStorage
) -> None:
    a = seed_business(storage, 1, contents=[b"first attachment"])
    extra = add_stored_receipts(storage, a.business_id, 1, contents=[b"second attachment"])
    with session_scope() as session:  # give the first receipt the second document too
        from models import ReceiptDocument

        doc = session.query(ReceiptDocument).filter_by(receipt_id=extra.receipt_ids[0]).one()
        session.add(
            ReceiptDocument(
                receipt_id=a.receipt_ids[0], business_id=a.business_id, kind="attachment",
                content_type=doc.content_type, content_hash=doc.content_hash,
                storage_key=doc.storage_key, size_bytes=doc.size_bytes,
            )
        )  # fmt: skip
    first_key = next(iter(a.keys))
    seam.refuse = {first_key}
    run_id = new_deletion(a.business_id, {"all": True})

    with pytest.raises(DeletionIncomplete):
        receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=10)

    assert receipt_ids_of(a.business_id) == {a.receipt_ids[0]}
    assert document_rows_of(a.business_id) == [(a.receipt_ids[0], first_key)]
    assert stored_keys(storage, a.business_id) == {first_key}


def test_cancel_stops_within_one_batch(storage: S3Storage, seam: SeamStorage) -> None:
    a = seed_business(storage, 30)
    run_id = new_deletion(a.business_id, {"all": True})
    seam.hooks[2] = lambda: _act_on_run(run_id, cancel_deletion_run)  # the user cancels during batch 2

    state = receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=5, return_state=True)

    assert state.is_cancelled()
    run = deletion_run(run_id)
    assert (run.status, run.processed, run.succeeded) == ("cancelled", 10, 10)
    assert len(receipt_ids_of(a.business_id)) == 20 and len(seam.calls) == 2
    assert len(stored_keys(storage, a.business_id)) == 20


def test_pause_then_resume_finishes_the_job(storage: S3Storage, seam: SeamStorage) -> None:
    a = seed_business(storage, 12)
    run_id = new_deletion(a.business_id, {"all": True})
    seam.hooks[1] = lambda: _act_on_run(run_id, pause_deletion_run)

    state = receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=5, return_state=True)

    assert state.name == "Paused"
    paused = deletion_run(run_id)
    assert (paused.status, paused.processed) == ("paused", 5)
    _act_on_run(run_id, resume_deletion_run)
    receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=5)

    run = deletion_run(run_id)
    assert (run.status, run.processed, run.succeeded) == ("completed", 12, 12)
    assert receipt_ids_of(a.business_id) == set() and stored_keys(storage, a.business_id) == set()


def test_a_live_deletion_keeps_its_heartbeat_through_a_long_batch_so_the_reconciler_leaves_it_alone(
    storage: S3Storage, seam: SeamStorage, override_settings: SettingsOverride
) -> None:
    """A batch stuck in storage back-off for longer than the stale threshold is still a live process: its
    heartbeat thread keeps beating, so the reconciler (every round, every trigger) must not fail it."""
    override_settings({"SYNC_HEARTBEAT_SECONDS": "0.2"})
    a = seed_business(storage, 10)
    run_id = new_deletion(a.business_id, {"all": True})
    seen: dict[str, object] = {}

    def during_batch_2() -> None:
        with session_scope() as session:  # as if this batch had run past the stale threshold
            old = utcnow() - timedelta(seconds=get_settings().sync_stale_after_seconds + 5)
            session.get(DeletionRun, run_id).heartbeat_at = old
        poll_until(lambda: deletion_run(run_id).heartbeat_at > old, what="a fresh heartbeat", timeout=30)
        seen["failed"] = [d.run_id for d in reconcile_runs(get_settings()).failed]

    seam.hooks[2] = during_batch_2
    receipt_deletion(business_id=a.business_id, deletion_run_id=run_id, batch_size=4)

    assert seen["failed"] == []
    run = deletion_run(run_id)
    assert (run.status, run.processed, run.succeeded) == ("completed", 10, 10)
