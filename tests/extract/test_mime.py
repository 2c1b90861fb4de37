"""Parsing untrusted mail: Hebrew charsets, encodings, malformed input, and the documents kept for a receipt."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from receipt_sync.errors import MalformedMessageError
from receipt_sync.mime import parse_email, receipt_documents

HEBREW_BODY = 'חשבונית מס קבלה מספר 4471\nסה"כ לתשלום: 117.00 ₪\n'


def _qp_hebrew(charset: str) -> bytes:
    import quopri

    body = quopri.encodestring(HEBREW_BODY.replace("₪", 'ש"ח').encode(charset))
    subject = base64.b64encode("קבלה 4471".encode(charset)).decode()
    return (
        f"From: =?{charset}?B?{base64.b64encode('מאפיית השכונה'.encode(charset)).decode()}?= <shop@bakery.co.il>\r\n"
        f"Subject: =?{charset}?B?{subject}?=\r\nDate: Mon, 24 Nov 2025 15:28:48 +0200\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="{charset}"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize("charset", ["windows-1255", "iso-8859-8", "iso-8859-8-i"])
def test_hebrew_quoted_printable_mail_reads_as_hebrew(charset: str) -> None:
    raw = _qp_hebrew("iso-8859-8" if charset == "iso-8859-8-i" else charset).replace(b"iso-8859-8", charset.encode())
    parsed = parse_email(raw)
    assert parsed.subject == "קבלה 4471"
    assert parsed.sender == "מאפיית השכונה"
    assert 'סה"כ לתשלום: 117.00 ש"ח' in parsed.text


def test_unknown_charset_is_guessed_not_fatal() -> None:
    raw = (
        b'From: Shop <billing@shop.example>\r\nSubject: Hello\r\nContent-Type: text/plain; charset="x-hebrew-9"\r\n\r\n'
        + "קבלה מספר 4471".encode("windows-1255")
    )
    assert "קבלה מספר 4471" in parse_email(raw).text


def test_broken_base64_body_is_a_malformed_message() -> None:
    raw = (
        b"From: Shop <billing@shop.example>\r\nSubject: Your receipt\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"UmVjZWlwdA!!**not base64**@@\r\n"
    )
    with pytest.raises(MalformedMessageError, match="base64"):
        parse_email(raw)


def test_base64_missing_padding_is_forgiven() -> None:
    raw = (
        b"From: Shop <billing@shop.example>\r\nSubject: Receipt\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"Total paid: $41.20").rstrip(b"=")
    )
    assert "Total paid: $41.20" in parse_email(raw).text


@pytest.mark.parametrize("raw", [b"", b"This is not a valid eml.", b"\x00\x01\x02garbage:\x00"])
def test_input_that_is_not_mail_is_a_malformed_message(raw: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        parse_email(raw)


def test_message_without_body_parses_with_empty_text() -> None:
    parsed = parse_email(b"From: a@b.example\r\nSubject: Empty\r\n\r\n")
    assert (parsed.subject, parsed.text, parsed.attachments) == ("Empty", "", [])


def test_zero_byte_attachment_is_skipped() -> None:
    msg = _receipt_mail()
    msg.add_attachment(b"", maintype="application", subtype="pdf", filename="empty.pdf")
    parsed = parse_email(msg.as_bytes())
    assert parsed.attachments == []
    assert "Total: $10.00" in parsed.text


def test_attachment_over_the_limit_is_a_malformed_message() -> None:
    msg = _receipt_mail()
    msg.add_attachment(b"%PDF-1.4 " + b"x" * 5000, maintype="application", subtype="pdf", filename="i.pdf")
    with pytest.raises(MalformedMessageError, match="over the 1000-byte limit"):
        parse_email(msg.as_bytes(), max_attachment_bytes=1000)


def test_truncated_multipart_is_a_malformed_message() -> None:
    msg = _receipt_mail()
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="i.pdf")
    raw = msg.as_bytes()
    assert parse_email(raw).attachments[0].data == pdf
    with pytest.raises(MalformedMessageError, match="truncated"):
        parse_email(raw[: int(len(raw) * 0.8)])


def test_body_document_strips_scripts_and_embeds_inline_images() -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "Shop <billing@shop.example>", "Receipt"
    msg.set_content("Receipt")
    msg.add_alternative(
        '<html><body onload="steal()"><script>alert(1)</script><img src="cid:logo@shop">'
        '<a href="javascript:evil()">x</a><p>Total: $10.00</p></body></html>',
        subtype="html",
    )
    msg.get_payload()[1].add_related(b"\x89PNG-bytes", maintype="image", subtype="png", cid="<logo@shop>")
    (doc,) = receipt_documents(parse_email(msg.as_bytes()))
    html = doc.data.decode()
    assert (doc.kind, doc.content_type) == ("body", "text/html")
    assert "<script" not in html and "alert(1)" not in html and "onload" not in html
    assert "javascript:" not in html
    png = base64.b64encode(b"\x89PNG-bytes").decode()
    assert f'src="data:image/png;base64,{png}"' in html
    assert "Total: $10.00" in html


def test_plain_text_receipt_is_kept_as_preformatted_html() -> None:
    (doc,) = receipt_documents(parse_email(_receipt_mail().as_bytes()))
    assert b"<pre>Invoice attached. Total: $10.00" in doc.data


def test_pdf_attachments_are_the_documents_when_present() -> None:
    msg = _receipt_mail()
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="octet-stream", filename="inv.pdf")
    (doc,) = receipt_documents(parse_email(msg.as_bytes()))
    assert (doc.kind, doc.filename, doc.content_type, doc.data) == (
        "attachment",
        "inv.pdf",
        "application/pdf",
        b"%PDF-1.4 data",
    )


def _receipt_mail() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Shop <billing@shop.example>", "a@b.example", "Invoice 77"
    msg["Date"] = "Mon, 24 Nov 2025 15:28:48 +0200"
    msg.set_content("Invoice attached. Total: $10.00")
    return msg
