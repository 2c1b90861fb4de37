"""A single-part message is parsed from its header block, its body set as the payload: the same message as
the standard library's full parse, whatever the shape of its headers and body."""

from __future__ import annotations

import email
import random
from email.message import Message

import pytest

from receipt_sync.mime import _message_from_bytes, parse_email

SHAPES = [
    b"From: a@b.example\nSubject: x\n\nbody\nline\n",
    b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n",
    b"From: a@b.example\r\nSubject: x\n\r\nbody\r\rmore\r",  # bare CRs in the body
    b"From: a@b.example\rSubject: x\r\rbody\n\nafter",  # bare CRs end the header lines
    b"From: a@b.example\nSubject: x\n   \n\tcontinued\n\nbody",  # a blank-looking continuation line
    b"From: a@b.example\nSubject: x\nnot a header line\n\nbody",  # no separator: the line starts the body
    b"From sender@example Mon Jan  1 00:00:00 2026\nFrom: a@b.example\n\nbody",  # an mbox From_ line
    b"From: a@b.example\nContent-Type: message/rfc822\n\nFrom: c@d.example\nSubject: inner\n\ninner body",
    b"From: a@b.example\nContent-Type: message/delivery-status\n\nReporting-MTA: x\n\nAction: failed\n",
    b"From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n",
    b"From: a@b.example\nContent-Type: text/html; charset=utf-8\nSubject: \xd7\xa7\xd7\x91\xd7\x9c\xd7\x94\n\n"
    b"<p>\xe2\x82\xaa 5</p>",  # 8-bit header and body
    b"Subject: only headers\n",
    b"From: a@b.example\nFrom x\n\nbody",  # a last `From ` line is given back to the body by the parser
    b"From: a@b.example\nX: a\x0c\n\nbody",  # a form feed breaks a line for the parser
    b"\r\n\r\nFrom: a@b.example\n\nbody",  # an empty first line ends the headers at once
    b"From: a@b.example\nContent-Type: text\n\nan invalid type is text/plain",
]


def _shape(msg: Message) -> list[object]:
    return [
        (p.items(), None if p.is_multipart() else p.get_payload(), [type(d) for d in p.defects], p.preamble,
         p.epilogue, p.get_unixfrom(), p.get_content_type())
        for p in msg.walk()
    ]  # fmt: skip


@pytest.mark.parametrize("raw", SHAPES)
def test_message_is_the_standard_librarys_own(raw: bytes) -> None:
    assert _shape(_message_from_bytes(raw)) == _shape(email.message_from_bytes(raw))


@pytest.mark.parametrize("seed", range(300))
def test_random_line_endings_and_header_shapes_parse_the_same(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [b"From: a@b.example", b"Subject: s", b" cont", b"\tcont", b"X", b"Content-Type: text/plain",
              b"Content-Type: multipart/alternative; boundary=q", b"--q", b"--q--", b"body", b"From x", b"",
              b"Content-Type: message/rfc822", b"A: \x0c", b"B: \x1c\x85"]  # fmt: skip
    ends = [b"\n", b"\r\n", b"\r", b"\n\n", b"\r\n\r\n", b"\n\r\n", b"\x0b\n"]
    raw = b"".join(rng.choice(pieces) + rng.choice(ends) for _ in range(rng.randint(2, 14)))
    assert _shape(_message_from_bytes(raw)) == _shape(email.message_from_bytes(raw))


def test_a_single_part_receipt_reads_the_same_text() -> None:
    raw = b"From: Shop <s@shop.example>\nSubject: Receipt\nContent-Type: text/plain\n\nTotal: $5.00\n"
    assert parse_email(raw).text == "Total: $5.00"
