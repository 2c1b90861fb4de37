"""Malformed mail, the kinds real mailboxes hold: broken base64, an unknown charset, MIME cut off mid-part,
and a 0-byte PDF attachment. Each must become one message's error, never a crashed run."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from random import Random

from receipt_sync.samples import _mime
from receipt_sync.samples._common import Draft, boundary, local_time
from receipt_sync.samples.truth import Truth
from receipt_sync.samples.vendors import ENGLISH_VENDORS, HEBREW_VENDORS


def _truth(defect: str, language: str = "en") -> Truth:
    return Truth(False, None, None, None, None, None, language, "malformed", defect)


def broken_base64(rng: Random) -> tuple[bytes, Truth]:
    good = base64.b64encode(b"Receipt R-2231 Total $41.20 paid").decode()
    body = good[: rng.randint(8, 30)] + "!!**not base64**@@" + "\n"
    head = 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
    return (head + body).encode(), _truth("broken-base64")


def unknown_charset(rng: Random) -> tuple[bytes, Truth]:
    text = 'קבלה מספר 4471\nסה"כ לתשלום: 120.00 ש"ח\n'.encode("windows-1255")
    charset = rng.choice(("x-unknown-hebrew", "hebrew-dos-9", "windows-9999"))
    head = f'Content-Type: text/plain; charset="{charset}"\nContent-Transfer-Encoding: 8bit\n\n'
    return head.encode() + text, _truth("unknown-charset", "he")


def truncated_mime(rng: Random) -> tuple[bytes, Truth]:
    whole = _mime.multipart(
        "mixed",
        [
            _mime.text_part("plain", "Invoice attached.", "utf-8", "7bit"),
            _mime.attachment("application/pdf", bytes(rng.getrandbits(8) for _ in range(600)), "invoice.pdf"),
        ],
        boundary(rng),
    )
    return whole[: int(len(whole) * 0.7)], _truth("truncated-mime")


def empty_attachment(rng: Random) -> tuple[bytes, Truth]:
    parts = [
        _mime.text_part("plain", "Please find your invoice attached.", "utf-8", "7bit"),
        _mime.attachment("application/pdf", b"", "invoice.pdf"),
    ]
    return _mime.multipart("mixed", parts, boundary(rng)), _truth("empty-attachment")


DEFECTS: tuple[Callable[[Random], tuple[bytes, Truth]], ...] = (
    broken_base64,
    unknown_charset,
    truncated_mime,
    empty_attachment,
)


def malformed(rng: Random, when: datetime) -> Draft:
    """One malformed message, its defect drawn at random."""
    entity, truth = rng.choice(DEFECTS)(rng)
    vendor = rng.choice(HEBREW_VENDORS if truth.language == "he" else ENGLISH_VENDORS)
    subject = f"Invoice {rng.randint(1000, 9999)}"
    return Draft(vendor.name, f"billing@{vendor.domain}", subject, entity, truth, local_time(when, vendor.utc_offset))
