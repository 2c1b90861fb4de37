"""Machine-readable invoices embedded in PDFs: ZUGFeRD / Factur-X / XRechnung (UN/CEFACT CII) and UBL.

When a PDF carries one, its fields are exact, so they win over anything read from the PDF's text.
Documents with a DTD are refused (entity expansion is an attack, and e-invoices never need one).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

_CREDIT_NOTE_CODES = {"381", "261", "262", "396", "532"}
_ROOTS = frozenset({"Invoice", "CreditNote", "CrossIndustryInvoice", "CrossIndustryDocument"})
_LEADING = b"\xef\xbb\xbf \t\r\n"  # a UTF-8 byte-order mark and blank space before the XML
_ELEMENT_NAME = re.compile(rb"<([A-Za-z_][\w.:-]{0,200})")
_PROLOG_PARTS = ((b"<?", b"?>"), (b"<!--", b"-->"))  # the XML declaration, processing instructions, comments


@dataclass
class EInvoice:
    number: str | None
    issue_date: date | None
    seller: str | None
    currency: str | None
    total: Decimal | None
    type_code: str | None
    standard: str

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in _CREDIT_NOTE_CODES or self.standard == "UBL CreditNote"


def looks_like_einvoice(data: bytes) -> bool:
    """XML whose root element is a UBL Invoice/CreditNote or a CII invoice, judged from its first 4 KiB
    (content, not a file name: e-invoicing portals deliver `.xml`, mailers any name)."""
    head = data.lstrip(_LEADING)[:4096]
    while opener := next((part for part in _PROLOG_PARTS if head.startswith(part[0])), None):
        end = head.find(opener[1], len(opener[0]))
        if end < 0:
            return False
        head = head[end + len(opener[1]) :].lstrip()
    first = _ELEMENT_NAME.match(head)
    return first is not None and first.group(1).rsplit(b":", 1)[-1].decode() in _ROOTS


def parse_einvoice(data: bytes) -> EInvoice | None:
    """Read a CII or UBL document; None when the XML is neither (or is unsafe or broken)."""
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        return None
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    name = _local(root.tag)
    if name in {"CrossIndustryInvoice", "CrossIndustryDocument"}:
        return _cii(root)
    if name in {"Invoice", "CreditNote"}:
        return _ubl(root, name)
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node: ET.Element, *path: str) -> ET.Element | None:
    """First descendant matching the chain of local names (each step searched at any depth)."""
    current: ET.Element | None = node
    for step in path:
        if current is None:
            return None
        current = next((el for el in current.iter() if _local(el.tag) == step and el is not current), None)
    return current


def _first_of(root: ET.Element, *names: str) -> ET.Element:
    for name in names:
        found = _find(root, name)
        if found is not None:
            return found
    return root


def _text(node: ET.Element, *path: str) -> str | None:
    found = _find(node, *path)
    if found is None or not found.text or not found.text.strip():
        return None
    return " ".join(found.text.split())


def _cii(root: ET.Element) -> EInvoice:
    header = _first_of(root, "ExchangedDocument", "HeaderExchangedDocument")
    total_el = _find(root, "GrandTotalAmount")
    raw_date = _text(header, "IssueDateTime", "DateTimeString")
    return EInvoice(
        number=_text(header, "ID"),
        issue_date=_parse_date(raw_date),
        seller=_text(root, "SellerTradeParty", "Name"),
        currency=_text(root, "InvoiceCurrencyCode") or _attr(total_el, "currencyID"),
        total=_decimal(total_el.text if total_el is not None else None),
        type_code=_text(header, "TypeCode"),
        standard="CII",
    )


def _ubl(root: ET.Element, name: str) -> EInvoice:
    direct = {_local(child.tag): (child.text or "").strip() for child in root}
    supplier = _find(root, "AccountingSupplierParty")
    seller = _ubl_seller(supplier) if supplier is not None else None
    totals = _find(root, "LegalMonetaryTotal")
    total = None
    if totals is not None:
        total = _decimal(_text(totals, "TaxInclusiveAmount") or _text(totals, "PayableAmount"))
    return EInvoice(
        number=direct.get("ID") or None,
        issue_date=_parse_date(direct.get("IssueDate")),
        seller=seller,
        currency=direct.get("DocumentCurrencyCode") or None,
        total=total,
        type_code=direct.get("InvoiceTypeCode") or direct.get("CreditNoteTypeCode") or None,
        standard=f"UBL {name}",
    )


def _ubl_seller(supplier: ET.Element) -> str | None:
    """The seller's legal name (BT-27, mandatory) before its trading name (BT-28, optional): the name CII's
    `SellerTradeParty/Name` carries, so one invoice names the same seller in either syntax."""
    return (
        _text(supplier, "PartyLegalEntity", "RegistrationName")
        or _text(supplier, "PartyName", "Name")
        or _text(supplier, "RegistrationName")
    )


def _attr(node: ET.Element | None, name: str) -> str | None:
    return node.get(name) if node is not None else None


def _parse_date(raw: str | None) -> date | None:
    if not raw:
        return None
    digits = raw.replace("-", "")[:8]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _decimal(raw: str | None) -> Decimal | None:
    try:
        return Decimal(raw.strip()) if raw else None
    except InvalidOperation:
        return None
