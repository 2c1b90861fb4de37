"""The fake Gmail in a process of its own, so a benchmark measures only the sync process (CPU and memory).

`python -m bench.fake_gmail_process --messages N --seed S` loads the generated mailbox, starts the server on
127.0.0.1, prints one JSON line `{"url": ..., "history_id": ...}` and then answers one JSON command a line
on stdin (`set`, `clear`, `log`, `add`, `fail_next`, `stop`). `GmailProcess` drives it from the benchmark.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

REFRESH_TOKEN = "1//bench-refresh-token"
ROOT = Path(__file__).resolve().parents[1]


def _serve(count: int, seed: int, receipt_share: float | None = None) -> None:
    from receipt_sync.samples.generator import generate_messages
    from tests.fakes.gmail_server import FakeGmailServer, FakeMessage

    mailbox = generate_messages(count, seed, receipt_share=receipt_share)
    messages = (FakeMessage(m.raw, m.id, m.thread_id, m.internal_date, m.label_ids) for m in mailbox)
    server = FakeGmailServer(messages, refresh_tokens=[REFRESH_TOKEN], address="owner@bench.example").start()
    _reply({"url": server.url, "history_id": server.history_id, "messages": count})
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "stop":
            break
        _reply(_handle(server, command))
    server.stop()


def _handle(server: Any, command: dict[str, Any]) -> dict[str, Any]:
    if command["cmd"] == "set":
        server.latency = command.get("latency", server.latency)
        server.quota_units_per_minute = command.get("quota_units_per_minute")
        server.costs.update(command.get("costs", {}))
        server.quota_model = command.get("quota_model", server.quota_model)
        server.burst_seconds = command.get("burst_seconds", server.burst_seconds)
        for knob in ("quota_share", "retry_after_header", "concurrent_parts", "latency_jitter", "max_concurrent"):
            setattr(server, knob, command.get(knob, getattr(server, knob)))
        if "quota_refusal" in command:
            server.quota_refusal = tuple(command["quota_refusal"])
        return {"ok": True}
    if command["cmd"] == "add":  # new mail: base64 RFC 822, internal date in epoch ms (None: now)
        ids = [
            server.add_message(base64.b64decode(m["raw"]), internal_date=m.get("internal_ms"), label_ids=m["labels"])
            for m in command["messages"]
        ]
        return {"ids": ids}
    if command["cmd"] == "fail_next":
        server.fail_next(command["n"], status=command["status"], reason=command.get("reason"),
                         retry_after=command.get("retry_after"), method=command.get("method"))  # fmt: skip
        server.error_rate = command.get("error_rate", server.error_rate)
        return {"ok": True}
    if command["cmd"] == "clear":
        server.clear_requests()
        return {"ok": True}
    if command["cmd"] == "log":
        fields = ("time", "method", "status", "units", "cost", "in_batch", "target")
        return {"log": [[getattr(r, f) for f in fields] for r in server.requests], "history_id": server.history_id}
    return {"error": f"unknown command {command['cmd']!r}"}


def _reply(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


class GmailProcess:
    """Start the fake Gmail process and talk to it (a context manager; the process is stopped on exit)."""

    def __init__(self, messages: int, seed: int, receipt_share: float | None = None) -> None:
        cmd = [sys.executable, "-m", "bench.fake_gmail_process", "--messages", str(messages), "--seed", str(seed)]
        if receipt_share is not None:
            cmd += ["--receipt-share", str(receipt_share)]
        self._proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.url: str = hello["url"]
        self.token_uri = f"{self.url}/token"

    def command(self, cmd: str, **fields: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def log(self) -> list[dict[str, Any]]:
        names = ("time", "method", "status", "units", "cost", "in_batch", "target")
        return [dict(zip(names, row, strict=True)) for row in self.command("log")["log"]]

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the fake Gmail process exited")
        return json.loads(line)

    def __enter__(self) -> GmailProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(RuntimeError, BrokenPipeError, OSError):
            if self._proc.poll() is None:
                self.command("stop")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--receipt-share", type=float, default=None)
    args = parser.parse_args()
    _serve(args.messages, args.seed, args.receipt_share)
