"""How much a Gmail search query costs in recall, on real mail and on the generated mailbox.

    python -m bench.query_recall [--dev ../shared/data/receipts-dev] [--generated 10000 --seed 7]
                                 [--query Q ...] [--terms]

A full sync fetches only what its listing query matches, so a receipt the query misses is never seen. This
scores queries with the fake Gmail's search (receipt_sync/mail/search.py: Gmail's whole-word matching over
subject, sender, recipients, body text and attachment names) against
- the development set's real mail (receipts and non-receipts; each invoice PDF wrapped as the attachment of a
  plain "Document" email, so only the attachment itself can make it match), and
- the generated mailbox with the generator's truth.
It reports recall (receipts listed / receipts), the share of the mailbox listed, and the fetch saving that
follows (messages / listed). The dev set has no Gmail labels: a query relying on `category:` scores zero
there, as it would on mail Gmail files elsewhere. `--terms` shows what each of the default query's words
lists on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from bench.extraction_eval import dataset_cases
from receipt_sync.mail.receipt_query import RECEIPT_QUERY, RECEIPT_TERMS
from receipt_sync.mail.search import SearchFields, parse_query
from tests.fakes.gmail_payload import search_fields

DEFAULT_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "receipts-dev"
# The opt-in query of the first build, kept for comparison: tuned on the generator's subjects and labels.
SUBJECT_QUERY = (
    "category:updates subject:(receipt OR invoice OR order OR refund OR payment OR חשבונית OR קבלה) -subject:shipped"
)


@dataclass(frozen=True)
class Mail:
    name: str
    is_receipt: bool
    fields: SearchFields


@dataclass(frozen=True)
class Score:
    receipts: int
    receipts_listed: int
    messages: int
    listed: int
    missed: tuple[str, ...]

    @property
    def recall(self) -> float:
        return self.receipts_listed / self.receipts if self.receipts else 1.0

    @property
    def saving(self) -> float:
        return self.messages / self.listed if self.listed else float("inf")


def _as_attachment(name: str, pdf: bytes) -> bytes:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Document", "office@example.org", "me@example.com"
    message.set_content("Please see the attached document.")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=Path(name).name)
    return message.as_bytes()


def dev_mail(root: Path) -> list[Mail]:
    mail = []
    for case in dataset_cases(root):
        raw = _as_attachment(case.name, case.raw) if case.has_pdf else case.raw
        mail.append(Mail(case.name, case.truth.is_receipt, search_fields(raw, frozenset(), 0)))
    return mail


def generated_mail(count: int, seed: int) -> list[Mail]:
    from receipt_sync.samples import generate_messages

    return [
        Mail(f"#{i} {m.truth.kind}", bool(m.truth.is_receipt), search_fields(m.raw, frozenset(m.label_ids), 0))
        for i, m in enumerate(generate_messages(count, seed))
    ]


def score(query: str, mail: Iterable[Mail]) -> Score:
    matches = parse_query(query)
    receipts = listed = receipts_listed = messages = 0
    missed = []
    for item in mail:
        hit = matches(item.fields)
        messages += 1
        listed += hit
        if item.is_receipt:
            receipts += 1
            receipts_listed += hit
            if not hit:
                missed.append(item.name)
    return Score(receipts, receipts_listed, messages, listed, tuple(missed))


def _row(label: str, result: Score) -> str:
    return (
        f"| {label} | {result.receipts_listed}/{result.receipts} ({result.recall:.3f}) | "
        f"{result.listed}/{result.messages} ({result.listed / max(1, result.messages):.1%}) | {result.saving:.2f}× |"
    )


def print_terms(sets: dict[str, list[Mail]]) -> None:
    """Each word of the default query: what it lists alone, and what only it lists (lost if it were dropped)."""
    words = (*RECEIPT_TERMS, "has:attachment")
    full = {label: parse_query(RECEIPT_QUERY) for label in sets}
    print("\n| word | " + " | ".join(f"{label}: alone / only this word" for label in sets) + " |")
    print("| --- |" + " --- |" * len(sets))
    for word in words:
        without = parse_query("{" + " ".join(w for w in words if w != word) + "}")
        alone = parse_query(word)
        cells = []
        for label, mail in sets.items():
            hit_alone = [m for m in mail if alone(m.fields)]
            only = [m for m in mail if full[label](m.fields) and not without(m.fields)]
            cells.append(
                f"{sum(m.is_receipt for m in hit_alone)} rec + {sum(not m.is_receipt for m in hit_alone)} other / "
                f"{sum(m.is_receipt for m in only)} rec + {sum(not m.is_receipt for m in only)} other"
            )
        print(f"| {word} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--generated", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--query", action="append", help="a query to score (default: the product's and the old one)")
    parser.add_argument("--terms", action="store_true", help="also score each word of the default query alone")
    args = parser.parse_args(argv)

    sets = {f"generated ({args.generated:,}, seed {args.seed})": generated_mail(args.generated, args.seed)}
    if (args.dev / "manifest.json").exists():
        sets = {"dev set (real mail)": dev_mail(args.dev), **sets}
    else:
        print(f"(no dev set at {args.dev}: generated mailbox only)", file=sys.stderr)
    queries = args.query or [RECEIPT_QUERY, SUBJECT_QUERY]
    for query in queries:
        print(f"\nquery: {query}\n")
        print("| mail | receipts listed (recall) | messages listed | fetch saving |\n| --- | --- | --- | --- |")
        results = {label: score(query, mail) for label, mail in sets.items()}
        for label, result in results.items():
            print(_row(label, result))
        for label, result in results.items():
            if result.missed:
                shown = ", ".join(result.missed[:8]) + (" …" if len(result.missed) > 8 else "")
                print(f"missed in {label}: {shown}")
    if args.terms:
        print_terms(sets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
