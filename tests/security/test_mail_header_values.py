"""Header values are normalised before they are stored (issue 13, low findings): a folded Content-Type keeps no
newline (its download would abort the connection), and a file name keeps no control or bidi character."""

from __future__ import annotations

import pytest

from receipt_sync.mime import parse_email


def _with_attachment(content_type: bytes, disposition: bytes) -> bytes:
    return (
        b"From: Shop <billing@shop.example>\r\nSubject: Invoice\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nInvoice attached.\r\n"
        b"--b\r\nContent-Type: " + content_type + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    ("content_type", "stored"),
    [
        (b"image/png\r\n x-evil", "image/png"),
        (b"image/png\r\n\tx-evil: 1", "image/png"),
        (b"IMAGE/PNG; name=a.png", "image/png"),
        (b"image/png\x7f<script>", "application/octet-stream"),
    ],
)
def test_attachment_content_types_are_stored_as_a_clean_media_type(content_type: bytes, stored: str) -> None:
    (attachment,) = parse_email(_with_attachment(content_type, b"attachment; filename=a.png")).attachments
    assert attachment.content_type == stored


@pytest.mark.parametrize(
    ("disposition", "stored"),
    [
        (b"attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe", "invoicefdp.exe"),
        (b"attachment; filename*=utf-8''a%E2%81%A6b%E2%81%A9c%E2%80%8F.pdf", "abc.pdf"),
        (b"attachment; filename*=utf-8''a%00b%07c.pdf", "abc.pdf"),
        (b"attachment; filename*=utf-8''%D7%97%D7%A9%D7%91%D7%95%D7%A0%D7%99%D7%AA.pdf", "חשבונית.pdf"),
    ],
)
def test_file_names_keep_no_control_or_bidi_characters(disposition: bytes, stored: str) -> None:
    (attachment,) = parse_email(_with_attachment(b"application/pdf", disposition)).attachments
    assert attachment.filename == stored
