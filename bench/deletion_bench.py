"""Benchmark: the batched `receipt-deletion` flow against a naive per-row, per-object deletion.

Both delete the same data shape in the same run — N receipts with one document each, on PostgreSQL (a
throwaway server from tests/fixtures/postgres.py) and S3 (moto's server mode on 127.0.0.1) — one business
each. Reported per method: wall time, S3 delete requests per 1,000 receipts (counted at the S3 server), and
the peak growth of the process's resident memory while it ran (moto runs in this process, so its share of
handling the requests is included).

    .venv/bin/python bench/deletion_bench.py --receipts 100000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, text

SEED_RECEIPTS = text(
    "INSERT INTO receipt (business_id, source_message_id, is_credit_note, confidence, status, created_at,"
    " updated_at) SELECT :b, 'msg-' || g, false, 0.9, 'new', now(), now() FROM generate_series(1, :n) g"
)
SEED_DOCUMENTS = text(
    "INSERT INTO receipt_document (receipt_id, business_id, kind, content_type, content_hash, storage_key,"
    " size_bytes, created_at) SELECT id, business_id, 'attachment', 'application/pdf', h,"
    " 'businesses/' || business_id || '/documents/' || substr(h, 1, 2) || '/' || h, 64, now()"
    " FROM (SELECT id, business_id, encode(sha256(('doc-' || id)::bytea), 'hex') AS h"
    " FROM receipt WHERE business_id = :b) r"
)
BUCKET, PREFIX = "bench-documents", "docs"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.fixtures


class RequestCounter:
    """WSGI middleware on the moto server: counts requests by S3 operation."""

    def __init__(self, app: Any) -> None:
        self.app, self.counts = app, Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
        op = "DeleteObjects" if method == "POST" and "delete" in query else f"{method}"
        self.counts[op] += 1
        return self.app(environ, start_response)


class PeakRss:
    """Samples VmRSS every 20 ms; `peak - start` is the memory a phase added."""

    def __init__(self) -> None:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def seed(db_url: str, receipts: int) -> tuple[int, list[str]]:
    """A business with `receipts` receipts and one distinct document each; objects put straight into moto."""
    from moto.s3.models import s3_backends

    from models import Business
    from models.db import session_scope

    with session_scope(db_url) as session:
        business_id = session.execute(insert(Business).values(name="bench").returning(Business.id)).scalar_one()
        session.execute(SEED_RECEIPTS, {"b": business_id, "n": receipts})
        session.execute(SEED_DOCUMENTS, {"b": business_id})
        keys = list(
            session.scalars(text("SELECT storage_key FROM receipt_document WHERE business_id = :b"), {"b": business_id})
        )
    backend = s3_backends["123456789012"]["global"]
    for key in keys:
        backend.put_object(BUCKET, f"{PREFIX}/{key}", b"%PDF-1.4 bench document")
    return business_id, keys


def naive_delete(db_url: str, endpoint: str, business_id: int) -> None:
    """What the old jobs did: one receipt per transaction, one DeleteObject request per document."""
    import boto3

    from models import Receipt, ReceiptDocument
    from models.db import session_scope

    s3 = boto3.client("s3", endpoint_url=endpoint)
    with session_scope(db_url) as session:
        ids = list(session.scalars(select(Receipt.id).where(Receipt.business_id == business_id).order_by(Receipt.id)))
    for receipt_id in ids:
        with session_scope(db_url) as session:
            keys = session.scalars(select(ReceiptDocument.storage_key).where(ReceiptDocument.receipt_id == receipt_id))
            for key in keys:
                s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")
            session.execute(delete(Receipt).where(Receipt.id == receipt_id))


def batched_delete(db_url: str, business_id: int) -> dict[str, Any]:
    from flows.receipt_deletion import receipt_deletion
    from models.db import session_scope
    from models.queries.deletions import create_deletion_run

    with session_scope(db_url) as session:
        run_id = create_deletion_run(session, business_id=business_id, selector={"all": True}).id
    return receipt_deletion(business_id=business_id, deletion_run_id=run_id)


def measure(name: str, fn: Callable[[], Any], counter: RequestCounter, receipts: int) -> dict[str, Any]:
    counter.counts.clear()
    with PeakRss() as memory:
        started = time.perf_counter()
        fn()
        seconds = time.perf_counter() - started
    deletes = counter.counts["DeleteObjects"] + counter.counts["DELETE"]
    return {
        "method": name,
        "seconds": round(seconds, 2),
        "receipts_per_second": round(receipts / seconds),
        "storage_requests": dict(counter.counts),
        "storage_delete_requests_per_1000_receipts": round(1000 * deletes / receipts, 2),
        "peak_rss_growth_mb": round((memory.peak - memory.start) / 2**20, 1),
    }


def remaining(db_url: str, business_id: int, keys: list[str]) -> tuple[int, int]:
    from moto.s3.models import s3_backends

    from models.db import session_scope

    with session_scope(db_url) as session:
        rows = session.scalar(text("SELECT count(*) FROM receipt WHERE business_id = :b"), {"b": business_id})
    bucket = s3_backends["123456789012"]["global"].buckets[BUCKET]
    return int(rows or 0), sum(1 for k in keys if f"{PREFIX}/{k}" in bucket.keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--naive-receipts", type=int, default=None, help="size of the naive run (default: same)")
    args = parser.parse_args()
    naive_n = args.naive_receipts or args.receipts
    results = run(args.receipts, naive_n)
    print(json.dumps(results, indent=2))


def run(receipts: int, naive_receipts: int) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    from models.db import migrate
    from receipt_sync.settings import get_settings
    from tests.fixtures.postgres import free_port, postgres_server
    from tests.fixtures.prefect import prefect_harness

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a log line per request would skew the naive run
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    counter = RequestCounter(moto._server.app)  # type: ignore[attr-defined]
    moto._server.app = counter  # type: ignore[attr-defined]
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    try:
        with postgres_server() as pg, prefect_harness():
            pg.execute("CREATE DATABASE bench")
            db_url = pg.url("bench")
            migrate(db_url)
            os.environ.update(DATABASE_URL=db_url, STORAGE_URL=f"s3://{BUCKET}/{PREFIX}", S3_ENDPOINT_URL=endpoint)
            get_settings.cache_clear()
            return compare(db_url, endpoint, receipts, naive_receipts, counter)
    finally:
        moto.stop()


def compare(db_url: str, endpoint: str, receipts: int, naive_n: int, counter: RequestCounter) -> dict[str, Any]:
    started = time.perf_counter()
    fast_business, fast_keys = seed(db_url, receipts)
    naive_business, naive_keys = seed(db_url, naive_n)
    seed_seconds = time.perf_counter() - started
    batched = measure("batched flow", lambda: batched_delete(db_url, fast_business), counter, receipts)
    naive = measure("naive per-row", lambda: naive_delete(db_url, endpoint, naive_business), counter, naive_n)
    batched["left_behind"] = remaining(db_url, fast_business, fast_keys)
    naive["left_behind"] = remaining(db_url, naive_business, naive_keys)
    speedup = (naive["seconds"] / naive_n) / (batched["seconds"] / receipts)
    return {
        "receipts": receipts,
        "naive_receipts": naive_n,
        "seed_seconds": round(seed_seconds, 1),
        "results": [batched, naive],
        "speedup_per_receipt": round(speedup, 1),
    }


if __name__ == "__main__":
    main()
