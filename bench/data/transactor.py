"""Build an evaluation set (manifest format of `../shared/data/receipts-dev`) from jschool504/transactor.

    .venv/bin/python -m bench.data.transactor CHECKOUT OUT_DIR
    .venv/bin/python -m bench.extraction_eval --dataset ../shared/data/receipts-dev --dataset OUT_DIR

Source: https://github.com/jschool504/transactor at ee6bf23fa0db20d8bd76d20fb08758c2e3d44f70, licence ISC
(package.json). `app/lib/helpers/html/*.html` are real receipt bodies from the author's own mailbox (11
vendors: Amazon, Apple, Black & Brew, DigitalOcean, Google Play, The Home Depot, Lowe's twice, Relay FM,
SunPass, Twitch/PayPal); `app/lib/helpers/emails/*.ts` hold each one's Subject, Date and the totals and
merchants the project's own tests assert. The bodies are not redacted (names, home addresses, card digits):
although the licence would allow it, they are not committed here; this script rebuilds the set from a
checkout. The mails' From headers are not in the source, so each gets a neutral sender and the vendor is
not scored. Every item is a receipt by the upstream project's label (Amazon's is a shipping confirmation
that carries the order; the upstream tests read its total).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path

SOURCE = "jschool504/transactor"
COMMIT = "ee6bf23fa0db20d8bd76d20fb08758c2e3d44f70"
SENDER = "Receipts <receipts@fixture.invalid>"
_FIELD = re.compile(r"(\w+):\s*(?:'((?:[^'\\]|\\.)*)'|(\d+))")


def _case(ts: str) -> dict[str, str]:
    return {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3)).replace("\\'", "'")
            for m in _FIELD.finditer(ts)}  # fmt: skip


def _mail(subject: str, date: str, body: bytes) -> bytes:
    """The body as the mail part it was cut from: escaped plain text, quoted-printable HTML, or HTML."""
    headers = (
        f"From: {SENDER}\r\nTo: owner@fixture.invalid\r\nSubject: {subject}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n"
    )
    if b"\\r\\n" in body[:2000] or (b"<" not in body[:4000] and b"\\n" in body[:2000]):  # JSON-escaped text
        body = body.replace(b"\\r\\n", b"\r\n").replace(b"\\n", b"\r\n")
        return (headers + "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body
    kind = "html" if b"<" in body[:4000] else "plain"
    encoding = "quoted-printable" if re.search(rb"=(?:3D|20|\r?\n)", body[:20000]) else "8bit"
    ctype = f"Content-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    return (headers + ctype).encode() + body


def build(checkout: Path, out: Path) -> int:
    helpers = checkout / "app" / "lib" / "helpers"
    (out / "receipts" / "emails" / "transactor").mkdir(parents=True, exist_ok=True)
    items = []
    for ts in sorted((helpers / "emails").glob("*.ts")):
        case, html = _case(ts.read_text()), helpers / "html" / f"{ts.stem}.html"
        if not html.exists() or "subject" not in case:
            continue
        raw = _mail(case["subject"], case["date"], html.read_bytes())
        rel = f"receipts/emails/transactor/{ts.stem}.eml"
        (out / rel).write_bytes(raw)
        items.append({
            "file": rel, "label": "receipt", "source_repo": SOURCE, "source_commit": COMMIT,
            "source_path": f"app/lib/helpers/html/{ts.stem}.html", "licence": "ISC",
            "sha256": hashlib.sha256(raw).hexdigest(),
            "expected": {
                "total": int(case["expectedTotal"]) / 100, "currency": "USD",
                "email_date_header": case["date"].replace(" (GMT)", ""),
                "merchant_not_scored": case.get("expectedMerchant"),
                "label_source": f"upstream test app/lib/helpers/emails/{ts.name}",
            },
        })  # fmt: skip
        parsedate_to_datetime(items[-1]["expected"]["email_date_header"])  # a date the evaluation can read
    manifest = {"generated_by": "bench/data/transactor.py", "sources": {SOURCE: {"commit": COMMIT, "licence": "ISC"}},
                "items": items, "split": "extra"}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return len(items)


if __name__ == "__main__":
    print(f"{build(Path(sys.argv[1]), Path(sys.argv[2]))} mails written to {sys.argv[2]}")
