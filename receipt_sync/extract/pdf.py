"""Text and embedded e-invoice XML from a PDF, through pypdf, tolerant of broken or hostile files.

Only the first pages are read: invoices put their totals there, and it bounds the work a huge PDF costs.
The layout re-read (columns kept, ~0.2 s of CPU a page) is bounded further: only pages whose text carries a
total label, and at most `LAYOUT_MAX_PAGES` of them, since the layout pairing needs a label on the page.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pypdf import PdfReader

from receipt_sync.extract.einvoice import EInvoice, parse_einvoice
from receipt_sync.extract.hebrew import fix_visual_order
from receipt_sync.extract.totals import PRIORITY, label_kinds

MAX_PAGES = 5
LAYOUT_MAX_PAGES = 2  # the last pages with a total label: an invoice ends with its total
_HEADER_WINDOW = 1024  # readers accept the %PDF- header anywhere in the first KiB
_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml")

logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass
class PdfContent:
    text: str
    einvoice: EInvoice | None
    readable: bool
    problem: str | None = None  # why it could not be read, for the person asking ("not a PDF", pypdf's error)
    layout: Callable[[], str] | None = None  # the text with its columns kept, read only when asked for


def read_pdf(data: bytes) -> PdfContent:
    """The PDF's text (in logical order) and its embedded e-invoice, if any; `readable` False if broken."""
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [_page_text(page) for page in reader.pages[:MAX_PAGES]]
    except Exception as exc:  # pypdf raises many types on corrupt input; an unreadable PDF is just not evidence
        return PdfContent("", None, readable=False, problem=_why_unreadable(data, exc))
    text = fix_visual_order("\n".join(pages))
    layout = lambda: _layout_text(reader, layout_pages(pages))  # noqa: E731 -- read only when asked for
    return PdfContent(text, _embedded_invoice(reader), readable=True, layout=layout)


def layout_pages(pages: list[str]) -> list[int]:
    """Which pages (by index) the layout pairing reads: those whose plain text has a total label, the last
    `LAYOUT_MAX_PAGES` of them. A page with no label cannot give the pairing a total, and reading one in layout
    mode is the costliest thing done with a PDF (a 5-page PDF with no total cost ~1 s)."""
    labelled = [i for i, text in enumerate(pages) if _has_total_label(fix_visual_order(text))]
    return labelled[-LAYOUT_MAX_PAGES:]


def _has_total_label(text: str) -> bool:
    return any(kind in PRIORITY for kind, _, _ in label_kinds(text))


def _layout_text(reader: PdfReader, wanted: list[int]) -> str:
    """The `wanted` pages in pypdf's layout mode, which keeps a table's columns apart with spaces."""
    pages = []
    for index in wanted:
        try:
            pages.append(reader.pages[index].extract_text(extraction_mode="layout") or "")
        except Exception:
            pages.append("")
    return fix_visual_order("\n".join(pages))


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
