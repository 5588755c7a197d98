"""Rollup tiers (store/rollups.py): a window read from the hour tier, its edges from minutes and the WAL, equals
the raw frames; old minute-only stores and a damaged hour file fall back to the minute tier, exactly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from smythtop.store.rollups import HOUR_NS, KIND_HOUR, MINUTE_NS, RollupScan, aggregate, scan_rollups
from test_rollups import COMPONENTS, START, _frames, _p95, _sketch_p95, _write

from smythtop import store

SINCE, UNTIL = START + 2 * HOUR_NS + 7 * MINUTE_NS + 3 * 10**9, START + 11 * HOUR_NS + 53 * MINUTE_NS  # mid-hour edges


def _wal_rows(got: RollupScan) -> pl.DataFrame:
    return aggregate(got.wal).select(got.rows.columns) if got.wal.height else got.rows.clear()


def _assert_equals_raw(got: RollupScan, frames: list[dict]) -> None:
    """Counts and weighted cost exact, total_ms p95 within 1 % of numpy's, per component."""
    raw = pl.DataFrame(frames, infer_schema_length=None).filter(
        (pl.col("ts") >= got.start_ns) & (pl.col("ts") < got.end_ns)
    )
    raw = raw.with_columns(w=1.0 / pl.col("sample_rate"))
    rows = pl.concat([got.rows, _wal_rows(got)])
    sums = rows.filter(pl.col("metric").is_null())
    for comp in COMPONENTS:
        want, have = raw.filter(pl.col("component") == comp), sums.filter(pl.col("component") == comp)
        assert have["rows"].sum() == want.height and have["n"].sum() == want["w"].sum()
        cost = (want["cost_usd"].fill_null(0) * want["w"]).sum()
        assert have["cost_usd_sum"].sum() == pytest.approx(cost, rel=1e-12, abs=0)
        sketch = rows.filter((pl.col("component") == comp) & (pl.col("metric") == "total_ms"))
        exact = _p95(want["total_ms"].to_numpy(), want["w"].to_numpy())
        assert exact <= _sketch_p95(sketch) <= exact * 1.01


@pytest.fixture
def tiered(root: Path) -> list[dict]:
    frames = _frames(6_000, 12 * HOUR_NS, seed=21)
    _write(root, frames[:-400], chunks=3)
    with store.Writer(root) as w:  # the newest frames stay in the WAL
        for f in frames[-400:]:
            w.append(f)
    return frames


def test_a_window_across_tier_boundaries_and_the_wal_equals_raw_frames(root: Path, tiered: list[dict]) -> None:
    got = scan_rollups(root, SINCE, UNTIL, tier_ns=HOUR_NS)
    assert got.tier_ns == HOUR_NS and got.wal.height > 0
    lo_h, hi_h = -(-SINCE // HOUR_NS) * HOUR_NS, UNTIL // HOUR_NS * HOUR_NS
    inner = got.rows.filter((pl.col("t") >= lo_h) & (pl.col("t") < hi_h))["t"]
    assert (inner % HOUR_NS == 0).all() and inner.n_unique() == (hi_h - lo_h) // HOUR_NS  # whole hours: hour rows
    assert (got.rows["t"] % HOUR_NS != 0).any()  # the edges come from minute files
    _assert_equals_raw(got, tiered)
    # the hour tier reads far fewer rows than the minute tier for the same window
    assert got.rows.height < scan_rollups(root, SINCE, UNTIL).rows.height


def test_an_old_minute_only_store_still_reads(root: Path, tiered: list[dict]) -> None:
    """Minute files written before tiers (kinds w, m) have no hour counterpart: the minute tier answers."""
    for path in (root / "rollups").glob("*.parquet"):
        lo, hi, tail = path.name.split("-")
        if tail.startswith(KIND_HOUR):
            path.unlink()
        else:
            path.rename(path.with_name(f"{lo}-{hi}-w{tail[1:]}"))
    got = scan_rollups(root, SINCE, UNTIL, tier_ns=HOUR_NS)
    assert got.tier_ns == MINUTE_NS and got.files == 3
    _assert_equals_raw(got, tiered)


def test_a_damaged_hour_file_is_quarantined_counted_and_the_minutes_read(root: Path, tiered: list[dict]) -> None:
    first = sorted((root / "rollups").glob(f"*-{KIND_HOUR}*.parquet"))[1]
    data = bytearray(first.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = bytes(64)
    first.write_bytes(bytes(data))
    got = scan_rollups(root, SINCE, UNTIL, tier_ns=HOUR_NS)
    assert got.quarantined == [first.name] and (root / "quarantine" / first.name).exists()
    assert got.tier_ns == MINUTE_NS  # its frames are still in the minute tier
    _assert_equals_raw(got, tiered)
    again = scan_rollups(root, SINCE, UNTIL, tier_ns=HOUR_NS)  # and stay so once it is gone
    assert again.tier_ns == MINUTE_NS and not again.quarantined
    _assert_equals_raw(again, tiered)


def test_merging_keeps_the_tiers_apart(root: Path, tiered: list[dict]) -> None:
    result = store.compact(root, merge_min_age_s=0.0)  # the WAL's frames, then the small files merged
    assert result.rollups_merged == 8  # four files of each tier
    kinds = sorted(p.name.split("-")[2][0] for p in (root / "rollups").glob("*.parquet"))
    assert kinds == ["h", "n"]
    got = scan_rollups(root, SINCE, UNTIL, tier_ns=HOUR_NS)
    assert got.tier_ns == HOUR_NS and got.files == 2 and got.wal.height == 0
    _assert_equals_raw(got, tiered)
