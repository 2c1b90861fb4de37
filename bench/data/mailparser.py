"""Build an evaluation set of hard negatives (manifest format of `../shared/data/receipts-dev`) from the test
mails of SpamScope/mail-parser.

    git clone https://github.com/SpamScope/mail-parser CHECKOUT   # at 01c177f
    .venv/bin/python -m bench.data.mailparser CHECKOUT OUT_DIR
    .venv/bin/python -m bench.extraction_eval --dataset ../shared/data/receipts-dev --dataset OUT_DIR

Source: https://github.com/SpamScope/mail-parser at 01c177f, licence Apache-2.0 (LICENSE.txt). `tests/mails/*` are
real messages collected by a spam-analysis project: spam and phishing (a "payment invoice" with a zip, an
"urgent request for order quotation", a bank-transfer lure), newsletters, bounces, an Outlook .msg file,
malformed mail, in English, Italian, Spanish, French, Russian and Chinese. None is a receipt (each was read
by hand for this label). They carry real people's names and addresses, so they are not committed here; this
script copies them from a checkout. The whole folder is one family (one corpus), held out as a whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

SOURCE = "SpamScope/mail-parser"
COMMIT = "01c177f"
LICENCE = "Apache-2.0"
FAMILY = "corpus:mail-parser"


def build(checkout: Path, out: Path) -> int:
    target = out / "non_receipts" / "mail-parser"
    target.mkdir(parents=True, exist_ok=True)
    items = []
    for path in sorted((checkout / "tests" / "mails").iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        rel = f"non_receipts/mail-parser/{path.name}.eml"
        shutil.copyfile(path, out / rel)
        items.append({
            "file": rel, "label": "non_receipt", "family": FAMILY, "source_repo": SOURCE, "source_commit": COMMIT,
            "source_path": str(path.relative_to(checkout)), "licence": LICENCE,
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
        })  # fmt: skip
    manifest = {
        "generated_by": "bench/data/mailparser.py",
        "sources": {SOURCE: {"commit": COMMIT, "licence": LICENCE, "what": "spam, phishing, newsletters, bounces"}},
        "items": items,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return len(items)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    print(build(Path(sys.argv[1]), Path(sys.argv[2])), "items")
