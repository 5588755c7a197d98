"""Frame file v2 (store/framefile.py): durations as int64 µs in compacted files, and a store holding v1 and v2
files reads, checks and merges as one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from smythtop.store.catalog import KIND_WAL, parquet_name
from smythtop.store.columns import ARROW_SCHEMA
from smythtop.store.framefile import FORMAT_V1, FORMAT_V2, file_version
from smythtop.store.rollups import scan_rollups
from store_testlib import BASE_TS, expected_row, frame, full_frame, read_rows

from smythtop import store


def _write_v1(root: Path, frames: list[dict]) -> Path:
    """A v1 file as an older smythtop wrote it: the contract's schema as is, float64 ms."""
    rows = [expected_row(f) for f in frames]
    table = pa.Table.from_pylist(rows, schema=ARROW_SCHEMA)
    path = root / "parquet" / parquet_name(rows[0]["ts"], rows[-1]["ts"], KIND_WAL)
    pq.write_table(table, path, compression="zstd", write_page_checksum=True)
    return path


def test_durations_are_kept_to_the_microsecond(root: Path) -> None:
    sub_us = frame(0, total_ms=1.2345678, ttft_ms=0.0004, core_ms=2.0004)
    with store.Writer(root) as w:
        w.append(sub_us)
    assert read_rows(root)[0]["total_ms"] == 1.2345678  # the WAL keeps what the agent wrote
    store.compact(root)
    (path,) = (root / "parquet").glob("*.parquet")
    raw = pq.read_table(path)
    assert file_version(raw.schema) == FORMAT_V2
    assert raw.column("total_us").to_pylist() == [1235]
    assert raw.column("ttft_us").to_pylist() == [0]
    assert raw.column("core_us").to_pylist() == [2000]
    row = read_rows(root)[0]
    assert (row["total_ms"], row["ttft_ms"], row["core_ms"]) == (1.235, 0.0, 2.0)


def test_a_v1_file_beside_v2_files_reads_checks_and_merges(root: Path) -> None:
    new = [full_frame(i) for i in range(10, 20)]
    with store.Writer(root) as w:
        for f in new:
            w.append(f)
    store.compact(root)
    old = [full_frame(i) | {"total_ms": 0.1 + i} for i in range(10)]  # 0.1 + i: not whole µs, kept in v1
    v1 = _write_v1(root, old)
    assert file_version(pq.read_schema(v1)) == FORMAT_V1
    expected = [expected_row(f) for f in old + new]
    assert read_rows(root) == expected
    assert read_rows(root, since=BASE_TS + 5, until=BASE_TS + 15) == expected[5:15]
    report = store.check(root)
    assert report.ok and report.frames == 20
    # the v1 file predates rollups: a window over it cannot be answered from rollups, one after it can
    assert not scan_rollups(root).complete and scan_rollups(root, since=BASE_TS + 60 * 10**9).complete

    result = store.compact(root, merge_min_age_s=0.0)  # below MERGE_MIN_FILES: nothing to merge yet
    assert result.files_merged == 0
    for i in range(3):  # more small files, so the merge runs and reads the v1 file with the others
        with store.Writer(root) as w:
            w.append(full_frame(100 + i))
        store.compact(root, merge=False)
    result = store.compact(root, merge_min_age_s=0.0)
    assert result.files_merged == 5
    (merged,) = (root / "parquet").glob("*.parquet")
    assert file_version(pq.read_schema(merged)) == FORMAT_V2
    assert not scan_rollups(root).complete  # merged with the v1 file: still not all rolled up
    rows = read_rows(root)
    assert len(rows) == 23
    # the v1 frames now sit in a v2 file: their durations are rounded to the µs, nothing else changed
    assert [r["total_ms"] for r in rows[:10]] == [round((0.1 + i) * 1000) / 1000 for i in range(10)]
    assert [{**r, "total_ms": None} for r in rows[:20]] == [{**e, "total_ms": None} for e in expected]
