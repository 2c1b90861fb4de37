"""The result of looking at one email or PDF: is it a receipt, what are its fields, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass
class Extraction:
    is_receipt: bool
    confidence: float
    vendor: str | None
    total: Decimal | None
    currency: str | None
    date: date | None
    document_number: str | None
    reasons: list[str] = field(default_factory=list)
    is_credit_note: bool = False
    # Between "surely a receipt" and "surely not": kept for a person to decide (status `needs_review`).
    needs_review: bool = False
    score: float = 0.0  # the evidence behind `confidence`, in the detector's points

    @property
    def kept(self) -> bool:
        """Stored by a sync: accepted receipts and candidates for review."""
        return self.is_receipt or self.needs_review

    def to_json(self) -> dict[str, object]:
        """The `receipts extract --json` contract (SPEC §8): decimal string totals, ISO codes and dates."""
        return {
            "is_receipt": self.is_receipt,
            "confidence": round(float(self.confidence), 3),
            "vendor": self.vendor,
            "total": format_total(self.total),
            "currency": self.currency,
            "date": self.date.isoformat() if self.date else None,
            "document_number": self.document_number,
            "reasons": list(self.reasons),
        }


def format_total(total: Decimal | None) -> str | None:
    """Two decimals at least ("12.50", "-12.50"), more only where the document had them."""
    if total is None:
        return None
    exponent = total.as_tuple().exponent  # a letter for NaN and infinity, which are never quantised
    quantised = total.quantize(Decimal("0.01")) if isinstance(exponent, int) and -exponent <= 2 else total
    return f"{quantised:f}"
