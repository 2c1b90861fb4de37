"""Analyse untrusted messages in a child process, each within a time budget.

A hostile email can make CPU-bound Python (a backtracking regex, a quadratic corner of the email package, a PDF
parser) run for minutes. Neither threads nor signals can stop such work reliably (a regex match does not check for
signals), so analysis runs in a separate process: the parent waits at most `budget` seconds for each message, and
a message over budget has its process killed and becomes that message's error; the next message goes to a fresh
process. Processes come from a `forkserver` (never `fork`: the sync process runs threads) and are reused across
pages, so the cost on normal mail is one pickle round-trip per message.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from receipt_sync.mail.base import RawMessage
from receipt_sync.pipeline import AnalysedMessage, MessageError, analyse_message

Analyse = Callable[..., "AnalysedMessage | MessageError"]
Result = AnalysedMessage | MessageError

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["receipt_sync.pipeline"])


def _serve(conn: Connection, analyse: Analyse) -> None:
    """The child's loop: one message in, one result out, until the parent sends None or goes away."""
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        raw, limit = item
        try:
            result = analyse(raw, max_attachment_bytes=limit)
            conn.send(result)
        except Exception as exc:  # an unpicklable result, or a bug: still that message's error only
            conn.send(MessageError(raw.id, f"unreadable message ({type(exc).__name__})"))


class _Worker:
    """One child process and the parent's end of its pipe."""

    def __init__(self, analyse: Analyse) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process: BaseProcess = _CONTEXT.Process(
            target=_serve, args=(child, analyse), name="message-analysis", daemon=True
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class MessageAnalyser:
    """Analyses messages one at a time in a reusable child process, killing it when a message runs over budget.

    Thread-safe: concurrent callers (flows run in threads in one process) each get their own child."""

    def __init__(self, analyse: Analyse = analyse_message) -> None:
        self._analyse = analyse
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def analyse(self, raws: list[RawMessage], *, budget: float, max_attachment_bytes: int) -> list[Result]:
        worker = self._take()
        results = []
        try:
            for raw in raws:
                worker, result = self._one(worker, raw, budget, max_attachment_bytes)
                results.append(result)
        finally:
            if worker is not None:
                with self._lock:
                    self._idle.append(worker)
        return results

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _take(self) -> _Worker | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _one(self, worker: _Worker | None, raw: RawMessage, budget: float, limit: int) -> tuple[_Worker | None, Any]:
        """(the worker to use next — None once killed —, this message's result)."""
        worker = worker or _Worker(self._analyse)
        try:
            worker.conn.send((raw, limit))
            if worker.conn.poll(budget):
                return worker, worker.conn.recv()
            error = f"analysis took longer than the {budget:g} s budget per message (hostile or pathological mail)"
        except (EOFError, OSError):  # the child died: out of memory, or a crash in a C extension
            error = "analysis crashed (the message exhausted memory or a parser failed)"
        worker.kill()
        return None, MessageError(raw.id, error)


_shared: MessageAnalyser | None = None
_shared_lock = threading.Lock()


def shared_analyser() -> MessageAnalyser:
    """The process's analyser (its children are reused by every page the process syncs)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MessageAnalyser()
        return _shared
