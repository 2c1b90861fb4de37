"""Document storage backends: a local folder (embedded default) or S3-compatible storage."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from receipt_sync.settings import Settings, get_settings
from receipt_sync.storage.base import Storage, content_hash, document_key
from receipt_sync.storage.local import LocalStorage
from receipt_sync.storage.s3 import S3Storage

__all__ = ["LocalStorage", "S3Storage", "Storage", "content_hash", "document_key", "open_storage"]


def storage_from_url(url: str, endpoint_url: str | None = None) -> Storage:
    """`s3://bucket/prefix` → S3; `file://PATH` or a plain path → a local folder."""
    if url.startswith("s3://"):
        parsed = urlparse(url)
        return S3Storage(parsed.netloc, parsed.path, endpoint_url=endpoint_url)
    return LocalStorage(Path(url.removeprefix("file://")))


def open_storage(settings: Settings | None = None) -> Storage:
    settings = settings or get_settings()
    return storage_from_url(settings.resolved_storage_url, settings.s3_endpoint_url)
