"""From one raw message to what a sync stores: parsed mail, extracted fields and documents to keep.

Mail is untrusted input: any failure to read one message becomes a `MessageError` for that message,
so the rest of its page is still stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from receipt_sync.errors import MalformedMessageError
from receipt_sync.extract import Extraction, extract_email
from receipt_sync.mail.base import RawMessage
from receipt_sync.mime import Document, ParsedEmail, parse_email, receipt_documents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysedMessage:
    message_id: str
    thread_id: str | None
    received_at: datetime | None
    email: ParsedEmail
    extraction: Extraction
    documents: list[Document]

    @property
    def defects(self) -> list[str]:
        """Tolerated damage (unknown charset, empty attachment): an error on the run, yet what was read is kept."""
        return self.email.defects


@dataclass(frozen=True)
class MessageError:
    """Why one message failed; `transient` when trying it again later may succeed (a fetch that failed, an
    analysis that ran out of time on a busy machine), so later syncs retry it a few times."""

    message_id: str
    error: str
    transient: bool = False


def analyse_message(raw: RawMessage, *, max_attachment_bytes: int) -> AnalysedMessage | MessageError:
    """Parse, detect and extract one message; documents only for receipts and candidates for review."""
    try:
        email = parse_email(raw.raw, max_attachment_bytes=max_attachment_bytes)
        extraction = extract_email(email)
        documents = receipt_documents(email) if extraction.kept else []
    except MalformedMessageError as exc:
        return MessageError(raw.id, str(exc))
    except Exception as exc:  # untrusted input must never take its page down with it
        log.warning("message %s could not be analysed: %s", raw.id, type(exc).__name__, exc_info=True)
        return MessageError(raw.id, f"unreadable message ({type(exc).__name__})")
    return AnalysedMessage(
        message_id=raw.id,
        thread_id=raw.thread_id,
        received_at=raw.internal_date or email.date,
        email=email,
        extraction=extraction,
        documents=documents,
    )
