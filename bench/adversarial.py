"""How long hostile text keeps the extractor busy: the cases of issue 13 and a sweep of every mail-facing regex.

    .venv/bin/python -m bench.adversarial [--sizes 10000,30000,100000] [--sweep]

Each case is timed through what a sync runs per message (`parse_email` + `extract_email`), one CPU core.
`--sweep` also runs every compiled pattern in `receipt_sync.extract.*` over strings built to make a
backtracking engine work hard (long runs of one character, of a repeated label, of digit groups, of
Unicode spaces) and prints the slowest pattern/input pairs: a pattern that grows faster than the text is
a bug. Correct outcomes for the same cases are asserted in `tests/extract/test_adversarial.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import re
import time
from collections.abc import Callable
from email.header import Header

import receipt_sync.extract as extract_pkg
from receipt_sync.errors import MalformedMessageError
from receipt_sync.extract import extract_email
from receipt_sync.mime import parse_email


def _mail(subject: str = "Hello", body: str = "Hi", sender: str = "Shop <shop@example.com>") -> bytes:
    """A raw message, built by hand so that hostile headers reach the parser as they are (folded)."""
    head = f"From: {sender}\r\nTo: dana@example.com\r\nSubject: {subject}\r\n"
    head += "Date: Thu, 12 Mar 2026 09:30:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    return (head + body).encode("utf-8")


def _encoded_sender(name: str) -> str:
    """The name as RFC 2047 encoded words, folded, the way a hostile mailer would send it."""
    return f"{Header(name, 'utf-8').encode(linesep=chr(13) + chr(10) + ' ')} <billing@example.com>"


def cases(n: int) -> dict[str, bytes]:
    """The hostile messages of issue 13 item 1 (and neighbours), scaled by n."""
    return {
        f"subject 'A'*{n} + '!receipt x'": _mail(subject="A" * n + "!receipt x"),
        "body 'A'*5000 + '!receipt x'*1500": _mail(body="A" * 5000 + "!receipt x" * 1500),
        f"From name 'a' + U+2003*{n} + 'b'": _mail(sender=_encoded_sender("a" + "\u2003" * n + "b")),
        f"From name 'Shop' + ' '*{n} + 'x'": _mail(sender=_encoded_sender("Shop" + " " * n + "x")),
        f"body digits '1 234'*{n // 6}": _mail(body="Total " + "1 234 " * (n // 6)),
        f"body 'Invoice #' + 'A-'*{n // 2}": _mail(body="Invoice # " + "A-" * (n // 2)),
        f"body 'total' * {n // 6}": _mail(body="total " * (n // 6)),
        f"body '$' * {n}": _mail(body="Receipt\nTotal " + "$" * n),
        f"body '1.' * {n // 2}": _mail(body="Receipt\nTotal " + "1." * (n // 2)),
    }


def time_case(raw: bytes) -> float:
    """CPU seconds for parse + extract; a message the parser refuses (its own header caps) ends there."""
    started = time.process_time()
    with contextlib.suppress(MalformedMessageError):
        extract_email(parse_email(raw))
    return time.process_time() - started


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for info in pkgutil.iter_modules(extract_pkg.__path__):
        module = importlib.import_module(f"{extract_pkg.__name__}.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found.append((f"{info.name}.{name}", value))
    return found


def hostile_strings(n: int) -> dict[str, str]:
    """Inputs that make backtracking engines retry: runs that almost match, then fail at the end."""
    return {
        "A-run": "A" * n + "!",
        "a-run": "a" * n + "!",
        "digits": "1" * n + "x",
        "digit groups": "1 234" * (n // 5) + "x",
        "comma groups": "1,234" * (n // 5) + "x",
        "dotted": "1." * (n // 2) + "x",
        "spaces": "a" + " " * n + "b",
        "em-spaces": "a" + "\u2003" * n + "b",
        "newlines": "a" + "\n" * n + "b",
        "labels": "total: " * (n // 7),
        "receipt x": "receipt x" * (n // 9),
        "hyphens": "A-" * (n // 2) + "!",
        "hebrew": 'סה"כ ' * (n // 5),
        "currency": "$ " * (n // 2),
    }


def sweep(n: int, top: int = 12) -> list[tuple[float, str, str]]:
    timings = []
    texts = hostile_strings(n)
    for name, pattern in _patterns():
        for label, text in texts.items():
            started = time.process_time()
            for _ in pattern.finditer(text):
                pass
            timings.append((time.process_time() - started, name, label))
    return sorted(timings, reverse=True)[:top]


def _run(label: str, job: Callable[[], float]) -> None:
    print(f"  {label:<48} {job():8.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"n = {n}: parse + extract, CPU seconds")
        for label, raw in cases(n).items():
            _run(label, lambda raw=raw: time_case(raw))
    if args.sweep:
        n = int(args.sizes.split(",")[0])
        print(f"slowest pattern/input pairs over {n}-character hostile strings (finditer, CPU seconds)")
        for seconds, name, label in sweep(n):
            print(f"  {name:<40} {label:<14} {seconds:8.4f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
