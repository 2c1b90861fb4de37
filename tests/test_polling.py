"""The two ways of asking again: waiting for a value, and repeating an action beside other work."""

from __future__ import annotations

import threading

import pytest

from receipt_sync.polling import poll_until, repeating


def test_poll_until_returns_the_first_truthy_value_and_names_what_never_came() -> None:
    answers = iter([None, 0, "ready"])
    assert poll_until(lambda: next(answers), what="the answer", timeout=5, every=0.01) == "ready"
    with pytest.raises(TimeoutError, match="the impossible"):
        poll_until(lambda: None, what="the impossible", timeout=0, every=0.01)


def test_repeating_carries_on_after_a_failed_tick_and_stops_with_its_block() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a missed tick")

    with repeating(flaky, every=0.01, name="test-repeating"):
        poll_until(lambda: len(calls) >= 3, what="three ticks", timeout=30)
    assert all(t.name != "test-repeating" for t in threading.enumerate())
