"""The sample mailbox: realistic receipts and hard negatives, English and Hebrew, with the truth for each.

Used by `receipts demo`, the tests and the benchmarks. `generate_messages` is deterministic for a seed and
a window (`start`/`end`); the default window is the 365 days before the first day of the current UTC month,
so it only moves once a month and always falls inside a sync's default 36-month window. Messages come
newest first, like Gmail's listing. About 37% are receipts (`receipt_share` changes that); the rest are hard
negatives, plus `malformed_share` malformed messages. `write_mbox` writes a Google Takeout-style mboxrd file,
`write_truth` the answer key as JSON lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import accumulate
from pathlib import Path
from random import Random

from receipt_sync.mail.mbox import TAKEOUT_LABEL_NAMES, escape_from_lines, mbox_id
from receipt_sync.samples import _mime, english, hebrew, negatives
from receipt_sync.samples._common import Draft
from receipt_sync.samples.malformed import malformed
from receipt_sync.samples.truth import SampleMessage, Truth
from receipt_sync.samples.vendors import OWNER

__all__ = ["SampleMessage", "Truth", "generate_messages", "write_mbox", "write_truth"]

Builder = Callable[[Random, datetime], Draft]

RECEIPT_MIX: tuple[tuple[Builder, float], ...] = (
    (english.html_receipt, 7),
    (english.text_receipt, 3.5),
    (english.order_confirmation, 3.5),
    (english.pdf_invoice, 5),
    (english.subscription_invoice, 3.5),
    (english.credit_note, 2.5),
    (hebrew.body_receipt("hebrew-tax-invoice"), 4),
    (hebrew.body_receipt("hebrew-receipt"), 2.5),
    (hebrew.body_receipt("hebrew-tax-invoice-receipt"), 2.5),
    (hebrew.pdf_receipt, 3),
)
NEGATIVE_MIX: tuple[tuple[Builder, float], ...] = (
    (negatives.marketing, 16),
    (negatives.hebrew_marketing, 5),
    (negatives.shipping_notice, 8),
    (negatives.newsletter, 11),
    (negatives.personal, 10),
    (negatives.hebrew_personal, 4),
    (negatives.account_statement, 5),
    (negatives.hebrew_statement, 2.5),
)
MIX = RECEIPT_MIX + NEGATIVE_MIX
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(.+?)\r?$", re.IGNORECASE | re.MULTILINE)


def generate_messages(
    count: int,
    seed: int = 7,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    malformed_share: float = 0.02,
    receipt_share: float | None = None,
) -> list[SampleMessage]:
    """`count` messages spread over `[start, end)`, newest first, the same ones for the same arguments.

    `receipt_share` sets the share of receipts among the well-formed messages (default: the MIX weights, ~37%),
    e.g. to model a mailbox that is mostly correspondence.
    """
    weights = MIX if receipt_share is None else _reweighted(receipt_share)
    builders, cumulative = [b for b, _ in weights], list(accumulate(w for _, w in weights))
    start, end = _window(start, end)
    rng = Random(seed)
    span = int((end - start).total_seconds())
    times = sorted((start + timedelta(seconds=rng.randrange(span)) for _ in range(count)), reverse=True)
    used: set[str] = set()
    messages = []
    for when in times:
        if rng.random() < malformed_share:
            draft = malformed(rng, when)
        else:
            draft = rng.choices(builders, cum_weights=cumulative)[0](rng, when)
        messages.append(_assemble(rng, draft, when, used))
    return messages


def _reweighted(receipt_share: float) -> tuple[tuple[Builder, float], ...]:
    """MIX with receipts scaled to `receipt_share` of the weight, each class keeping its inner proportions."""
    if not 0.0 <= receipt_share <= 1.0:
        raise ValueError(f"receipt_share must be between 0 and 1, not {receipt_share}")
    receipts, negatives_ = (sum(w for _, w in mix) for mix in (RECEIPT_MIX, NEGATIVE_MIX))
    return (
        *((b, w / receipts * receipt_share) for b, w in RECEIPT_MIX),
        *((b, w / negatives_ * (1 - receipt_share)) for b, w in NEGATIVE_MIX),
    )


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if end is None:
        end = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start is None:
        start = end - timedelta(days=365)
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        raise ValueError("start and end must be timezone-aware with start before end")
    return start.astimezone(UTC), end.astimezone(UTC)


def _gmail_id(rng: Random, when: datetime, used: set[str]) -> str:
    """A 16-hex-digit id that grows with time, like Gmail's."""
    while True:
        candidate = f"{int(when.timestamp() * 1000) << 20 | rng.getrandbits(20):016x}"[-16:]
        if candidate not in used:
            used.add(candidate)
            return candidate


def _assemble(rng: Random, draft: Draft, when: datetime, used: set[str]) -> SampleMessage:
    gmail_id = _gmail_id(rng, when, used)
    domain = draft.sender_addr.rpartition("@")[2]
    headers = [
        ("From", _mime.address(draft.sender_name, draft.sender_addr, draft.header_charset)),
        ("To", _mime.address(*OWNER)),
        ("Subject", _mime.header_words(draft.subject, draft.header_charset, q=rng.random() < 0.3)),
        ("Date", format_datetime(draft.sent_at)),
        ("Message-ID", f"<{rng.getrandbits(48):012x}.{gmail_id}@{domain}>"),
        *draft.extra_headers,
    ]
    labels = (*draft.labels, "UNREAD") if rng.random() < 0.3 else draft.labels
    raw = _mime.finalize(headers, draft.entity)
    return SampleMessage(gmail_id, raw, when, gmail_id, labels, draft.truth)


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID header value of a generated message (as written, with angle brackets)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode("ascii", "replace").strip() if match else None


def write_mbox(messages: Iterable[SampleMessage], path: Path) -> None:
    """An mboxrd file shaped like a Google Takeout export: From_ line, X-GM-THRID and X-Gmail-Labels, LF."""
    with Path(path).open("wb") as out:
        for message in messages:
            out.write(_mbox_entry(message))


def _mbox_entry(message: SampleMessage) -> bytes:
    stamp = message.internal_date.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")
    labels = ",".join(TAKEOUT_LABEL_NAMES.get(label, label) for label in message.label_ids)
    head = f"From {int(message.id, 16)}@xxx {stamp}\nX-GM-THRID: {int(message.thread_id, 16)}\n"
    head += f"X-Gmail-Labels: {labels}\n"
    body = escape_from_lines(message.raw.replace(b"\r\n", b"\n"))
    return head.encode("ascii") + body + (b"" if body.endswith(b"\n") else b"\n") + b"\n"


def write_truth(messages: Iterable[SampleMessage], path: Path) -> None:
    """One JSON object a line: `id` (Gmail-style), `message_id` (header value), `mbox_id` (MboxSource's id),
    `internal_date` and the Truth fields."""
    with Path(path).open("w", encoding="utf-8") as out:
        for message in messages:
            header_id = message_id_of(message.raw)
            record = {
                "id": message.id,
                "message_id": header_id,
                "mbox_id": mbox_id(header_id) if header_id else None,
                "internal_date": message.internal_date.isoformat(),
                **asdict(message.truth),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
