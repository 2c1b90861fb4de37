"""Analyse untrusted messages in a child process, each within a time budget.

A hostile email can make CPU-bound Python (a backtracking regex, a quadratic corner of the email package, a PDF
parser) run for minutes. Neither threads nor signals can stop such work reliably (a regex match does not check for
signals), so analysis runs in a separate process: the parent waits at most `budget` seconds for each message, and
a message over budget has its process killed and becomes that message's error; the next message goes to a fresh
process. The child is a plain `python -m receipt_sync.isolation` (not a multiprocessing fork or forkserver child,
which would re-import the parent's `__main__` — Prefect's engine — at every start), it is reused across pages,
and its environment holds no secret: a message that found a way to run code in it finds no encryption key,
database URL or storage credentials there. Its address space is capped (`RLIMIT_AS`), so a message that makes a
parser allocate without end fails with a MemoryError (or kills only the child) instead of pushing the worker
machine, and every flow run on it, out of memory. Cost on normal mail: one pickle round-trip per message.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from receipt_sync.mail.base import RawMessage
from receipt_sync.pipeline import AnalysedMessage, MessageError

Result = AnalysedMessage | MessageError
DEFAULT_ANALYSE = "receipt_sync.pipeline:analyse_message"
_FRAME = struct.Struct("!Q")
# What the child may see of the parent's environment: enough to run Python, nothing secret.
_CHILD_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")
_READY = "ready"
_STARTUP_SECONDS = 120.0


class _ChildGone(Exception):
    pass


class _Worker:
    """One child process: frames of pickled (message, limit) in on stdin, pickled results out on stdout."""

    def __init__(self, analyse: str) -> None:
        env = {k: os.environ[k] for k in _CHILD_ENV if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receipt_sync.isolation", analyse],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        # Wait for the child to import the analysis code (~1 s): its start-up is not counted in any budget.
        try:
            ready = self.receive(time.monotonic() + _STARTUP_SECONDS)
        except _ChildGone:
            ready = None
        if ready != _READY:  # the machine's fault, not a message's: the page fails (and is retried)
            self.kill()
            raise RuntimeError("the message analysis process did not start (see the worker's log)")

    def send(self, item: Any) -> None:
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(_FRAME.pack(len(data)) + data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _ChildGone from exc

    def receive(self, deadline: float) -> Any | None:
        """The child's answer, or None when `deadline` (monotonic) passes first."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        header = _read_exactly(fd, _FRAME.size, deadline)
        if header is None:
            return None
        body = _read_exactly(fd, _FRAME.unpack(header)[0], deadline)
        return None if body is None else pickle.loads(body)  # our own child (see the module doc)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self._close_pipes()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe and pipe.close()


def _read_exactly(fd: int, size: int, deadline: float) -> bytes | None:
    chunks, missing = [], size
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise _ChildGone
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class MessageAnalyser:
    """Analyses messages one at a time in a reusable child process, killing it when a message runs over budget.

    `analyse` names the function the child runs (`module:function`, as `analyse_message` is called). Thread-safe:
    concurrent callers (flows run in threads in one process) each get their own child."""

    def __init__(self, analyse: str = DEFAULT_ANALYSE) -> None:
        self._analyse = analyse
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def analyse(
        self, raws: list[RawMessage], *, budget: float, max_attachment_bytes: int, memory_bytes: int | None = None
    ) -> list[Result]:
        """Each message's result, in order; `memory_bytes` caps the child's address space (None: no cap)."""
        worker = self._take()
        results = []
        try:
            for raw in raws:
                worker, result = self._one(worker, raw, budget, max_attachment_bytes, memory_bytes)
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

    def _one(
        self, worker: _Worker | None, raw: RawMessage, budget: float, limit: int, memory: int | None
    ) -> tuple[_Worker | None, Result]:
        """(the worker to use next — None once killed —, this message's result)."""
        worker = worker or _Worker(self._analyse)
        try:
            worker.send((raw, limit, memory))
            result = worker.receive(time.monotonic() + budget)
            if result is not None:
                return worker, result
            error = f"analysis took longer than the {budget:g} s budget per message (hostile or pathological mail)"
        except _ChildGone:  # out of memory, or a crash in a C extension
            error = "analysis crashed (the message exhausted memory or a parser failed)"
        worker.kill()
        return None, MessageError(raw.id, error, transient=True)  # a busy machine may finish it next time


_shared: MessageAnalyser | None = None
_shared_lock = threading.Lock()


def shared_analyser() -> MessageAnalyser:
    """The process's analyser (its child is reused by every page the process syncs)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MessageAnalyser()
        return _shared


def _load(target: str) -> Callable[..., Result]:
    module, _, name = target.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)


def _child_main(target: str, requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child's loop: one message in, one result out, until the parent closes its end."""
    analyse = _load(target)
    ready = pickle.dumps(_READY)
    answers.write(_FRAME.pack(len(ready)) + ready)
    answers.flush()
    memory: int | None = None
    while header := requests.read(_FRAME.size):
        raw, limit, wanted = pickle.loads(requests.read(_FRAME.unpack(header)[0]))
        if wanted != memory:
            memory = wanted
            _cap_address_space(memory)
        try:
            result = analyse(raw, max_attachment_bytes=limit)
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:  # what it allocated is freed with the frames unwound: the child goes on
            cap = "the machine's" if memory is None else f"its {memory >> 20} MiB of"
            data = pickle.dumps(MessageError(raw.id, f"analysis needed more than {cap} memory"))
        except Exception as exc:  # an unpicklable result, or a bug: still that message's error only
            data = pickle.dumps(MessageError(raw.id, f"unreadable message ({type(exc).__name__})"))
        answers.write(_FRAME.pack(len(data)) + data)
        answers.flush()


def _cap_address_space(limit: int | None) -> None:
    """Set the child's soft address-space limit (None: as high as the hard limit allows)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = hard if limit is None else limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


if __name__ == "__main__":
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the protocol
    _child_main(sys.argv[1], sys.stdin.buffer, protocol_out)
