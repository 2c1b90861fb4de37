"""Gmail's batch wire format (`POST /batch/gmail/v1`): multipart/mixed of `application/http` parts.

Each request part carries one HTTP request (request line, headers, optional body) and a Content-ID; each
answer part carries one HTTP response and `Content-ID: <response-…>` so the client matches them up.
"""

from __future__ import annotations

import email.parser
import secrets
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol


class _Reply(Protocol):
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class BatchPart:
    verb: str
    target: str
    headers: dict[str, str]
    body: str


def parse_batch(content_type: str, body: bytes) -> list[tuple[str, BatchPart]]:
    """The (Content-ID, request) pairs of a batch body; ValueError if it is not a multipart batch."""
    if not content_type.lower().startswith("multipart/mixed"):
        raise ValueError("Batch requests must be multipart/mixed.")
    message = email.parser.BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("Batch body is not multipart.")
    parts = []
    for part in message.get_payload():
        payload = part.get_payload()
        if not isinstance(payload, str):
            raise ValueError("Batch parts must be application/http.")
        parts.append((str(part.get("Content-ID", "")), _parse_http(payload)))
    return parts


def _parse_http(text: str) -> BatchPart:
    text = text.replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    request_line, *header_lines = head.strip("\n").split("\n")
    pieces = request_line.split(" ")
    if len(pieces) < 2:
        raise ValueError(f"Bad request line in batch part: {request_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return BatchPart(pieces[0].upper(), pieces[1], headers, body)


def render_batch(replies: list[tuple[str, _Reply]]) -> tuple[str, bytes]:
    """The multipart/mixed answer: (Content-Type header value, body)."""
    boundary = "batch_" + secrets.token_hex(12)
    chunks = []
    for content_id, reply in replies:
        reason = HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else "Error"
        headers = "".join(f"{k}: {v}\r\n" for k, v in {**reply.headers, "Content-Length": str(len(reply.body))}.items())
        answer_id = "<response-" + content_id.strip().lstrip("<").rstrip(">") + ">"
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {answer_id}\r\n\r\n"
            f"HTTP/1.1 {reply.status} {reason}\r\n{headers}\r\n" + reply.body.decode("utf-8") + "\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return f"multipart/mixed; boundary={boundary}", "".join(chunks).encode("utf-8")
