"""Measure receipt detection and field extraction, with the product's own code (`receipts extract`).

    .venv/bin/python -m bench.extraction_eval [--dataset PATH] [--generated N] [--seed S]

`--dataset` is a folder in the manifest format of `../shared/data/receipts-dev` (the default; read in
place, never copied). `--generated N` also scores N messages of the project's sample mailbox generator
(`receipt_sync.samples.generator`), skipped when that module is not there. Prints precision, recall,
per-field accuracy over the true receipts that have the field, throughput (one core's CPU time, emails
without PDFs: parse + detect + extract, and detect + extract alone), and every miss with the reasons the
product gave. Generated malformed mail (broken base64, unknown charset, cut-off MIME, empty attachment) is
a robustness case: it is counted apart from precision and recall, and any still read as a receipt is listed.

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
from receipt_sync.mime import ParsedEmail, parse_email

# ../shared beside the checkout (a worktree sits one level deeper, so every ancestor is tried)
DEFAULT_DATASET = next(
    (p / "shared" / "data" / "receipts-dev" for p in Path(__file__).resolve().parents[1:] if (p / "shared").is_dir()),
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "receipts-dev",
)
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
    malformed: bool = False  # a generated robustness case: scored apart from precision and recall


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
    malformed: int = 0
    malformed_kept: list[str] = field(default_factory=list)


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
        malformed = getattr(t, "kind", "") == "malformed"
        name = f"generated #{i} {_subject(msg.raw)}" + (f" [{t.defect}]" if malformed else "")
        cases.append(Case(name, truth, run, has_pdf, msg.raw, malformed))
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
        if case.malformed:
            _score_malformed(report, case, result)
        else:
            _score(report, case, result)
    return report


def _score_malformed(report: Report, case: Case, result: Extraction) -> None:
    """Broken mail must never crash; what the product still read as a receipt is listed, not scored:
    the generator labels every broken message a non-receipt, even one whose content is a receipt."""
    report.malformed += 1
    if result.is_receipt:
        report.malformed_kept.append(f"{case.name}: {result.reasons[0]}")


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
    if report.malformed:
        print(f"  malformed mail (not in precision/recall): {report.malformed}, "
              f"{len(report.malformed_kept)} still read as receipts")  # fmt: skip
    if throughput_line:
        print(throughput_line)
    for miss in report.misses:
        print(f"  - {miss}")
    for kept in report.malformed_kept:
        print(f"  ~ malformed, read as a receipt: {kept}")


def throughput(cases: list[Case], *, min_seconds: float = 1.0) -> str:
    """Emails per second on emails without PDFs: parsing + detection + extraction (what a sync spends per
    message), and detection + extraction alone on already parsed mail."""
    plain = [c for c in cases if not c.has_pdf and not c.name.endswith(".pdf")]
    if not plain:
        return "throughput: no emails without PDFs"
    whole = _rate([c.run for c in plain], min_seconds)
    parsed = [p for p in (_parsed(c.raw) for c in plain) if p is not None]
    alone = _rate([functools.partial(extract_email, p) for p in parsed], min_seconds)
    size = sum(len(c.raw) for c in plain) / len(plain) / 1024
    return (
        f"throughput, one core, no PDFs ({len(plain)} emails averaging {size:.0f} KiB): "
        f"parse + detect + extract {whole:.0f} emails/s ({1000 / whole:.2f} ms each); "
        f"detect + extract alone {alone:.0f} emails/s ({1000 / alone:.2f} ms each)"
    )


def _parsed(raw: bytes) -> ParsedEmail | None:
    try:
        return parse_email(raw)
    except MalformedMessageError:
        return None


def _rate(jobs: list[Callable[[], object]], min_seconds: float) -> float:
    """Jobs per CPU-second of this process: what one core does, whatever else runs on the machine."""
    done, started = 0, time.process_time()
    while time.process_time() - started < min_seconds:
        for job in jobs:
            job()
        done += len(jobs)
    return done / (time.process_time() - started)


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
