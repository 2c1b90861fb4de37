"""Measure receipt detection and field extraction, with the product's own code (`receipts extract`).

    .venv/bin/python -m bench.extraction_eval [--dataset PATH] [--generated N] [--seed S]

`--dataset` is a folder in the manifest format of `../shared/data/receipts-dev` (the default; read in
place, never copied). `--generated N` also scores N messages of the project's sample mailbox generator
(`receipt_sync.samples.generator`), skipped when that module is not there. Prints precision, recall,
per-field accuracy over the true receipts that have the field, throughput, and every miss with the
reasons the product gave.

Comparison rules: totals exact to the cent (the development set records credit-note totals unsigned,
so those compare by absolute value); vendors case- and punctuation-insensitive, ignoring legal forms
and web suffixes ("Amazon.com" = "Amazon", "Coolblue B.V." = "Coolblue"), and a name that contains the
other as whole words matches ("Capital One" ~ "Capital One Travel"); dates as calendar days (an email's
truth is its Date header, in its own time zone); document numbers ignoring case and spaces.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path

from receipt_sync.errors import MalformedMessageError
from receipt_sync.extract import Extraction, extract_email, extract_file
from receipt_sync.mime import parse_email

DEFAULT_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "receipts-dev"
FIELDS = ("total", "currency", "vendor", "date", "document_number")
_LEGAL = re.compile(
    r"\b(?:inc|ltd|llc|gmbh|bv|nv|sarl|sas|sa|ag|co|corp|plc|limited|pvt|company)\b|"
    r"\.(?:com|net|org|tv|io|co\.uk|co\.il|de|fr|nl)\b",
    re.IGNORECASE,
)


@dataclass
class Truth:
    is_receipt: bool
    total: Decimal | None = None
    currency: str | None = None
    vendor: str | None = None
    date: date | None = None
    document_number: str | None = None
    unsigned_total: bool = False


@dataclass
class Case:
    name: str
    truth: Truth
    run: Callable[[], Extraction]
    has_pdf: bool = False
    raw: bytes = b""


@dataclass
class Report:
    title: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    field_hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    field_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    misses: list[str] = field(default_factory=list)
    seconds: float = 0.0
    count: int = 0


def dataset_cases(root: Path) -> list[Case]:
    manifest = json.loads((root / "manifest.json").read_text())
    cases = []
    for item in manifest["items"]:
        if item["label"] not in {"receipt", "non_receipt"}:
            continue
        path = root / item["file"]
        truth = _manifest_truth(item)
        raw = path.read_bytes()
        cases.append(Case(item["file"], truth, lambda p=path: extract_file(p), path.suffix == ".pdf", raw))
    return cases


def _manifest_truth(item: dict) -> Truth:
    exp = item.get("expected") or {}
    if item["label"] != "receipt":
        return Truth(False)
    when = exp.get("date") or exp.get("email_date_header")
    return Truth(
        True,
        total=_decimal(exp.get("total")),
        currency=exp.get("currency"),
        vendor=exp.get("vendor"),
        date=_date(when),
        document_number=exp.get("order_or_invoice_number"),
        unsigned_total="credit" in str(exp.get("document_type", "")),
    )


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def _date(value: str | None) -> date | None:
    if not value:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    return parsedate_to_datetime(value).date()


def generated_cases(count: int, seed: int) -> list[Case] | None:
    """The sample mailbox's messages with the generator's own truth; None if the generator is absent."""
    try:
        from receipt_sync.samples.generator import generate_messages  # type: ignore[import-not-found]
    except ImportError:
        return None
    cases = []
    for i, msg in enumerate(generate_messages(count, seed)):
        t = msg.truth
        truth = Truth(
            bool(t.is_receipt),
            total=_decimal(getattr(t, "total", None)),
            currency=getattr(t, "currency", None),
            vendor=getattr(t, "vendor", None),
            date=_date(getattr(t, "date", None)),
            document_number=getattr(t, "document_number", None),
        )
        has_pdf = b"application/pdf" in msg.raw
        run = functools.partial(_extract_raw, msg.raw)
        cases.append(Case(f"generated #{i} {_subject(msg.raw)}", truth, run, has_pdf, msg.raw))
    return cases


def _subject(raw: bytes) -> str:
    m = re.search(rb"^Subject: ?(.{0,60})", raw, re.MULTILINE)
    return m.group(1).decode("utf-8", "replace").strip() if m else ""


def _extract_raw(raw: bytes) -> Extraction:
    try:
        return extract_email(parse_email(raw))
    except MalformedMessageError as exc:
        return Extraction(False, 0.0, None, None, None, None, None, [f"malformed: {exc}"])


def evaluate(title: str, cases: Iterable[Case]) -> Report:
    report = Report(title)
    for case in cases:
        started = time.perf_counter()
        result = case.run()
        report.seconds += time.perf_counter() - started
        report.count += 1
        _score(report, case, result)
    return report


def _score(report: Report, case: Case, result: Extraction) -> None:
    truth = case.truth
    if truth.is_receipt and result.is_receipt:
        report.tp += 1
    elif truth.is_receipt:
        report.fn += 1
        report.misses.append(f"MISSED receipt {case.name}: {' | '.join(result.reasons)}")
    elif result.is_receipt:
        report.fp += 1
        report.misses.append(f"FALSE receipt {case.name}: {' | '.join(result.reasons)}")
    else:
        report.tn += 1
    if truth.is_receipt:
        _score_fields(report, case, result)


def _score_fields(report: Report, case: Case, result: Extraction) -> None:
    for name in FIELDS:
        expected = getattr(case.truth, name)
        if expected is None:
            continue
        got = getattr(result, name)
        report.field_total[name] += 1
        if _matches(name, expected, got, case.truth):
            report.field_hits[name] += 1
        else:
            report.misses.append(f"WRONG {name} {case.name}: expected {expected!s}, got {got!s}")


def _matches(name: str, expected: object, got: object, truth: Truth) -> bool:
    if got is None:
        return False
    if name == "total":
        exp, val = Decimal(str(expected)), Decimal(str(got)).quantize(Decimal("0.01"))
        return abs(exp) == abs(val) if truth.unsigned_total else exp == val
    if name == "vendor":
        return vendor_matches(str(expected), str(got))
    if name == "document_number":
        return _squash(str(expected)) == _squash(str(got))
    return expected == got


def _squash(value: str) -> str:
    return re.sub(r"\s+", "", value).lower()


def vendor_matches(expected: str, got: str) -> bool:
    a, b = _vendor_key(expected), _vendor_key(got)
    if not a or not b:
        return False
    return a == b or f" {a} " in f" {b} " or f" {b} " in f" {a} "


def _vendor_key(name: str) -> str:
    name = _LEGAL.sub(" ", name.lower())
    return " ".join(re.sub(r"[^\w]+", " ", name).split())


def print_report(report: Report, *, throughput_line: str | None = None) -> None:
    precision = report.tp / (report.tp + report.fp) if report.tp + report.fp else 0.0
    recall = report.tp / (report.tp + report.fn) if report.tp + report.fn else 0.0
    print(f"\n== {report.title}: {report.count} items ({report.tp + report.fn} receipts)")
    print(f"precision {precision:.3f}  recall {recall:.3f}  (tp {report.tp}, fp {report.fp}, fn {report.fn})")
    for name in FIELDS:
        total = report.field_total[name]
        acc = report.field_hits[name] / total if total else 0.0
        print(f"  {name:<16} {acc:.3f}  ({report.field_hits[name]}/{total})")
    if throughput_line:
        print(throughput_line)
    for miss in report.misses:
        print(f"  - {miss}")


def throughput(cases: list[Case], *, min_seconds: float = 1.0) -> str:
    """Emails per second for detection + extraction on emails without PDFs (parsing included)."""
    plain = [c for c in cases if not c.has_pdf and not c.name.endswith(".pdf")]
    if not plain:
        return "throughput: no emails without PDFs"
    # CPU time of this process: what one core spends, undisturbed by other work on a shared machine.
    done, started = 0, time.process_time()
    while time.process_time() - started < min_seconds:
        for case in plain:
            case.run()
        done += len(plain)
    rate = done / (time.process_time() - started)
    size = sum(len(c.raw) for c in plain) / len(plain) / 1024
    return (
        f"throughput: {rate:.0f} emails/s on one core (CPU time; detection + extraction + parsing, "
        f"no PDFs; {len(plain)} emails averaging {size:.0f} KiB)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--generated", type=int, default=300, help="generated messages (0 to skip)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if (args.dataset / "manifest.json").exists():
        cases = dataset_cases(args.dataset)
        print_report(evaluate(f"dataset {args.dataset}", cases), throughput_line=throughput(cases))
    else:
        print(f"dataset not found at {args.dataset} (pass --dataset PATH)", file=sys.stderr)
    if args.generated:
        generated = generated_cases(args.generated, args.seed)
        if generated is None:
            print("\n== generated mailbox: skipped (receipt_sync.samples.generator is not available yet)")
        else:
            report = evaluate(f"generated mailbox (seed {args.seed})", generated)
            print_report(report, throughput_line=throughput(generated))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
