"""Hebrew receipts: no public Hebrew set exists, so the generated Hebrew mail is checked against its own truth,
and hand-written Israeli shapes (right-to-left HTML tables, ₪ and ש"ח, סה"כ לתשלום, מספר חשבונית, a PDF's text
in visual order) with invented businesses stand in for real mail.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest

from receipt_sync.extract import Extraction, extract_email, extract_file
from receipt_sync.mime import parse_email
from receipt_sync.samples.generator import generate_messages


@pytest.fixture(scope="module")
def hebrew_mail() -> list:
    return [m for m in generate_messages(400, seed=11) if m.truth.language == "he" and m.truth.kind != "malformed"]


def test_every_generated_hebrew_message_yields_its_truth(hebrew_mail: list) -> None:
    assert {m.truth.kind for m in hebrew_mail} >= {"hebrew-tax-invoice", "hebrew-receipt", "hebrew-pdf-invoice"}
    for message in hebrew_mail:
        truth, result = message.truth, extract_email(parse_email(message.raw))
        assert result.is_receipt == truth.is_receipt, (truth.kind, result.reasons)
        if truth.is_receipt:
            got = (result.total, result.currency, result.document_number, result.date)
            assert got == (Decimal(truth.total), truth.currency, truth.document_number, date.fromisoformat(truth.date))
            assert truth.vendor in (result.vendor or ""), (truth.vendor, result.vendor)


def _html_mail(subject: str, html: str, sender: str, text: str) -> Extraction:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "dana@example.co.il", subject
    msg["Date"] = "Thu, 12 Mar 2026 09:30:00 +0200"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return extract_email(parse_email(msg.as_bytes()))


RTL_TABLE = """<html dir="rtl" lang="he"><body>
<h2>נגריית האלון בע"מ</h2><p>חשבונית מס קבלה</p>
<table dir="rtl"><tr><td>מספר חשבונית</td><td>20417</td></tr><tr><td>תאריך</td><td>12/03/2026</td></tr></table>
<table dir="rtl"><tr><th>פריט</th><th>כמות</th><th>מחיר</th><th>סכום</th></tr>
<tr><td>מדף אלון</td><td>2</td><td>₪ 500.00</td><td>₪ 1,000.00</td></tr>
<tr><td colspan="3">סה"כ לפני מע"מ</td><td>₪ 1,000.00</td></tr>
<tr><td colspan="3">מע"מ 17%</td><td>₪ 170.00</td></tr>
<tr><td colspan="3">סה"כ לתשלום</td><td>₪ 1,170.00</td></tr></table>
<p>שולם בכרטיס אשראי המסתיים ב-4242</p></body></html>"""


def test_a_right_to_left_html_table_invoice_yields_the_amount_to_pay_not_the_amount_before_vat() -> None:
    result = _html_mail("חשבונית מס קבלה 20417", RTL_TABLE, "נגריית האלון <billing@nagariya-haalon.co.il>", "")
    assert result.is_receipt, result.reasons
    assert (result.total, result.currency, result.document_number) == (Decimal("1170.00"), "ILS", "20417")
    assert result.vendor == "נגריית האלון"


def test_an_order_paid_in_shekels_written_after_the_amount_is_a_receipt() -> None:
    html = (
        '<div dir="rtl">שלום דנה,<br>תודה על רכישתך!<br>מספר הזמנה: 88-1204<br>'
        '<table><tr><td>סה"כ לתשלום:</td><td>245.70 ש"ח</td></tr></table><br>אמצעי תשלום: ויזה 4242</div>'
    )
    text = 'שלום דנה,\nתודה על רכישתך!\nמספר הזמנה: 88-1204\nסה"כ לתשלום: 245.70 ש"ח\nאמצעי תשלום: ויזה 4242'
    result = _html_mail("אישור הזמנה", html, "חנות הספרים של רחל <orders@rachel-books.co.il>", text)
    assert result.is_receipt, result.reasons
    assert (result.total, result.currency, result.document_number) == (Decimal("245.70"), "ILS", "88-1204")


def test_a_hebrew_pdfs_text_in_visual_order_takes_the_amount_above_its_label(tmp_path: Path) -> None:
    # a right-to-left invoice PDF read in visual order: amounts glued before labels, the total on the line above
    text = (
        'עמוד 1 / 1\nמוסך הגליל בע"מ\nעוסק מורשה 514422113\nחשבונית מס קבלה מספר 000731\n12/03/2026 :תאריך\n'
        'סכוםמחירכמותפירוט\n₪800.00₪800.001טיפול 30,000\n₪800.00\nסה"כ פריטים:\n₪136.00מע"מ 17%:\n₪936.00\n'
        'סה"כ לתשלום:\n'
    )
    path = tmp_path / "mosach-731.txt"
    path.write_text(text, encoding="utf-8")
    result = extract_file(path)
    assert result.is_receipt, result.reasons
    assert (result.total, result.currency, result.document_number) == (Decimal("936.00"), "ILS", "000731")


def test_a_hebrew_credit_note_has_a_negative_total() -> None:
    text = 'חשבונית זיכוי מספר 3310\nזיכוי עבור החזרת פריט\nסה"כ זיכוי: 120.00 ₪'
    html = f'<div dir="rtl">{text.replace(chr(10), "<br>")}</div>'
    result = _html_mail("חשבונית זיכוי 3310", html, "אופטיקה עין טובה <office@ein-tova.co.il>", text)
    assert result.is_receipt and result.is_credit_note, result.reasons
    assert (result.total, result.currency) == (Decimal("-120.00"), "ILS")


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        pytest.param(
            "הצעת מחיר 2026-14", 'הצעת מחיר לשיפוץ המטבח\nסה"כ לתשלום: 18,500.00 ₪\nבתוקף ל-30 יום', id="quote"
        ),
        pytest.param(
            "דף חשבון לחודש פברואר",
            "יתרת פתיחה: 4,210.00 ₪\nיתרת סגירה: 3,980.55 ₪\nמסמך זה אינו חשבונית ואינו קבלה",
            id="statement-not-an-invoice",
        ),
        pytest.param("התשלום נכשל", 'התשלום נכשל עבור חשבונית 5521\nסה"כ לתשלום: 99.00 ₪', id="failed-payment"),
    ],
)
def test_hebrew_mail_that_carries_an_amount_but_records_no_payment_is_not_a_receipt(subject: str, text: str) -> None:
    html = f'<div dir="rtl">{text.replace(chr(10), "<br>")}</div>'
    result = _html_mail(subject, html, "שיפוצי הגליל <office@shiputzei-hagalil.co.il>", text)
    assert not result.is_receipt, result.reasons
