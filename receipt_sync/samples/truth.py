"""What a generated message really is: the answer key the demo, tests and the extraction benchmark score against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Truth:
    """The expected result for one message.

    `total` is a decimal string (negative for credit notes and refunds), `currency` an ISO 4217 code, `date`
    the document's ISO date. Malformed messages have `kind == "malformed"`, `is_receipt` False and `defect`
    naming what is broken: they must yield a per-message error, so score them apart from detection.
    """

    is_receipt: bool
    vendor: str | None
    total: str | None
    currency: str | None
    date: str | None
    document_number: str | None
    language: str
    kind: str
    defect: str | None = None


def negative(kind: str, language: str = "en") -> Truth:
    """The truth of a message that is not a receipt."""
    return Truth(False, None, None, None, None, None, language, kind)


@dataclass(frozen=True)
class SampleMessage:
    """One generated message: Gmail-style id, RFC 822 bytes (CRLF), UTC internal date, labels and truth."""

    id: str
    raw: bytes
    internal_date: datetime
    thread_id: str
    label_ids: tuple[str, ...]
    truth: Truth
