"""Structure before heuristics: what a mail declares (schema.org markup) and says about itself wins.

Every sender and template here is invented for these tests.
"""

from __future__ import annotations

import json
from decimal import Decimal
from email.message import EmailMessage

import pytest

from receipt_sync.extract import Extraction, extract_email
from receipt_sync.mime import parse_email


def _extract(subject: str, text: str, html: str | None = None) -> Extraction:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Acme Store <orders@acme-store.example>", "dana@example.com", subject
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 +0000"
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return extract_email(parse_email(msg.as_bytes()))


def _json_ld(data: object) -> str:
    return f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head><body>Hi</body></html>'


ORDER = {
    "@context": "http://schema.org", "@type": "Order", "merchant": {"@type": "Organization", "name": "Kestrel Books"},
    "orderNumber": "KB-77120", "priceCurrency": "EUR", "price": "54.90",
    "acceptedOffer": [{"@type": "Offer", "price": "12.00", "priceCurrency": "EUR"}],
}  # fmt: skip


def test_declared_order_gives_its_total_number_and_seller_over_the_text() -> None:
    result = _extract("Thanks", "Items: 2 x 12.00 EUR\nShipping 30.90 EUR", _json_ld(ORDER))
    assert result.is_receipt
    assert (result.total, result.currency) == (Decimal("54.90"), "EUR")
    assert (result.document_number, result.vendor) == ("KB-77120", "Kestrel Books")


def test_declared_reservation_in_a_graph_with_a_price_specification_is_a_receipt() -> None:
    booking = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "Booking"},
            {"@type": "LodgingReservation", "reservationNumber": "HX4471", "provider": {"name": "Harbour Inn"},
             "totalPrice": {"@type": "PriceSpecification", "price": 318.4, "priceCurrency": "GBP"}},
        ],
    }  # fmt: skip
    result = _extract("Your stay", "See you soon.", _json_ld(booking))
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("318.4"), "GBP", "HX4471")


def test_microdata_order_is_read_with_its_nested_seller() -> None:
    html = (
        '<div itemscope itemtype="http://schema.org/Order">'
        '<div itemprop="merchant" itemscope itemtype="http://schema.org/Organization">'
        '<span itemprop="name">Bolt Bikes</span></div><span itemprop="orderNumber">BB-99</span>'
        '<meta itemprop="priceCurrency" content="GBP"><span itemprop="price">31.50</span></div>'
    )
    result = _extract("Thanks", "Thanks for riding.", html)
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number, result.vendor) == (
        Decimal("31.50"), "GBP", "BB-99", "Bolt Bikes"
    )  # fmt: skip


def test_parcel_delivery_alone_is_not_a_receipt_even_with_its_order_inside() -> None:
    parcel = {"@context": "http://schema.org", "@type": "ParcelDelivery",
              "partOfOrder": {"@type": "Order", "orderNumber": "A-1", "price": "9.00"}}  # fmt: skip
    result = _extract("Your parcel is on its way", "Track it online.", _json_ld(parcel))
    assert not result.is_receipt
    assert not result.needs_review


@pytest.mark.parametrize("broken", ["{not json", "[]", '{"@type": "Order", "price": "NaN"}', '"x"'])
def test_broken_or_empty_markup_is_ignored(broken: str) -> None:
    html = f'<script type="application/ld+json">{broken}</script><p>schema.org</p>'
    result = _extract("Hello", "Nothing to see.", html)
    assert result.total is None


@pytest.mark.parametrize(
    "statement",
    [
        "This summary is not a payment receipt.",
        "This email is not a receipt.",
        "This statement should not be used as a receipt.",
        "Please note: this is not a payment confirmation.",
    ],
)
def test_saying_it_is_not_a_receipt_wins_over_receipt_words_and_a_total(statement: str) -> None:
    result = _extract("Your payment receipt summary", f"Monthly summary\nTotal: $120.00\n{statement}\n")
    assert not result.is_receipt
    assert not result.needs_review


def test_a_paid_booking_that_says_it_is_not_an_invoice_is_still_a_receipt() -> None:
    text = "Booking receipt\nAmount paid: CAD 412.30\nConfirmation number: 4471.220.118\nThis isn't an invoice."
    result = _extract("Your receipt for Harbour Inn", text)
    assert result.is_receipt
    assert result.total == Decimal("412.30")


def test_amount_charged_to_the_card_wins_over_fares_and_per_person_prices() -> None:
    text = (
        "Trip receipt\nBase fare $412.00\nPrice per person $206.00\nTaxes and fees $58.37\n"
        "Visa ending in 4242 $470.37\n"
    )
    result = _extract("Your trip receipt", text)
    assert result.is_receipt
    assert result.total == Decimal("470.37")


def test_a_dates_year_is_never_taken_for_the_total() -> None:
    text = "Invoice\nInvoice number: 7781\nDate: 03/12/2014.00\nAmount due: 96.50 EUR\n"
    result = _extract("Invoice 7781", text)
    assert result.total == Decimal("96.50")
    text = "Invoice\nInvoice number: 7781\nTotal 03/12/2014.00\n"
    assert _extract("Invoice 7781", text).total is None
