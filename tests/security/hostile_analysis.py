"""An analysis function the per-message budget tests run in the child process: it spins or dies on a marker
header, as a pathological regex or a crashing parser would, and analyses every other message for real."""

from __future__ import annotations

import os

from receipt_sync.mail.base import RawMessage
from receipt_sync.pipeline import AnalysedMessage, MessageError, analyse_message


def spin_or_crash_on_marker(raw: RawMessage, *, max_attachment_bytes: int) -> AnalysedMessage | MessageError:
    if b"X-Test-Spin:" in raw.raw:
        while True:  # CPU-bound and never yielding, like catastrophic regex backtracking
            pass
    if b"X-Test-Crash:" in raw.raw:
        os._exit(3)  # the child dies the way an out-of-memory kill or a C-extension crash would end it
    return analyse_message(raw, max_attachment_bytes=max_attachment_bytes)


def hog_memory_on_marker(raw: RawMessage, *, max_attachment_bytes: int) -> AnalysedMessage | MessageError:
    """Allocates (and touches) 64 MiB after 64 MiB up to 3 GiB on a marker header, as a decompression bomb
    would; analyses every other message for real."""
    if b"X-Test-Hog:" in raw.raw:
        chunks = [bytearray(64 << 20) for _ in range(48)]
        return MessageError(raw.id, f"allocated {len(chunks) * 64} MiB unchecked")
    return analyse_message(raw, max_attachment_bytes=max_attachment_bytes)
