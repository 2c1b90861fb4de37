"""Documents in S3-compatible storage (AWS S3, Cloudflare R2, MinIO) through boto3."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from receipt_sync.errors import NotFoundError, StorageError

DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1000 keys a request


class S3Storage:
    """`prefix` namespaces every key; clients are per thread since tasks run on threads."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._local = threading.local()

    @property
    def client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            # No retries in the client: a failed call is retried once, by the policy of receipt_sync/retry.py
            # (a task retry, or the deletion's key loop), not by botocore inside it as well.
            config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=20)
            client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, config=config)
            self._local.client = client
        return client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"could not store a document in bucket {self.bucket}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError("document not found in storage") from None
            raise StorageError(f"could not read a document from bucket {self.bucket}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"could not read a document from bucket {self.bucket}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"could not check a document in bucket {self.bucket}") from exc

    def delete_many(self, keys: Sequence[str]) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(keys), DELETE_BATCH):
            failed.extend(self._delete_batch(list(keys[start : start + DELETE_BATCH])))
        return failed

    def _delete_batch(self, keys: list[str]) -> list[str]:
        if not keys:
            return []
        by_full = {self._key(k): k for k in keys}
        objects = [{"Key": full} for full in by_full]
        try:
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        except (ClientError, BotoCoreError):
            return keys
        return [by_full[e["Key"]] for e in answer.get("Errors", []) if e.get("Key") in by_full]

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (used by `receipts up`, the demo and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)
