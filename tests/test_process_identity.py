"""A run's process identity tells a live process from a dead one, and never claims what it cannot know."""

from __future__ import annotations

import subprocess
import sys

import pytest

from receipt_sync import process_identity

pytestmark = pytest.mark.skipif(process_identity.current() is None, reason="needs Linux's /proc")


def test_this_process_is_alive_and_an_exited_one_is_gone() -> None:
    code = "from receipt_sync import process_identity as p; print(p.current(), flush=True); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    identity = child.stdout.readline().strip()  # type: ignore[union-attr]
    assert not process_identity.gone(identity)
    assert not process_identity.gone(process_identity.current())
    child.communicate("\n", timeout=30)

    assert process_identity.gone(identity)
    assert process_identity.pid_of(identity) == str(child.pid)


def test_a_reused_pid_is_not_the_same_process() -> None:
    """A pid that now belongs to another process (another start time) is the old process gone."""
    machine, pid, started = process_identity.current().rsplit("/", 2)  # type: ignore[union-attr]
    assert process_identity.gone(f"{machine}/{pid}/{int(started) - 1}")


@pytest.mark.parametrize(
    "identity",
    [None, "", "other-boot-id/4026531836/1/1", "garbage", "other-boot/ns/x/1"],
)
def test_a_process_of_another_machine_or_namespace_or_unreadable_is_never_declared_gone(identity: str | None) -> None:
    assert not process_identity.gone(identity)
