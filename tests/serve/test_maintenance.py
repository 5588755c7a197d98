"""Scheduled store maintenance (smythtop.maintenance): a pass compacts the WAL, merges small files and applies
retention; it stands aside while another compactor holds the store's lock; a failure is counted and retried."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from serve_testlib import stored
from smythtop.store.catalog import list_parquet
from smythtop.store.locks import compactor_lock
from waiting import wait_until

from smythtop import store
from smythtop.maintenance import Maintenance

NS_PER_DAY = 86_400 * 10**9


def _write(root: Path, stamps: list[int], component: str = "c") -> None:
    with store.Writer(root) as writer:
        writer.append_many(
            {"ts": ts, "agent_id": "a", "component": component, "total_ms": 1.0, "success": True} for ts in stamps
        )


def test_a_pass_compacts_and_applies_retention(tmp_path: Path) -> None:
    root = tmp_path / "store"
    now = time.time_ns()
    _write(root, [now - 10 * NS_PER_DAY + i for i in range(50)], "old")
    _write(root, [now - NS_PER_DAY + i for i in range(70)], "recent")
    maintenance = Maintenance(root, every_s=60, retention_days=5)
    assert maintenance.run_once()
    stats = maintenance.stats
    assert (stats.passes, stats.segments_compacted, stats.frames_compacted) == (1, 2, 120)
    assert stats.frames_expired + 50 * stats.files_removed == 50  # trimmed out of a file, or a whole file dropped
    report = store.check(root)
    assert report.wal_frames == 0 and report.parquet_frames == 70
    assert {f["component"] for f in stored(root)} == {"recent"}


def test_small_files_are_merged(tmp_path: Path) -> None:
    root = tmp_path / "store"
    now = time.time_ns()
    for i in range(4):
        _write(root, [now + i])
        store.compact(root, merge=False)
    assert len(list_parquet(root)) == 4
    for f in list_parquet(root):  # merges wait until a file is a minute old: age them
        os.utime(f.path, (time.time() - 120, time.time() - 120))
    maintenance = Maintenance(root, every_s=60, retention_days=None)
    assert maintenance.run_once()
    assert maintenance.stats.files_merged == 4
    assert len(list_parquet(root)) == 1 and len(stored(root)) == 4


def test_stands_aside_while_another_compactor_holds_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _write(root, [time.time_ns()])
    maintenance = Maintenance(root, every_s=60, retention_days=30)
    with compactor_lock(root) as ours:
        assert ours
        assert not maintenance.run_once()
        assert maintenance.stats.busy == 1
        assert store.check(root).wal_frames == 1  # untouched
    assert maintenance.run_once()
    assert store.check(root).parquet_frames == 1


def test_the_thread_keeps_compacting_and_a_failure_is_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "somebody-elses-file.txt").write_text("not a store")
    with (
        caplog.at_level(logging.WARNING, "smythtop.maintenance"),
        Maintenance(root, every_s=0.02, retention_days=30) as maintenance,
    ):
        wait_until(lambda: maintenance.stats.failed >= 2, "two failed passes")
    [warning] = caplog.records  # logged once, not once a pass
    assert "store maintenance of" in warning.getMessage() and "not a smythtop store" in warning.getMessage()
    good = tmp_path / "good"
    _write(good, [time.time_ns()])
    with Maintenance(good, every_s=0.02, retention_days=30) as maintenance:
        wait_until(lambda: maintenance.stats.frames_compacted == 1, "the scheduled pass to compact the frame")
    assert store.check(good).parquet_frames == 1


def test_every_s_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every_s"):
        Maintenance(tmp_path, every_s=0, retention_days=None)
