"""Which process works on a run, told so that another process on the same machine can see it is gone.

A run record names the process that opened it: `boot id / pid namespace / pid / start time` from Linux's /proc.
A reconciler on the same machine and in the same pid namespace (`receipts up`, the API beside its worker, a
round on the same worker machine) then knows at once that a killed worker's or a stopped `receipts up`'s flow
process is gone — a pid reused by another process has another start time — instead of waiting for its
heartbeat to go stale. Anywhere else (another machine, another container, not Linux) it cannot tell, says so,
and the heartbeat rule decides as before.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

_PROC = Path("/proc")


@functools.lru_cache(maxsize=1)
def _machine() -> str | None:
    """This kernel's boot id and this pid namespace: where a pid means the same process."""
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _started(pid: int) -> str | None:
    """The process's start time (clock ticks after boot), or None when there is no such live process."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces and parentheses
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie has exited already
        return None
    return fields[19]  # field 22 of proc(5): starttime


def current() -> str | None:
    """This process's identity, or None where it cannot be told (no /proc)."""
    machine, started = _machine(), _started(os.getpid())
    return f"{machine}/{os.getpid()}/{started}" if machine and started else None


def gone(identity: str | None) -> bool:
    """True only when `identity` names a process of this machine and namespace that no longer runs."""
    machine = _machine()
    if not identity or not machine or not identity.startswith(machine + "/"):
        return False
    pid, _, started = identity.removeprefix(machine + "/").partition("/")
    if not pid.isdigit():
        return False
    return _started(int(pid)) != started


def pid_of(identity: str | None) -> str:
    """The pid part, for messages."""
    return identity.rsplit("/", 2)[-2] if identity and identity.count("/") >= 3 else "?"
