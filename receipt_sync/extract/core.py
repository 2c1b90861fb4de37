"""Detection and extraction for one email (body plus PDF attachments) or one PDF; behind `receipts extract`."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from receipt_sync.errors import MalformedMessageError
from receipt_sync.extract.amounts import dominant_currency, prepare
from receipt_sync.extract.dates import document_date
from receipt_sync.extract.detect import Evidence, Signals, assess, verdict
from receipt_sync.extract.docnumber import find_document_number_with_priority, sellers_own_code
from receipt_sync.extract.einvoice import EInvoice, looks_like_einvoice, parse_einvoice
from receipt_sync.extract.hebrew import has_hebrew, normalise_quotes
from receipt_sync.extract.layout import html_total, layout_total
from receipt_sync.extract.model import Extraction
from receipt_sync.extract.pdf import read_pdf
from receipt_sync.extract.structured import Declared, declared_purchase
from receipt_sync.extract.totals import TotalCandidate, find_total
from receipt_sync.extract.vendor import forwarded_sender, is_personal_sender, vendor_from_sender, vendor_from_text
from receipt_sync.mime import Attachment, ParsedEmail, decode_bytes, html_to_text, normalise_text, parse_email

# Hard caps on every text that reaches the patterns: totals and numbers sit near the top, and the caps bound
# what a hostile message can cost (issue 13). Headers are also collapsed to single spaces.
MAX_TEXT_CHARS = 20_000
MAX_SUBJECT_CHARS = 1_000
MAX_SENDER_CHARS = 320
MAX_FILENAME_CHARS = 255
MAX_HTML_CHARS = 2_000_000  # schema.org markup sits in the head or near the top
MAX_PDFS = 3
MAX_XML_BYTES = 5_000_000  # a bare e-invoice is small; a larger XML file is not read as one
_HEADING_LINES = 6
UNREAD = -100.0  # the score of what could not be read at all: never a candidate for review
_REPLY = re.compile(r"^\s*(?:re|aw|sv|tr|תשובה)\s*:", re.IGNORECASE)
_CREDIT_TITLE = re.compile(
    r"(?<!\w)(?:credit note|credit memo|refund receipt|avoir|creditnota|nota de crédito|korekta|"
    r"חשבונית זיכוי|הודעת זיכוי)(?!\w)",
    re.IGNORECASE,
)
_REFUND_SUBJECT = re.compile(r"(?<!\w)(?:refund(?:ed)?|credit note|זיכוי|החזר כספי)(?!\w)", re.IGNORECASE)
_ATTACHED = re.compile(  # "your invoice is attached", in the languages we read
    r"(?<!\w)(?:attached|enclosed|anbei|im anhang|ci-joint|pièce jointe|bijgevoegd|in de bijlage|"
    r"w załączniku|załączon\w+|מצורפת|מצורף|בקובץ המצורף)(?!\w)",
    re.IGNORECASE,
)
_INVOICE_NAME = re.compile(
    r"invoice|receipt|rechnung|facture|factuur|faktura|bill|quittung|חשבונית|קבלה|inv[-_ ]?\d", re.IGNORECASE
)


@dataclass
class _Fields:
    """What one piece of text yields before the receipt decision."""

    lines: list[str]
    total: TotalCandidate | None
    number: str | None
    number_priority: int
    currency: str | None

    @property
    def lines_head(self) -> str:
        """The first lines, where a mail says what it carries."""
        return "\n".join(self.lines[:20])


def cap_header(value: str, limit: int) -> str:
    """A header value as the patterns may see it: whitespace runs as one space, at most `limit` chars."""
    return " ".join(value.split())[:limit]  # str.split is one linear C pass


def _read_fields(subject: str, text: str) -> _Fields:
    clean = prepare(normalise_quotes(text[:MAX_TEXT_CHARS]))
    lines = [line.strip() for line in clean.split("\n") if line.strip()]
    total = find_total(lines)
    number, priority = find_document_number_with_priority([normalise_quotes(subject), *lines])
    currency = (total.money.currency if total else None) or dominant_currency(clean)
    if currency is None and total is not None and has_hebrew(clean):
        currency = "ILS"
    return _Fields(lines, total, number, priority, currency)


def _pair_by_layout(fields: _Fields, found: TotalCandidate | None) -> None:
    """When the line text pairs no label with an amount, the layout's pairing (table cells, PDF columns)
    supplies the total. (Letting it win over a line-text total as well changed nothing on the evaluation
    sets and cost a second HTML parse, ~1 ms, on every mail.)"""
    if fields.total is None and found is not None:
        fields.total = found
        fields.currency = found.money.currency or fields.currency


def extract_pdf(data: bytes, *, filename: str | None = None) -> Extraction:
    """A PDF on its own: embedded e-invoice XML when present, else its text."""
    content = read_pdf(data)
    if not content.readable:
        reason = f"The PDF could not be read: {content.problem}."
        return Extraction(False, 0.0, None, None, None, None, None, [reason], score=UNREAD)
    result = extract_text_document(content.text, filename=filename, layout=content.layout)
    if content.einvoice is not None:
        _apply_einvoice(result, content.einvoice, "Judged a receipt: the PDF carries a machine-readable invoice.")
    return _signed(result)


def extract_text_document(
    text: str, *, filename: str | None = None, html: str | None = None, layout: Callable[[], str] | None = None
) -> Extraction:
    """A document that is not an email (a PDF's text, a plain-text invoice, a saved HTML page): its first
    lines play the part of a subject; schema.org markup in `html` is read first; the tables of `html`, or a
    PDF's `layout` text (columns kept), pair a total with its label when the line text does not."""
    filename = cap_header(filename, MAX_FILENAME_CHARS) if filename else None
    name = re.sub(r"\.(?:pdf|txt|html?)$", "", filename or "", flags=re.IGNORECASE)
    text = text[:MAX_TEXT_CHARS]
    fields = _read_fields(name, text)
    if fields.total is None and html:
        _pair_by_layout(fields, html_total(html[:MAX_HTML_CHARS]))
    if fields.total is None and layout is not None:
        _pair_by_layout(fields, layout_total(layout()[:MAX_TEXT_CHARS]))
    # A PDF's heading plays the part of an email's subject ("INVOICE", "Facture n° …").
    heading = "\n".join([name, *fields.lines[:_HEADING_LINES]])
    ev = assess(Signals(heading, "\n".join(fields.lines), fields.total, fields.number_priority))
    if filename and _INVOICE_NAME.search(filename):
        ev.add(1.5, f"The file is named like an invoice ({filename!r}).")
    declared = _declare(ev, html)
    result = _from_fields(fields, ev, vendor=vendor_from_text(text))
    result.date = document_date(text, month_first=result.currency == "USD")
    result.is_credit_note = bool(_CREDIT_TITLE.search(text[:3000]))
    if declared is not None:
        _apply_declared(result, declared)
    return result


def _from_fields(fields: _Fields, ev: Evidence, *, vendor: str | None) -> Extraction:
    return Extraction(
        is_receipt=ev.is_receipt,
        confidence=ev.confidence,
        needs_review=ev.needs_review,
        score=ev.score,
        vendor=vendor,
        total=fields.total.money.value if fields.total else None,
        currency=fields.currency,
        date=None,
        document_number=fields.number,
        reasons=[verdict(ev), *ev.reasons],
    )


def _apply_einvoice(result: Extraction, inv: EInvoice, verdict_line: str) -> None:
    """Exact fields from the e-invoice XML replace the ones read from text."""
    result.vendor = inv.seller or result.vendor
    result.total = inv.total if inv.total is not None else result.total
    result.currency = inv.currency or result.currency
    result.date = inv.issue_date or result.date
    result.document_number = inv.number or result.document_number
    result.is_credit_note = inv.is_credit_note
    result.is_receipt = True
    result.confidence = max(result.confidence, 0.99)
    result.score = max(result.score, 10.0)
    result.needs_review = False
    result.reasons[0] = verdict_line
    result.reasons.append(
        f"Its fields come from the {'embedded ' if 'PDF' in verdict_line else ''}{inv.standard} invoice XML."
    )


def _signed(result: Extraction) -> Extraction:
    """Credit notes and refunds carry negative totals."""
    if result.is_credit_note and result.total is not None:
        result.total = -abs(result.total)
        result.reasons.append("It is a credit note or refund, so the total is negative.")
    return result


def extract_email(parsed: ParsedEmail) -> Extraction:
    """One email: its body, then any PDF attachments, which win on the fields they carry."""
    parsed = _bounded(parsed)
    fields = _read_fields(parsed.subject, parsed.text)
    if fields.total is None and parsed.html:  # gated: parsing the tables again costs ~1 ms a mail
        _pair_by_layout(fields, html_total(parsed.html[:MAX_HTML_CHARS]))
    ev = assess(_email_signals(parsed, fields))
    declared = _declare(ev, parsed.html)
    pdf = _first_receipt_pdf(parsed.attachments)
    if pdf is not None:
        ev.add(5.0, f"The attached PDF {pdf[0]!r} is an invoice or receipt.")
    vendor = _vendor(parsed)
    result = _from_fields(fields, ev, vendor=vendor)
    if declared is not None:
        _apply_declared(result, declared)
    result.document_number = sellers_own_code(fields.lines, result.document_number, vendor) or result.document_number
    result.date = parsed.date.date() if parsed.date else document_date(parsed.text)
    result.is_credit_note = _is_refund(parsed.subject, "\n".join(fields.lines[:15]), fields.total)
    if pdf is not None:
        _prefer_pdf_fields(result, pdf[1])
        result.reasons += [f"{pdf[0]}: {reason}" for reason in pdf[1].reasons[1:]]
    if (xml := _first_einvoice_xml(parsed.attachments)) is not None:
        _apply_einvoice(result, xml[1], f"Judged a receipt: the attached {xml[0]!r} is a machine-readable invoice.")
    return _signed(result)


def _vendor(parsed: ParsedEmail) -> str | None:
    """The sender's company; for a receipt a person forwarded, the forwarded message's sender; for a document
    imported without a sender, the company its text names."""
    vendor = vendor_from_sender(parsed.sender, parsed.sender_address, parsed.text)
    if vendor is None and parsed.sender_address and (quoted := forwarded_sender(parsed.text, parsed.sender_address)):
        vendor = vendor_from_sender(*quoted, parsed.text)
    if vendor is None and not parsed.sender_address:
        vendor = vendor_from_text(parsed.text)
    return vendor


def _bounded(parsed: ParsedEmail) -> ParsedEmail:
    """The message with every text the patterns read capped (a copy: the caller's stays whole)."""
    return dataclasses.replace(
        parsed,
        subject=cap_header(parsed.subject, MAX_SUBJECT_CHARS),
        sender=cap_header(parsed.sender, MAX_SENDER_CHARS),
        sender_address=cap_header(parsed.sender_address, MAX_SENDER_CHARS),
        text=parsed.text[:MAX_TEXT_CHARS],
    )


def _declare(ev: Evidence, html: str | None) -> Declared | None:
    declared = declared_purchase(html[:MAX_HTML_CHARS] if html else None)
    if declared is not None:
        ev.add(4.0, f"It declares a schema.org {declared.kind} in its markup.")
        if declared.total is not None:
            ev.add(2.0, f"Its markup declares the total ({declared.total}).")
    return declared


def _apply_declared(result: Extraction, declared: Declared) -> None:
    """What the markup declares is exact: it wins over what was read from the text."""
    if declared.total is not None:
        result.total = declared.total
        result.currency = declared.currency or result.currency
        result.reasons.append(f"Its total {declared.total} comes from the declared {declared.kind}.")
    result.document_number = declared.number or result.document_number
    result.vendor = declared.vendor or result.vendor


def _email_signals(parsed: ParsedEmail, fields: _Fields) -> Signals:
    return Signals(
        subject=parsed.subject,
        text="\n".join(fields.lines),
        total=fields.total,
        document_number_priority=fields.number_priority,
        is_reply=_REPLY.match(parsed.subject) is not None,
        is_mailing_list="list-id" in parsed.headers,
        is_personal_sender=is_personal_sender(parsed.sender_address),
        attachment_missing=_ATTACHED.search(fields.lines_head) is not None
        and not any(not a.inline for a in parsed.attachments),
        archive_attachment=_archive_name(parsed.attachments),
    )


# Archives and programs: what invoice-themed malware carries ("Payment Invoice.zip", "Order_5512.exe")
_ARCHIVE_NAME = re.compile(
    r"\.(?:zip|rar|7z|gz|tgz|tar|bz2|xz|cab|arj|lzh|ace|iso|img|exe|scr|pif|bat|cmd|msi|js|jse|vbs|vbe|"
    r"wsf|hta|jar|lnk|ps1)$",
    re.IGNORECASE,
)
_ARCHIVE_TYPES = frozenset({
    "application/zip", "application/x-zip-compressed", "application/x-rar-compressed", "application/vnd.rar",
    "application/x-7z-compressed", "application/gzip", "application/x-msdownload", "application/x-msdos-program",
    "application/java-archive", "application/x-iso9660-image", "application/vnd.ms-cab-compressed",
})  # fmt: skip


def _archive_name(attachments: list[Attachment]) -> str | None:
    for a in attachments:
        name = (a.filename or "").strip()
        if not a.inline and (_ARCHIVE_NAME.search(name) or a.content_type.lower() in _ARCHIVE_TYPES):
            return cap_header(name, MAX_FILENAME_CHARS) or a.content_type
    return None


def _is_refund(subject: str, head: str, total: TotalCandidate | None) -> bool:
    if _REFUND_SUBJECT.search(subject) or _CREDIT_TITLE.search(head):
        return True
    return total is not None and "refund" in total.label.lower()


def _first_receipt_pdf(attachments: list[Attachment]) -> tuple[str, Extraction] | None:
    for att in _pdf_attachments(attachments)[:MAX_PDFS]:
        pdf = extract_pdf(att.data, filename=att.filename)
        if pdf.is_receipt:
            return att.filename or "attachment", pdf
    return None


def _first_einvoice_xml(attachments: list[Attachment]) -> tuple[str, EInvoice] | None:
    """An attached XRechnung/UBL or CII invoice (German public bodies and e-invoicing portals send the XML
    alone, as `application/xml` or any name), recognised by its root element."""
    for att in attachments[: MAX_PDFS * 3]:
        if not att.inline and len(att.data) <= MAX_XML_BYTES and looks_like_einvoice(att.data):
            invoice = parse_einvoice(att.data.lstrip())
            if invoice is not None:
                return att.filename or "e-invoice", invoice
    return None


def _prefer_pdf_fields(result: Extraction, pdf: Extraction) -> None:
    result.total = pdf.total if pdf.total is not None else result.total
    result.currency = pdf.currency or result.currency
    result.document_number = pdf.document_number or result.document_number
    result.date = pdf.date or result.date
    result.vendor = result.vendor or pdf.vendor
    result.is_credit_note = result.is_credit_note or pdf.is_credit_note


def _pdf_attachments(attachments: list[Attachment]) -> list[Attachment]:
    return [
        a
        for a in attachments
        if a.content_type == "application/pdf"
        or (a.filename or "").lower().endswith(".pdf")
        or a.data.startswith(b"%PDF")
    ]


# A header every email has at least one of, at the start of a line of the header block ("Invoice: 12" in a
# plain-text invoice is no mail header).
_MAIL_HEADER = re.compile(
    rb"^(?:from|to|subject|date|received|message-id|mime-version|return-path|delivered-to):", re.I | re.M
)
_FIRST_HEADER = re.compile(rb"From |[!-9;-~]+:")  # a header block (or an mbox From_ line) starts at once
_HTML_TAG = re.compile(rb"<(?:!doctype html|html|head|body|table|div)\b", re.I)


def extract_file(path: Path) -> Extraction:
    """`receipts extract FILE`, judged by content, not by name: a PDF, an RFC 822 email, an HTML page or a
    plain-text invoice."""
    return extract_bytes(Path(path).read_bytes(), filename=Path(path).name)


def extract_bytes(data: bytes, *, filename: str | None = None) -> Extraction:
    """One document of any supported kind, recognised by its content."""
    if data.lstrip()[:5] == b"%PDF-":
        return extract_pdf(data.lstrip(), filename=filename)
    head = data.lstrip()[:8192].split(b"\n\n", 1)[0]
    if _FIRST_HEADER.match(head) and _MAIL_HEADER.search(head):
        try:
            return extract_email(parse_email(data))
        except MalformedMessageError as exc:
            return _unreadable(f"The email could not be read: {exc}")
    if looks_like_einvoice(data) and (xml := _extract_xml(data)) is not None:
        return xml
    if _HTML_TAG.search(data[:4096]):
        return _extract_html(data, filename)
    return _extract_plain(data, filename) or _unreadable(
        "The file is not an email, a PDF, an HTML page or text: nothing could be read."
    )


def _extract_xml(data: bytes) -> Extraction | None:
    """A bare e-invoice (XRechnung/UBL or CII, as e-invoicing portals deliver them); None for other XML."""
    invoice = parse_einvoice(data.lstrip()) if len(data) <= MAX_XML_BYTES else None
    if invoice is None:
        return None
    result = Extraction(False, 0.0, None, None, None, None, None, [""], score=0.0)
    _apply_einvoice(result, invoice, "Judged a receipt: it is a machine-readable invoice.")
    return _signed(result)


def _extract_html(data: bytes, filename: str | None) -> Extraction:
    html = decode_bytes(data[:MAX_HTML_CHARS], None)
    return _signed(extract_text_document(html_to_text(html), filename=filename, html=html))


def _extract_plain(data: bytes, filename: str | None) -> Extraction | None:
    """A plain-text invoice: text with no NUL bytes; None for binary data."""
    if b"\x00" in data[:8192]:
        return None
    return _signed(extract_text_document(normalise_text(decode_bytes(data, None)), filename=filename))


def _unreadable(reason: str) -> Extraction:
    return Extraction(False, 0.0, None, None, None, None, None, [reason], score=UNREAD)
