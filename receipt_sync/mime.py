"""Parse untrusted RFC 822 mail into a small, decoded `ParsedEmail`, and pick a receipt's documents.

Mail is untrusted input. `MalformedMessageError` is raised only when a message cannot be read, or
has demonstrably lost content, so that it is counted as that message's error and never crashes its page:
- the input is empty, or is binary garbage (NUL bytes in the header block),
- no RFC 822 header could be parsed (plain text or junk with no `Name: value` lines),
- an attachment is larger than `max_attachment_bytes` (storing it would be unsafe, dropping it would
  silently lose a receipt document),
- content is demonstrably lost: base64 holding characters base64 never uses, or a multipart cut off in
  the middle of a base64 part (closing boundary missing and the part's length impossible).

Tolerated, as mail clients do: unknown or mislabelled charsets (decoded by fallback: declared charset,
UTF-8, then windows-1255 for Hebrew-looking bytes, then windows-1252), base64 with missing padding or
mislabelled as quoted-printable, a missing closing boundary after whole parts, leading blank lines,
doubled carriage returns, a whole message pasted as the body (a scripted forward: the inner message is
read), zero-byte attachments (skipped).
"""

from __future__ import annotations

import base64
import codecs
import email
import html as html_module
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import CloseBoundaryNotFoundDefect
from email.header import Header, decode_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

import nh3
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from receipt_sync.errors import MalformedMessageError

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024

# Hard caps on hostile header shapes. Python's email package is quadratic in the number of `;` inside a quoted
# parameter and in the number of encoded words, and recursive in nested comments: past these caps a message is
# rejected (that message's error) before any of it is decoded. Real mail stays far below them.
MAX_HEADER_CHARS = 64 * 1024  # one header, unfolded (long `References` of big threads reach ~10 KB)
MAX_ENCODED_WORDS = 1000  # `=?charset?q?...?=` words in one header (~65 characters each when a mailer folds)
MAX_PARAMETERS = 100  # `;` in one header (a Content-Type has a handful)
MAX_HEADERS = 2000  # header lines in one part
# What reaches the extractor from the headers (the same bounds the database stores).
MAX_SUBJECT_CHARS = 2000
MAX_SENDER_CHARS = 500

# Charset labels seen in the wild that Python does not know, mapped to the codec mail clients use.
_CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "visual": "iso-8859-8",
    "logical": "iso-8859-8",
    "windows-1255": "cp1255",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "utf8": "utf-8",
    "x-user-defined": "cp1252",
}
_HEADER_NAME = re.compile(rb"^[!-9;-~]+:", re.MULTILINE)
_HEADER_END = re.compile(rb"\n\r?\n")  # the first empty line
_OTHER_LINE_BREAKS = re.compile(rb"[\x0b\x0c\x1c-\x1e]")  # where str.splitlines breaks a line besides CR and LF
_HEBREW_BYTES = bytes(range(0xE0, 0xFB))  # the letters of windows-1255 / iso-8859-8
_HIGH_BYTES = bytes(range(0x80, 0x100))
_BASE64_BODY = re.compile(r"(?:[A-Za-z0-9+/]{40,}={0,2}[ \t]*\r?\n)+[A-Za-z0-9+/]*={0,2}")
_EMBEDDED_MESSAGE = re.compile(
    rb"(?:(?:Delivered-To|Received|Return-Path|From|Date|Subject|Message-ID|MIME-Version|X-[\w-]+):[^\n]*\r?\n"
    rb"(?:[ \t][^\n]*\r?\n)*){3}",
    re.IGNORECASE,
)
_ANGLE_ADDRESS = re.compile(r"<\s*([^<>\s@]+@[^<>\s]+?)\s*>\s*$")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_SPACE_RUN = re.compile(" {2,}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(?![^;\s])")
_UNSAFE_NAME_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Attachment:
    filename: str | None
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None


@dataclass
class ParsedEmail:
    message_id: str | None
    subject: str
    sender: str
    sender_address: str
    date: datetime | None
    text: str
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    # What was wrong but tolerated (unknown charset, empty attachment): the sync counts it as this message's
    # error while still keeping whatever could be read.
    defects: list[str] = field(default_factory=list)


@dataclass
class Document:
    kind: str  # "attachment" | "body"
    filename: str | None
    content_type: str
    data: bytes


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, falling back the way mail clients do when it lies or is unknown."""
    for codec in _codec_candidates(data, charset):
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


def _codec_candidates(data: bytes, charset: str | None) -> Iterator[str]:
    """Lazily: the Hebrew check reads every byte, so it runs only once the likelier codecs failed."""
    declared = (charset or "").strip().strip('"').lower()
    if declared:
        yield _CHARSET_ALIASES.get(declared, declared)
    yield "utf-8"
    if _looks_hebrew(data):
        yield "cp1255"


def _looks_hebrew(data: bytes) -> bool:
    """Most high bytes in the Hebrew letter range of windows-1255/iso-8859-8: likely undeclared Hebrew."""
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    return high > 0 and len(data) - len(data.translate(None, _HEBREW_BYTES)) >= high * 0.6


def decode_header_value(value: object) -> str:
    """Decode an RFC 2047 header, tolerating unknown charsets and broken encoded words."""
    if value is None:
        return ""
    if isinstance(value, str) and "=?" not in value:  # no encoded word: what decode_header would return
        return _clean_header(value)
    raw = header_text(value)
    try:
        parts = decode_header(raw)
    except Exception:  # email.header raises several types on malformed encoded words
        return _clean_header(raw)
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    # decode_header drops the whitespace between an encoded word and plain text; keep words apart.
    joined = "".join(out) if len(parts) == 1 else _join_header_parts(parts, out)
    return _clean_header(joined)


def header_text(value: object) -> str:
    """A header as text with its encoded words left as they are. Raw 8-bit headers (RFC 6532 UTF-8, or
    legacy Hebrew) reach us as a `Header` of undecoded bytes, which `str()` would turn into U+FFFD."""
    if not isinstance(value, Header):
        return str(value)
    try:
        chunks = decode_header(value)
    except Exception:  # a malformed header is shown as the parser rendered it rather than rejected
        return str(value)
    return "".join(decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in chunks)


def _join_header_parts(parts: list[tuple[object, str | None]], texts: list[str]) -> str:
    result = ""
    for (chunk, charset), text in zip(parts, texts, strict=True):
        if result and charset is None and isinstance(chunk, bytes) and not text.startswith(" "):
            text = " " + text
        result += text
    return result


def _clean_header(value: str) -> str:
    return _SPACES.sub(" ", value.replace("\r", " ").replace("\n", " ")).strip()


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: scripts and styles dropped, block elements on their own lines."""
    tree = HTMLParser(html)
    tree.strip_tags(["script", "style", "head", "noscript", "template"])
    root = tree.body or tree.root
    if root is None:
        return ""
    text = root.text(separator="\n", strip=True)
    return normalise_text(text)


def normalise_text(text: str) -> str:
    """Whitespace runs as one space, each line stripped, blank lines dropped."""
    # Tabs and no-break spaces become spaces, then runs of spaces one space: the same as replacing each run of
    # [ \t\u00a0] at once, but the regex then stops only where two spaces meet, not at every space.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").replace("\u00a0", " ")
    text = _SPACE_RUN.sub(" ", text)
    return "\n".join([line for line in map(str.strip, text.split("\n")) if line])


def parse_email(raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> ParsedEmail:
    """Parse one raw message; raise `MalformedMessageError` only when it cannot be read as mail."""
    raw = _repair(raw)
    _check_readable(raw)
    try:
        msg = _message_from_bytes(raw)
    except Exception as exc:  # the compat32 parser rarely raises, but untrusted input may find a way
        raise MalformedMessageError(f"The message could not be parsed as MIME: {type(exc).__name__}") from exc
    if not msg.keys():
        raise MalformedMessageError("The message has no headers: it is not an email.")
    try:
        _check_headers(msg)
        _check_not_truncated(msg)
        body = _Body()
        _walk(msg, body, max_attachment_bytes)
        return _build(msg, body)
    except RecursionError as exc:  # nested comments in an address, or parts nested thousands deep
        raise MalformedMessageError("The message is nested too deeply to be read (hostile or broken mail).") from exc


def _message_from_bytes(raw: bytes) -> Message:
    """`email.message_from_bytes(raw)`, without its line-by-line walk over the body of a single-part message
    (a 200 KB HTML receipt is 3,000 lines; that walk was a fifth of the time per email). For such a message
    the feed parser's payload is the text after the blank line that ends the headers, as it stands, so the
    header block alone is parsed and the rest set as the payload. Multipart and message/* bodies, header
    blocks with a bare CR or another character `str.splitlines` breaks at (line breaks to the parser) and any
    header defect go through the parser whole."""
    end = _HEADER_END.search(raw) if raw[:1] not in (b"\n", b"\r") else None  # (a first line empty ends them)
    if end is not None:
        head = raw[: end.end()]
        if head.count(b"\r") == head.count(b"\r\n") and not _OTHER_LINE_BREAKS.search(head):
            msg = email.message_from_bytes(head)
            # an empty payload: the parser read the whole block as headers (it gives back a last `From ` line)
            if (
                not msg.defects
                and msg.get_payload() == ""
                and msg.get_content_maintype() not in ("multipart", "message")
            ):
                msg.set_payload(raw[end.end() :].decode("ascii", "surrogateescape"))  # as message_from_bytes
                return msg
    return email.message_from_bytes(raw)


def _check_headers(msg: Message) -> None:
    """Reject header shapes that make Python's email package slow (quadratic) before anything decodes them."""
    for part in msg.walk():
        items = part.raw_items()
        if len(part) > MAX_HEADERS:
            raise MalformedMessageError(f"A part has {len(part)} headers, over the limit of {MAX_HEADERS}.")
        for name, value in items:
            _check_header(str(name)[:60], value if isinstance(value, str) else str(value))


def _check_header(name: str, value: str) -> None:
    if len(value) > MAX_HEADER_CHARS:
        raise MalformedMessageError(
            f"Header {name!r} is {len(value)} characters long, over the limit of {MAX_HEADER_CHARS}."
        )
    if (words := value.count("=?")) > MAX_ENCODED_WORDS:
        raise MalformedMessageError(
            f"Header {name!r} has {words} encoded words, over the limit of {MAX_ENCODED_WORDS}."
        )
    if (params := value.count(";")) > MAX_PARAMETERS:
        raise MalformedMessageError(f"Header {name!r} has {params} ';' separators, over the limit of {MAX_PARAMETERS}.")


def _check_not_truncated(msg: Message) -> None:
    """A multipart cut off inside its last base64 part has lost content (an impossible base64 length,
    or a PDF without its `%%EOF`); one that merely lacks its closing boundary is read as it is."""
    if not any(isinstance(d, CloseBoundaryNotFoundDefect) for part in msg.walk() for d in part.defects):
        return
    leaves = [part for part in msg.walk() if not part.is_multipart()]
    last = leaves[-1] if leaves else None
    if last is None or (last.get("Content-Transfer-Encoding") or "").strip().lower() != "base64":
        return
    payload = last.get_payload()
    cleaned = re.sub(r"[^A-Za-z0-9+/=]", "", payload if isinstance(payload, str) else "")
    cut_pdf = cleaned.startswith("JVBER") and b"%%EOF" not in _lenient_b64(cleaned)[-2048:]
    if not cleaned or len(cleaned) % 4 or cut_pdf:
        raise MalformedMessageError("The message is truncated: it ends in the middle of a part.")


def _repair(raw: bytes) -> bytes:
    """Undo damage mail tools commonly do: leading blank lines, doubled carriage returns."""
    return raw.lstrip(b"\r\n\t ").replace(b"\r\r\n", b"\r\n")


def _check_readable(raw: bytes) -> None:
    if not raw or not raw.strip():
        raise MalformedMessageError("The message is empty.")
    head = raw[:8192].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if b"\x00" in head:
        raise MalformedMessageError("The message is binary data, not an email.")
    if not _HEADER_NAME.search(head):
        raise MalformedMessageError("The message has no headers: it is not an email.")


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    embedded: list[ParsedEmail] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _walk(msg: Message, body: _Body, limit: int) -> None:
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = _content_type(part)
        disposition = header_text(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = _filename(part)
        if disposition != "attachment" and not filename and ctype.startswith("text/"):
            _add_text_part(part, ctype, body, limit)
            continue
        _add_attachment(part, ctype, disposition, filename, body, limit)


def _content_type(part: Message) -> str:
    """A clean `type/subtype` (stored, then sent as a download's Content-Type): a folded or junk value such as
    `image/png\r\n x-evil` is read as its first token or, failing that, as application/octet-stream."""
    try:
        return clean_media_type(part.get_content_type())
    except Exception:
        return "application/octet-stream"


def clean_media_type(value: str | None) -> str:
    """`type/subtype` lower-cased, or application/octet-stream for anything else (folded, junk, missing)."""
    match = _MEDIA_TYPE.match((value or "").strip().lower())
    return match.group(0) if match else "application/octet-stream"


def clean_filename(name: str) -> str:
    """A file name as stored and offered for download: no control characters (CR/LF, NUL) and no bidirectional
    overrides (U+202E makes `invoice\u202efdp.exe` display as `invoiceexe.pdf`)."""
    return _UNSAFE_NAME_CHARS.sub("", name).strip()[:255]


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        param = part.get_param("name")
        name = param if isinstance(param, str) else None
    return clean_filename(decode_header_value(name)) or None if name else None


def _payload(part: Message) -> bytes:
    """Decoded payload; broken base64 is decoded as far as it goes rather than rejected."""
    cte = (part.get("Content-Transfer-Encoding") or "").strip().lower()
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str):
        return b""
    if cte == "base64" or _BASE64_BODY.fullmatch(raw.strip()):
        # Mislabelled base64 (declared quoted-printable or 7bit) is decoded as what it really is.
        return _lenient_b64(raw)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _lenient_b64(text: str) -> bytes:
    """Missing padding and odd line lengths are forgiven; foreign characters mean the content is lost."""
    if _NOT_BASE64.search(text):
        raise MalformedMessageError("A part's base64 is corrupt (it holds characters base64 never uses).")
    # Only whitespace is left to drop (checked above): str.split's whitespace is the same as the regex's \s.
    cleaned = "".join(text.split("=", 1)[0].split())
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]  # a lone trailing character carries no whole byte
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except ValueError:
        return b""


def _add_text_part(part: Message, ctype: str, body: _Body, limit: int) -> None:
    data = _payload(part)
    if ctype == "text/plain" and _EMBEDDED_MESSAGE.match(data):
        try:  # a whole message pasted or encoded as the body: a forward done by a script
            body.embedded.append(parse_email(data, max_attachment_bytes=limit))
            return
        except MalformedMessageError:
            pass
    charset = part.get_content_charset()
    if charset and not _known_charset(charset):
        body.defects.append(f"unknown charset {charset[:40]!r}: the text was decoded by guessing")
    text = decode_bytes(data, charset)
    (body.html if ctype == "text/html" else body.plain).append(text)


def _add_attachment(part: Message, ctype: str, disposition: str, filename: str | None, body: _Body, limit: int) -> None:
    data = _payload(part)
    if not data:  # zero-byte (or undecodable) attachments carry nothing worth keeping
        body.defects.append(f"attachment {(filename or ctype)[:80]!r} is empty")
        return
    if len(data) > limit:
        raise MalformedMessageError(
            f"Attachment {filename or ctype!r} is {len(data)} bytes, over the {limit}-byte limit."
        )
    cid = (part.get("Content-ID") or "").strip().strip("<>") or None
    inline = disposition == "inline" or (disposition != "attachment" and cid is not None)
    body.attachments.append(Attachment(filename, ctype, data, inline, cid))


def _known_charset(charset: str) -> bool:
    name = charset.strip().strip('"').lower()
    try:
        codecs.lookup(_CHARSET_ALIASES.get(name, name))
    except LookupError:
        return False
    return True


def _build(msg: Message, body: _Body) -> ParsedEmail:
    if body.embedded and not "".join(body.plain).strip() and not body.html:
        inner = body.embedded[0]
        inner.message_id = decode_header_value(msg.get("Message-ID")) or inner.message_id
        inner.attachments = inner.attachments + body.attachments
        inner.defects = inner.defects + body.defects
        return inner
    name, address = _sender(msg.get("From"))
    html = "\n".join(body.html) if body.html else None
    plain = "\n".join(body.plain).strip()
    text = normalise_text(plain) if plain else (html_to_text(html) if html else "")
    return ParsedEmail(
        message_id=(decode_header_value(msg.get("Message-ID")) or None),
        subject=decode_header_value(msg.get("Subject"))[:MAX_SUBJECT_CHARS],
        # Whitespace runs fold to one space before the cap: a name padded with spaces still reads as its words.
        sender=(" ".join(name.split()).strip('"') or address)[:MAX_SENDER_CHARS],
        sender_address=address.lower(),
        date=_date(msg.get("Date")),
        text=text,
        html=html,
        attachments=body.attachments,
        headers={k.lower(): decode_header_value(v) for k, v in msg.items()},
        defects=body.defects,
    )


def _sender(value: object) -> tuple[str, str]:
    """Display name and address. The usual `Name <address>` is split by hand before the name is decoded:
    a name may hold quotes (`בע"מ`), raw or left unencoded inside an encoded word, that cut it short in
    `parseaddr`. Other forms go to `parseaddr`."""
    if value is None:
        return "", ""
    text = header_text(value)
    if m := _ANGLE_ADDRESS.search(text):
        name = text[: m.start()].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return decode_header_value(name), m.group(1)
    name, address = parseaddr(decode_header_value(value))
    return name, address


def _date(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None


_DOCUMENT_TYPES = ("application/pdf", "image/")

# Allow-list sanitising (nh3, the Ammonia sanitiser): what is not listed here is dropped, so a new trick needs
# a hole in the list rather than a gap in a block list. Links go to http(s)/mailto only; images are the
# message's own inline images (cid:, resolved to data: URIs) or raster data: images; no script, style element,
# form, frame, SVG/MathML, meta or base survives, and no event handler attribute.
_TAGS = {
    "a",
    "abbr",
    "b",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
}
_LAYOUT_ATTRS = {"align", "valign", "width", "height", "bgcolor", "color", "border", "cellpadding", "cellspacing"}
_ATTRIBUTES = {
    "*": {"style", "dir", "lang", "title", "class", *_LAYOUT_ATTRS},
    "a": {"href"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "font": {"face", "size"},
    "ol": {"start", "type"},
}
_STYLE_PROPERTIES = {
    "background-color",
    "border",
    "border-bottom",
    "border-collapse",
    "border-color",
    "border-left",
    "border-right",
    "border-spacing",
    "border-style",
    "border-top",
    "border-width",
    "color",
    "display",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "height",
    "line-height",
    "margin",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "margin-top",
    "max-width",
    "min-width",
    "padding",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "padding-top",
    "text-align",
    "text-decoration",
    "text-transform",
    "vertical-align",
    "white-space",
    "width",
}
_LINK_SCHEMES = ("http:", "https:", "mailto:")
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|jpg|gif|webp|bmp);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
# CSS functions allowed in a style attribute: colours only (no expression(), url(), image-set(), ...).
_CSS_FUNCTION = re.compile(r"([a-z-]*)\s*\(", re.IGNORECASE)
_CSS_COLOUR_FUNCTIONS = {"rgb", "rgba", "hsl", "hsla"}
# The stored document may be opened as a file, outside the download's CSP header: it carries its own.
_DOCUMENT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def receipt_documents(parsed: ParsedEmail) -> list[Document]:
    """The documents to store for a receipt: its PDF/image attachments, else its body as one HTML file."""
    docs = [
        Document("attachment", a.filename, _document_type(a), a.data)
        for a in parsed.attachments
        if not a.inline and _document_type(a).startswith(_DOCUMENT_TYPES)
    ]
    return docs or [body_document(parsed)]


def _document_type(att: Attachment) -> str:
    """Mailers often label PDFs application/octet-stream; trust a .pdf name or the PDF magic bytes."""
    looks_pdf = (att.filename or "").lower().endswith(".pdf") or att.data.startswith(b"%PDF")
    return "application/pdf" if att.content_type == "application/octet-stream" and looks_pdf else att.content_type


def body_document(parsed: ParsedEmail) -> Document:
    """The body as self-contained, script-free HTML: inline images embedded as data: URIs."""
    html = sanitise_html(parsed.html, _inline_images(parsed)) if parsed.html else _plain_html(parsed.text)
    return Document("body", None, "text/html", html.encode("utf-8"))


def _inline_images(parsed: ParsedEmail) -> dict[str, str]:
    images = {}
    for att in parsed.attachments:
        if att.content_id and att.content_type.startswith("image/"):
            encoded = base64.b64encode(att.data).decode("ascii")
            images[att.content_id.lower()] = f"data:{att.content_type};base64,{encoded}"
    return images


def sanitise_html(html: str, images: dict[str, str]) -> str:
    """Allow-list sanitising with nh3 into a self-contained page: inline `cid:` images become data: URIs."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "href":
            return value if value.strip().lower().startswith(_LINK_SCHEMES) else None
        if attribute == "src":
            if value.strip().lower().startswith("cid:"):
                return images.get(value.strip()[4:].strip("<>").lower())
            return value if _DATA_IMAGE.fullmatch(value.strip()) else None
        if attribute == "style":
            functions = {f.lower() for f in _CSS_FUNCTION.findall(value)}
            return value if functions <= _CSS_COLOUR_FUNCTIONS and "\\" not in value else None
        return value

    body = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data", "cid"},
        attribute_filter=keep,
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return _page(body)


def _page(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_DOCUMENT_CSP}"></head><body>{body}</body></html>'
    )


def _plain_html(text: str) -> str:
    return _page(f"<pre>{html_module.escape(text)}</pre>")
