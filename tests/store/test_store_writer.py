"""The Writer: thread safety, fork safety, rotation by size and age, micro-batching, counters, default root."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from smythtop.store.framing import read_records
from store_testlib import duplicates, frame, scan_ts
from waiting import joined

from smythtop import store


def test_threads_share_one_writer(root: Path) -> None:
    threads, per_thread = 4, 1500
    with store.Writer(root, segment_bytes=4096, buffer_bytes=700) as w:

        def work(k: int) -> None:
            for i in range(per_thread):
                w.append(frame(k * 10_000 + i))
                if i % 100 == 99:
                    w.flush()

        pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            joined(t, "a writing thread")
        assert w.appended == threads * per_thread
    assert w.flushed == threads * per_thread
    ts = scan_ts(root)
    assert duplicates(ts) == {}
    assert sorted(ts) == sorted(frame(k * 10_000 + i)["ts"] for k in range(threads) for i in range(per_thread))
    for seg in (root / "wal").glob("*/*.wal"):
        assert read_records(seg.read_bytes(), sealed=True).damage == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_writes_to_its_own_directory(root: Path) -> None:
    w = store.Writer(root)
    w.append(frame(0))
    w.flush()
    w.append(frame(1))  # buffered in the parent at fork time: the parent's, written once, by the parent
    pid = os.fork()
    if pid == 0:  # the child: only os._exit, never back into pytest
        code = 1
        try:
            w.append(frame(100))
            w.append(frame(101))
            w.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    w.append(frame(2))
    w.close()
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in (0, 1, 2, 100, 101)]
    assert len([d for d in (root / "wal").iterdir() if d.is_dir()]) == 2


def test_rotation_by_size(root: Path) -> None:
    with store.Writer(root, segment_bytes=1000, buffer_bytes=1 << 20) as w:
        for i in range(60):
            w.append(frame(i))
            if i % 5 == 4:
                w.flush()
        seg_dir = w.dir
    sizes = [p.stat().st_size for p in sorted(seg_dir.glob("*.wal"))]
    assert len(sizes) > 3
    # Rotation happens after a write that reached the limit: each sealed segment is >= the limit and
    # overshoots it by less than one flush (5 frames, < 500 bytes here).
    assert all(1000 <= s < 1500 for s in sizes[:-1])
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(60)]


def test_rotation_by_age(root: Path) -> None:
    with store.Writer(root, segment_age_s=0) as w:  # every segment is already old at its first flush
        for i in range(4):
            w.append(frame(i))
            w.flush()
        seg_dir = w.dir
    assert len(list(seg_dir.glob("*.wal"))) == 5  # 4 rotated + the empty current one
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(4)]


def test_full_buffer_is_written_without_flush(root: Path) -> None:
    w = store.Writer(root, buffer_bytes=500)
    try:
        n = 0
        while n < 30 or not w.buffered_bytes:  # stop with a part of a batch still buffered
            w.append(frame(n))
            n += 1
        on_disk = len(scan_ts(root))
        assert 0 < on_disk < n  # micro-batches reached the kernel without flush(); the rest is buffered
        assert w.flushed == on_disk
        w.flush()
        assert w.buffered_bytes == 0 and len(scan_ts(root)) == n
    finally:
        w.close()


def test_fsync_option_writes_the_same(root: Path) -> None:
    with store.Writer(root, fsync=True, segment_bytes=800, buffer_bytes=200) as w:
        w.append_many(frame(i) for i in range(20))
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(20)]


def test_writer_lock_marks_it_alive(root: Path) -> None:
    w = store.Writer(root)
    w.append(frame(0))
    w.flush()
    assert store.check(root).writers_alive == 1
    assert store.compact(root).frames_written == 0  # its only segment is live
    w.close()
    report = store.check(root)
    assert (report.writers_alive, report.writers_dead) == (0, 1)
    assert store.compact(root).frames_written == 1


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("SMYTHTOP_STORE", "SRE_PERFORMANCE_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store.default_root() == tmp_path / "home" / ".local" / "share" / "smythtop" / "store"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert store.default_root() == tmp_path / "xdg" / "smythtop" / "store"
    monkeypatch.setenv("SRE_PERFORMANCE_DIR", str(tmp_path / "sre"))
    assert store.default_root() == tmp_path / "sre"
    monkeypatch.setenv("SMYTHTOP_STORE", str(tmp_path / "own"))
    assert store.default_root() == tmp_path / "own"
    with store.Writer() as w:  # no root: the default
        w.append(frame(0))
    assert scan_ts(None) == [frame(0)["ts"]] == scan_ts(tmp_path / "own")
