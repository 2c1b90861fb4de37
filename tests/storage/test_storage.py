"""Documents round-trip through both backends, and bulk deletes report exactly what they could not delete."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from receipt_sync.errors import NotFoundError, StorageError
from receipt_sync.storage import S3Storage, Storage, content_hash, document_key, storage_from_url


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return storage_from_url(str(tmp_path / "docs"))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return storage_from_url(f"s3://{bucket}/receipts", endpoint)


def test_document_round_trips_under_a_content_derived_key(storage: Storage) -> None:
    data = b"%PDF-1.4 invoice"
    key = document_key(42, content_hash(data))
    storage.put(key, data, "application/pdf")
    assert storage.get(key) == data
    assert storage.exists(key)
    assert key.startswith("businesses/42/documents/")


def test_bulk_delete_removes_documents_and_tolerates_missing_ones(storage: Storage) -> None:
    keys = [document_key(1, content_hash(str(i).encode())) for i in range(5)]
    for key in keys:
        storage.put(key, b"x", "text/plain")
    assert storage.delete_many([*keys, document_key(1, content_hash(b"never stored"))]) == []
    assert not any(storage.exists(k) for k in keys)
    with pytest.raises(NotFoundError):
        storage.get(keys[0])


def test_key_is_never_built_from_an_attachment_name() -> None:
    with pytest.raises(ValueError):
        document_key(1, "../../etc/passwd")


def test_local_storage_refuses_keys_outside_its_folder(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        storage_from_url(str(tmp_path)).put("../outside", b"x", "text/plain")


def test_s3_bulk_delete_uses_one_request_per_thousand_keys(s3_endpoint: str, s3_bucket: str) -> None:
    storage = S3Storage(s3_bucket, "p", endpoint_url=s3_endpoint)
    keys = [f"k/{i}" for i in range(1500)]
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for key in keys[:20]:
        client.put_object(Bucket=s3_bucket, Key=f"p/{key}", Body=b"x")
    calls: list[int] = []
    storage.client.meta.events.register(
        "before-call.s3.DeleteObjects", lambda params, **_: calls.append(len(params["body"]))
    )
    assert storage.delete_many(keys) == []
    assert len(calls) == 2
    assert client.list_objects_v2(Bucket=s3_bucket, Prefix="p/").get("KeyCount", 0) == 0
