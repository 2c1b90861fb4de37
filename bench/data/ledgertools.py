"""Build an evaluation set (manifest format of `../shared/data/receipts-dev`) from ginabythebay/ledger-tools.

    git clone https://github.com/ginabythebay/ledger-tools CHECKOUT   # at 737f61f
    .venv/bin/python -m bench.data.ledgertools CHECKOUT OUT_DIR
    .venv/bin/python -m bench.extraction_eval --dataset ../shared/data/receipts-dev --dataset OUT_DIR

Source: https://github.com/ginabythebay/ledger-tools at 737f61f70a5941256db0a583bb56a902cfc33d41, licence MIT
(LICENSE). `importer/*/*_test.go` embed the author's real mail, lightly redacted (links and addresses replaced):
five Amazon.com shipping confirmations carrying the shipment total, a Kindle order, a GitHub payment receipt, a
Lyft ride receipt and a Parkmobile parking receipt (HTML). Each test gives the mail's Date and Subject and the
amount and reference the importer must read (`equals(t, "$20.18", parsed.Amount)`); the sender address is the
importer's own `from` constant, so the mail is rebuilt with it. Labels: every mail is a receipt by the upstream
project (it books each as a charge); totals and document numbers are the upstream assertions; the vendor is
the company the importer is written for. Not committed (the author's name is in the bodies); this script
rebuilds the set from a checkout. Families: the vendor (Amazon and Kindle are one).
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.data.mailwrap import item, main, origin, wrap, write, write_manifest

SOURCE = "ginabythebay/ledger-tools"
COMMIT = "737f61f70a5941256db0a583bb56a902cfc33d41"
LICENCE = "MIT"
VENDORS = {"amazon": "Amazon", "kindle": "Amazon", "github": "GitHub", "lyft": "Lyft", "parkmobile": "Parkmobile"}
_BODY = re.compile(r"var (\w+) = strings\.TrimSpace\(`(.*?)`\)", re.DOTALL)
_MSG = re.compile(
    r'var (\w+) = ledgertools\.NewMessage\(\s*"([^"]*)",\s*"[^"]*",\s*\w+,'
    r'\s*"((?:[^"\\]|\\.)*)",\s*(\w+|""),\s*(\w+|"")\)'
)
_TEST = re.compile(r"importMessage\((\w+)\)\s*\n\s*ok\(t, err\)(.*?)\n}", re.DOTALL)
_FROM = re.compile(r'\bfrom\s*=\s*"([^"]+)"')


def _cases(test_go: str) -> list[dict[str, str]]:
    """Each message a test imports, with the amount and reference it asserts."""
    bodies = dict(_BODY.findall(test_go))
    msgs = {m[0]: m for m in _MSG.findall(test_go)}
    cases = []
    for name, asserts in _TEST.findall(test_go):
        _, date, subject, text, html = msgs[name]
        amount = re.search(r'equals\(t, "\$([\d,.]+)", parsed\.Amount\)', asserts)
        number = re.search(r'equals\(t, "([^"]*)", parsed\.CheckNumber\)', asserts)
        body, is_html = (bodies[html].strip(), True) if html != '""' else (bodies[text].strip(), False)
        cases.append({"name": name, "date": date, "subject": subject.replace('\\"', '"'), "body": body,
                      "html": str(is_html), "amount": amount.group(1) if amount else "",
                      "number": number.group(1) if number else ""})  # fmt: skip
    return cases


def build(checkout: Path, out: Path) -> int:
    items = []
    for importer, vendor in VENDORS.items():
        folder = checkout / "importer" / importer
        sender = _FROM.search((folder / f"{importer}.go").read_text()).group(1)
        for case in _cases((folder / f"{importer}_test.go").read_text()):
            raw = wrap(case["body"], html=case["html"] == "True", sender=sender, subject=case["subject"],
                       date=case["date"])  # fmt: skip
            rel = f"receipts/emails/ledger-tools/{importer}__{case['name']}.eml"
            write(out, rel, raw)
            expected = {
                "vendor": vendor,
                "total": float(case["amount"].replace(",", "")),
                "currency": "USD",
                "email_date_header": case["date"],
                "label_source": f"upstream test importer/{importer}",
            }
            if case["number"]:
                expected["order_or_invoice_number"] = case["number"]
            source = origin(SOURCE, COMMIT, LICENCE, f"importer/{importer}/{importer}_test.go#{case['name']}")
            items.append(item(rel, raw, "receipt", source, expected, f"vendor:{vendor.lower()}"))
    write_manifest(out, "bench/data/ledgertools.py", SOURCE, COMMIT, LICENCE, items)
    return len(items)


if __name__ == "__main__":
    main(build, __doc__.split("\n\n")[1])
