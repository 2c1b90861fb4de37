"""How the fake Gmail turns raw RFC 822 bytes into what the API returns: the `format=full` part tree,
attachment bodies, snippets, and the fields its search looks at.

Parsing is defensive: the tests feed broken MIME and unknown charsets on purpose, and the fake must
answer like Gmail (which always serves such mail) rather than crash.
"""

from __future__ import annotations

import base64
import email
import html
import re
from email.header import decode_header, make_header
from email.message import Message

from receipt_sync.mail.search import SearchFields

TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)


def b64url(data: bytes) -> str:
    """Base64url without padding, as Gmail often sends it (clients must fix the padding)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw)


def header_text(value: object) -> str:
    """A header decoded from RFC 2047 where possible, else as it stands."""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return str(value)


def part_bytes(part: Message) -> bytes:
    """A leaf part's decoded body (base64/quoted-printable undone, best effort on broken encodings)."""
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        inner = part.get_payload()
        return inner[0].as_bytes() if isinstance(inner, list) and inner else b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def part_text(part: Message) -> str:
    data = part_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("latin-1")
    return html.unescape(TAG.sub(" ", text)) if part.get_content_type() == "text/html" else text


def is_attachment(part: Message) -> bool:
    return bool(part.get_filename()) or part.get_content_disposition() == "attachment"


def walk_leaves(msg: Message) -> list[tuple[str, Message]]:
    """Leaf parts with Gmail's part ids ("" for a single-part message, "0", "1.0", …)."""
    leaves: list[tuple[str, Message]] = []

    def visit(part: Message, part_id: str) -> None:
        children = part.get_payload() if part.is_multipart() else None
        if not isinstance(children, list):
            leaves.append((part_id, part))
            return
        for index, child in enumerate(children):
            visit(child, f"{part_id}.{index}" if part_id else str(index))

    visit(msg, "")
    return leaves


def body_text(msg: Message) -> str:
    texts = [part_text(p) for _, p in walk_leaves(msg) if p.get_content_maintype() == "text" and not is_attachment(p)]
    return " ".join(" ".join(texts).split())


def search_fields(raw: bytes, labels: frozenset[str], internal_ms: int) -> SearchFields:
    msg = parse(raw)
    filenames = tuple(header_text(p.get_filename() or "").lower() for _, p in walk_leaves(msg) if is_attachment(p))
    return SearchFields(
        subject=header_text(msg.get("Subject", "")).lower(),
        sender=header_text(msg.get("From", "")).lower(),
        recipients=" ".join(header_text(msg.get(h, "")) for h in ("To", "Cc")).lower(),
        text=body_text(msg).lower(),
        filenames=filenames,
        labels=labels,
        internal_ms=internal_ms,
    )


def snippet(msg: Message) -> str:
    return body_text(msg)[:200]


def attachment_id(message_id: str, part_id: str) -> str:
    return "ANGjdJ" + b64url(f"{message_id}/{part_id}".encode())


def part_id_of(attachment: str) -> str | None:
    """The part id an attachment id points at (None if it is not one of ours)."""
    if not attachment.startswith("ANGjdJ"):
        return None
    body = attachment[6:]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split("/", 1)[1]
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def headers_of(part: Message, only: set[str] | None = None) -> list[dict[str, str]]:
    return [
        {"name": name, "value": header_text(value)}
        for name, value in part.items()
        if only is None or name.lower() in only
    ]


def payload_tree(msg: Message, message_id: str, inline_limit: int, part_id: str = "") -> dict[str, object]:
    """The `format=full` payload: parts with headers and bodies; big or named parts get an attachmentId."""
    node: dict[str, object] = {
        "partId": part_id,
        "mimeType": msg.get_content_type(),
        "filename": header_text(msg.get_filename() or ""),
        "headers": headers_of(msg),
    }
    children = msg.get_payload() if msg.is_multipart() else None
    if isinstance(children, list):
        node["body"] = {"size": 0}
        node["parts"] = [
            payload_tree(child, message_id, inline_limit, f"{part_id}.{i}" if part_id else str(i))
            for i, child in enumerate(children)
        ]
        return node
    data = part_bytes(msg)
    if is_attachment(msg) or len(data) > inline_limit:
        node["body"] = {"size": len(data), "attachmentId": attachment_id(message_id, part_id)}
    else:
        node["body"] = {"size": len(data), "data": b64url(data)}
    return node


def metadata_payload(msg: Message, wanted: list[str]) -> dict[str, object]:
    only = {h.lower() for h in wanted} or None
    return {"partId": "", "mimeType": msg.get_content_type(), "filename": "", "headers": headers_of(msg, only)}


def attachment_bytes(raw: bytes, part_id: str) -> bytes | None:
    for leaf_id, part in walk_leaves(parse(raw)):
        if leaf_id == part_id:
            return part_bytes(part)
    return None
