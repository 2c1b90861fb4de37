"""Hand-built MIME for the sample mailbox.

Messages are assembled from bytes rather than with `email.message` so every charset, transfer encoding and
defect is exactly what real senders produce (8-bit windows-1255, quoted-printable iso-8859-8, RFC 2047 and
RFC 2231 headers), and so 10,000 messages build in about a second. Entities use LF inside; `finalize`
turns the message into CRLF, the form Gmail's `raw` format returns.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from urllib.parse import quote

_Q_SAFE = {ord(c): c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/"} | {32: "_"}


def header_words(text: str, charset: str = "utf-8", *, q: bool = False) -> str:
    """`text` as-is when ASCII, else RFC 2047 encoded words of at most ~75 characters each."""
    if text.isascii():
        return text
    words, chunk, limit = [], "", 18 if q else 36
    for char in text:
        if len((chunk + char).encode(charset)) > limit:
            words.append(_encoded_word(chunk, charset, q))
            chunk = ""
        chunk += char
    words.append(_encoded_word(chunk, charset, q))
    return "\n ".join(words)


def _encoded_word(text: str, charset: str, q: bool) -> str:
    data = text.encode(charset)
    if q:
        encoded = "".join(_Q_SAFE.get(byte) or f"={byte:02X}" for byte in data)
        return f"=?{charset}?Q?{encoded}?="
    return f"=?{charset}?B?{base64.b64encode(data).decode('ascii')}?="


def address(name: str, addr: str, charset: str = "utf-8") -> str:
    """A `Name <addr>` header value; ASCII names with specials are quoted."""
    if name.isascii():
        return f'"{name}" <{addr}>' if any(c in name for c in ',.&"()') else f"{name} <{addr}>"
    return f"{header_words(name, charset)} <{addr}>"


def text_part(subtype: str, text: str, charset: str, cte: str) -> bytes:
    """A `text/<subtype>` entity with `text` encoded in `charset` and transfer-encoded with `cte`."""
    body = _transfer_encode(text.encode(charset), cte)
    head = f'Content-Type: text/{subtype}; charset="{charset}"\nContent-Transfer-Encoding: {cte}\n\n'
    return head.encode("ascii") + body


def _transfer_encode(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return binascii.b2a_qp(data, istext=True) + b"\n"
    return data + b"\n"


def attachment(mime_type: str, data: bytes, filename: str, *, cid: str | None = None) -> bytes:
    """A base64 attachment; with `cid` an inline part (an image referenced by `cid:` from HTML)."""
    disposition = "inline" if cid else "attachment"
    head = f"Content-Type: {mime_type}; {_param('name', filename)}\n"
    head += f"Content-Disposition: {disposition}; {_param('filename', filename)}\n"
    head += "Content-Transfer-Encoding: base64\n"
    if cid:
        head += f"Content-ID: <{cid}>\n"
    return head.encode("ascii") + b"\n" + base64.encodebytes(data)


def _param(key: str, value: str) -> str:
    """An ASCII parameter quoted, a non-ASCII one as RFC 2231 `key*=utf-8''...`."""
    if value.isascii():
        return f'{key}="{value}"'
    return f"{key}*=utf-8''{quote(value.encode('utf-8'))}"


def multipart(subtype: str, parts: Sequence[bytes], boundary: str) -> bytes:
    """A `multipart/<subtype>` entity holding `parts`."""
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode("ascii")]
    for part in parts:
        out.append(f"--{boundary}\n".encode("ascii"))
        out.append(part if part.endswith(b"\n") else part + b"\n")
    out.append(f"--{boundary}--\n".encode("ascii"))
    return b"".join(out)


def finalize(headers: Sequence[tuple[str, str]], entity: bytes) -> bytes:
    """The whole message: top-level headers, MIME-Version, then the entity, with CRLF line ends."""
    head = "".join(f"{name}: {value}\n" for name, value in headers) + "MIME-Version: 1.0\n"
    return (head.encode("ascii") + entity).replace(b"\n", b"\r\n")
