"""Retention by age and by size (oldest first) with a fixed clock, and `check`'s counts and time range."""

from __future__ import annotations

from pathlib import Path

from smythtop.store.catalog import list_parquet
from store_testlib import frame, scan_ts, write_frames

from smythtop import store

NOW = 1_750_000_000_000_000_000
DAY = 86_400 * 10**9


def _file_at(root: Path, ages_ns: list[int], start: int) -> tuple[str, int, list[int]]:
    """One Parquet file holding frames aged `ages_ns` before NOW; returns (name, size, ts)."""
    ts = [NOW - age for age in ages_ns]
    with store.Writer(root) as w:
        for k, t in enumerate(ts):
            w.append(frame(start + k, ts=t))
    (name,) = store.compact(root, merge=False).files_written
    return name, (root / "parquet" / name).stat().st_size, ts


def _four_files(root: Path) -> list[tuple[str, int, list[int]]]:
    return [
        _file_at(root, [12 * DAY, 10 * DAY], 0),  # newest frame 10 days old
        _file_at(root, [6 * DAY, 5 * DAY + 1], 10),  # newest just over 5 days old
        _file_at(root, [9 * DAY, 5 * DAY], 20),  # newest exactly 5 days old: on the cutoff, kept
        _file_at(root, [3 * DAY, 3600 * 10**9], 30),
    ]


def test_retention_by_age(root: Path) -> None:
    files = _four_files(root)
    write_frames(root, range(100, 105))  # WAL frames from 2023: never removed by retention
    wal_ts = [frame(i)["ts"] for i in range(100, 105)]

    result = store.apply_retention(root, days=5, now_ns=NOW)
    assert sorted(result.removed) == sorted([files[0][0], files[1][0]])
    assert result.removed_bytes == files[0][1] + files[1][1]
    # files[2] straddles the cut: its 9-day-old frame goes, the frame on the cut stays in a rewritten file.
    assert (result.trimmed, result.trimmed_frames) == ([files[2][0]], 1)
    kept = {f.name: f for f in list_parquet(root)}
    assert result.kept_files == 2 and files[3][0] in kept
    assert result.kept_bytes == sum(f.path.stat().st_size for f in kept.values())
    assert sorted(scan_ts(root)) == sorted(files[2][2][1:] + files[3][2] + wal_ts)
    (rewritten,) = (f for name, f in kept.items() if name != files[3][0])
    assert rewritten.min_ts == rewritten.max_ts == files[2][2][1]  # its range comes from the rows kept

    again = store.apply_retention(root, days=5, now_ns=NOW)
    assert again.removed == [] and again.removed_bytes == 0 and again.kept_files == 2 and again.trimmed == []

    everything = store.apply_retention(root, days=1 / 48, now_ns=NOW)  # 30 minutes: the last file goes too
    assert sorted(everything.removed) == sorted(kept)
    assert sorted(scan_ts(root)) == sorted(wal_ts)


def test_retention_by_size_removes_oldest_first(root: Path) -> None:
    files = _four_files(root)
    sizes = [size for _, size, _ in files]
    # Age keeps them all; the size cap keeps only the two newest by their newest frame.
    result = store.apply_retention(root, days=365, max_bytes=sizes[2] + sizes[3], now_ns=NOW)
    # Oldest first by newest frame: file 0 (10 days), then file 1 (5 days + 1 ns).
    assert sorted(result.removed) == sorted([files[0][0], files[1][0]])
    assert (result.kept_files, result.kept_bytes) == (2, sizes[2] + sizes[3])
    assert sorted(scan_ts(root)) == sorted(files[2][2] + files[3][2])

    result = store.apply_retention(root, days=365, max_bytes=sizes[3], now_ns=NOW)
    assert result.removed == [files[2][0]]
    assert sorted(scan_ts(root)) == sorted(files[3][2])

    result = store.apply_retention(root, days=365, max_bytes=0, now_ns=NOW)
    assert result.removed == [files[3][0]] and result.kept_files == 0
    assert scan_ts(root) == []


def test_retention_on_missing_or_empty_store(root: Path) -> None:
    result = store.apply_retention(root, days=1, now_ns=NOW)
    assert (result.removed, result.kept_files) == ([], 0)
    write_frames(root, range(3))
    assert store.apply_retention(root, days=1, now_ns=NOW).removed == []
    assert len(scan_ts(root)) == 3


def test_check_counts_and_time_range(root: Path) -> None:
    empty = store.check(root)
    assert (empty.frames, empty.oldest_ts, empty.newest_ts, empty.ok) == (0, None, None, True)

    write_frames(root, range(10, 40), segment_bytes=600, buffer_bytes=200)  # dead writer, several segments
    store.compact(root)
    write_frames(root, range(0, 5))  # dead writer, in WAL: holds the oldest frame
    live = store.Writer(root)
    try:
        live.append_many(frame(i) for i in range(50, 57))  # live writer: holds the newest frame
        live.flush()
        live.append(frame(99))  # buffered, not flushed: not in the store yet
        report = store.check(root)
        assert (report.parquet_files, report.parquet_frames) == (1, 30)
        assert (report.wal_segments, report.wal_frames) == (2, 12)
        assert report.frames == 42
        assert (report.writers_alive, report.writers_dead) == (1, 1)
        assert (report.oldest_ts, report.newest_ts) == (frame(0)["ts"], frame(56)["ts"])
        assert report.parquet_bytes == sum(f.path.stat().st_size for f in list_parquet(root))
        assert report.wal_bytes == sum(p.stat().st_size for p in (root / "wal").glob("*/*.wal"))
        assert (report.damaged_bytes, report.quarantined_bytes, report.pending_journals) == (0, 0, 0)
        assert report.ok
        data = report.to_dict()
        assert data["frames"] == 42 and data["ok"] is True
    finally:
        live.close()
    after = store.check(root)
    assert (after.frames, after.writers_alive, after.newest_ts) == (43, 0, frame(99)["ts"])
    store.compact(root)
    final = store.check(root)
    assert (final.frames, final.wal_frames, final.wal_segments) == (43, 0, 0)
    assert (final.oldest_ts, final.newest_ts) == (frame(0)["ts"], frame(99)["ts"])
    assert not (root / "wal").exists() or list((root / "wal").iterdir()) == []  # dead writers' dirs removed
