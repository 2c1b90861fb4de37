"""Mail from vendors and in wording the development set never shows: what a user with other suppliers sees.

Every sender, template and phrase here is invented for these tests, so passing them says the rules are
general (labels, structure, currencies, number formats), not fitted to the development set's senders.
"""

from __future__ import annotations

import base64
import quopri
from decimal import Decimal
from email.message import EmailMessage

import pytest

from receipt_sync.extract import Extraction, extract_email
from receipt_sync.mime import parse_email


def _extract(subject: str, body: str, sender: str, *, headers: dict[str, str] | None = None) -> Extraction:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "dana@example.com", subject
    msg["Date"] = "Thu, 12 Mar 2026 09:30:00 +0100"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return extract_email(parse_email(msg.as_bytes()))


EUROPEAN_INVOICES = [
    pytest.param(
        "Ihre Rechnung 2026-00412",
        "Sehr geehrte Damen und Herren,\nRechnungsnummer: 2026-00412\nRechnungsdatum: 12.03.2026\n"
        "Kundennummer: 88120\n2 x Wanderkarte 42,02 €\nZwischensumme 84,03 €\nMwSt. 19 % 15,97 €\n"
        "Gesamtbetrag 100,00 €\nTel. +49 89 1234 5678",
        "Bergblick Verlag GmbH <rechnung@bergblick-verlag.de>",
        (Decimal("100.00"), "EUR", "2026-00412", "Bergblick Verlag GmbH"),
        id="german",
    ),
    pytest.param(
        "Votre facture FA-2026-0193",
        "Bonjour,\nFacture n° FA-2026-0193 du 12/03/2026\nCommande n° 55120\nTotal HT 250,00 €\n"
        "TVA 20 % 50,00 €\nTotal TTC 300,00 €\nMerci de votre confiance.",
        "Atelier Lumière <factures@atelier-lumiere.fr>",
        (Decimal("300.00"), "EUR", "FA-2026-0193", "Atelier Lumière"),
        id="french",
    ),
    pytest.param(
        "Factuur 2026-7781 van Fietsenmakerij De Spaak",
        "Beste klant,\nFactuurnummer: 2026-7781\nFactuurdatum: 12-03-2026\nSubtotaal € 41,32\n"
        "BTW 21% € 8,68\nTotaalbedrag € 50,00\nHet bedrag is afgeschreven van uw rekening.",
        "Fietsenmakerij De Spaak <administratie@despaak.nl>",
        (Decimal("50.00"), "EUR", "2026-7781", "Fietsenmakerij De Spaak"),
        id="dutch",
    ),
    pytest.param(
        "Faktura VAT nr FV/0312/2026",
        "Dzień dobry,\nFaktura VAT nr FV/0312/2026\nData wystawienia: 12.03.2026\nWartość netto: 1 003,71 zł\n"
        "VAT 23%: 230,85 zł\nRazem do zapłaty: 1 234,56 zł\nDziękujemy za zakupy.",
        "Drukarnia Wisła Sp. z o.o. <faktury@drukarnia-wisla.pl>",
        (Decimal("1234.56"), "PLN", "FV/0312/2026", "Drukarnia Wisła Sp. z o.o."),
        id="polish-space-thousands",
    ),
    pytest.param(
        "Quittung Nr. Q-5521",
        "Vielen Dank für Ihren Einkauf.\nQuittung Nr. Q-5521\nTotal CHF 1'250.50\nBezahlt mit Karte",
        "Uhrenatelier Aare <kasse@uhren-aare.ch>",
        (Decimal("1250.50"), "CHF", "Q-5521", "Uhrenatelier Aare"),
        id="swiss-apostrophe-thousands",
    ),
]


@pytest.mark.parametrize(("subject", "body", "sender", "expected"), EUROPEAN_INVOICES)
def test_european_invoice_from_an_unseen_vendor_yields_its_fields(
    subject: str, body: str, sender: str, expected: tuple[Decimal, str, str, str]
) -> None:
    result = _extract(subject, body, sender)
    assert result.is_receipt, result.reasons
    assert (result.total, result.currency, result.document_number, result.vendor) == expected


def test_fine_print_about_future_charges_does_not_hide_a_paid_booking() -> None:
    result = _extract(
        "Your trip to Porto is booked",
        "Thanks for your booking.\nBooking reference: QX7P2M\nCard payment: €318.40\n"
        "Changes to this booking will be charged in EUR by the airline.",
        "Azulejo Travel <bookings@azulejo-travel.example>",
    )
    assert result.is_receipt and result.total == Decimal("318.40")


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Payment receipt", "Receipt #R-77812\nAmount: 45,00 €\nPaid by SEPA direct debit.", ("45.00", "R-77812")),
        ("Reçu de paiement", "Merci.\nReçu n° 2026-3321\nMontant payé : 18,50 €", ("18.50", "2026-3321")),
    ],
)  # fmt: skip
def test_plain_amount_and_receipt_number_labels_are_read(subject: str, body: str, expected: tuple[str, str]) -> None:
    result = _extract(subject, body, "Stadtwerke Elbtal <kundenservice@stadtwerke-elbtal.example>")
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal(expected[0]), "EUR", expected[1])


def test_credit_note_total_is_negative() -> None:
    result = _extract(
        "Credit note CN-2026-014 for your return",
        "Credit note CN-2026-014\nOriginal invoice: INV-2026-0977\nReturned: 1 x Trail lantern\n"
        "Total refunded: €25.00\nThe amount goes back to the card you paid with.",
        "Fjellstua Outfitters <accounts@fjellstua.no>",
    )
    assert result.is_receipt and result.is_credit_note
    assert (result.total, result.currency, result.document_number) == (Decimal("-25.00"), "EUR", "CN-2026-014")


def test_invoice_number_wins_over_order_id_phone_and_date() -> None:
    result = _extract(
        "Your receipt from Kettle & Crumb",
        "Order #112-3345\nDate: 12/03/2026\nQuestions? Call +44 20 7946 0958\nReceipt number: KC-88213\n"
        "2 x Sourdough loaf £4.20\nSubtotal £8.40\nVAT £0.00\nAmount paid £8.40",
        "Kettle & Crumb <receipts@kettleandcrumb.co.uk>",
    )
    assert result.is_receipt
    assert (result.total, result.currency, result.document_number) == (Decimal("8.40"), "GBP", "KC-88213")
    assert result.vendor == "Kettle & Crumb"


def test_receipt_without_any_document_number_still_has_no_phone_for_one() -> None:
    result = _extract(
        "Thanks for your payment",
        "We received your payment.\nPhone: (415) 555-0199\nDate: 03/12/2026\nAmount paid: $64.00\nCard ending 4242",
        "Pinecone Yoga Studio <hello@pineconeyoga.com>",
    )
    assert result.is_receipt and result.total == Decimal("64.00")
    assert result.document_number is None


HARD_NEGATIVES = [
    pytest.param(
        "Spring is here: jackets from €89,99",
        "New season, new colours.\nRain jacket €89,99 (was €129,00)\nSave up to 30% off selected styles.\n"
        "Shop now - free shipping over €50.",
        "Nordkap Apparel <news@nordkap-apparel.example>",
        {},
        id="marketing-with-prices",
    ),
    pytest.param(
        "Your parcel is on its way",
        "Good news! Order #A-77120 has shipped.\nCarrier: PostNL\nTracking number: 3SABCD123456789\n"
        "Estimated delivery: 14 March 2026",
        "Halcyon Ceramics <orders@halcyonceramics.example>",
        {},
        id="shipping-notice",
    ),
    pytest.param(
        "Your March statement is ready",
        "Statement period: 01/02/2026 - 28/02/2026\nOpening balance: $1,204.10\nClosing balance: $980.55\n"
        "This statement is not a receipt and is provided for your information only.",
        "Summit Credit Union <statements@summitcu.example>",
        {},
        id="statement-not-a-receipt",
    ),
    pytest.param(
        "The Weekly Ledger #212: what a $5 coffee really costs",
        "In this issue: inflation, the price of a latte ($5.40 in Boston) and a reader's budget.\n"
        "Unsubscribe at any time.",
        "The Weekly Ledger <newsletter@weeklyledger.example>",
        {"List-Id": "<weekly.weeklyledger.example>", "List-Unsubscribe": "<mailto:u@weeklyledger.example>"},
        id="newsletter",
    ),
    pytest.param(
        "dinner on friday",
        "Hey! I paid the whole bill, total was $86.40 with tip, so you owe me $43.20. No rush :)",
        "Noa Friedman <noa.friedman@gmail.com>",
        {},
        id="personal-money",
    ),
    pytest.param(
        "Angebot 2026-88 für Ihre Website",
        "Gerne unterbreiten wir Ihnen folgendes Angebot.\nAngebotsnummer: 2026-88\nGesamtbetrag 1.200,00 €\n"
        "Gültig bis 30.04.2026.",
        "Pixelwerk Studio <angebote@pixelwerk.example>",
        {},
        id="german-quote",
    ),
    pytest.param(
        "Your subscription renews soon",
        "Heads up: your Pro plan renews on 1 April 2026.\nYou will be charged $12.00 to the card ending 4242.",
        "Stackpad <billing@stackpad.example>",
        {},
        id="renewal-notice",
    ),
    pytest.param(
        "Payment failed",
        "We couldn't process your payment of $12.00 for invoice INV-2231. Please update your card.",
        "Stackpad <billing@stackpad.example>",
        {},
        id="failed-payment",
    ),
    pytest.param(
        "Your order has been cancelled",
        "Order #55-1200 was cancelled. You have not been charged.\nTotal: $45.00",
        "Lamplight Books <orders@lamplight.example>",
        {},
        id="cancelled-order",
    ),
    pytest.param(
        "מבצע סוף עונה!",
        'הנחה של 40% על כל הקולקציה. חולצה ב-49.90 ש"ח במקום 89.90 ש"ח. לחצו כאן',
        "אופנת הים <news@ofnat-hayam.co.il>",
        {},
        id="hebrew-marketing",
    ),
]


@pytest.mark.parametrize(("subject", "body", "sender", "headers"), HARD_NEGATIVES)
def test_hard_negative_from_an_unseen_sender_is_not_a_receipt(
    subject: str, body: str, sender: str, headers: dict[str, str]
) -> None:
    result = _extract(subject, body, sender, headers=headers)
    assert not result.is_receipt, result.reasons


def test_invoice_said_to_be_attached_but_missing_is_not_a_receipt() -> None:
    result = _extract("Invoice 6739", "Please find your invoice attached.", "Cloudline <billing@cloudline.example>")
    assert not result.is_receipt
    assert any("attached" in reason for reason in result.reasons)


def _hebrew_from(name: str, encoding: str) -> bytes:
    if encoding == "raw-utf-8":  # RFC 6532: UTF-8 straight in the header, the quote escaped
        escaped = name.replace('"', '\\"')
        return f'"{escaped}" <billing@orot.example>'.encode()
    charset, kind = encoding.split("/")
    data = name.encode(charset)
    word = base64.b64encode(data).decode() if kind == "B" else quopri.encodestring(data, header=True).decode()
    return f"=?{charset}?{kind}?{word}?= <billing@orot.example>".encode()


@pytest.mark.parametrize("encoding", ["utf-8/B", "windows-1255/B", "iso-8859-8/Q", "windows-1255/Q", "raw-utf-8"])
def test_hebrew_vendor_name_with_gershayim_is_kept_whole(encoding: str) -> None:
    name = 'תקשורת אורות בע"מ'
    body = 'חשבונית מס קבלה מספר 20931\nסה"כ לתשלום: 585.00 ש"ח\n'.encode()
    raw = (
        b"From: " + _hebrew_from(name, encoding) + b"\nTo: dana@example.com\nSubject: =?utf-8?B?"
        + base64.b64encode("חשבונית מס קבלה 20931".encode()) + b"?=\nDate: Thu, 12 Mar 2026 09:30:00 +0200\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
    )  # fmt: skip
    result = extract_email(parse_email(raw))
    assert result.is_receipt
    assert (result.vendor, result.total, result.currency, result.document_number) == (
        name, Decimal("585.00"), "ILS", "20931",
    )  # fmt: skip
