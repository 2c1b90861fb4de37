"""A Google Takeout `.mbox` export as a mail source, so an exported mailbox syncs through the same flow as Gmail.

Takeout files can be many gigabytes: they are read in 1 MiB blocks from the page token's byte offset and
never loaded whole. A message starts at a `From <sender> <asctime>` line; `>From ` lines are unescaped
(mboxrd). Ids are `mbox-` + a hash of the Message-ID header (of the content when there is none), so they stay
stable across opens and re-exports. Listing caches the raw bytes of the listed page, so fetching does not
read the file again. An mbox has no change history: `current_history_id` is None and `list_history` raises
NotImplementedError, so the flow does a full pass and skips the messages it has already stored.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

from receipt_sync.mail.base import FetchFailure, ListPage, RawMessage, WithoutHistory

BLOCK = 1 << 20
TAKEOUT_LABEL_NAMES = {
    "INBOX": "Inbox",
    "UNREAD": "Unread",
    "IMPORTANT": "Important",
    "STARRED": "Starred",
    "SENT": "Sent",
    "DRAFT": "Drafts",
    "SPAM": "Spam",
    "TRASH": "Trash",
    "CATEGORY_PERSONAL": "Category Personal",
    "CATEGORY_SOCIAL": "Category Social",
    "CATEGORY_PROMOTIONS": "Category Promotions",
    "CATEGORY_UPDATES": "Category Updates",
    "CATEGORY_FORUMS": "Category Forums",
}
_LABEL_IDS = {name.lower(): label_id for label_id, name in TAKEOUT_LABEL_NAMES.items()}
_FROM_LINE = re.compile(rb"From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d")
_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
_TO_ESCAPE = re.compile(rb"^(>*From )", re.MULTILINE)
_HEADER_PARSER = BytesHeaderParser()


def mbox_id(message_id: str) -> str:
    """The source id of a message with this Message-ID header value."""
    return "mbox-" + hashlib.sha256(message_id.strip().encode("utf-8", "surrogateescape")).hexdigest()[:24]


def escape_from_lines(body: bytes) -> bytes:
    """mboxrd escaping: one more `>` before every line that starts with `>*From `."""
    return _TO_ESCAPE.sub(rb">\1", body)


@dataclass(frozen=True)
class _Entry:
    """One message as found in the file: where it starts and ends, its From_ line and its raw bytes."""

    offset: int
    end: int
    from_line: bytes
    raw: bytes


class MboxSource(WithoutHistory):
    """Pages through a Takeout `.mbox` in file order; a page token is the byte offset of the next message."""

    def __init__(self, path: Path, *, page_size: int = 200) -> None:
        self.path = Path(path)
        self.page_size = page_size
        self._cache: OrderedDict[str, RawMessage] = OrderedDict()
        self._lock = threading.Lock()
        self._scanned_to = 0
        self._scanned_bytes = 0
        self._scanned_count = 0

    def list_messages(
        self,
        *,
        page_token: str | None,
        after: datetime | None = None,
        before: datetime | None = None,
        query: str | None = None,
        page_size: int = 500,
    ) -> ListPage:
        """Up to min(page_size, the source's page_size) ids dated in `[after, before)` (undated ones too);
        `query` is ignored. The page's messages are cached for `fetch_messages`."""
        limit = max(1, min(page_size, self.page_size))
        size = self.path.stat().st_size
        page: dict[str, RawMessage] = {}
        next_token = None
        with self.path.open("rb") as handle:
            for entry in _scan(handle, int(page_token or 0)):
                self._count(entry)
                message, dated = _to_message(entry)
                if _in_window(dated, after, before):
                    page.setdefault(message.id, message)
                if len(page) >= limit:
                    next_token = str(entry.end) if entry.end < size else None
                    break
        self._remember(page.values())
        return ListPage(list(page), next_token, self._estimate(size))

    def fetch_messages(self, ids: Sequence[str]) -> list[RawMessage | FetchFailure]:
        """The cached messages of the listed pages; an id not listed (or evicted) is a FetchFailure."""
        with self._lock:
            found = [self._cache.get(message_id) for message_id in ids]
        return [
            message or FetchFailure(message_id, "not in a recently listed page of the mbox; list it again")
            for message_id, message in zip(ids, found, strict=True)
        ]

    def close(self) -> None:
        with self._lock:
            self._cache.clear()

    def _remember(self, messages: Iterable[RawMessage]) -> None:
        """Keep the last few pages (a page may be listed ahead of its fetch); older ones are dropped."""
        with self._lock:
            for message in messages:
                self._cache[message.id] = message
                self._cache.move_to_end(message.id)
            while len(self._cache) > 4 * self.page_size:
                self._cache.popitem(last=False)

    def _count(self, entry: _Entry) -> None:
        if entry.offset >= self._scanned_to:
            self._scanned_to = entry.end
            self._scanned_bytes += entry.end - entry.offset
            self._scanned_count += 1

    def _estimate(self, size: int) -> int | None:
        """File size / average message size so far: how many messages the whole file holds, roughly."""
        if not self._scanned_count:
            return None
        return max(self._scanned_count, round(size * self._scanned_count / self._scanned_bytes))


def _scan(handle: BinaryIO, offset: int) -> Iterator[_Entry]:
    """The messages from `offset` on, read block by block; bytes before the first From_ line are skipped."""
    handle.seek(offset)
    buf, base, eof = bytearray(), offset, False
    start = None
    while start is None:
        start, eof = _first_separator(buf, handle, eof)
        if start is None and eof:
            return
    del buf[:start]
    base += start
    while buf:
        end, eof = _next_separator(buf, handle, eof)
        yield _entry(base, bytes(buf[:end]))
        del buf[:end]
        base += end


def _first_separator(buf: bytearray, handle: BinaryIO, eof: bool) -> tuple[int | None, bool]:
    if not eof:
        block = handle.read(BLOCK)
        buf += block
        eof = not block
    if _is_separator_at(buf, 0):
        return 0, eof
    found = _find_separator(buf, 0, eof)
    return found, eof


def _next_separator(buf: bytearray, handle: BinaryIO, eof: bool) -> tuple[int, bool]:
    """Where the message at the start of `buf` ends, reading more blocks until that is known."""
    searched = 1
    while True:
        found = _find_separator(buf, searched, eof)
        if found is not None:
            return found, eof
        if eof:
            return len(buf), eof
        searched = max(1, len(buf) - 200)
        block = handle.read(BLOCK)
        buf += block
        eof = not block


def _find_separator(buf: bytearray, start: int, eof: bool) -> int | None:
    """Index of the first From_ line starting after `start`, None when not (yet) found."""
    pos = start
    while (newline := buf.find(b"\nFrom ", pos)) != -1:
        if not eof and buf.find(b"\n", newline + 1) == -1:
            return None  # the candidate line is cut by the block end: read more first
        if _is_separator_at(buf, newline + 1):
            return newline + 1
        pos = newline + 1
    return None


def _is_separator_at(buf: bytearray, index: int) -> bool:
    return _FROM_LINE.match(buf, index) is not None


def _entry(offset: int, chunk: bytes) -> _Entry:
    from_line, _, rest = chunk.partition(b"\n")
    if rest.endswith(b"\r\n\r\n"):
        rest = rest[:-2]
    elif rest.endswith(b"\n\n"):
        rest = rest[:-1]
    return _Entry(offset, offset + len(chunk), from_line, _ESCAPED_FROM.sub(rb"\1", rest))


def _to_message(entry: _Entry) -> tuple[RawMessage, datetime | None]:
    """The RawMessage of an entry, and its Date header's time (None when missing or unparseable)."""
    head = re.split(rb"\r?\n\r?\n", entry.raw, maxsplit=1)[0]
    headers = _HEADER_PARSER.parsebytes(head + b"\n\n")
    message_id = str(headers.get("Message-ID") or "").strip()
    ident = mbox_id(message_id) if message_id else "mbox-" + hashlib.sha256(entry.raw).hexdigest()[:24]
    dated = _parse_date(headers.get("Date"))
    message = RawMessage(
        id=ident,
        raw=entry.raw,
        thread_id=_thread_id(headers.get("X-GM-THRID")),
        internal_date=dated or _from_line_date(entry.from_line),
        label_ids=_labels(headers.get("X-Gmail-Labels")),
    )
    return message, dated


def _parse_date(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _from_line_date(from_line: bytes) -> datetime | None:
    """Takeout's From_ line carries the internal date: `From 1780...@xxx Mon Nov 23 13:12:51 +0000 2026`."""
    text = " ".join(from_line.decode("ascii", "replace").split()[2:])
    for layout in ("%a %b %d %H:%M:%S %z %Y", "%a %b %d %H:%M:%S %Y"):
        try:
            parsed = datetime.strptime(text, layout)
        except ValueError:
            continue
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    return None


def _thread_id(value: object) -> str | None:
    """Takeout writes Gmail's thread id in decimal; Gmail's API shows it in hex."""
    text = str(value or "").strip()
    return f"{int(text):x}" if text.isdigit() else (text or None)


def _labels(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    try:
        text = str(make_header(decode_header(str(value))))
    except (UnicodeDecodeError, LookupError, ValueError):
        text = str(value)
    names = (name.strip() for name in text.split(","))
    return tuple(_LABEL_IDS.get(name.lower(), name) for name in names if name)


def _in_window(dated: datetime | None, after: datetime | None, before: datetime | None) -> bool:
    if dated is None:
        return True
    if after is not None and dated < _aware(after):
        return False
    return before is None or dated < _aware(before)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
