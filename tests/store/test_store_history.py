"""Tailer.with_history: a snapshot plus a tail that meet exactly, while writers and a compactor run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from smythtop.store.tailing import Tailer
from store_testlib import BASE_TS, df_ts, duplicates, frame
from waiting import joined

from smythtop import store


def test_history_and_tail_meet_exactly_under_compaction(tmp_path: Path) -> None:
    root = tmp_path / "store"
    n = 6000
    stop = threading.Event()
    started = threading.Event()
    history_taken = threading.Event()

    def write() -> None:
        with store.Writer(root, segment_bytes=4096, buffer_bytes=512) as w:
            for i in range(n):
                w.append(frame(i))
                if i % 50 == 0:
                    w.flush()
                if i == n // 3:
                    started.set()
                if i == 2 * n // 3:  # keep writing through the snapshot, but never finish before it
                    assert history_taken.wait(60), "the history was not taken within 60 s"

    def compact() -> None:
        while not stop.is_set():
            store.compact(root)  # merges wait 60 s, longer than any tailer here goes between polls

    writer = threading.Thread(target=write)
    compactor = threading.Thread(target=compact)
    writer.start()
    compactor.start()
    try:
        assert started.wait(30), "the writer did not reach a third of its frames within 30 s"
        history, tailer = Tailer.with_history(root)
        history_taken.set()
        seen = df_ts(history.collect())
        in_history = len(seen)
        deadline = time.monotonic() + 120  # a bound, not a measurement
        while writer.is_alive():  # poll as fast as possible while it writes
            if time.monotonic() > deadline:
                pytest.fail("timed out after 120 s waiting for the writer thread to finish")
            seen += df_ts(tailer.poll())
        joined(writer, "the writer thread")
    finally:
        history_taken.set()
        stop.set()
    joined(compactor, "the compactor thread")
    store.compact(root)
    for _ in range(3):
        seen += df_ts(tailer.poll())

    assert duplicates(seen) == {}
    assert sorted(seen) == [BASE_TS + i for i in range(n)]
    assert n // 3 <= in_history < n  # the split really fell mid-stream


def test_history_respects_the_window(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with store.Writer(root) as w:
        for i in range(100):
            w.append(frame(i))
    store.compact(root)
    with store.Writer(root) as w:
        for i in range(100, 150):
            w.append(frame(i))
    history, tailer = Tailer.with_history(root, since=BASE_TS + 40, until=BASE_TS + 120)
    assert sorted(df_ts(history.collect())) == [BASE_TS + i for i in range(40, 120)]
    assert tailer.poll() is None
    with store.Writer(root) as w:
        w.append(frame(150))
    assert df_ts(tailer.poll()) == [BASE_TS + 150]
