"""Fault injection: a compactor that dies at each step of the publish protocol (WAL compaction and small-file
merge) leaves no duplicates and loses nothing, before recovery and after; leftover temp files are cleaned."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from smythtop.store.catalog import list_parquet
from smythtop.store.rollups import scan_rollups
from store_testlib import PY, REPO, duplicates, frame, run_py, scan_ts, tmp_leftovers, write_frames

from smythtop import store

# The compactor child: crash (exit status 9, no clean-up, locks dropped by the kernel) at one step.
CRASH = r"""
import os, sys
from smythtop import store
import smythtop.store.compaction as c
root, point, merge_age = sys.argv[1], sys.argv[2], float(sys.argv[3])
die = lambda *a, **k: os._exit(9)
if point == "before_journal":          # temp Parquet written and fsynced, no journal yet
    c.write_journal = die
elif point == "before_rename":         # journal written, target not yet renamed into place
    os.rename = die
elif point == "before_delete":         # target published, sources not deleted (the classic duplicate)
    c._delete_sources = die
elif point == "before_journal_unlink": # sources deleted, journal still there
    delete = c._delete_sources
    def c_delete(*a, **k):
        delete(*a, **k)
        os._exit(9)
    c._delete_sources = c_delete
store.compact(root, merge_min_age_s=merge_age)
os._exit(0)
"""
POINTS = ["before_journal", "before_rename", "before_delete", "before_journal_unlink"]
TMP_LEFT = {"before_journal": 1, "before_rename": 1, "before_delete": 0, "before_journal_unlink": 0}
JOURNAL_LEFT = {"before_journal": 0, "before_rename": 1, "before_delete": 1, "before_journal_unlink": 1}
# a minute and an hour rollup (store/rollups.py tiers) per frames file
ROLLUP_TMP_LEFT = {"before_journal": 2, "before_rename": 2, "before_delete": 0, "before_journal_unlink": 0}


def _crash(root: Path, point: str, merge_age: float = 60.0) -> None:
    proc = run_py(CRASH, str(root), point, str(merge_age))
    assert proc.returncode == 9, f"the compactor did not crash at {point}: {proc.stderr}"


def _assert_exactly_once(root: Path, expected: set[int]) -> None:
    ts = scan_ts(root)
    assert duplicates(ts) == {}
    assert set(ts) == expected
    assert store.check(root).frames == len(expected)
    rolled = scan_rollups(root)  # the rollups count each frame once too: published with its frames file, or not
    assert rolled.sums["rows"].sum() + rolled.wal.height == len(expected)


def _junk(root: Path) -> int:
    """Leftovers of crashed compactors and writers that recovery must remove; returns how many."""
    (root / "parquet" / ".tmp-0000000000000000001-0000000000000000002-wdeadbeef0000.parquet").write_bytes(b"PAR1 junk")
    (root / "journal" / ".tmp-0123456789abcdef.json").write_bytes(b'{"target": "parq')
    dead = root / "wal" / ".tmp-deadhost-1-deadbeef"
    dead.mkdir(parents=True)
    (dead / "LOCK").touch()
    (dead / "000001.wal").write_bytes(b"SMYTHWAL")
    # A crashed writer's set-up dir is only removed once stale: a live one is unlocked for an instant.
    long_ago = time.time() - 3600
    os.utime(dead, (long_ago, long_ago))
    return 3


@pytest.mark.parametrize("point", POINTS)
def test_crash_while_compacting_wal(root: Path, point: str) -> None:
    # Three dead writers with several segments each, plus a live writer with sealed and unsealed segments.
    for k in range(3):
        write_frames(root, range(100 * k, 100 * k + 60), segment_bytes=1024, buffer_bytes=256)
    live = store.Writer(root, segment_bytes=1024)
    try:
        for i in range(1000, 1050):
            live.append(frame(i))
        live.flush()
        assert len(list((root / "wal").glob("*/*.wal"))) > 6  # several segments per writer
        expected = {frame(i)["ts"] for k in range(3) for i in range(100 * k, 100 * k + 60)}
        expected |= {frame(i)["ts"] for i in range(1000, 1050)}
        live_dir = root / "wal" / live.dir.name
        _assert_exactly_once(root, expected)

        _crash(root, point)
        # Before recovery: readers must already see each frame once.
        _assert_exactly_once(root, expected)
        assert store.check(root).pending_journals == JOURNAL_LEFT[point]
        assert len(list((root / "parquet").glob(".tmp-*"))) == TMP_LEFT[point]

        junk = _junk(root)
        # A live writer's directory under a temp name (still being set up) must survive recovery.
        busy = root / "wal" / ".tmp-livehost-2-0000cafe"
        busy.mkdir()
        fd = os.open(busy / "LOCK", os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            result = store.compact(root)
            assert busy.is_dir()
        finally:
            os.close(fd)
        assert result.journals_recovered == JOURNAL_LEFT[point]
        assert result.temp_files_removed == junk + TMP_LEFT[point] + ROLLUP_TMP_LEFT[point]
        _assert_exactly_once(root, expected)
        assert tmp_leftovers(root) == [f"wal/{busy.name}"]
        assert list((root / "journal").iterdir()) == []
        # Only the live writer's directory is left in wal/, holding its unsealed segment.
        assert sorted(p.name for p in (root / "wal").iterdir()) == sorted([live_dir.name, busy.name])

        for i in range(1050, 1060):
            live.append(frame(i))
            expected.add(frame(i)["ts"])
    finally:
        live.close()
    store.compact(root)
    _assert_exactly_once(root, expected)
    assert store.check(root).wal_frames == 0


@pytest.mark.parametrize("point", POINTS)
def test_crash_while_merging_small_files(root: Path, point: str) -> None:
    expected: set[int] = set()
    for k in range(5):
        ids = range(20 * k, 20 * k + 20)
        write_frames(root, ids)
        assert store.compact(root, merge=False).frames_written == 20
        expected |= {frame(i)["ts"] for i in ids}
    small = {f.name for f in list_parquet(root)}
    assert len(small) == 5

    _crash(root, point, merge_age=0)
    _assert_exactly_once(root, expected)
    assert store.check(root).pending_journals == JOURNAL_LEFT[point]

    result = store.compact(root)  # recovery only: the files are younger than the default merge age
    assert result.journals_recovered == JOURNAL_LEFT[point]
    assert result.temp_files_removed == TMP_LEFT[point]
    _assert_exactly_once(root, expected)
    names = {f.name for f in list_parquet(root)}
    if point in ("before_delete", "before_journal_unlink"):
        assert len(names) == 1 and not names & small  # the merge had been published: it stands
        assert list_parquet(root)[0].kind == "m"
    else:
        assert names == small  # rolled back: the sources stand
    assert tmp_leftovers(root) == []

    result = store.compact(root, merge_min_age_s=0)
    assert len(list_parquet(root)) == 1
    _assert_exactly_once(root, expected)


def test_merge_sorts_by_ts_and_keeps_every_row(root: Path) -> None:
    expected = []
    for k in range(5):
        ids = list(range(k, 100, 5))  # interleaved time ranges
        write_frames(root, ids)
        store.compact(root, merge=False)
        expected += [frame(i)["ts"] for i in ids]
    result = store.compact(root, merge_min_age_s=0)
    assert result.files_merged == 5
    (only,) = list_parquet(root)
    assert (only.min_ts, only.max_ts) == (min(expected), max(expected))
    ts = pq.read_table(only.path).column("ts").cast("int64").to_pylist()
    assert ts == sorted(expected)


def test_second_compactor_is_busy(root: Path) -> None:
    write_frames(root, range(10))
    code = r"""
import sys, time
from pathlib import Path
from smythtop.store.locks import compactor_lock
with compactor_lock(Path(sys.argv[1])) as ours:
    assert ours
    print("held", flush=True)
    sys.stdin.readline()
"""
    holder = subprocess.Popen(
        [PY, "-c", code, str(root)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert select.select([holder.stdout], [], [], 30)[0], "timed out after 30 s waiting for the lock holder"
        assert holder.stdout.readline() == "held\n"
        result = store.compact(root)
        assert result.busy and result.frames_written == 0
        assert store.check(root).wal_frames == 10
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert store.compact(root).frames_written == 10
