"""Receipts: filters, keyset pagination that never repeats or skips, review updates, download, stats."""

from __future__ import annotations

from fastapi.testclient import TestClient

from receipt_sync.settings import get_settings
from receipt_sync.storage import content_hash, document_key, open_storage
from tests.api.conftest import World
from tests.factories import add_document, add_receipts


def _walk(client: TestClient, headers: dict[str, str], query: str = "") -> list[dict]:
    items, cursor = [], None
    while True:
        url = f"/api/receipts?limit=7{query}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_keyset_pages_cover_every_receipt_once_newest_first(client: TestClient, world: World) -> None:
    ids = add_receipts(world.a.business_id, 30)
    items = _walk(client, world.a.headers)
    assert [r["id"] for r in items] == list(reversed(ids))


def test_filters_by_status_vendor_currency_text_and_date(client: TestClient, world: World) -> None:
    add_receipts(world.a.business_id, 5, vendor="Acme")
    add_receipts(world.a.business_id, 3, vendor="Globex 100%", currency="ILS", status="reviewed")
    h = world.a.headers
    assert len(_walk(client, h, "&status=reviewed")) == 3
    assert len(_walk(client, h, "&currency=ils")) == 3
    assert len(_walk(client, h, "&vendor=globex")) == 3
    assert len(_walk(client, h, "&vendor=100%25")) == 3  # % is matched literally, not as a wildcard
    assert len(_walk(client, h, "&text=receipt 1")) == 2
    assert len(_walk(client, h, "&date_from=2026-01-02&date_to=2026-01-03")) == 4


def test_a_tampered_cursor_is_a_400(client: TestClient, world: World) -> None:
    resp = client.get("/api/receipts?cursor=bm9wZQ", headers=world.a.headers)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


def test_review_update_keeps_the_extracted_value_and_validates(client: TestClient, world: World) -> None:
    rid = add_receipts(world.a.business_id, 1, total="10.00")[0]
    url = f"/api/receipts/{rid}"
    resp = client.patch(url, json={"status": "reviewed", "total": "12.50", "currency": "eur"}, headers=world.a.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "reviewed" and body["total"] == "12.50" and body["currency"] == "EUR"
    assert body["corrected_fields"]["total"] == {"extracted": "10.00", "corrected": "12.50"}
    bad = client.patch(url, json={"status": "approved"}, headers=world.a.headers)
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    extra = client.patch(url, json={"business_id": world.b.business_id}, headers=world.a.headers)
    assert extra.status_code == 422


def test_document_downloads_as_an_attachment_with_a_safe_name(client: TestClient, world: World) -> None:
    rid = add_receipts(world.a.business_id, 1)[0]
    data = b"%PDF-1.4 receipt"
    key = document_key(world.a.business_id, content_hash(data))
    open_storage(get_settings()).put(key, data, "application/pdf")
    doc_id = add_document(rid, world.a.business_id, key)
    detail = client.get(f"/api/receipts/{rid}", headers=world.a.headers).json()
    assert detail["documents"][0]["download_url"] == f"/api/receipts/{rid}/documents/{doc_id}"
    resp = client.get(detail["documents"][0]["download_url"], headers=world.a.headers)
    assert resp.status_code == 200 and resp.content == data
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "/" not in disposition.split(";")[1]


def test_stats_count_by_status_and_total_by_currency_and_month(client: TestClient, world: World) -> None:
    add_receipts(world.a.business_id, 3, total="10.00")
    add_receipts(world.a.business_id, 2, vendor="Globex", currency="ILS", total="5.25", status="reviewed")
    add_receipts(world.b.business_id, 4)
    stats = client.get("/api/receipts/stats", headers=world.a.headers).json()
    assert stats["by_status"] == {"new": 3, "reviewed": 2}
    assert {c["currency"]: c["total"] for c in stats["by_currency"]} == {"USD": "30.00", "ILS": "10.50"}
    assert {(m["month"], m["currency"]): m["count"] for m in stats["by_month"]} == {
        ("2026-01", "USD"): 3,
        ("2026-01", "ILS"): 2,
    }
