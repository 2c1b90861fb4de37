"""Text and embedded e-invoice XML from a PDF, through pypdf, tolerant of broken or hostile files.

Only the first pages are read: invoices put their totals there, and it bounds the work a huge PDF costs.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from pypdf import PdfReader

from receipt_sync.extract.einvoice import EInvoice, parse_einvoice
from receipt_sync.extract.hebrew import fix_visual_order

MAX_PAGES = 5
_HEADER_WINDOW = 1024  # readers accept the %PDF- header anywhere in the first KiB
_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml")

logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass
class PdfContent:
    text: str
    einvoice: EInvoice | None
    readable: bool
    problem: str | None = None  # why it could not be read, for the person asking ("not a PDF", pypdf's error)


def read_pdf(data: bytes) -> PdfContent:
    """The PDF's text (in logical order) and its embedded e-invoice, if any; `readable` False if broken."""
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [_page_text(page) for page in reader.pages[:MAX_PAGES]]
    except Exception as exc:  # pypdf raises many types on corrupt input; an unreadable PDF is just not evidence
        return PdfContent("", None, readable=False, problem=_why_unreadable(data, exc))
    text = fix_visual_order("\n".join(pages))
    return PdfContent(text, _embedded_invoice(reader), readable=True)


def _why_unreadable(data: bytes, exc: Exception) -> str:
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        return "it is not a PDF (no %PDF- header)"
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return f"it is damaged ({detail})"


def _page_text(page: object) -> str:
    try:
        return page.extract_text() or ""  # type: ignore[attr-defined]
    except Exception:
        return ""


def _embedded_invoice(reader: PdfReader) -> EInvoice | None:
    try:
        attachments = reader.attachments
        names = sorted(attachments, key=lambda n: n.lower() not in _XML_NAMES)
        for name in names:
            if name.lower().endswith(".xml"):
                for blob in attachments[name]:
                    parsed = parse_einvoice(blob)
                    if parsed is not None:
                        return parsed
    except Exception:
        return None
    return None
