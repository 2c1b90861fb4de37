"""Sync at Gmail's quota (issues 5 and 14): fetch rate vs the quota ceiling, units per receipt, orchestration
overhead, unchanged-mailbox cost, peak memory of a large full sync, and the matrix of both regimes × each way a
server may enforce the quota (60 s window; per-second bucket of 1 s and of 0.5 s).

    .venv/bin/python -m bench.sync_bench [--messages 10000] [--regime new|old|both] [--rate-seconds 120]
                                         [--memory-messages 10000,100000] [--models window,bucket_1s,bucket_0.5s|all]
                                         [--sections rate,units,overhead,memory,matrix,sweep,incremental,storm]
                                         [--sweep-messages 1000] [--missed 20] [--new-mail 100]

Everything runs on 127.0.0.1: a fresh PostgreSQL, Prefect's test server, documents in a temporary folder, and
the fake Gmail (tests/fakes/gmail_server.py) in a process of its own, spoken to by the real googleapiclient.
The rate is measured over a bounded run (`max_messages` = rate-seconds x the regime's fetches a second): at
5 fetches a second a full 10,000-message sync would take ~33 minutes. Numbers go to stdout as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.fake_gmail_process import REFRESH_TOKEN, ROOT, GmailProcess

REGIMES = {"new": {"quota": 6000, "fetch_cost": 20}, "old": {"quota": 15000, "fetch_cost": 5}}
# How the fake Gmail enforces the quota: the three models, then stricter or odder servers the limiter
# was not written against (`--models all`). The defaults every model resets: see `FAKE_DEFAULTS`.
MODELS: dict[str, dict[str, Any]] = {
    "window": {"quota_model": "window"},
    "bucket_1s": {"quota_model": "bucket", "burst_seconds": 1.0},
    "bucket_0.5s": {"quota_model": "bucket", "burst_seconds": 0.5},
}
MORE_MODELS: dict[str, dict[str, Any]] = {
    "bucket_0.1s": {"quota_model": "bucket", "burst_seconds": 0.1},
    "bucket_60s": {"quota_model": "bucket", "burst_seconds": 60.0},
    "window_80pct": {"quota_model": "window", "quota_share": 0.8},
    "bucket_0.5s_jitter": {"quota_model": "bucket", "burst_seconds": 0.5, "latency_jitter": 0.1},
    "bucket_0.5s_403_no_retry_after": {
        "quota_model": "bucket",
        "burst_seconds": 0.5,
        "quota_refusal": [403, "userRateLimitExceeded"],
        "retry_after_header": False,
    },
    "parts_concurrent_10": {"quota_model": "window", "max_concurrent": 10, "concurrent_parts": True},
}
FAKE_DEFAULTS: dict[str, Any] = {
    "burst_seconds": 1.0,
    "quota_share": 1.0,
    "quota_refusal": [429, "rateLimitExceeded"],
    "retry_after_header": True,
    "concurrent_parts": False,
    "latency_jitter": 0.0,
    "max_concurrent": None,
}
COSTS = {"messages.list": 5, "history.list": 2, "getProfile": 1}
UNLIMITED = 10**9
SEED = 7
RECEIPT_QUERY_ENV = "GMAIL_RECEIPT_QUERY"


# ----- environment -----------------------------------------------------------------------------------------
@contextmanager
def environment() -> Iterator[None]:
    """PostgreSQL, Prefect's test server and a documents folder, exported as the product's settings."""
    from cryptography.fernet import Fernet

    from models.db import migrate
    from tests.fixtures.postgres import postgres_server
    from tests.fixtures.prefect import prefect_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    with postgres_server() as pg, prefect_harness() as api_url, tempfile.TemporaryDirectory() as docs:
        pg.execute("CREATE DATABASE bench")
        migrate(pg.url("bench"))
        os.environ.update(
            DATABASE_URL=pg.url("bench"),
            STORAGE_URL=f"file://{docs}",
            PREFECT_API_URL=api_url,
            ENCRYPTION_KEY=Fernet.generate_key().decode(),
            GOOGLE_CLIENT_ID="bench.apps.example",
            GOOGLE_CLIENT_SECRET="bench-secret",
            GMAIL_PROJECT_LIMIT_NAME=f"gmail-project-bench-{os.getpid()}",
        )
        yield


def configure(gmail: GmailProcess, **settings: Any) -> None:
    """Point the product at `gmail` with these settings (GMAIL_* names, lower case) and forget cached ones."""
    from receipt_sync.settings import get_settings

    os.environ.update(GMAIL_API_ENDPOINT=gmail.url, GOOGLE_TOKEN_URI=gmail.token_uri)
    os.environ[RECEIPT_QUERY_ENV] = ""  # every message of the window (the heaviest load) unless a section says
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
    get_settings.cache_clear()


_businesses: list[int] = []


def last_business() -> int:
    return _businesses[-1]


def new_business(name: str) -> int:
    from models.db import session_scope
    from models.queries.businesses import create_business
    from services.gmail_connect import connect_gmail_mailbox

    with session_scope() as session:
        business_id = create_business(session, f"{name} {time.monotonic_ns()}").id
    connect_gmail_mailbox(business_id, REFRESH_TOKEN, None)
    _businesses.append(business_id)
    return business_id


def stored_ids(business_id: int) -> set[str]:
    from sqlalchemy import select

    from models import Receipt
    from models.db import session_scope

    with session_scope() as session:
        return set(session.scalars(select(Receipt.source_message_id).where(Receipt.business_id == business_id)))


def api_calls(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gmail API calls as Gmail counts them: batch parts one by one, no batch envelopes, no token calls."""
    return [r for r in log if r["method"] not in ("batch", "token")]


def units(calls: list[dict[str, Any]], fetch_cost: int) -> int:
    costs = {**COSTS, "messages.get": fetch_cost, "attachments.get": fetch_cost}
    return sum(costs.get(r["method"], 0) for r in calls if r["status"] == 200)


def sync(business_id: int, **parameters: Any) -> tuple[dict[str, Any], float]:
    from flows.gmail_sync import gmail_sync

    started = time.perf_counter()
    summary = gmail_sync(business_id=business_id, **parameters)
    return summary, time.perf_counter() - started


# ----- 1. fetch rate against the quota ceiling ----------------------------------------------------------------
def measure_rate(gmail: GmailProcess, regime: str, seconds: float) -> dict[str, Any]:
    quota, cost = REGIMES[regime]["quota"], REGIMES[regime]["fetch_cost"]
    ceiling = quota / 60 / cost
    gmail.command("set", latency=0.05, quota_units_per_minute=quota, costs={"messages.get": cost})
    configure(gmail, gmail_quota_units_per_minute=quota, gmail_fetch_cost=cost)
    business_id = new_business(f"rate-{regime}")
    gmail.command("clear")
    summary, wall = sync(business_id, mode="full", max_messages=int(seconds * ceiling))
    gmail.command("set", quota_units_per_minute=None, **FAKE_DEFAULTS)
    calls = api_calls(gmail.log())
    fetched = sorted(r["time"] for r in calls if r["method"] == "messages.get" and r["status"] == 200)
    span = fetched[-1] - fetched[0]
    refused = [r for r in calls if r["status"] in (403, 429)]
    return {
        "regime": regime,
        "quota_units_per_minute": quota,
        "fetch_cost": cost,
        "ceiling_fetches_per_second": round(ceiling, 2),
        "messages_fetched": len(fetched),
        "fetch_span_seconds": round(span, 1),
        "fetches_per_second": round((len(fetched) - 1) / span, 2),
        "fraction_of_ceiling": round((len(fetched) - 1) / span / ceiling, 3),
        "fraction_of_ceiling_after_first_10s": round(steady_rate(fetched, 10.0) / ceiling, 3),
        "api_calls": len(calls),
        "refused_429_403": len(refused),
        "refused_share": round(len(refused) / len(calls), 4),
        "max_units_in_any_60s": max_units_in_window(calls, cost),
        "wall_seconds": round(wall, 1),
        "receipts_saved": summary["receipts_saved"],
    }


def steady_rate(times: list[float], skip: float) -> float:
    """Fetches a second once the limiter's initial 2 s burst is behind (from `skip` s after the first fetch)."""
    later = [t for t in times if t >= times[0] + skip]
    return (len(later) - 1) / (later[-1] - later[0]) if len(later) > 1 else 0.0


def max_units_in_window(calls: list[dict[str, Any]], cost: int, seconds: float = 60.0) -> int:
    charged = [(r["time"], r["units"]) for r in calls if r["units"]]
    best = total = start = 0
    for end_time, spent in charged:
        total += spent
        while charged[start][0] <= end_time - seconds:
            total -= charged[start][1]
            start += 1
        best = max(best, total)
    return best


# ----- 1b. the matrix: regime x enforcement model, the product's receipt query --------------------------------
def measure_matrix_cell(
    gmail: GmailProcess, regime: str, model: str, seconds: float, truth_receipts: set[str]
) -> dict[str, Any]:
    """A full sync with the default receipt query (bounded to `seconds` at the ceiling) against Gmail enforcing
    the regime's quota as `model`: rate, refusals, units per receipt, when the last receipt was stored."""
    from receipt_sync.mail.receipt_query import RECEIPT_QUERY

    quota, cost = REGIMES[regime]["quota"], REGIMES[regime]["fetch_cost"]
    enforcement = {**FAKE_DEFAULTS, **{**MODELS, **MORE_MODELS}[model]}
    ceiling = quota * enforcement["quota_share"] / 60 / cost  # what the server really grants
    gmail.command("set", latency=0.05, quota_units_per_minute=quota, costs={"messages.get": cost}, **enforcement)
    configure(gmail, gmail_quota_units_per_minute=quota, gmail_fetch_cost=cost, **{RECEIPT_QUERY_ENV: RECEIPT_QUERY})
    business_id = new_business(f"matrix-{regime}-{model}")
    gmail.command("clear")
    summary, wall = sync(business_id, mode="full", max_messages=int(seconds * ceiling))
    gmail.command("set", quota_units_per_minute=None, **FAKE_DEFAULTS)
    calls = api_calls(gmail.log())
    fetched = sorted(r["time"] for r in calls if r["method"] == "messages.get" and r["status"] == 200)
    refused = [r for r in calls if r["status"] in (403, 429)]
    rate = (len(fetched) - 1) / (fetched[-1] - fetched[0]) if len(fetched) > 1 else 0.0
    found = stored_ids(business_id) & truth_receipts
    spent = units(calls, cost)
    return {
        "regime": regime,
        "model": model,
        "messages_fetched": len(fetched),
        "fetches_per_second": round(rate, 2),
        "fraction_of_ceiling": round(rate / ceiling, 3),
        "refused_429_403": len(refused),
        "api_calls": len(calls),
        "refused_share": round(len(refused) / max(1, len(calls)), 4),
        "receipts_found": len(found),
        "units_per_receipt": round(spent / max(1, len(found)), 1),
        "seconds_until_last_receipt_stored": round(seconds_until_last_receipt(business_id), 1),
        "wall_seconds": round(wall, 1),
        "limiter_learned": learned_shape(business_id),
        "status": summary["status"],
    }


def seconds_until_last_receipt(business_id: int) -> float:
    """From the run's start (its record) to the newest receipt's insertion (its row), both the product's clock."""
    from sqlalchemy import func, select

    from models import Receipt
    from models.db import session_scope
    from models.runs import SyncRun

    with session_scope() as session:
        newest = session.scalar(select(func.max(Receipt.created_at)).where(Receipt.business_id == business_id))
        started = session.scalar(select(func.min(SyncRun.started_at)).where(SyncRun.business_id == business_id))
    return (newest - started).total_seconds() if newest and started else float("nan")


def learned_shape(business_id: int) -> dict[str, float]:
    """What the mailbox's limiter learned of the server during the run (it lives in this process)."""
    from models.db import session_scope
    from models.queries.mailboxes import mailbox_for_business
    from tasks.sources import gmail_quota

    with session_scope() as session:
        mailbox_id = mailbox_for_business(session, business_id).id
    return gmail_quota(mailbox_id).shape()


# ----- 2. quota units per receipt: a receipt-oriented query vs fetching everything ---------------------------
def units_per_receipt(gmail: GmailProcess, truth_receipts: set[str], query: str) -> dict[str, Any]:
    from services.sweep import switch_sweep

    gmail.command("set", latency=0.0, quota_units_per_minute=None, costs={"messages.get": 5})
    results = {}
    for label, q in (("every_message", None), ("receipt_query", query)):
        settings: dict[str, Any] = {"gmail_quota_units_per_minute": UNLIMITED, "gmail_fetch_cost": 5}
        if q:
            settings[RECEIPT_QUERY_ENV] = q
        configure(gmail, **settings)
        business_id = new_business(f"units-{label}")
        with _session() as session:  # the query phase's cost: the sweep would read the rest of the mailbox
            switch_sweep(session, business_id, False)
        gmail.command("clear")
        _, wall = sync(business_id, mode="full")
        calls = api_calls(gmail.log())
        found = stored_ids(business_id) & truth_receipts
        row: dict[str, Any] = {
            "messages_fetched": sum(1 for r in calls if r["method"] == "messages.get" and r["status"] == 200),
            "receipts_found": len(found),
            "recall": round(len(found) / len(truth_receipts), 4),
            "wall_seconds": round(wall, 1),
        }
        for regime, spec in REGIMES.items():
            spent = units(calls, spec["fetch_cost"])
            row[f"units_{regime}"] = spent
            row[f"units_per_receipt_{regime}"] = round(spent / max(1, len(found)), 1)
        results[label] = row
    results["saving"] = {
        r: round(results["every_message"][f"units_{r}"] / max(1, results["receipt_query"][f"units_{r}"]), 2)
        for r in REGIMES
    }
    results["query"] = query
    return results


def query_recall(messages: int) -> dict[str, Any]:
    """The listing query's recall on the dev set's real mail (when present) and on the generated truth."""
    from bench.query_recall import DEFAULT_DEV, dev_mail, generated_mail, score
    from receipt_sync.mail.receipt_query import RECEIPT_QUERY

    sets = {"generated": generated_mail(messages, SEED)}
    if (DEFAULT_DEV / "manifest.json").exists():
        sets["dev_real_mail"] = dev_mail(DEFAULT_DEV)
    results = {}
    for label, mail in sets.items():
        result = score(RECEIPT_QUERY, mail)
        results[label] = {
            "receipts": result.receipts,
            "receipts_listed": result.receipts_listed,
            "recall": round(result.recall, 4),
            "listed_share": round(result.listed / max(1, result.messages), 3),
            "missed": list(result.missed[:10]),
        }
    return results


def raw_vs_full(messages: list[Any]) -> dict[str, Any]:
    """What format=full would cost on top of format=raw: an attachments.get per part Gmail does not inline
    (attachments, and bodies over the inline limit) that extraction needs (PDFs, text and HTML bodies)."""
    from tests.fakes import gmail_payload as payloads

    needed = skipped = 0
    for message in messages:
        for mime in _detached_parts(payloads.payload_tree(payloads.parse(message.raw), message.id, 16 * 1024)):
            if mime in ("application/pdf", "text/html", "text/plain"):
                needed += 1
            else:
                skipped += 1
    out: dict[str, Any] = {"messages": len(messages), "attachments_get_needed": needed, "not_needed": skipped}
    for regime, spec in REGIMES.items():
        raw_units = len(messages) * spec["fetch_cost"]
        out[f"units_raw_{regime}"] = raw_units
        out[f"units_full_plus_attachments_{regime}"] = raw_units + needed * spec["fetch_cost"]
    return out


def _detached_parts(node: dict[str, Any]) -> Iterator[str]:
    body = node.get("body") or {}
    if isinstance(body, dict) and "attachmentId" in body:
        yield str(node.get("mimeType"))
    for child in node.get("parts", []) or []:
        yield from _detached_parts(child)


# ----- 3. orchestration overhead: the flow vs a plain loop doing the same work --------------------------------
def plain_loop(business_id: int) -> dict[str, int]:
    """The same work as the flow (list, skip stored, fetch, analyse, upload, store, checkpoint), no Prefect."""
    from datetime import UTC, datetime, timedelta

    from models.db import session_scope
    from models.queries.ingest import already_processed
    from models.queries.mailboxes import mailbox_for_business
    from models.queries.sync_runs import create_sync_run
    from receipt_sync.mail.gmail import GmailSource
    from receipt_sync.settings import get_settings
    from receipt_sync.storage import open_storage
    from tasks import sync_pages as sp

    settings, storage = get_settings(), open_storage()
    with session_scope() as session:
        mailbox_id = mailbox_for_business(session, business_id).id
        run_id = create_sync_run(
            session, business_id=business_id, mailbox_id=mailbox_id, mode="full", trigger="cli", parameters={}
        ).id
    source = GmailSource(REFRESH_TOKEN, settings)
    after = datetime.now(UTC) - timedelta(days=36 * 30.44)
    cur = sp.MailboxCursor(phase="full", business_id=business_id, mailbox_id=mailbox_id, after=after.isoformat())
    token, scanned = None, 0
    while True:
        page = source.list_messages(page_token=token, after=after, page_size=settings.gmail_page_size)
        with session_scope() as session:
            seen = already_processed(session, business_id, page.message_ids)
        results = sp._analyse(source.fetch_messages([i for i in page.message_ids if i not in seen]))
        uploads = {r.message_id: sp._upload(storage, business_id, r) for r in results if sp._is_receipt(r)}
        saved, _ = sp._store(cur, run_id, results, uploads)
        counters = {"scanned": len(page.message_ids), "saved": saved, "duplicates": len(seen), "errors": 0}
        sp._commit_progress(run_id, counters, [], cur, page.result_size_estimate)
        scanned, token = scanned + len(page.message_ids), page.next_page_token
        if token is None:
            return {"scanned": scanned}


def overhead(gmail: GmailProcess) -> dict[str, Any]:
    gmail.command("set", latency=0.0, quota_units_per_minute=None, costs={"messages.get": 5})
    configure(gmail, gmail_quota_units_per_minute=UNLIMITED, gmail_fetch_cost=5)
    loop_business = new_business("loop")
    started = time.perf_counter()
    loop = plain_loop(loop_business)
    loop_seconds = time.perf_counter() - started
    flow_business = new_business("flow")
    summary, flow_seconds = sync(flow_business, mode="full")
    return {
        "messages": loop["scanned"],
        "plain_loop_seconds": round(loop_seconds, 1),
        "flow_seconds": round(flow_seconds, 1),
        "ratio": round(flow_seconds / loop_seconds, 3),
        "same_receipts": stored_ids(loop_business) == stored_ids(flow_business),
        "business": flow_business,
        "flow_summary": {k: summary[k] for k in ("messages_scanned", "receipts_saved", "errors")},
    }


# ----- 4. incremental sync of an unchanged mailbox ------------------------------------------------------------
def incremental_unchanged(gmail: GmailProcess, business_id: int) -> dict[str, Any]:
    gmail.command("set", latency=0.05, quota_units_per_minute=6000, costs={"messages.get": 20})
    configure(gmail, gmail_quota_units_per_minute=6000, gmail_fetch_cost=20)
    gmail.command("clear")
    summary, wall = sync(business_id, mode="incremental")
    calls = api_calls(gmail.log())
    return {
        "calls": [r["method"] for r in calls],
        "units": units(calls, 20),
        "wall_seconds": round(wall, 2),
        "messages_scanned": summary["messages_scanned"],
    }


# ----- 6. the sweep: what the query phase finds, what the rest of the mailbox adds ----------------------------
SHOPS = ("Northwind Supplies", "Fabrikam Garden", "Tailspin Toys", "Contoso Paper", "Litware Books", "Adatum Tea")


def missed_receipts(count: int, seed: int) -> list[dict[str, Any]]:
    """Shop confirmations worded so that no term of the receipt query lists them (issue 14's independent check:
    "thanks for shopping", an order number, a total), dated over the last two years: `add` commands' messages."""
    import base64
    import random
    from datetime import UTC, datetime, timedelta
    from email.message import EmailMessage

    rnd = random.Random(seed)
    out = []
    for n in range(count):
        shop = SHOPS[n % len(SHOPS)]
        total = f"{rnd.randint(5, 900)}.{rnd.randint(0, 99):02d}"
        when = datetime.now(UTC) - timedelta(days=rnd.randint(1, 700), minutes=rnd.randint(0, 1440))
        mail = EmailMessage()
        mail["From"] = f"{shop} <shop@{shop.split()[0].lower()}.example>"
        mail["To"] = "owner@bench.example"
        mail["Subject"] = f"{shop}: thanks for shopping with us (NO-{when.year}-{rnd.randint(100000, 999999)})"
        mail["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
        mail.set_content(f"We have received your order.\n\nSubtotal {total} USD\nTotal {total} USD\n\n"
                         f"Thank you for shopping with us.\n{shop} Ltd\n")  # fmt: skip
        raw = base64.b64encode(mail.as_bytes()).decode()
        out.append({"raw": raw, "internal_ms": int(when.timestamp() * 1000), "labels": ["INBOX"]})
    return out


def sweep_run(gmail: GmailProcess, regime: str, truth_receipts: set[str], missed: set[str]) -> dict[str, Any]:
    """A full sync with the default receipt query and the sweep, at the regime's quota (60 s window, 50 ms
    latency): receipts found by the query phase alone and after the sweep, the query phase's units per
    receipt, when the last receipt of each phase was stored (`missed`: the receipts the query does not list)."""
    from models.db import session_scope
    from models.queries.sync_runs import latest_sync_run
    from receipt_sync.mail.receipt_query import RECEIPT_QUERY

    quota, cost = REGIMES[regime]["quota"], REGIMES[regime]["fetch_cost"]
    gmail.command("set", latency=0.05, quota_units_per_minute=quota, costs={"messages.get": cost})
    configure(gmail, gmail_quota_units_per_minute=quota, gmail_fetch_cost=cost, **{RECEIPT_QUERY_ENV: RECEIPT_QUERY})
    business_id = new_business(f"sweep-{regime}")
    gmail.command("clear")
    summary, wall = sync(business_id, mode="full")
    calls = api_calls(gmail.log())
    first_sweep = next((i for i, r in enumerate(calls) if _is_sweep_listing(r)), len(calls))
    query_calls = calls[:first_sweep]
    stored = stored_ids(business_id)
    with session_scope() as session:
        run = latest_sync_run(session, business_id)
        assert run is not None
        query_found, sweep_found = run.receipts_saved - run.sweep_receipts_saved, run.sweep_receipts_saved
    return {
        "regime": regime,
        "receipts_in_mailbox": len(truth_receipts),
        "of_which_the_query_misses": len(missed),
        "found_by_query_phase": len((stored & truth_receipts) - missed),
        "found_after_sweep": len(stored & truth_receipts),
        "stored_by_query_phase_and_sweep": [query_found, sweep_found],
        "query_phase_units": units(query_calls, cost),
        "query_phase_units_per_receipt": round(units(query_calls, cost) / max(1, query_found), 1),
        "total_units": units(calls, cost),
        "messages_fetched": sum(1 for r in calls if r["method"] == "messages.get" and r["status"] == 200),
        "refused_429_403": sum(1 for r in calls if r["status"] in (403, 429)),
        **seconds_until_last_receipt_by_phase(business_id, missed),
        "wall_seconds": round(wall, 1),
        "sweep_status": summary["sweep_status"],
    }


def _is_sweep_listing(call: dict[str, Any]) -> bool:
    from urllib.parse import parse_qs, urlsplit

    q = parse_qs(urlsplit(call["target"]).query).get("q", [""])[0]
    return call["method"] == "messages.list" and "receipt" not in q


def seconds_until_last_receipt_by_phase(business_id: int, missed: set[str]) -> dict[str, float]:
    """From the run's start to the last receipt the query lists being stored, and to the last one of all."""
    from sqlalchemy import func, select

    from models import Receipt
    from models.db import session_scope
    from models.runs import SyncRun

    with session_scope() as session:
        started = session.scalar(select(func.min(SyncRun.started_at)).where(SyncRun.business_id == business_id))
        rows = session.execute(
            select(Receipt.source_message_id, Receipt.created_at).where(Receipt.business_id == business_id)
        ).all()
    listed = [(r.created_at - started).total_seconds() for r in rows if r.source_message_id not in missed]
    every = [(r.created_at - started).total_seconds() for r in rows]
    return {
        "seconds_until_last_query_receipt_stored": round(max(listed), 1) if listed else float("nan"),
        "seconds_until_last_receipt_stored": round(max(every), 1) if every else float("nan"),
    }


def incremental_by_query(regime: str, new_mail: int) -> dict[str, Any]:
    """New mail after a full sync: an incremental sync that fetches only what the receipt query lists (the sweep
    off, so its saving is visible) vs one that fetches everything history reports (the query `""`)."""
    from receipt_sync.mail.receipt_query import RECEIPT_QUERY
    from receipt_sync.samples.generator import generate_messages
    from services.sweep import switch_sweep

    cost = REGIMES[regime]["fetch_cost"]
    results: dict[str, Any] = {"regime": regime, "new_messages": new_mail}
    with GmailProcess(200, SEED + 1) as gmail:
        gmail.command("set", latency=0.0, quota_units_per_minute=None, costs={"messages.get": cost})
        businesses = {}
        for label, query in (("by_query", RECEIPT_QUERY), ("history_only", "")):
            configure(gmail, gmail_quota_units_per_minute=UNLIMITED, gmail_fetch_cost=cost, gmail_receipt_query=query)
            businesses[label] = new_business(f"incremental-{label}-{regime}")
            with _session() as session:
                switch_sweep(session, businesses[label], False)
            sync(businesses[label], mode="full")
        now_ms = int(time.time() * 1000)
        fresh = [m for m in generate_messages(new_mail, SEED + 2)]
        gmail.command("add", messages=[{"raw": _b64(m.raw), "internal_ms": now_ms, "labels": list(m.label_ids)}
                                        for m in fresh])  # fmt: skip
        for label, query in (("by_query", RECEIPT_QUERY), ("history_only", "")):
            configure(gmail, gmail_quota_units_per_minute=UNLIMITED, gmail_fetch_cost=cost, gmail_receipt_query=query)
            gmail.command("clear")
            summary, wall = sync(businesses[label], mode="incremental")
            calls = api_calls(gmail.log())
            results[label] = {
                "calls": dict(sorted(_count_methods(calls).items())),
                "units": units(calls, cost),
                "receipts_saved": summary["receipts_saved"],
                "wall_seconds": round(wall, 1),
            }
        results["receipts_among_new_mail"] = sum(1 for m in fresh if m.truth.is_receipt)
    return results


def _count_methods(calls: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in calls:
        if r["status"] == 200:
            counts[r["method"]] = counts.get(r["method"], 0) + 1
    return counts


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


@contextmanager
def _session() -> Iterator[Any]:
    from models.db import session_scope

    with session_scope() as session:
        yield session


def storm(gmail: GmailProcess) -> dict[str, Any]:
    """The 429 storm the test suite once ran (tests/flows/test_quota_sync.py keeps a 12-refusal one): 60
    messages, 40 refusals in a row with Retry-After 1 s, 5 userRateLimitExceeded 403s and 10 % 5xx, at the new
    regime's quota (60 s window)."""
    gmail.command("set", latency=0.0, quota_units_per_minute=6000, costs={"messages.get": 20})
    configure(gmail, gmail_quota_units_per_minute=6000, gmail_fetch_cost=20)
    business_id = new_business("storm")
    gmail.command("clear")
    gmail.command("fail_next", n=40, status=429, retry_after=1, method="messages.get")
    gmail.command("fail_next", n=5, status=403, reason="userRateLimitExceeded", method="messages.get", error_rate=0.1)
    summary, wall = sync(business_id, mode="full")
    gmail.command("fail_next", n=0, status=500, error_rate=0.0)
    calls = api_calls(gmail.log())
    return {
        "messages": 60,
        "status": summary["status"],
        "receipts_saved": summary["receipts_saved"],
        "refused_429": sum(1 for r in calls if r["status"] == 429),
        "wall_seconds": round(wall, 1),
        "limiter_learned": learned_shape(business_id),
    }


# ----- 5. peak memory of a large full sync (a child process; the fake Gmail in another) -----------------------
def memory(count: int) -> dict[str, Any]:
    with GmailProcess(count, SEED) as gmail:
        gmail.command("set", latency=0.0, quota_units_per_minute=None, costs={"messages.get": 5})
        configure(gmail, gmail_quota_units_per_minute=UNLIMITED, gmail_fetch_cost=5)
        cmd = [sys.executable, "-m", "bench.sync_bench", "--child-full-sync"]
        out = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"messages": count, "error": out.stderr[-2000:]}
    return {"messages": count, **json.loads(out.stdout.strip().splitlines()[-1])}


def child_full_sync() -> None:
    """Run in the child: connect a business, full-sync it, print peak RSS (the process's high-water mark)."""
    from flows.gmail_sync import gmail_sync

    business_id = new_business("memory")
    before = _rss_mb()
    started = time.perf_counter()
    summary = gmail_sync(business_id=business_id, mode="full")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "rss_before_sync_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "messages_scanned": summary["messages_scanned"],
        "receipts_saved": summary["receipts_saved"],
    }
    print(json.dumps(result))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ----- main ---------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    from receipt_sync.mail.receipt_query import RECEIPT_QUERY
    from receipt_sync.samples.generator import generate_messages

    sections = set(args.sections.split(","))
    regimes = ["new", "old"] if args.regime == "both" else [args.regime]
    results: dict[str, Any] = {"messages": args.messages}
    with environment():
        if sections & {"rate", "units", "overhead"}:
            truth = generate_messages(args.messages, SEED)
            receipts = {m.id for m in truth if m.truth.is_receipt}
            with GmailProcess(args.messages, SEED) as gmail:
                if "units" in sections:
                    results["units_per_receipt"] = units_per_receipt(gmail, receipts, RECEIPT_QUERY)
                    results["query_recall"] = query_recall(args.messages)
                    results["raw_vs_full"] = raw_vs_full(truth)
                if "overhead" in sections:
                    results["overhead"] = overhead(gmail)
                    results["incremental_unchanged"] = incremental_unchanged(gmail, results["overhead"]["business"])
                if "rate" in sections:
                    results["rate"] = [measure_rate(gmail, r, args.rate_seconds) for r in regimes]
        if "units" in sections:  # the same comparison on mailboxes with fewer receipts among the other mail
            for share in (float(x) for x in args.receipt_shares.split(",") if x):
                mailbox = generate_messages(args.messages, SEED, receipt_share=share)
                found = {m.id for m in mailbox if m.truth.is_receipt}
                with GmailProcess(args.messages, SEED, receipt_share=share) as gmail:
                    key = f"units_per_receipt_at_share_{share:g}"
                    results[key] = units_per_receipt(gmail, found, RECEIPT_QUERY)
        if "matrix" in sections:
            truth = generate_messages(args.messages, SEED)
            receipts = {m.id for m in truth if m.truth.is_receipt}
            with GmailProcess(args.messages, SEED) as gmail:
                models = [*MODELS, *MORE_MODELS] if args.models == "all" else args.models.split(",")
                results["matrix"] = [
                    measure_matrix_cell(gmail, regime, model, args.rate_seconds, receipts)
                    for regime in regimes
                    for model in models
                ]
                if "overhead" not in sections:  # the unchanged-mailbox check on the last matrix business
                    results["incremental_unchanged"] = incremental_unchanged(gmail, last_business())
        if "sweep" in sections:
            mailbox = generate_messages(args.sweep_messages, SEED)
            receipts = {m.id for m in mailbox if m.truth.is_receipt}
            results["sweep"] = []
            for regime in regimes:
                with GmailProcess(args.sweep_messages, SEED) as gmail:
                    added = set(gmail.command("add", messages=missed_receipts(args.missed, SEED))["ids"])
                    results["sweep"].append(sweep_run(gmail, regime, receipts | added, added))
        if "incremental" in sections:
            results["incremental_by_query"] = [incremental_by_query(r, args.new_mail) for r in regimes]
        if "storm" in sections:
            with GmailProcess(60, 31) as gmail:
                results["storm"] = storm(gmail)
        if "memory" in sections:
            results["memory"] = [memory(int(n)) for n in args.memory_messages.split(",") if n]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--regime", choices=["new", "old", "both"], default="both")
    parser.add_argument("--rate-seconds", type=float, default=120.0)
    parser.add_argument("--memory-messages", default="10000,100000")
    parser.add_argument("--sections", default="units,overhead,rate,memory,matrix")
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"matrix: enforcement models, or all (+ {', '.join(MORE_MODELS)})"
    )
    parser.add_argument("--receipt-shares", default="0.2,0.1", help="units section: also mailboxes with these shares")
    parser.add_argument("--sweep-messages", type=int, default=1000, help="sweep section: mailbox size")
    parser.add_argument("--missed", type=int, default=20, help="sweep section: receipts the query misses, added")
    parser.add_argument("--new-mail", type=int, default=100, help="incremental section: new messages")
    parser.add_argument("--child-full-sync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_full_sync:
        child_full_sync()
        return
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
