"""Incremental syncs spend by the receipt query too: Gmail's history says which messages are new but has no
search, so a listing `q=<receipt query> after:<when the history id was read>` says which of them the query
matches; only those are fetched now, the rest are left to the sweep (ledger outcome `deferred`).

Costs (GMAIL.md): history.list 2 units a page, messages.list 5 a page of up to 500 ids, a fetch 5 or 20 units.
The listing is made only when the fetches it may save are worth at least twice its price (new mail not stored
yet × fetch cost ≥ 2 × list cost, a page per 500): with half of new mail outside the query, it then pays for
itself. Gmail's `after:` reads the internal date, so a message imported with an old date is not listed by it
although history reports it: anything history reports that the query listing did not is deferred, not lost.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime

from models.db import session_scope
from models.queries.ingest import already_processed
from receipt_sync.mail.base import MailSource
from receipt_sync.settings import get_settings
from tasks.progress import run_progress
from tasks.sources import on_release, quota_units

QUERY_PAGE_SIZE = 500

_matched: dict[str, set[str]] = {}  # per run: the new mail the receipt query lists (listed once per run)
_lock = threading.Lock()


def split_new_mail(
    run_id: int, business_id: int, source: MailSource, ids: list[str], since: str | None, query: str | None
) -> tuple[list[str], list[str]]:
    """(ids to fetch now, ids left to the sweep) of the new mail `ids` history reported."""
    if not ids or not since or not (query or "").strip():
        return ids, []
    with session_scope() as session:
        new = [i for i in ids if i not in already_processed(session, business_id, ids)]
    if not _listing_pays(len(new)):
        return ids, []
    matched = _query_matches(run_id, source, datetime.fromisoformat(since), query or "")
    return [i for i in ids if i in matched or i not in new], [i for i in new if i not in matched]


def _listing_pays(new_messages: int) -> bool:
    settings = get_settings()
    pages = max(1, math.ceil(new_messages / QUERY_PAGE_SIZE))
    return new_messages * settings.gmail_fetch_cost >= 2 * settings.gmail_list_cost * pages


def _query_matches(run_id: int, source: MailSource, since: datetime, query: str) -> set[str]:
    key = str(run_id)
    with _lock:
        if key in _matched:
            return _matched[key]
    matched: set[str] = set()
    token: str | None = None
    while True:
        page = source.list_messages(page_token=token, after=since, query=query, page_size=QUERY_PAGE_SIZE)
        run_progress(run_id).spent(quota_units(source, "list"))
        matched.update(page.message_ids)
        token = page.next_page_token
        if token is None:
            break
    with _lock:
        if key not in _matched:
            _matched[key] = matched
            on_release(key, _forget)
        return _matched[key]


def _forget(run_key: str) -> None:
    with _lock:
        _matched.pop(run_key, None)
