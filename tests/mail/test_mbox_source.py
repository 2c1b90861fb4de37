"""A Google Takeout .mbox pages through the MailSource interface: every message once, stable ids, bounded pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from receipt_sync.mail import mbox
from receipt_sync.mail.base import FetchFailure, RawMessage
from receipt_sync.mail.mbox import MboxSource, mbox_id
from receipt_sync.samples import SampleMessage, generate_messages, write_mbox
from receipt_sync.samples.generator import message_id_of

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def samples() -> list[SampleMessage]:
    return generate_messages(240, seed=21, start=START, end=END)


@pytest.fixture()
def mbox_path(samples: list[SampleMessage], tmp_path: Path) -> Path:
    path = tmp_path / "All mail Including Spam and Trash.mbox"
    write_mbox(samples, path)
    return path


def _lf(sample: SampleMessage) -> bytes:
    """What an mbox can hold of a sample: LF line ends, and a final newline (a truncated message lacks one)."""
    raw = sample.raw.replace(b"\r\n", b"\n")
    return raw if raw.endswith(b"\n") else raw + b"\n"


def _written(message: RawMessage) -> bytes:
    """A read message without the two Takeout headers (X-GM-THRID, X-Gmail-Labels) written in front."""
    thread, labels, rest = message.raw.split(b"\n", 2)
    assert thread.startswith(b"X-GM-THRID: ") and labels.startswith(b"X-Gmail-Labels: ")
    return rest


def _all_pages(source: MboxSource, **window: datetime) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = source.list_messages(page_token=token, **window)
        pages.append(page.message_ids)
        token = page.next_page_token
        if token is None:
            return pages


def _fetch_all(source: MboxSource, **window: datetime) -> list[RawMessage]:
    fetched = []
    for ids in _all_pages(source, **window):
        fetched += source.fetch_messages(ids)
    assert all(isinstance(m, RawMessage) for m in fetched)
    return fetched  # type: ignore[return-value]


def test_pages_through_every_message_exactly_once(mbox_path: Path, samples: list[SampleMessage]) -> None:
    pages = _all_pages(MboxSource(mbox_path, page_size=50))
    ids = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [50, 50, 50, 50, 40]
    assert ids == [mbox_id(message_id_of(m.raw) or "") for m in samples]


def test_fetched_messages_are_the_written_ones_with_date_labels_and_thread(
    mbox_path: Path, samples: list[SampleMessage]
) -> None:
    fetched = _fetch_all(MboxSource(mbox_path, page_size=64))
    for message, sample in zip(fetched, samples, strict=True):
        assert _written(message) == _lf(sample)
        assert message.internal_date == sample.internal_date
        assert message.label_ids == sample.label_ids
        assert message.thread_id == sample.thread_id


def test_ids_are_stable_across_two_opens(mbox_path: Path) -> None:
    first = _all_pages(MboxSource(mbox_path, page_size=70))
    second = _all_pages(MboxSource(mbox_path, page_size=70))
    assert first == second


def test_flow_page_size_is_capped_by_the_source_page_size(mbox_path: Path) -> None:
    source = MboxSource(mbox_path, page_size=30)
    assert len(source.list_messages(page_token=None, page_size=500).message_ids) == 30
    assert len(source.list_messages(page_token=None, page_size=10).message_ids) == 10


def test_date_window_keeps_messages_inside_it_and_undated_ones(tmp_path: Path, samples: list[SampleMessage]) -> None:
    undated = replace(samples[0], id="00000000000000ff", raw=_without_date(samples[0].raw))
    path = tmp_path / "window.mbox"
    write_mbox([*samples, undated], path)
    after, before = datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
    fetched = _fetch_all(MboxSource(path, page_size=25), after=after, before=before)
    inside = [s for s in samples if after <= s.internal_date < before]
    assert len(fetched) == len(inside) + 1
    assert {_written(m) for m in fetched[:-1]} == {_lf(s) for s in inside}
    assert b"\nDate:" not in fetched[-1].raw


def _without_date(raw: bytes) -> bytes:
    lines = raw.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.startswith(b"Date:")).replace(
        b"Message-ID: <", b"Message-ID: <undated."
    )


def test_body_lines_starting_with_from_survive_the_round_trip(tmp_path: Path, samples: list[SampleMessage]) -> None:
    body = b"From here on, prices change.\r\n>From the archive: quoted\r\n\r\nFrom me to you\r\nThe end\r\n"
    tricky = replace(samples[1], raw=samples[1].raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body)
    path = tmp_path / "from-lines.mbox"
    write_mbox([samples[0], tricky, samples[2]], path)
    fetched = _fetch_all(MboxSource(path))
    assert [_written(m) for m in fetched] == [_lf(s) for s in (samples[0], tricky, samples[2])]


def test_messages_split_across_read_blocks_are_read_whole(
    mbox_path: Path, samples: list[SampleMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mbox, "BLOCK", 977)
    fetched = _fetch_all(MboxSource(mbox_path, page_size=100))
    assert [_written(m) for m in fetched] == [_lf(s) for s in samples]


def test_crlf_takeout_file_reads_the_same_messages(tmp_path: Path, mbox_path: Path) -> None:
    crlf = tmp_path / "crlf.mbox"
    crlf.write_bytes(mbox_path.read_bytes().replace(b"\n", b"\r\n"))
    assert _all_pages(MboxSource(crlf, page_size=100)) == _all_pages(MboxSource(mbox_path, page_size=100))


def test_an_unlisted_id_fails_alone(mbox_path: Path) -> None:
    source = MboxSource(mbox_path, page_size=5)
    ids = source.list_messages(page_token=None).message_ids
    results = source.fetch_messages([ids[0], "mbox-not-listed", ids[1]])
    assert isinstance(results[0], RawMessage) and isinstance(results[2], RawMessage)
    assert isinstance(results[1], FetchFailure) and results[1].id == "mbox-not-listed"


def test_size_estimate_after_the_first_page_is_near_the_message_count(mbox_path: Path) -> None:
    estimate = MboxSource(mbox_path, page_size=40).list_messages(page_token=None).result_size_estimate
    assert estimate is not None and 150 <= estimate <= 350


def test_an_mbox_has_no_history_so_syncs_are_full_passes(mbox_path: Path) -> None:
    source = MboxSource(mbox_path)
    assert source.current_history_id() is None
    with pytest.raises(NotImplementedError):
        source.list_history(start_history_id="1", page_token=None)


def test_an_empty_file_lists_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty.mbox").write_bytes(b"")
    page = MboxSource(tmp_path / "empty.mbox").list_messages(page_token=None)
    assert page.message_ids == [] and page.next_page_token is None
