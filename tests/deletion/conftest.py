"""Fixtures for deletion tests: Prefect's harness, settings on PostgreSQL + moto S3, seeded businesses.

`SeamStorage` wraps the real S3 storage at the `Storage` protocol seam: it can refuse chosen keys (what a
bucket policy or a flaky backend does per key) and run a hook before a given bulk delete, which is how a
test makes something happen "during batch N" (a user's cancel, the storage endpoint going away).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import boto3
import pytest
from sqlalchemy import select

from models import Receipt, ReceiptDocument
from models.db import session_scope
from models.deletion import DeletionRun
from models.queries.deletions import create_deletion_run
from receipt_sync.settings import get_settings
from receipt_sync.storage import S3Storage, Storage, content_hash, document_key
from tasks import deletion_batches
from tests.conftest import SettingsOverride
from tests.factories import make_business

PREFIX = "docs"
_message_ids = itertools.count(1)


@pytest.fixture
def deletion_env(
    settings_env: dict[str, str],
    s3_endpoint: str,
    s3_bucket: str,
    prefect_api_url: str,
    override_settings: SettingsOverride,
) -> dict[str, str]:
    """Settings on the test database and a moto bucket, with short back-offs and few retries."""
    env = {
        **settings_env,
        "STORAGE_URL": f"s3://{s3_bucket}/{PREFIX}",
        "S3_ENDPOINT_URL": s3_endpoint,
        "DELETION_RETRY_BASE_SECONDS": "0.01",
        "DELETION_STORAGE_ATTEMPTS": "2",
        "DELETION_TASK_RETRIES": "1",
        "PREFECT_API_URL": prefect_api_url,
    }
    override_settings(env)
    deletion_batches._storages.clear()
    return env


@pytest.fixture
def storage(deletion_env: dict[str, str]) -> S3Storage:
    settings = get_settings()
    bucket = settings.resolved_storage_url.removeprefix("s3://").split("/", 1)[0]
    return S3Storage(bucket, PREFIX, endpoint_url=settings.s3_endpoint_url)


@dataclass
class Seeded:
    business_id: int
    receipt_ids: list[int]
    keys: set[str]


def seed_business(
    storage: Storage, receipts: int, *, contents: Sequence[bytes] | None = None, **fields: object
) -> Seeded:
    """A business with `receipts` receipts, each with one document; `contents[i % n]` lets documents share."""
    return add_stored_receipts(storage, make_business("Acme"), receipts, contents=contents, **fields)


def add_stored_receipts(
    storage: Storage, business_id: int, receipts: int, *, contents: Sequence[bytes] | None = None, **fields: object
) -> Seeded:
    ids: list[int] = []
    keys: set[str] = set()
    with session_scope() as session:
        for i in range(receipts):
            data = contents[i % len(contents)] if contents else f"receipt-{business_id}-{next(_message_ids)}".encode()
            digest = content_hash(data)
            key = document_key(business_id, digest)
            receipt = Receipt(business_id=business_id, source_message_id=f"m{next(_message_ids)}", **fields)
            session.add(receipt)
            session.flush()
            session.add(
                ReceiptDocument(
                    receipt_id=receipt.id,
                    business_id=business_id,
                    kind="attachment",
                    content_type="application/pdf",
                    content_hash=digest,
                    storage_key=key,
                    size_bytes=len(data),
                )
            )
            if key not in keys:
                storage.put(key, data, "application/pdf")
            ids.append(receipt.id)
            keys.add(key)
    return Seeded(business_id, ids, keys)


def new_deletion(business_id: int, selector: dict[str, object]) -> int:
    with session_scope() as session:
        return create_deletion_run(session, business_id=business_id, selector=selector).id


def deletion_run(run_id: int) -> DeletionRun:
    with session_scope() as session:
        return session.get_one(DeletionRun, run_id)


def receipt_ids_of(business_id: int) -> set[int]:
    with session_scope() as session:
        return set(session.scalars(select(Receipt.id).where(Receipt.business_id == business_id)))


def document_rows_of(business_id: int) -> list[tuple[int, str]]:
    with session_scope() as session:
        stmt = select(ReceiptDocument.receipt_id, ReceiptDocument.storage_key).where(
            ReceiptDocument.business_id == business_id
        )
        return sorted((r, k) for r, k in session.execute(stmt))


def stored_keys(storage: S3Storage, business_id: int) -> set[str]:
    """The object keys under the business's folder, as the bucket lists them (not as our rows say)."""
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url)
    prefix = f"{PREFIX}/businesses/{business_id}/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket, Prefix=prefix)
    return {obj["Key"].removeprefix(f"{PREFIX}/") for page in pages for obj in page.get("Contents", [])}


@dataclass
class SeamStorage:
    """The real storage, except for chosen keys it refuses and a hook run before bulk delete number N."""

    inner: Storage
    refuse: set[str] = field(default_factory=set)
    refuse_once: set[str] = field(default_factory=set)
    hooks: dict[int, Callable[[], None]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.inner.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete_many(self, keys: Sequence[str]) -> list[str]:
        self.calls.append(list(keys))
        hook = self.hooks.pop(len(self.calls), None)
        if hook:
            hook()
        once = self.refuse_once & set(keys)
        self.refuse_once -= once
        refused = [k for k in keys if k in self.refuse or k in once]
        failed = self.inner.delete_many([k for k in keys if k not in refused])
        return refused + failed


@pytest.fixture
def seam(storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> SeamStorage:
    """Route the deletion tasks' storage through a `SeamStorage` around the real moto-backed one."""
    wrapper = SeamStorage(storage)
    monkeypatch.setattr(deletion_batches, "deletion_storage", lambda: wrapper)
    return wrapper


# The API's fixtures (app on the test database, businesses A and B with tokens), shared with tests/api.
from tests.api.conftest import api_env, client, world  # noqa: E402, F401
