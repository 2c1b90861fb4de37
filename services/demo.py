"""The demo on the embedded default: a generated sample mailbox, synced, then scored against its own truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from email.parser import BytesHeaderParser
from pathlib import Path

from models.db import migrate, session_scope
from models.queries.businesses import business_by_name, create_business
from models.queries.mailboxes import connect_mailbox
from models.queries.receipts import receipts_by_message_id
from receipt_sync.mail.mbox import MboxSource
from receipt_sync.samples.generator import Truth, generate_messages, write_mbox
from receipt_sync.settings import get_settings

DEMO_BUSINESS = "Demo business"


@dataclass(frozen=True)
class DemoTruth:
    by_message_id: dict[str, Truth]  # keyed by the source's message ids
    mbox_path: Path


def prepare_demo(count: int, seed: int) -> tuple[int, Path, DemoTruth]:
    """Migrate, write the sample mailbox, and connect it to the demo business (reused across runs)."""
    settings = get_settings()
    migrate()
    folder = settings.data_dir / "sample"
    folder.mkdir(parents=True, exist_ok=True)
    mbox_path = (folder / f"mailbox-{count}-{seed}.mbox").resolve()
    messages = generate_messages(count, seed=seed)
    if not mbox_path.exists():
        write_mbox(messages, mbox_path)
    truth_by_header = {_message_id_header(m.raw): m.truth for m in messages}
    with session_scope() as session:
        business = business_by_name(session, DEMO_BUSINESS)
        business_id = business.id if business else create_business(session, DEMO_BUSINESS).id
        connect_mailbox(session, business_id=business_id, provider="mbox", address=str(mbox_path))
    return business_id, mbox_path, DemoTruth(_truth_by_source_id(mbox_path, truth_by_header), mbox_path)


def _message_id_header(raw: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(raw).get("Message-ID", "")).strip()


def _truth_by_source_id(mbox_path: Path, truth_by_header: dict[str, Truth]) -> dict[str, Truth]:
    """Read the mbox through the same source the sync uses, so ids match what the sync stored."""
    source, token, truth = MboxSource(mbox_path), None, {}
    while True:
        page = source.list_messages(page_token=token)
        for raw in source.fetch_messages(page.message_ids):
            if hasattr(raw, "raw") and _message_id_header(raw.raw) in truth_by_header:
                truth[raw.id] = truth_by_header[_message_id_header(raw.raw)]
        token = page.next_page_token
        if token is None:
            source.close()
            return truth


@dataclass(frozen=True)
class DemoScore:
    """The demo's receipts against the generator's truth."""

    expected: int
    found: int
    missed: int
    false: int  # stored, but the generator made no receipt (malformed messages' readable parts aside)
    malformed_kept: int
    exact_totals: str  # "exact/found"
    sample: list[tuple[str | None, Decimal | None, str | None, date | None, str | None]]


def score_demo(business_id: int, truth: DemoTruth) -> DemoScore:
    """Receipts found, missed and false against the generator's truth, and a sample of what was stored."""
    with session_scope() as session:
        receipts = receipts_by_message_id(session, business_id)
    expected = {mid for mid, t in truth.by_message_id.items() if t.is_receipt}
    malformed = {mid for mid, t in truth.by_message_id.items() if t.kind == "malformed"}
    found = expected & set(receipts)
    exact = sum(1 for mid in found if _same_total(receipts[mid].total, truth.by_message_id[mid].total))
    sample = [
        (r.vendor, r.total, r.currency, r.receipt_date, r.document_number)
        for r in sorted(receipts.values(), key=lambda r: r.id)[:15]
    ]
    return DemoScore(
        expected=len(expected),
        found=len(found),
        missed=len(expected - set(receipts)),
        false=len(set(receipts) - expected - malformed),
        malformed_kept=len(set(receipts) & malformed),
        exact_totals=f"{exact}/{len(found)}",
        sample=sample,
    )


def _same_total(stored: Decimal | None, expected: str | None) -> bool:
    return stored is not None and expected is not None and stored == Decimal(expected)
