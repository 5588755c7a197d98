"""Tailing: `store.tail` (watchfiles) delivers frames written after it starts, and `Tailer.poll` delivers each
frame once, including frames of segments compacted away before it had read them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import smythtop.store.tailing
from store_testlib import df_ts, duplicates, frame, write_frames

from smythtop import store


def _ts(ids: range | list[int]) -> list[int]:
    return [frame(i)["ts"] for i in ids]


def test_tail_delivers_frames_written_after_it_starts(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_frames(root, range(10))  # before the tail: not delivered
    ready = threading.Event()

    class SignallingTailer(smythtop.store.tailing.Tailer):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            ready.set()

    monkeypatch.setattr(smythtop.store.tailing, "Tailer", SignallingTailer)
    stop = threading.Event()
    got: list[int] = []
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            for df in store.tail(root, stop_event=stop, rescan_s=1.0):
                got.extend(df_ts(df))
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    written: list[int] = []
    live = store.Writer(root, segment_bytes=1024)
    try:
        assert ready.wait(30)
        deadline = time.monotonic() + 60  # a bound, not a measurement
        batch = 0
        while time.monotonic() < deadline and not errors:
            if batch < 6:
                ids = range(100 + 20 * batch, 120 + 20 * batch)
                live.append_many(frame(i) for i in ids)
                live.flush()
                written += _ts(ids)
                if batch == 3:
                    store.compact(root)  # the live writer's sealed segments go to Parquet meanwhile
                batch += 1
            elif sorted(got) == sorted(written):
                break
            time.sleep(0.05)
    finally:
        live.close()
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert not thread.is_alive(), "the tailing thread did not finish within 30 s"
    assert duplicates(got) == {}
    assert sorted(got) == sorted(written)


def test_tailer_from_now_and_from_start(root: Path) -> None:
    write_frames(root, range(5))
    assert store.Tailer(root).poll() is None
    tailer = store.Tailer(root, from_start=True)
    assert sorted(df_ts(tailer.poll())) == _ts(range(5))
    assert tailer.poll() is None
    assert tailer.delivered == 5


def test_tailer_on_missing_store(root: Path) -> None:
    tailer = store.Tailer(root)
    assert tailer.poll() is None
    write_frames(root, range(3))
    assert sorted(df_ts(tailer.poll())) == _ts(range(3))


def test_tailer_gets_the_rest_of_a_compacted_segment_from_parquet(root: Path) -> None:
    """The tailer read part of a segment; the writer then finished it and it was compacted away: the rest
    comes from the Parquet file, using its per-segment row counts, and nothing twice."""
    tailer = store.Tailer(root)
    w = store.Writer(root, segment_bytes=1 << 20)
    w.append_many(frame(i) for i in range(10))
    w.flush()
    assert sorted(df_ts(tailer.poll())) == _ts(range(10))
    w.append_many(frame(i) for i in range(10, 25))
    w.close()  # dead: its only segment is sealed, and compaction takes it before the tailer reads on
    # A second dead writer the tailer never saw at all.
    write_frames(root, range(30, 40))
    assert store.compact(root).frames_written == 35
    assert not list((root / "wal").glob("*/*.wal"))
    got = df_ts(tailer.poll())
    assert sorted(got) == _ts(range(10, 25)) + _ts(range(30, 40))
    assert tailer.poll() is None
    assert tailer.delivered == 35
    # A later merge of Parquet files is not new data.
    for k in range(4):
        write_frames(root, range(100 + 10 * k, 110 + 10 * k))
        store.compact(root, merge=False)
    got = df_ts(tailer.poll())
    assert sorted(got) == _ts(range(100, 140))
    assert store.compact(root, merge_min_age_s=0).files_merged == 5
    assert tailer.poll() is None


def test_tailer_rows_have_the_scan_schema(root: Path) -> None:
    tailer = store.Tailer(root)
    w = store.Writer(root)
    w.append(frame(0, model="gpt-4o", region="eu"))
    w.flush()
    df = tailer.poll()
    assert df is not None and df.schema == store.polars_schema()
    assert df.row(0, named=True)["tags"] == {"region": "eu"}
    w.append(frame(1))
    w.close()
    store.compact(root)
    df = tailer.poll()  # from Parquet this time
    assert df is not None and df.schema == store.polars_schema() and df_ts(df) == _ts([1])
