"""Rollup file layout (store/rollups.py, docs/FORMAT.md section 11): version 2 writes the sums rows and the
sketch rows in row groups of their own, so a reader of one kind skips the other's; version-1 files (the two
kinds interleaved) still read, to the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from polars.testing import assert_frame_equal
from smythtop.store.rollups import KEY, SCHEMA, SKETCH_COLUMNS, SUMS_COLUMNS, VERSION, read, scan_rollups, write
from test_rollups import _frames, _write

HOUR_NS = 3600 * 10**9
BY = [*KEY, "success", "metric", "_bin"]


def _v1(rows: pl.DataFrame, path: Path) -> None:
    """What `write` wrote before version 2: both kinds in one table sorted by key, in small row groups (the
    bench's 64k-row groups hold both kinds too)."""
    table = rows.sort(*KEY, "metric", "_bin", nulls_last=True).to_arrow().cast(SCHEMA)
    meta = {**SCHEMA.metadata, b"smythtop.rollup_version": b"1", b"smythtop.sources": b'{"sources": []}'}
    pq.write_table(table.replace_schema_metadata(meta), path, compression="zstd", write_page_checksum=True,
                   row_group_size=500)  # fmt: skip


def test_each_kind_has_row_groups_of_its_own_and_reads_alone(root: Path) -> None:
    _write(root, _frames(600, 2 * HOUR_NS, seed=21), chunks=1)
    rows = scan_rollups(root).rows
    path = root / "rollups" / "mine.parquet"
    write(rows, path, sources=[])
    meta = pq.ParquetFile(path).metadata
    assert meta.metadata[b"smythtop.rollup_version"] == str(VERSION).encode() == b"2"
    metric = SCHEMA.get_field_index("metric")
    nulls = [meta.row_group(i).column(metric).statistics.null_count for i in range(meta.num_row_groups)]
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert nulls[0] == sizes[0] and not any(nulls[1:])  # the sums rows first, then only sketch rows
    assert nulls[0] == rows.filter(pl.col("metric").is_null()).height and len(sizes) > 1
    sums, sketch = read(root, path, part="sums"), read(root, path, part="sketch")
    assert sums is not None and sketch is not None
    assert sums.columns == list(SUMS_COLUMNS) and sketch.columns == list(SKETCH_COLUMNS)
    assert sums.schema["agent_id"] == pl.String and sketch.schema["metric"] == pl.Categorical  # as dictionaries
    sketch = sketch.with_columns(pl.col(pl.Categorical).cast(pl.String))
    got = pl.concat([sums, sketch], how="diagonal").select(rows.columns)
    assert_frame_equal(got.sort(BY, nulls_last=True), rows.sort(BY, nulls_last=True))


def test_a_version_1_store_reads_the_same_rows(root: Path, tmp_path: Path) -> None:
    _write(root, _frames(600, 3 * HOUR_NS, seed=22), chunks=2)
    since, until = 1_748_822_400_000_000_000 + 40 * 60 * 10**9, 1_748_822_400_000_000_000 + 150 * 60 * 10**9
    want = scan_rollups(root, since, until, tier_ns=HOUR_NS)
    for path in (root / "rollups").glob("*.parquet"):  # rewrite every rollup file as version 1 wrote it
        rows = read(root, path)
        assert rows is not None
        path.unlink()
        _v1(rows, path)
    got = scan_rollups(root, since, until, tier_ns=HOUR_NS)
    assert (got.files, got.tier_ns, got.quarantined) == (want.files, HOUR_NS, [])
    for have, expect in ((got.sums, want.sums), (got.sketch, want.sketch)):
        by = [c for c in BY if c in have.columns]
        assert_frame_equal(have.sort(by, nulls_last=True), expect.sort(by, nulls_last=True))
