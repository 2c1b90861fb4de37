"""The subset of Gmail's search language (`q`) that can be evaluated here, without Gmail.

`receipts extract` uses it to say whether a full sync's listing query (GMAIL_RECEIPT_QUERY) would list an
email at all — a message the query leaves out is never fetched — and the test suite's fake Gmail answers
`messages.list` with it. It approximates Gmail's own search, which is not published.

Supported, case-insensitive:
- bare words (whole-word match) and "quoted phrases", searched in the subject, sender, recipients and the
  text of the body (HTML tags stripped);
- `subject:word`, `subject:"a phrase"`, `subject:(a OR b)`; `from:` / `to:` (substring of the header);
- `has:attachment`, `filename:pdf` (substring of an attachment's file name);
- `after:` / `before:` with epoch seconds or `YYYY/MM/DD` (midnight Pacific time, as Gmail reads dates);
  `after:` is inclusive, `before:` exclusive, compared with the message's internalDate;
- `newer_than:` / `older_than:` with `Nd`, `Nm`, `Ny`; `label:`, `category:` (`category:updates` is the
  label `CATEGORY_UPDATES`), `in:inbox|spam|trash`, `is:unread|starred|important`;
- `a OR b`, `( … )` groups, `{a b}` (any of), `-term` negation; juxtaposition means AND.
Unknown `op:` prefixes are searched as plain words. Anything else Gmail supports is not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from receipt_sync.mime import ParsedEmail, html_to_text

PACIFIC = ZoneInfo("America/Los_Angeles")
OPERATORS = [
    *("after", "before", "subject", "from", "to", "has", "filename"),
    *("label", "category", "in", "is", "newer_than", "older_than"),
]
TOKEN = re.compile(
    r"\s*(?:(?P<open>[({])|(?P<close>[)}])|(?P<neg>-)(?=[^\s)}])"
    rf"|(?P<op>(?:{'|'.join(OPERATORS)})):(?=\S)"
    r'|"(?P<phrase>[^"]*)"?|(?P<word>[^\s(){}"]+))',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SearchFields:
    """What a search looks at in one message, lower-cased once."""

    subject: str
    sender: str
    recipients: str
    text: str
    filenames: tuple[str, ...]
    labels: frozenset[str]
    internal_ms: int


Predicate = Callable[[SearchFields], bool]


def parse_query(query: str) -> Predicate:
    """Compile `query` into a predicate over a message's `SearchFields`."""
    tokens = [(m.lastgroup or "", m.group(m.lastgroup or 0)) for m in TOKEN.finditer(query) if m.lastgroup]
    return _Parser(tokens).parse_all()


def _term(field: str | None, text: str) -> Predicate:
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, text.lower().split())) + r"(?!\w)")
    if not text.split():
        return lambda f: True

    def match(f: SearchFields) -> bool:
        haystacks = {
            None: (f.subject, f.sender, f.recipients, f.text),
            "subject": (f.subject,),
            "from": (f.sender,),
            "to": (f.recipients,),
            "filename": f.filenames,
        }[field]
        if field in ("from", "to", "filename"):
            return any(text.lower() in h for h in haystacks)
        return any(pattern.search(h) for h in haystacks)

    return match


def _epoch_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    parts = [int(p) for p in re.split(r"[/-]", value)]
    if parts[0] < 1000:  # MM/DD/YYYY
        parts = [parts[2], parts[0], parts[1]]
    return int(datetime(parts[0], parts[1], parts[2], tzinfo=PACIFIC).timestamp() * 1000)


def _age_ms(value: str) -> int:
    unit_days = {"d": 1, "m": 30, "y": 365}[value[-1].lower()]
    return int(value[:-1]) * unit_days * 86_400_000


def _label_op(op: str, value: str) -> Predicate:
    value = value.lower()
    if op == "category":
        wanted = {f"category_{value}"}
    elif op == "is":
        wanted = {value}
    else:
        wanted = {value, value.replace("-", "_").replace(" ", "_")}
    return lambda f: any(label.lower() in wanted for label in f.labels)


def _operator(op: str, value: str) -> Predicate:
    """A predicate for `op:value` where value is a single word or phrase."""
    op = op.lower()
    if op in ("subject", "from", "to", "filename"):
        return _term(op, value)
    if op == "has":
        return lambda f: bool(f.filenames) if value.lower() == "attachment" else False
    if op in ("after", "before"):
        at = _epoch_ms(value)
        return (lambda f: f.internal_ms >= at) if op == "after" else (lambda f: f.internal_ms < at)
    if op in ("newer_than", "older_than"):
        age = _age_ms(value)
        if op == "newer_than":
            return lambda f: f.internal_ms >= time.time() * 1000 - age
        return lambda f: f.internal_ms < time.time() * 1000 - age
    return _label_op(op, value)


class _Parser:
    """Recursive descent: and := or+ ; or := unary (OR unary)* ; unary := -unary | atom."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def parse_all(self) -> Predicate:
        predicate = self.parse_and(None)
        while self.peek()[0] != "end":  # stray closing brackets: skip and go on
            self.take()
            predicate = _all([predicate, self.parse_and(None)])
        return predicate

    def parse_and(self, field: str | None) -> Predicate:
        items = []
        while self.peek()[0] not in ("end", "close"):
            items.append(self.parse_or(field))
        return _all(items)

    def parse_or(self, field: str | None) -> Predicate:
        options = [self.parse_unary(field)]
        while self.peek() in (("word", "OR"), ("word", "|")):
            self.take()
            if self.peek()[0] in ("end", "close"):
                break
            options.append(self.parse_unary(field))
        return _any(options)

    def parse_unary(self, field: str | None) -> Predicate:
        if self.peek()[0] == "neg":
            self.take()
            inner = self.parse_unary(field)
            return lambda f: not inner(f)
        return self.parse_atom(field)

    def parse_atom(self, field: str | None) -> Predicate:
        kind, value = self.take()
        if kind == "open":
            return self._group(field) if value == "(" else self._any_group(field)
        if kind == "op":
            return self._operator_value(value.lower())
        return _term(field, value)

    def _group(self, field: str | None) -> Predicate:
        inner = self.parse_and(field)
        if self.peek()[0] == "close":
            self.take()
        return inner

    def _any_group(self, field: str | None) -> Predicate:
        options = []
        while self.peek()[0] not in ("end", "close"):
            options.append(self.parse_or(field))
        if self.peek()[0] == "close":
            self.take()
        return _any(options)

    def _operator_value(self, op: str) -> Predicate:
        kind, value = self.peek()
        if kind == "open" and op in ("subject", "from", "to", "filename"):
            self.take()
            return self._group(op) if value == "(" else self._any_group(op)
        self.take()
        return _operator(op, value)


def _all(items: list[Predicate]) -> Predicate:
    if not items:
        return lambda f: True
    return items[0] if len(items) == 1 else (lambda f: all(p(f) for p in items))


def _any(items: list[Predicate]) -> Predicate:
    return items[0] if len(items) == 1 else (lambda f: any(p(f) for p in items))


def email_fields(parsed: ParsedEmail) -> SearchFields:
    """What the search looks at in a parsed email (no labels or date: those come from Gmail, not the file)."""
    text = parsed.text
    if parsed.html and parsed.text and parsed.html not in parsed.text:
        text = f"{text} {html_to_text(parsed.html)}"  # Gmail indexes both the plain and the HTML body
    headers = parsed.headers
    return SearchFields(
        subject=parsed.subject.lower(),
        sender=(headers.get("from") or parsed.sender).lower(),
        recipients=" ".join(headers.get(name, "") for name in ("to", "cc")).lower(),
        text=" ".join(text.split()).lower(),
        filenames=tuple((a.filename or "").lower() for a in parsed.attachments),
        labels=frozenset(),
        internal_ms=0,
    )


def listed_by(query: str, parsed: ParsedEmail) -> bool:
    """Whether a listing with `query` would include this email ("" lists everything)."""
    return not query.strip() or parse_query(query)(email_fields(parsed))
