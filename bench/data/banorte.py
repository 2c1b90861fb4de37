"""Build an evaluation set of hard negatives (manifest format of `../shared/data/receipts-dev`) from
ramomar/banorte-email-scraper.

    git clone https://github.com/ramomar/banorte-email-scraper CHECKOUT   # at cff79ff
    .venv/bin/python -m bench.data.banorte CHECKOUT OUT_DIR
    .venv/bin/python -m bench.extraction_eval --dataset ../shared/data/receipts-dev --dataset OUT_DIR

Source: https://github.com/ramomar/banorte-email-scraper at cff79ff5fb42f4078c4497f12e6693d050f08961, licence MIT
(LICENSE, package.json). `test/emails/*.html` are real notification mails of the Mexican bank Banorte, in
Spanish, redacted by their author (USUARIO DE BANORTE, ****0000). The source keeps only the HTML bodies, so each
mail gets the neutral sender and no Subject. Labels, read by hand: account notices (balance enquiry, card blocked,
activated or cancelled, daily limit changed, PIN changed, caller identified), cash withdrawals, incoming transfers
and a returned transfer are **not receipts**: each carries amounts in pesos, dates and reference numbers, and
none records a purchase. Left out as ambiguous for this product: the card-purchase alert, the card and service
payments, the phone top-up and the outgoing transfers (a bank's confirmation of a payment the account holder
made). The folder is one family (one sender), held out as a whole.
"""

from __future__ import annotations

from pathlib import Path

from bench.data.mailwrap import item, main, origin, wrap, write, write_manifest

SOURCE = "ramomar/banorte-email-scraper"
COMMIT = "cff79ff5fb42f4078c4497f12e6693d050f08961"
LICENCE = "MIT"
NOT_RECEIPTS = [
    "account-info-email", "cash-withdrawal-alt-email", "cash-withdrawal-email", "debit-card-blocked-email",
    "deposit-email", "digital-debit-card-activated-email", "digital-debit-card-blocked-email",
    "digital-debit-card-canceled-email", "identification-by-phone-email", "limit-modification-email",
    "nip-change-email", "spei-devolution-email", "spei-income-email",
]  # fmt: skip


def build(checkout: Path, out: Path) -> int:
    items = []
    for name in NOT_RECEIPTS:
        path = f"test/emails/{name}.html"
        raw = wrap((checkout / path).read_text(encoding="utf-8"), html=True)
        rel = f"non_receipts/banorte/{name}.eml"
        write(out, rel, raw)
        source = origin(SOURCE, COMMIT, LICENCE, path)
        items.append(item(rel, raw, "non_receipt", source, None, "corpus:banorte"))
    write_manifest(out, "bench/data/banorte.py", SOURCE, COMMIT, LICENCE, items)
    return len(items)


if __name__ == "__main__":
    main(build, __doc__.split("\n\n")[1])
