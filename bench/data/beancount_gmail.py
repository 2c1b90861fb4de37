"""Build an evaluation set (manifest format of `../shared/data/receipts-dev`) from kubauk/beancount-import-gmail.

    git clone https://github.com/kubauk/beancount-import-gmail CHECKOUT   # at cf462d0
    .venv/bin/python -m bench.data.beancount_gmail CHECKOUT OUT_DIR
    .venv/bin/python -m bench.extraction_eval --dataset ../shared/data/receipts-dev --dataset OUT_DIR

Source: https://github.com/kubauk/beancount-import-gmail at cf462d0dfb774d26c21a633bd460a0dfb1b2476b, licence
MIT (LICENSE). `test/uk_*_email/sample_html/*.html` are the HTML bodies of the author's own UK mail: Amazon.co.uk
order confirmations, eBay order confirmations and PayPal payment receipts (GBP, one in PLN, one in USD). They
carry the author's name and home addresses, so they are not committed here; this script rebuilds the set from a
checkout. The source keeps only the HTML: no From, Subject or Date, so each mail gets the neutral sender and no
Subject or Date (harder than the real mail), and vendor and date are not scored.

Labels: every item is a receipt. Totals come from the upstream tests where a test asserts the whole mail's
total (`label_source: upstream test`); the upstream parser splits multi-item mail into per-item receipts, so
for the others the total is the mail's own "Order Total" / "Total charged to" / "You sent a total of" line,
read by hand for this set (`label_source: read`). Two Amazon mails confirm two orders each: they are receipts,
with no single total or order number to score. Document numbers: Amazon's and eBay's order number where the
mail has exactly one; PayPal's are not scored (a transaction ID and an invoice ID compete). Left out:
`mar-2019-selling.html`, a "you received a payment" notice to a seller (income, neither clearly a receipt nor a
non-receipt for this product). Families: one per sender template (Amazon, eBay, PayPal).
"""

from __future__ import annotations

from pathlib import Path

from bench.data.mailwrap import item, main, origin, wrap, write, write_manifest

SOURCE = "kubauk/beancount-import-gmail"
COMMIT = "cf462d0dfb774d26c21a633bd460a0dfb1b2476b"
LICENCE = "MIT"
UP, READ = "upstream test", "read"

# (folder, file, family, total, currency, number, label source)
LABELS: list[tuple[str, str, str, str | None, str, str | None, str]] = [
    ("uk_amazon_email", "amazon-order-2018-02-10.html", "amazon", "21.20", "GBP", "202-1391264-5465967", UP),
    ("uk_amazon_email", "amazon-order-2018-12-11-multiple.html", "amazon", None, "GBP", None, READ),
    ("uk_amazon_email", "amazon-order-2020-09-15.html", "amazon", "5.49", "GBP", "202-4472916-7978729", READ),
    ("uk_amazon_email", "amazon-order-2020-09-28.html", "amazon", "15.99", "GBP", "202-2053039-8624328", READ),
    ("uk_amazon_email", "amazon-order-2021-03-11-no-order-details.html", "amazon", "19.99", "GBP",
     "202-3444084-1493131", READ),
    ("uk_amazon_email", "amazon-order-2021-11-24-multiple.html", "amazon", None, "GBP", None, READ),
    ("uk_amazon_email", "amazon-order-2021-11-24.html", "amazon", "28.98", "GBP", "206-5514028-3502735", UP),
    ("uk_amazon_email", "amazon-order-2021-11-30.html", "amazon", "8.99", "GBP", "206-9132598-8726713", UP),
    ("uk_ebay_email", "ebay-2018.eml.html", "ebay", "17.44", "GBP", None, READ),
    ("uk_ebay_email", "ebay-2019.eml.html", "ebay", "2.99", "GBP", "07-04271-05709", UP),
    ("uk_ebay_email", "ebay-2021-05.eml.html", "ebay", "7.94", "GBP", None, READ),
    ("uk_ebay_email", "ebay-2021-2.eml.html", "ebay", "8.89", "GBP", "11-07016-73964", UP),
    ("uk_ebay_email", "ebay-2021-two-receipts.eml.html", "ebay", "14.00", "GBP", None, READ),
    ("uk_ebay_email", "ebay-2021.eml.html", "ebay", "13.50", "GBP", "07-07036-67346", UP),
    ("uk_paypal_email", "dec-2018-with-extra-postage-message.html", "paypal", "13.98", "GBP", None, UP),
    ("uk_paypal_email", "donation-dec-2017.html", "paypal", "50.00", "GBP", None, UP),
    ("uk_paypal_email", "facebook-donation-2020-07.html", "paypal", "10.00", "GBP", None, UP),
    ("uk_paypal_email", "jan-2021-01-PLN.html", "paypal", "6.00", "PLN", None, UP),
    ("uk_paypal_email", "june-2018.html", "paypal", "4.49", "GBP", None, UP),
    ("uk_paypal_email", "mar-2021.html", "paypal", "14.95", "GBP", None, UP),
    ("uk_paypal_email", "merchant-purchase-nov-2015.html", "paypal", "32.00", "GBP", None, UP),
    ("uk_paypal_email", "new-format-dec-2015.html", "paypal", "9.23", "GBP", None, READ),
    ("uk_paypal_email", "new-format-feb-2017.html", "paypal", "1.15", "GBP", None, UP),
    ("uk_paypal_email", "nov-2020-payment.html", "paypal", "16.48", "GBP", None, READ),
    ("uk_paypal_email", "nov-2020-sent-payment.html", "paypal", "5.00", "GBP", None, UP),
    ("uk_paypal_email", "refund-nov-2015.html", "paypal", "12.98", "GBP", None, UP),
    ("uk_paypal_email", "totals-in-usd-2020.html", "paypal", "12.71", "USD", None, UP),
]  # fmt: skip


def build(checkout: Path, out: Path) -> int:
    items = []
    for folder, name, family, total, currency, number, how in LABELS:
        path = f"test/{folder}/sample_html/{name}"
        raw = wrap((checkout / path).read_text(encoding="utf-8"), html=True)
        rel = f"receipts/emails/beancount-gmail/{folder.removeprefix('uk_').removesuffix('_email')}__{name}.eml"
        write(out, rel, raw)
        expected: dict[str, object] = {"currency": currency, "label_source": how}
        expected |= {"total": float(total)} if total else {}
        expected |= {"order_or_invoice_number": number} if number else {}
        source = origin(SOURCE, COMMIT, LICENCE, path)
        items.append(item(rel, raw, "receipt", source, expected, f"vendor:{family}"))
    write_manifest(out, "bench/data/beancount_gmail.py", SOURCE, COMMIT, LICENCE, items)
    return len(items)


if __name__ == "__main__":
    main(build, __doc__.split("\n\n")[1])
