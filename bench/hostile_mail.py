"""Hostile mail: how fast each adversarial case of issue 13 ends, and what the per-message process costs.

    .venv/bin/python -m bench.hostile_mail [--messages N]

1. Every parser-level case of `tests/security/test_hostile_mail.py`, timed through `analyse_message` (the caps
   turn each into that message's error).
2. The per-message time budget's overhead on normal mail: N generated messages analysed in this process, then
   through `MessageAnalyser` (a `python -m` child, one pickle round-trip per message), wall time per message.
3. The budget itself: a message that spins forever, killed at a 1 s budget, and a fresh child for the next.
4. The memory cap (`MESSAGE_MEMORY_LIMIT_MB`): the child's peak address space on N generated messages and on
   the largest message the sync accepts (a 24 MiB attachment and a 3 MiB body), and a message allocating 3 GiB
   under the default cap.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from email.message import EmailMessage

from receipt_sync.isolation import MessageAnalyser
from receipt_sync.mail.base import RawMessage
from receipt_sync.pipeline import MessageError, analyse_message
from receipt_sync.samples import generate_messages
from receipt_sync.settings import get_settings
from tests.security.test_hostile_mail import HOSTILE

LIMIT = 25 * 1024 * 1024


def hostile_cases() -> None:
    print("case                                                  seconds  outcome")
    for name, (raw, _) in HOSTILE.items():
        started = time.perf_counter()
        result = analyse_message(RawMessage(id=name, raw=raw), max_attachment_bytes=LIMIT)
        took = time.perf_counter() - started
        print(f"{name:52s} {took:8.3f}  {getattr(result, 'error', 'analysed')[:70]}")


def overhead(count: int) -> None:
    raws = [RawMessage(id=m.id, raw=m.raw) for m in generate_messages(count, seed=5)]
    started = time.perf_counter()
    for raw in raws:
        analyse_message(raw, max_attachment_bytes=LIMIT)
    inline = (time.perf_counter() - started) / count
    analyser = MessageAnalyser()
    try:
        started = time.perf_counter()
        analyser.analyse(raws[:1], budget=60, max_attachment_bytes=LIMIT)
        first = time.perf_counter() - started
        started = time.perf_counter()
        analyser.analyse(raws, budget=60, max_attachment_bytes=LIMIT)
        isolated = (time.perf_counter() - started) / count
    finally:
        analyser.close()
    mean_kb = statistics.mean(len(r.raw) for r in raws) / 1024
    print(f"\n{count} generated messages (mean {mean_kb:.1f} KB):")
    print(f"  in process            {inline * 1000:7.2f} ms/message")
    print(f"  child process         {isolated * 1000:7.2f} ms/message  (+{(isolated - inline) * 1000:.2f} ms)")
    print(f"  first child start     {first * 1000:7.0f} ms (once per worker process)")


def budget() -> None:
    analyser = MessageAnalyser("tests.security.hostile_analysis:spin_or_crash_on_marker")
    spin = RawMessage(id="spin", raw=b"From: a@b.example\r\nX-Test-Spin: 1\r\nSubject: x\r\n\r\nhi")
    normal = RawMessage(id="ok", raw=b"From: a@b.example\r\nSubject: x\r\n\r\nhi")
    try:
        started = time.perf_counter()
        results = analyser.analyse([spin, normal], budget=1.0, max_attachment_bytes=LIMIT)
        took = time.perf_counter() - started
    finally:
        analyser.close()
    print(f"\nspinning message at a 1 s budget: {took:.2f} s for it and the next message; {results[0].error}")


def _peak_mib(analyser: MessageAnalyser) -> float:
    """VmPeak of the analyser's idle child (Linux)."""
    pid = analyser._idle[0].process.pid  # a benchmark reading its own child's /proc
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmPeak:"))
    return int(line.split()[1]) / 1024


def memory(count: int) -> None:
    cap = get_settings().message_memory_limit_mb << 20
    normal = [RawMessage(id=m.id, raw=m.raw) for m in generate_messages(count, seed=5)]
    big = EmailMessage()
    big["From"], big["Subject"] = "billing@shop.example", "Receipt"
    big.set_content("Total: 10.00 USD " * 200_000)
    big.add_attachment(b"%PDF-1.4\n" + os.urandom(24 << 20), maintype="application", subtype="pdf", filename="a.pdf")
    largest = RawMessage(id="largest", raw=big.as_bytes())
    print(f"\nmemory cap {cap >> 20} MiB of address space per analysis child:")
    cases = ((f"{count} generated messages", normal), (f"one {len(largest.raw) >> 20} MiB message", [largest]))
    for name, raws in cases:
        analyser = MessageAnalyser()
        try:
            results = analyser.analyse(raws, budget=120, max_attachment_bytes=LIMIT, memory_bytes=cap)
            failed = sum(isinstance(r, MessageError) and "memory" in r.error for r in results)
            print(f"  {name:28s} peak {_peak_mib(analyser):7.0f} MiB, {failed} over the cap")
        finally:
            analyser.close()
    analyser = MessageAnalyser("tests.security.hostile_analysis:hog_memory_on_marker")
    hog = RawMessage(id="hog", raw=b"From: a@b.example\r\nX-Test-Hog: 1\r\nSubject: x\r\n\r\nhi")
    try:
        started = time.perf_counter()
        (result,) = analyser.analyse([hog], budget=120, max_attachment_bytes=LIMIT, memory_bytes=cap)
        print(f"  a message allocating 3 GiB  {time.perf_counter() - started:.2f} s: {result.error}")
    finally:
        analyser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    hostile_cases()
    overhead(args.messages)
    budget()
    memory(args.messages)


if __name__ == "__main__":
    main()
