"""Damaged Parquet files (issue 13, items 7 and 8): a bit flip is detected by its page checksum, never read
as a changed value; a damaged or truncated file is skipped and moved to `quarantine/`, counted, and
everything else (scan, compaction's merge, the CLI's report and export) keeps working.

The damage is real: single bits flipped and files truncated in place in files the compactor wrote.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from smythtop.store.pqfiles import quarantine_parquet
from store_testlib import PY, REPO, frame, read_rows, scan_ts, write_frames

from smythtop import store

FLIPS = 40  # single-bit flips, each in a fresh copy of the store
SEED = 13


def _store_with_files(root: Path, batches: list[range]) -> list[Path]:
    """One compacted Parquet file per batch (merge off), returned in batch order."""
    files: list[Path] = []
    for ids in batches:
        write_frames(root, ids)
        store.compact(root, merge=False)
        (new,) = set((root / "parquet").glob("*.parquet")) - set(files)
        files.append(new)
    return files


def _flip(path: Path, pos: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))


def _flip_a_page(path: Path) -> None:
    """Flip one bit that lands in a page's checked bytes (the first, from the middle, that pyarrow's own
    checksum verification rejects): a flip that a checksum must catch."""
    start, end = _data_region(path)
    for pos in range((start + end) // 2, end):
        _flip(path, pos, 0)
        try:
            pq.ParquetFile(path, page_checksum_verification=True).read()
        except OSError:
            return
        _flip(path, pos, 0)
    raise AssertionError("no page bytes found")


def _data_region(path: Path) -> tuple[int, int]:
    """Byte range of the column chunks: after the 4-byte magic, before the footer."""
    size = path.stat().st_size
    return 4, size - 8 - pq.read_metadata(path).serialized_size


def test_single_bit_flips_are_detected_never_read_as_changed_values(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    (path,) = _store_with_files(pristine, [range(2000)])
    expected = read_rows(pristine)
    start, end = _data_region(path)
    rng = random.Random(SEED)
    detected = 0
    for k in range(FLIPS):
        root = tmp_path / f"flip{k}"
        shutil.copytree(pristine, root)
        _flip(root / "parquet" / path.name, rng.randrange(start, end), rng.randrange(8))
        report = store.check(root)
        rows = read_rows(root)  # never raises, whatever the flip
        if report.ok:
            assert rows == expected, f"flip {k}: check said ok but values changed"
            continue
        detected += 1
        assert report.unreadable_parquet and report.unreadable_parquet[0].startswith(path.name)
        assert rows == [], f"flip {k}: rows of a damaged file were returned"
        # The reader moved it aside: counted, and the store is whole again.
        assert [p.name for p in (root / "quarantine").iterdir()] == [path.name]
        after = store.check(root)
        assert (after.ok, after.quarantined_parquet, after.parquet_files) == (True, 1, 0)
    assert detected >= FLIPS // 2, f"only {detected} of {FLIPS} flips in page data were detected"


def test_truncated_file_is_skipped_and_quarantined_by_scan(root: Path) -> None:
    damaged, healthy = _store_with_files(root, [range(0, 50), range(50, 80)])
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    report = store.check(root)
    assert not report.ok and report.unreadable_parquet[0].startswith(damaged.name)
    assert report.parquet_frames == 30

    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(50, 80)]
    assert not damaged.exists() and healthy.exists()
    assert (root / "quarantine" / damaged.name).read_bytes() == data[: len(data) // 2]  # moved, not lost
    after = store.check(root)
    assert (after.ok, after.quarantined_parquet, after.parquet_frames) == (True, 1, 30)
    # Live views read through the same path.
    history, _ = store.Tailer.with_history(root)
    assert history.select(pl.len()).collect().item() == 30


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_merge_skips_and_quarantines_a_damaged_file(root: Path, damage: str) -> None:
    files = _store_with_files(root, [range(i * 10, i * 10 + 10) for i in range(5)])
    bad = files[2]
    if damage == "truncate":
        bad.write_bytes(bad.read_bytes()[:100])
    else:
        _flip_a_page(bad)
    result = store.compact(root, merge_min_age_s=0)
    assert result.parquet_quarantined == [bad.name]
    assert result.files_merged == 4
    assert (root / "quarantine" / bad.name).exists()
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(50) if not 20 <= i < 30]
    assert store.compact(root, merge_min_age_s=0).parquet_quarantined == []  # and later compactions run clean
    assert store.check(root).ok


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SMYTHTOP_STORE", "SRE_PERFORMANCE_DIR")}
    return subprocess.run(
        [str(Path(PY).parent / "smythtop"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env=env,
    )


@pytest.mark.slow
def test_report_and_export_survive_a_truncated_file(root: Path, tmp_path: Path) -> None:
    damaged, _ = _store_with_files(root, [range(0, 50), range(50, 80)])
    damaged.write_bytes(damaged.read_bytes()[:300])
    window = ("--from", "2023-11-14T00:00:00+00:00", "--to", "2023-11-15T00:00:00+00:00")
    report = _cli("report", "--store", str(root), "--format", "json", *window)
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr and "panicked" not in report.stderr
    assert json.loads(report.stdout)
    out = tmp_path / "frames.jsonl"
    export = _cli("export", "--store", str(root), "--format", "jsonl", "--output", str(out), *window)
    assert export.returncode == 0, export.stderr
    assert len(out.read_text().splitlines()) == 30
    check = _cli("store", "check", "--store", str(root), "--json")
    assert json.loads(check.stdout)["quarantined_parquet"] == 1


def test_quarantine_never_follows_a_symlinked_directory(root: Path, tmp_path: Path) -> None:
    """Moving a damaged file aside must not move it out of the store through a planted symlink."""
    damaged, _ = _store_with_files(root, [range(0, 20), range(20, 30)])
    damaged.write_bytes(damaged.read_bytes()[:200])
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.rmtree(root / "quarantine")
    (root / "quarantine").symlink_to(victim)
    with pytest.raises(store.UnsafeStore):  # the store's own check refuses a symlink inside it first
        scan_ts(root)
    # and the quarantine itself never follows one (a symlink planted after that check)
    assert quarantine_parquet(root, damaged) is False
    assert list(victim.iterdir()) == [] and damaged.exists()
