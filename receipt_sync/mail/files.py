"""A folder (or one file) of documents as a mail source: saved emails, PDFs, HTML pages and plain-text invoices
sync through the same flow as Gmail and `.mbox` files (`receipts import-mbox PATH`).

Each file is judged by its content, not its name: an RFC 822 email is passed on as it is; any other document
is wrapped in a minimal email that carries it (a PDF or an XRechnung/UBL/CII e-invoice XML as its attachment,
an HTML page or a text invoice as its body) with the file's name as subject and no sender, so the extractor
reads the vendor from the document.
Binary files that are none of these (images, archives) and `.mbox` files inside a folder are not listed.
Ids are `file-` + a hash of the content, stable across runs and renames; a page token is an index into the
sorted file list. There is no change history, so every sync is a full pass that skips what is stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from receipt_sync.extract.einvoice import looks_like_einvoice
from receipt_sync.mail.base import FetchFailure, ListPage, RawMessage, WithoutHistory
from receipt_sync.mime import decode_bytes

MAX_FILES = 100_000
MAX_FILE_BYTES = 25 * 1024 * 1024  # Gmail's own attachment limit; a larger file is not a receipt we read
_SNIFF = 8192
_MAIL_HEADER = re.compile(
    rb"^(?:from|to|subject|date|received|message-id|mime-version|return-path|delivered-to):", re.I | re.M
)
_FIRST_HEADER = re.compile(rb"[!-9;-~]+:")  # a header block starts at once with "Name:" (no spaces in the name)
_HTML_TAG = re.compile(rb"<(?:!doctype html|html|head|body|table|div)\b", re.I)
_MBOX_FROM = re.compile(rb"From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d")


def is_mbox(path: Path) -> bool:
    """A Takeout/mboxrd file: its first line is a `From <sender> <asctime>` separator."""
    with Path(path).open("rb") as handle:
        return _MBOX_FROM.match(handle.read(256)) is not None


def document_kind(data: bytes) -> str | None:
    """ "pdf", "email", "einvoice" (UBL/CII XML), "html" or "text" by content; None for what is none of them
    (binary, mbox)."""
    head = data.lstrip()[:_SNIFF]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if looks_like_einvoice(head):
        return "einvoice"
    if _MBOX_FROM.match(head) or b"\x00" in head:
        return None
    if _FIRST_HEADER.match(head) and _MAIL_HEADER.search(head.split(b"\n\n", 1)[0]):
        return "email"
    return "html" if _HTML_TAG.search(head[:4096]) else "text"


def as_email(data: bytes, name: str, modified: datetime | None = None) -> bytes | None:
    """The document as RFC 822 bytes the pipeline reads (an email unchanged), or None when not a document."""
    kind = document_kind(data)
    if kind in (None, "email"):
        return data if kind else None
    msg = EmailMessage()
    msg["Subject"] = " ".join(name.split())[:200] or "document"
    if modified is not None:
        msg["Date"] = format_datetime(modified)
    msg["Message-ID"] = f"<{hashlib.sha256(data).hexdigest()[:32]}@files.receipt-sync.invalid>"
    if kind == "pdf":
        msg.set_content(f"Imported document {name}")
        msg.add_attachment(data.lstrip(), maintype="application", subtype="pdf", filename=name)
    elif kind == "einvoice":  # attached as sent, so the extractor reads the XML rather than its text
        msg.set_content(f"Imported e-invoice {name}")
        msg.add_attachment(data.lstrip(), maintype="application", subtype="xml", filename=name)
    else:
        msg.set_content(decode_bytes(data, None), subtype="html" if kind == "html" else "plain")
    return msg.as_bytes()


class FilesSource(WithoutHistory):
    """Pages through the documents under a folder (or one file) in sorted path order."""

    def __init__(self, path: Path, *, page_size: int = 200) -> None:
        self.path = Path(path)
        self.page_size = page_size
        self._paths: dict[str, Path] = {}

    def list_messages(
        self,
        *,
        page_token: str | None,
        after: datetime | None = None,
        before: datetime | None = None,
        query: str | None = None,
        page_size: int = 500,
    ) -> ListPage:
        """The next documents' ids (the date window and `query` do not apply: a file has no mail date)."""
        files = self._files()
        start = int(page_token or 0)
        end = start + max(1, min(page_size, self.page_size))
        ids = []
        for path in files[start:end]:
            message = self._read(path)
            if message is not None:
                self._paths[message.id] = path
                ids.append(message.id)
        return ListPage(ids, str(end) if end < len(files) else None, len(files))

    def fetch_messages(self, ids: Sequence[str]) -> list[RawMessage | FetchFailure]:
        out: list[RawMessage | FetchFailure] = []
        for message_id in ids:
            path = self._paths.get(message_id)
            message = self._read(path) if path is not None else None
            out.append(message or FetchFailure(message_id, "the file is gone or changed since it was listed"))
        return out

    def close(self) -> None:
        self._paths.clear()

    def _files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        found = (p for p in self.path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(found)[:MAX_FILES]

    def _read(self, path: Path) -> RawMessage | None:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                return None
            data = path.read_bytes()
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            return None
        raw = as_email(data, path.name, modified)
        if raw is None:
            return None
        ident = "file-" + hashlib.sha256(data).hexdigest()[:24]
        return RawMessage(id=ident, raw=raw, internal_date=modified)
