"""Shapes the public real-mail families showed (bench/data/*.py), written with invented vendors: the rule
each test checks is general, not fitted to the sender it was first seen in.
"""

from __future__ import annotations

from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

from receipt_sync.extract import Extraction, extract_email, extract_file
from receipt_sync.mime import parse_email


def _mail(subject: str, body: str, sender: str, *, html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "dana@example.com", subject
    msg["Date"] = "Thu, 12 Mar 2026 09:30:00 +0100"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def _extract(msg: EmailMessage) -> Extraction:
    return extract_email(parse_email(msg.as_bytes()))


def test_a_dispatch_notice_stating_what_the_parcel_was_charged_is_a_receipt() -> None:
    # retailers that charge at dispatch send the charge with the shipping notice
    body = (
        "Your package will arrive Tuesday.\nOn the way:\n2 items\nOrder #771-2231\nShip to:\nDana\n"
        "Shipment total:\n$41.18\nYour invoice can be accessed here: https://shop.example/invoice"
    )
    result = _extract(_mail("Your Larkspur order #771-2231 has shipped", body, "ship@larkspur.example"))
    assert result.is_receipt, result.reasons
    assert result.total == Decimal("41.18")


def test_a_shipping_notice_with_only_the_order_total_is_still_no_receipt() -> None:
    body = "Good news! Order #A-77120 has shipped.\nTracking number: 3SABCD123456789\nOrder total: $45.00"
    result = _extract(_mail("Your parcel is on its way", body, "Halcyon Ceramics <orders@halcyon.example>"))
    assert not result.is_receipt, result.reasons


def test_a_payment_services_receipt_of_a_payment_sent_is_a_receipt() -> None:
    body = (
        "Hello Dana,\nYou sent a payment of €18.40 EUR to Moss & Fern Florists\nTransaction ID: 8KQ2231\n"
        "Description Unit price Qty Amount\nBouquet €18.40 EUR 1 €18.40 EUR\nTotal €18.40 EUR\n"
        "Payment sent to orders@mossfern.example"
    )
    result = _extract(_mail("", body, "Paylane <service@paylane.example>"))
    assert result.is_receipt, result.reasons
    assert (result.total, result.currency) == (Decimal("18.40"), "EUR")


def test_an_order_number_split_over_three_table_cells_wins_over_an_email_reference() -> None:
    html = (
        "<table><tr><td>Total</td><td>: £13.50</td></tr>"
        "<tr><td>Order number</td><td>:</td><td>07-31190-55502</td></tr></table>"
        "<p>Order total: £13.50</p><p>Total charged to card: £13.50</p>"
        "<p>Email reference ID: [#9f1c44e0b7d24a6c8e2f0a3b5c7d9e11#]</p>"
    )
    msg = _mail("Your order is confirmed", "See the HTML part.", "Marketly <orders@marketly.example>", html=html)
    msg.get_body(("plain",)).set_content("")  # an HTML-only mail, as most stores send
    result = _extract(msg)
    assert result.is_receipt, result.reasons
    assert result.document_number == "07-31190-55502"


def test_a_receipt_forwarded_from_a_personal_address_names_the_forwarded_senders_company() -> None:
    body = (
        "fyi for the books\n\n---------- Forwarded message ---------\n"
        'From: "Quillfeather Stationers" <orders@quillfeather.example>\nDate: Mon, 9 Mar 2026 at 10:02\n'
        "Subject: Your order #QF-5512\n\nThanks for your order.\nOrder #QF-5512\nOrder total: $32.10"
    )
    result = _extract(_mail("Fwd: Your order #QF-5512", body, "Dana Levi <dana.levi@gmail.com>"))
    assert result.is_receipt, result.reasons
    assert result.vendor == "Quillfeather Stationers"


def test_a_personal_forward_of_personal_mail_names_no_vendor() -> None:
    body = "---------- Forwarded message ---------\nFrom: Noa <noa.f@gmail.com>\n\nyou owe me $43.20 for dinner"
    assert _extract(_mail("Fwd: dinner", body, "Dana Levi <dana.levi@gmail.com>")).vendor is None


def test_a_vendor_known_only_by_its_mailing_domain_is_written_as_the_mail_writes_it() -> None:
    body = "Thanks for riding with Veloway!\nReceipt #88120\nVeloway fare: $9.10\nTotal charged to Visa ***1234: $9.10"
    assert _extract(_mail("Your ride", body, "no-reply@velowaymail.example")).vendor == "Veloway"
    body = "Your GreenGrid subscription.\nAmount paid: $12.00"
    assert _extract(_mail("Receipt", body, "billing@greengrid.example")).vendor == "GreenGrid"
    body = "Thanks for your payment.\nAmount paid: $12.00\nhttps://portal.example/help"
    assert _extract(_mail("Receipt", body, "billing@brightpost.example")).vendor == "Brightpost"


def test_an_invoice_themed_mail_carrying_an_archive_is_not_a_receipt() -> None:
    body = (
        "Dear Sir,\nWe have made the payment of your invoice INV-88213.\nTOTAL AMOUNT: USD 48,210.00\n"
        "Kindly find the payment invoice attached and confirm."
    )
    msg = _mail("Payment Invoice INV-88213", body, "Accounts <accounts@harbourline-trading.example>")
    zipped = b"PK\x03\x04" + b"\0" * 40
    msg.add_attachment(zipped, maintype="application", subtype="zip", filename="Payment Invoice.zip")
    result = _extract(msg)
    assert not result.is_receipt and not result.needs_review, result.reasons
    assert any("archive" in reason for reason in result.reasons)


def test_a_strong_invoice_that_also_carries_an_archive_goes_to_review_not_lost() -> None:
    body = (
        "Thank you for your payment.\nInvoice number: 2026-114\nAmount paid: €240.00\n"
        "Paid with card ending 4242\nThe drawings are in the attached archive."
    )
    msg = _mail("Invoice 2026-114", body, "Studio Kestrel <billing@studiokestrel.example>")
    msg.add_attachment(b"PK\x03\x04" + b"\0" * 40, maintype="application", subtype="zip", filename="drawings.zip")
    result = _extract(msg)
    assert result.needs_review, result.reasons


def test_a_pdf_column_that_glues_the_number_before_its_label_gives_that_number(tmp_path: Path) -> None:
    # pypdf reads some two-column PDFs value first: "993548900Factuurnummer:" over "6669263Klantnummer:"
    text = (
        "FACTUUR\nFietsplein B.V.\nMarktstraat 4\n5401 Uden\n558120044Factuurnummer:\n7712093Klantnummer:\n"
        "12 maart 2026Factuurdatum:\nFietsbel 1 € 12,99 21% € 12,99\nTotaal € 12,99\n"
    )
    path = tmp_path / "fietsplein-0312.txt"
    path.write_text(text)
    result = extract_file(path)
    assert result.is_receipt, result.reasons
    assert result.document_number == "558120044"


def test_an_invoice_whose_letterhead_is_only_a_logo_is_named_by_the_account_it_asks_to_be_paid_into(
    tmp_path: Path,
) -> None:
    # the seller's name is in an image; in the text it appears only as the payee of the bank transfer
    text = (
        "Facture n° 2026-0311\nDate : 11/03/2026\nClient : Dana Levi, 4 rue des Lilas, 69003 Lyon\n"
        "Désignation Quantité Montant\nAtelier céramique 1 80,00 €\nTotal TTC : 80,00 €\n"
        "Règlement par virement – Titulaire du compte : TERRE ET FEU – IBAN : FR76 3000 4000 0500 0012 3456 789\n"
    )
    path = tmp_path / "facture-2026-0311.txt"
    path.write_text(text)
    result = extract_file(path)
    assert result.is_receipt, result.reasons
    assert (result.vendor, result.total) == ("TERRE ET FEU", Decimal("80.00"))


def test_a_customers_account_name_without_bank_details_does_not_name_the_vendor(tmp_path: Path) -> None:
    text = "Invoice INV-5521\nAccount name: Dana Levi\nDate: 2026-03-11\nTotal due: $42.00\n"
    path = tmp_path / "inv-5521.txt"
    path.write_text(text)
    assert extract_file(path).vendor is None


def test_a_booking_paid_entirely_with_points_spent_no_money() -> None:
    body = (
        "Your trip is booked\nTrip ID # 4471902\nAirline confirmation: QWRT7K\nFare:\n$412.60\n"
        "Trip total\n$412.60\nPoints redeemed\n27,507 pts\nThank you for booking with Meridian Rewards Travel."
    )
    result = _extract(_mail("Travel Reservation Trip ID # 4471902", body, "Meridian Travel <trips@meridian.example>"))
    assert result.is_receipt, result.reasons
    assert (result.total, result.currency) == (Decimal("0"), "USD")


def test_a_booking_part_paid_with_points_takes_what_the_card_was_billed() -> None:
    body = (
        "Your trip is booked\nTrip ID # 4471903\nTrip total\n$412.60\nPoints redeemed\n12,000 pts\n"
        "Billed to card\n$232.60\nVisa ending in 4242"
    )
    result = _extract(_mail("Travel Reservation Trip ID # 4471903", body, "Meridian Travel <trips@meridian.example>"))
    assert result.total == Decimal("232.60")


def test_a_car_hires_miles_used_are_not_a_payment() -> None:
    body = "Rental agreement RA-55120\nMiles used: 212 miles\nTotal: $184.20\nThank you for renting with Dunmore Cars."
    result = _extract(_mail("Your receipt RA-55120", body, "Dunmore Cars <receipts@dunmore.example>"))
    assert result.total == Decimal("184.20")


def test_a_travel_agencys_list_of_codes_gives_the_agencys_own_code_not_the_airlines() -> None:
    # the booking's markup lists every code; the text names whose each one is
    html = (
        '<div itemscope itemtype="http://schema.org/FlightReservation">'
        '<meta itemprop="reservationNumber" content="QPLKZD"><meta itemprop="reservationNumber" content="NT-7Q2-K44X">'
        "</div><p>Your receipt</p><p>Your confirmation codes</p><p>Harbor Air</p><p>QPLKZD</p>"
        "<p>Northwind Travel</p><p>NT-7Q2-K44X</p><p>Total paid</p><p>$318.40</p><p>Visa ending in 4242</p>"
    )
    msg = _mail("View your flight details", "See the HTML part.", "Northwind Travel <trips@northwind.example>")
    msg.set_content(html, subtype="html")
    result = _extract(msg)
    assert result.is_receipt, result.reasons
    assert (result.document_number, result.total) == ("NT-7Q2-K44X", Decimal("318.40"))
