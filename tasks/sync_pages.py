"""The unit of sync work: one page of a mailbox listing, fetched, analysed and stored in one transaction.

A page is idempotent: the ledger of processed messages and ON CONFLICT inserts make a retried or rerun
page store nothing twice. The run's counters and checkpoint are written in the same transaction as the
page's receipts, so a checkpoint never points past work that was not committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeGuard

from prefect import get_run_logger, task

from models.base import utcnow
from models.db import session_scope
from models.queries.ingest import defer_messages, insert_receipt, record_processed
from models.queries.message_errors import retryable_message_ids
from models.queries.sweep import advance_walk, deferred_page, walk_cursor
from models.receipt import NewDocument, NewReceipt
from models.runs import MessageErrorEntry, SyncRun
from receipt_sync.isolation import shared_analyser
from receipt_sync.mail.base import FetchFailure, RawMessage
from receipt_sync.pipeline import AnalysedMessage, MessageError
from receipt_sync.settings import get_settings
from receipt_sync.storage import Storage, content_hash, document_key, open_storage
from tasks.cursor import MailboxCursor, sweep_cursor
from tasks.new_mail import split_new_mail
from tasks.page_pipeline import FetchedPage, run_pipeline
from tasks.progress import run_progress
from tasks.retry import transient_retries
from tasks.sources import mail_source, quota_units

MESSAGE_ERRORS_KEPT = 200
ERROR_TEXT_LIMIT = 500
ANALYSIS_SLICE = 20  # messages analysed between two progress reports
SWEEP_PAGE_SIZE = 100  # smaller pages than the query's: a sweep that yields has less of a page to finish


@dataclass(frozen=True)
class PageCounts:
    """What a page adds to its run's counters."""

    scanned: int  # listed
    fetched: int
    saved: int
    duplicates: int  # skipped (stored before) or already stored
    errors: int


@dataclass(frozen=True)
class PageOutcome:
    """What a page task did: the flow logs it and goes on at `next_cursor` (None: the listing ended)."""

    next_cursor: MailboxCursor | None
    scanned: int
    skipped: int
    fetched: int
    saved: int
    duplicates: int
    errors: int
    history_id: str | None
    percent: float
    yielded: bool = False  # a sweep page stopped because a sync someone asked for needs the mailbox
    deferred: int = 0  # new mail the receipt query did not list, left to the sweep


def _list_ids(cursor: MailboxCursor, run_id: int) -> tuple[list[str], str | None, int | None, str | None, list[str]]:
    """(ids, next page token, size estimate, history id, ids left to the sweep) for the cursor's page."""
    source = mail_source(cursor.mailbox_id, str(run_id))
    page_size = get_settings().gmail_page_size
    if cursor.remaining is not None:
        page_size = max(1, min(page_size, cursor.remaining))
    if cursor.phase == "deferred":
        with session_scope() as session:
            ids, last_row = deferred_page(session, cursor.business_id, int(cursor.page_token or 0), SWEEP_PAGE_SIZE)
        return ids, (str(last_row) if len(ids) == SWEEP_PAGE_SIZE else None), None, None, []
    if cursor.phase == "sweep":
        page_size = min(page_size, SWEEP_PAGE_SIZE)
    if cursor.phase == "history":
        page = source.list_history(start_history_id=cursor.start_history_id or "", page_token=cursor.page_token)
        run_progress(run_id).spent(quota_units(source, "history"))
        now, later = split_new_mail(run_id, cursor.business_id, source, page.message_ids, cursor.after, cursor.query)
        ids = now + _retry_first(cursor, page_size)
        return ids, page.next_page_token, None, page.history_id, later
    run_progress(run_id).spent(quota_units(source, "list"))
    listing = source.list_messages(
        page_token=cursor.page_token,
        after=datetime.fromisoformat(cursor.after) if cursor.after else None,
        before=datetime.fromisoformat(cursor.before) if cursor.before else None,
        query=cursor.query,
        page_size=page_size,
    )
    return listing.message_ids, listing.next_page_token, listing.result_size_estimate, None, []


def _retry_first(cursor: MailboxCursor, page_size: int) -> list[str]:
    """History lists only new mail: its first page also carries the messages that failed transiently before."""
    if cursor.page_token is not None:
        return []
    with session_scope() as session:
        return retryable_message_ids(session, cursor.business_id, page_size)


def _list_page(run_id: int) -> Callable[[MailboxCursor], FetchedPage]:
    """A lister for the run's pipeline: one page of ids (deduplicated, cut at the run's cap) at a cursor."""

    def lister(cur: MailboxCursor) -> FetchedPage:
        ids, next_token, estimate, history_id, later = _list_ids(cur, run_id)
        ids = list(dict.fromkeys(ids))
        ids = ids[: cur.remaining] if cur.remaining is not None else ids
        page = FetchedPage(ids, next_token, estimate, history_id, retry_failed=cur.retry_failed, sweep=cur.sweep)
        page.deferred = later
        return page

    return lister


def _upload(storage: Storage, business_id: int, message: AnalysedMessage) -> list[NewDocument]:
    rows: list[NewDocument] = []
    for doc in message.documents:
        digest = content_hash(doc.data)
        key = document_key(business_id, digest)
        storage.put(key, doc.data, doc.content_type)
        rows.append(
            NewDocument(
                kind=doc.kind,
                filename=(doc.filename or None) and doc.filename[:500],
                content_type=doc.content_type[:200],
                content_hash=digest,
                storage_key=key,
                size_bytes=len(doc.data),
            )
        )
    return rows


def _receipt_values(cursor: MailboxCursor, run_id: int, message: AnalysedMessage) -> NewReceipt:
    ext, email = message.extraction, message.email
    return NewReceipt(
        business_id=cursor.business_id,
        mailbox_id=cursor.mailbox_id,
        source_message_id=message.message_id,
        thread_id=message.thread_id,
        subject=email.subject[:2000] if email.subject else None,
        sender=email.sender[:500] if email.sender else None,
        received_at=message.received_at,
        vendor=ext.vendor[:300] if ext.vendor else None,
        total=ext.total,
        currency=ext.currency,
        receipt_date=ext.date,
        document_number=ext.document_number[:100] if ext.document_number else None,
        is_credit_note=ext.is_credit_note,
        confidence=ext.confidence,
        reasons=ext.reasons,
        status="new" if ext.is_receipt else "needs_review",  # a borderline candidate waits for a person
        sync_run_id=run_id,
    )


def _analyse(run_id: int, fetched: list[RawMessage | FetchFailure]) -> list[AnalysedMessage | MessageError]:
    """Each message in a child process within the per-message budget: a hostile one fails alone. A fetch that
    failed is a transient error (later syncs try it again). Progress is reported slice by slice."""
    settings = get_settings()
    raws = [item for item in fetched if isinstance(item, RawMessage)]
    analysed: list[AnalysedMessage | MessageError] = []
    for start in range(0, len(raws), ANALYSIS_SLICE):
        chunk = raws[start : start + ANALYSIS_SLICE]
        analysed += shared_analyser().analyse(
            chunk,
            budget=settings.message_time_budget_seconds,
            max_attachment_bytes=settings.max_attachment_bytes,
            memory_bytes=settings.message_memory_limit_mb << 20,
        )
        run_progress(run_id).looked_at(r.id for r in chunk)
    by_id = dict(zip((id(r) for r in raws), analysed, strict=True))
    return [
        MessageError(item.id, f"could not fetch: {item.error}", transient=True)
        if isinstance(item, FetchFailure)
        else by_id[id(item)]
        for item in fetched
    ]


def _next_cursor(cursor: MailboxCursor, next_token: str | None, listed: int) -> MailboxCursor | None:
    remaining = None if cursor.remaining is None else cursor.remaining - listed
    if next_token is None or (remaining is not None and remaining <= 0):
        return None
    return replace(cursor, page_token=next_token, remaining=remaining)


@task(
    name="sync-page",
    task_run_name="sync-page-{page_number}",
    **transient_retries(),
)
def sync_page(run_id: int, cursor: MailboxCursor, page_number: int) -> PageOutcome:
    """Take the page (read ahead while the previous one was stored), start reading the next one, analyse and
    store this one in one transaction."""
    return process_page(run_id, cursor)


def process_page(run_id: int, cur: MailboxCursor) -> PageOutcome:
    """One page of any phase; a sweep page that was told to yield keeps its place (the cursor does not move
    past what was not fetched) and reads nothing ahead."""
    sweep = cur.sweep
    pipeline = run_pipeline(run_id, cur.mailbox_id, cur.business_id)
    lister = _list_page(run_id)
    page = pipeline.take(cur, lister)
    nxt = cur if page.stopped else _next_cursor(cur, page.next_token, len(page.ids))
    if sweep and nxt is None:
        nxt = _walk_after_backlog(cur)
    yielded = page.stopped or (sweep and pipeline.yield_requested())
    if nxt is not None and not yielded:
        pipeline.read_ahead(nxt, lister)
    results = _analyse(run_id, page.fetched)
    storage = open_storage()
    uploads = {r.message_id: _upload(storage, cur.business_id, r) for r in results if _is_receipt(r)}
    saved, conflicts = _store(cur, run_id, results, uploads, page.deferred)
    errors = [_error_entry(r) for r in results if isinstance(r, MessageError)] + _tolerated_defects(results)
    _log_errors(errors)
    duplicates = len(page.skipped) + conflicts
    counters = PageCounts(len(page.ids), len(page.fetched), saved, duplicates, len(errors))
    if sweep:
        percent = _commit_sweep(run_id, cur, counters, errors, nxt, page.estimate, yielded)
    else:
        percent = _commit_progress(run_id, counters, errors, nxt, page.estimate)
    run_progress(run_id).committed(page.ids)
    pipeline.committed(cur)
    return PageOutcome(
        next_cursor=nxt if not yielded else None,
        scanned=len(page.ids),
        skipped=len(page.skipped),
        fetched=len(page.fetched),
        saved=saved,
        duplicates=duplicates,
        errors=len(errors),
        history_id=page.history_id,
        percent=percent,
        yielded=yielded,
        deferred=len(page.deferred),
    )


def _walk_after_backlog(cur: MailboxCursor) -> MailboxCursor | None:
    """After the last page of the backlog (deferred messages), the mailbox's window walk, if one is pending."""
    if cur.phase != "deferred":
        return None
    with session_scope() as session:
        walk = walk_cursor(session, cur.mailbox_id)
    return sweep_cursor(cur.business_id, cur.mailbox_id, walk) if walk is not None else None


def _error_entry(error: MessageError) -> MessageErrorEntry:
    """A failed message as the run lists it: id, reason and kind — never its content."""
    kind = "transient" if error.transient else "permanent"
    return MessageErrorEntry(message_id=error.message_id, error=error.error[:ERROR_TEXT_LIMIT], kind=kind)


def _tolerated_defects(results: list[AnalysedMessage | MessageError]) -> list[MessageErrorEntry]:
    """Damaged but readable mail: counted as that message's error, while what it holds is still stored."""
    return [
        MessageErrorEntry(message_id=r.message_id, error="; ".join(r.defects)[:ERROR_TEXT_LIMIT], kind="damaged")
        for r in results
        if isinstance(r, AnalysedMessage) and r.defects
    ]


def _log_errors(errors: list[MessageErrorEntry]) -> None:
    """One WARNING per failed message, so the Prefect UI shows what the run table holds (ids and reasons only)."""
    logger = get_run_logger()
    for error in errors:
        logger.warning("message %s failed (%s): %s", error["message_id"], error["kind"], error["error"])


def _is_receipt(result: AnalysedMessage | MessageError) -> TypeGuard[AnalysedMessage]:
    """Stored: receipts, and candidates for review."""
    return isinstance(result, AnalysedMessage) and result.extraction.kept


def _store(
    cur: MailboxCursor,
    run_id: int,
    results: list[AnalysedMessage | MessageError],
    uploads: dict[str, list[NewDocument]],
    deferred: list[str],
) -> tuple[int, int]:
    """Insert receipts and ledger rows (and the new mail left to the sweep) in one transaction; returns (saved,
    already-stored conflicts)."""
    saved = conflicts = 0
    ledger: list[tuple[str, str, str | None]] = []
    with session_scope() as session:
        for result in results:
            if isinstance(result, MessageError):
                ledger.append((result.message_id, "retry" if result.transient else "error", result.error[:1000]))
                continue
            if result.extraction.kept:
                inserted = insert_receipt(session, _receipt_values(cur, run_id, result), uploads[result.message_id])
                saved += inserted is not None
                conflicts += inserted is None
                ledger.append((result.message_id, "receipt" if result.extraction.is_receipt else "needs_review", None))
            else:
                ledger.append((result.message_id, "not_receipt", None))
        record_processed(session, cur.business_id, ledger, sync_run_id=run_id)
        defer_messages(session, cur.business_id, deferred, run_id)
    return saved, conflicts


def _commit_sweep(
    run_id: int,
    cur: MailboxCursor,
    counters: PageCounts,
    errors: list[MessageErrorEntry],
    nxt: MailboxCursor | None,
    estimate: int | None,
    yielded: bool,
) -> float:
    """A sweep page's counters (its receipts and errors count in the run's totals too) and the walk's place, in
    the transaction that stores the page; the sweep is done when nothing follows."""
    with session_scope() as session:
        run = session.get(SyncRun, run_id, with_for_update=session.get_bind().dialect.name == "postgresql")
        assert run is not None
        run.pages_done += 1
        run.sweep_messages_scanned += counters.scanned
        run.sweep_messages_fetched += counters.fetched
        run.sweep_receipts_saved += counters.saved
        run.receipts_saved += counters.saved
        run.errors_count += counters.errors
        progress = run_progress(run_id)
        run.messages_fetched, run.quota_units = max(run.messages_fetched, progress.fetched), progress.units
        if errors:
            run.message_errors = ((run.message_errors or []) + errors)[:MESSAGE_ERRORS_KEPT]
        if cur.phase == "sweep":
            moved = nxt is None or nxt.phase != "sweep" or nxt.page_token != cur.page_token
            next_token = nxt.page_token if nxt is not None else None
            if moved:
                advance_walk(session, cur.mailbox_id, next_token, counters.scanned, estimate)
        if nxt is None and not yielded and run.sweep_status == "running":
            run.sweep_status = "done"
        run.heartbeat_at = utcnow()
        return run.percent


def _commit_progress(
    run_id: int,
    counters: PageCounts,
    errors: list[MessageErrorEntry],
    nxt: MailboxCursor | None,
    estimate: int | None,
) -> float:
    with session_scope() as session:
        run = session.get(SyncRun, run_id, with_for_update=session.get_bind().dialect.name == "postgresql")
        assert run is not None
        run.pages_done += 1
        run.messages_scanned += counters.scanned
        run.receipts_saved += counters.saved
        run.duplicates_skipped += counters.duplicates
        run.errors_count += counters.errors
        progress = run_progress(run_id)  # running totals: the in-page reporter writes them too
        run.messages_fetched, run.quota_units = max(run.messages_fetched, progress.fetched), progress.units
        if estimate and not run.messages_estimated:
            run.messages_estimated = estimate
        if errors:  # the first ones are kept: the count says how many there were
            run.message_errors = ((run.message_errors or []) + errors)[:MESSAGE_ERRORS_KEPT]
        run.checkpoint = {**(run.checkpoint or {}), "cursor": nxt.to_dict() if nxt else None}
        if run.messages_estimated:
            done = min(99.0, round(100.0 * run.messages_scanned / run.messages_estimated, 1))
            run.percent = max(run.percent or 0.0, done)  # the in-page reporter may have gone a little further
        run.heartbeat_at = utcnow()
        return run.percent
