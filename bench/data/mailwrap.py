"""What the evaluation builders share: a mail body cut out of a project's tests, wrapped as the email it came in,
and the manifest that lists the items (format of `../shared/data/receipts-dev`).

The wrapper adds only the headers the source gives (a missing Subject or Date stays missing: inventing one would
hand the detector words the real mail may not have carried), and a neutral sender when the source names none.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

NEUTRAL_SENDER = "Receipts <receipts@fixture.invalid>"


def wrap(body: str, *, html: bool, sender: str = NEUTRAL_SENDER, subject: str = "", date: str = "") -> bytes:
    """The body as a single-part UTF-8 email (8bit), with the headers the source gives."""
    headers = [f"From: {sender}", "To: owner@fixture.invalid"]
    headers += [f"Subject: {subject}"] if subject else []
    headers += [f"Date: {date}"] if date else []
    kind = "html" if html else "plain"
    headers += ["MIME-Version: 1.0", f"Content-Type: text/{kind}; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    text = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return ("\r\n".join(headers) + "\r\n\r\n" + text).encode("utf-8")


def origin(repo: str, commit: str, licence: str, path: str) -> dict[str, str]:
    """Where an item came from, as the manifest records it."""
    return {"source_repo": repo, "source_commit": commit, "source_path": path, "licence": licence}


def item(rel: str, raw: bytes, label: str, source: dict[str, str], expected: dict | None, family: str) -> dict:
    """One manifest entry; `source` is an `origin(...)`."""
    entry = {"file": rel, "label": label, "family": family, **source, "sha256": hashlib.sha256(raw).hexdigest()}
    if expected is not None:
        entry["expected"] = expected
    return entry


def write(out: Path, rel: str, raw: bytes) -> None:
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(raw)


def write_manifest(out: Path, generated_by: str, repo: str, commit: str, licence: str, items: list[dict]) -> None:
    sources = {repo: {"commit": commit, "licence": licence}}
    manifest = {"generated_by": generated_by, "sources": sources, "items": items, "split": "extra"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))


def main(build: Callable[[Path, Path], int], usage: str) -> None:
    """`python -m bench.data.<name> CHECKOUT OUT_DIR`."""
    if len(sys.argv) != 3:
        sys.exit(usage)
    print(build(Path(sys.argv[1]), Path(sys.argv[2])), "items")
