"""Where receipt documents live: a local folder (embedded default) or S3-compatible storage via boto3.

Keys are derived from the business id and the content's SHA-256, never from attachment file names, so
equal content is stored once per business and no file name can become a path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_key(business_id: int, digest: str) -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("a document key needs a SHA-256 hex digest")
    return f"businesses/{int(business_id)}/documents/{digest[:2]}/{digest}"


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (overwriting: same key means same content)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises `NotFoundError` when absent, `StorageError` on failure."""

    def exists(self, key: str) -> bool: ...

    def delete_many(self, keys: Sequence[str]) -> list[str]:
        """Delete `keys` in as few requests as the backend allows; returns the keys that failed.

        A key that is already absent counts as deleted.
        """
