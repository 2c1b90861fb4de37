"""The default listing query: a full sync only fetches what it lists, so a receipt it misses is lost."""

from __future__ import annotations

from receipt_sync.mail.gmail import build_query
from receipt_sync.mail.receipt_query import RECEIPT_QUERY
from receipt_sync.mail.search import listed_by, parse_query
from receipt_sync.mime import parse_email
from receipt_sync.samples import generate_messages
from tests.fakes.gmail_payload import search_fields


def test_the_default_query_lists_every_generated_receipt_and_leaves_out_most_other_mail() -> None:
    matches = parse_query(build_query(None, None, RECEIPT_QUERY))
    messages = list(generate_messages(1500, seed=11))
    listed = {m.id for m in messages if matches(search_fields(m.raw, frozenset(m.label_ids), 0))}

    receipts = {m.id for m in messages if m.truth.is_receipt}
    assert receipts <= listed
    ordinary = [m for m in messages if m.truth.kind in {"marketing", "newsletter", "personal"}]
    assert ordinary and not any(m.id in listed for m in ordinary)


def test_extract_s_listing_verdict_agrees_with_what_the_fake_gmail_lists() -> None:
    """`receipts extract` judges from the parsed email; the fake Gmail from the raw MIME: they must agree."""
    matches = parse_query(RECEIPT_QUERY)
    messages = [m for m in generate_messages(600, seed=3) if m.truth.kind != "malformed"]
    verdicts = [
        (listed_by(RECEIPT_QUERY, parse_email(m.raw)), matches(search_fields(m.raw, frozenset(), 0))) for m in messages
    ]
    assert all(ours == gmail for ours, gmail in verdicts)
    assert {ours for ours, _ in verdicts} == {True, False}  # both outcomes occur


def _plain(subject: str, body: str) -> bytes:
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "shop@shop.example", "owner@business.example", subject
    mail.set_content(body)
    return mail.as_bytes()


def test_shop_confirmations_worded_only_with_order_words_are_listed() -> None:
    """The shapes an independent check found unlisted: no receipt, invoice or payment word anywhere."""
    matches = parse_query(build_query(None, None, RECEIPT_QUERY))
    confirmations = [
        _plain("Thanks for your order (PA-2023-609390)", "Order total: $41.20\nShips in 2 days."),
        _plain("Your Northwind Supplies order #NO-2026-339305 is confirmed", "2 x toner, total $88.00"),
        _plain("Ihre Bestellung bei Beispiel GmbH", "Gesamtsumme: 19,99 EUR"),
        _plain("Votre commande FR-1182", "Total TTC : 54,00 EUR"),
    ]
    assert all(matches(search_fields(raw, frozenset(), 0)) for raw in confirmations)
    assert not matches(search_fields(_plain("Lunch on Friday?", "Shall we meet at noon"), frozenset(), 0))
