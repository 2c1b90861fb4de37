"""Build an evaluation set (manifest format of `../shared/data/receipts-dev`) from the XRechnung test suite.

    git clone https://github.com/itplr-kosit/xrechnung-testsuite CHECKOUT   # at 5528afa
    .venv/bin/python -m bench.data.xrechnung CHECKOUT OUT_DIR
    .venv/bin/python -m bench.extraction_eval --dataset ../shared/data/receipts-dev --dataset OUT_DIR

Source: https://github.com/itplr-kosit/xrechnung-testsuite at 5528afa, licence Apache-2.0 (LICENSE), by KoSIT
(the German coordinating body for IT standards). `src/test/business-cases/{standard,extension}/*.xml` are the
official XRechnung business-case invoices, each in UBL and UN/CEFACT CII syntax, with invented parties: no
personal data, but not committed here (8 MB of third-party files); this script copies them from a checkout.

Every file is an invoice, so every item is a receipt; the whole suite is one family (one generator, one
corpus), held out as a whole. Expected fields are read here with explicit XPaths of the standard — the
document's ID, issue date, currency code, seller name and the tax-inclusive grand total (UBL
`LegalMonetaryTotal/TaxInclusiveAmount`, CII `GrandTotalAmount`, the same convention as the development set's
ZUGFeRD items) — not with the product's parser; they measure that a bare e-invoice is recognised by its content
and read into the same fields, not how well text is read (the values sit in the very elements the parser reads).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SOURCE = "itplr-kosit/xrechnung-testsuite"
COMMIT = "5528afa"
LICENCE = "Apache-2.0"
_NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
_UBL = {
    "order_or_invoice_number": "cbc:ID",
    "date": "cbc:IssueDate",
    "currency": "cbc:DocumentCurrencyCode",
    "vendor": "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName",
    "total": "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
}
_CII = {
    "order_or_invoice_number": "rsm:ExchangedDocument/ram:ID",
    "date": "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString",
    "currency": ".//ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode",
    "vendor": ".//ram:SellerTradeParty/ram:Name",
    "total": ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount",
}


def expected(data: bytes) -> dict[str, object]:
    root = ET.fromstring(data)
    paths = _CII if root.tag.endswith("CrossIndustryInvoice") else _UBL
    out: dict[str, object] = {}
    for name, path in paths.items():
        node = root.find(path, _NS)
        text = " ".join((node.text or "").split()) if node is not None else ""
        if text:
            out[name] = text
    if "total" in out:
        out["total"] = float(str(out["total"]))
    if "date" in out and len(str(out["date"])) == 8:  # CII format 102: YYYYMMDD
        d = str(out["date"])
        out["date"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
    return out


def build(checkout: Path, out: Path) -> int:
    target = out / "receipts" / "einvoices" / "xrechnung"
    target.mkdir(parents=True, exist_ok=True)
    items = []
    for path in sorted((checkout / "src" / "test" / "business-cases").glob("*/*.xml")):
        data = path.read_bytes()
        rel = f"receipts/einvoices/xrechnung/{path.parent.name}__{path.name}"
        shutil.copyfile(path, out / rel)
        exp = expected(data)
        exp["label_source"] = "the invoice's own XML, read with the standard's XPaths (bench/data/xrechnung.py)"
        items.append({
            "file": rel, "label": "receipt", "family": "corpus:xrechnung", "source_repo": SOURCE,
            "source_commit": COMMIT, "source_path": str(path.relative_to(checkout)), "licence": LICENCE,
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "language": "de", "expected": exp,
        })  # fmt: skip
    manifest = {
        "generated_by": "bench/data/xrechnung.py",
        "sources": {SOURCE: {"commit": COMMIT, "licence": LICENCE, "what": "XRechnung business-case invoices"}},
        "items": items,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return len(items)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    print(build(Path(sys.argv[1]), Path(sys.argv[2])), "items")
