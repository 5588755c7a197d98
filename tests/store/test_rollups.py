"""Rollup files (store/rollups.py): written with each compaction, mergeable, kept apart by retention, and a
24 h window read from them matches the same window computed from the raw frames with numpy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import smythtop.store.compaction as compaction
from polars.testing import assert_frame_equal
from smythtop.store.rollups import (
    HOURLY,
    MINUTE_NS,
    SCHEMA,
    RollupScan,
    aggregate,
    hourly,
    merge,
    scan_rollups,
)
from smythtop.store.sketch import K, bin_of

from smythtop import store

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
START = 1_748_822_400_000_000_000 + 17 * 10**9  # not on a minute: the window's edges fall mid-minute
COMPONENTS = ("planner", "retriever", "web")


def _frames(n: int, span_ns: int, seed: int) -> list[dict]:
    """Frames with log-normal latencies per component, costs, errors and three sample rates, over `span_ns`."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(START, START + span_ns, n))
    comp = rng.integers(0, len(COMPONENTS), n)
    ms = rng.lognormal(np.log([40.0, 8.0, 600.0])[comp], 0.7)
    rate = rng.choice([1.0, 0.5, 0.25], n)
    out = []
    for i in range(n):
        f = {
            "ts": int(ts[i]),
            "agent_id": f"agent-{i % 2}",
            "component": COMPONENTS[comp[i]],
            "total_ms": round(float(ms[i]), 3),  # whole µs: what compacted files keep
            "success": bool(rng.random() > 0.05),
            "sample_rate": float(rate[i]),
        }
        if comp[i] == 0:
            f |= {"model": "gpt-4o-mini", "provider": "openai", "input_tokens": int(rng.integers(100, 4000))}
            if i % 7:  # every seventh call unpriced
                f["cost_usd"] = float(rng.integers(1, 10_000)) * 1e-7
            f["ttft_ms"] = round(float(ms[i]) / 3, 3)
        out.append(f)
    return out


def _write(root: Path, frames: list[dict], chunks: int) -> None:
    """Several writers and compactions, so rows of one minute sit in several rollup files."""
    for part in np.array_split(np.arange(len(frames)), chunks):
        with store.Writer(root) as w:
            for i in part:
                w.append(frames[i])
        store.compact(root, merge=False)


def _p95(values: np.ndarray, weights: np.ndarray) -> float:
    """numpy's weighted inverted-CDF percentile: the smallest x with W(<= x) >= 0.95 W."""
    return float(np.percentile(values, 95, weights=weights, method="inverted_cdf"))


def _sketch_p95(sketch: pl.DataFrame) -> float:
    """The sketch's p95: the largest value of the bin where the cumulative weight reaches 95 %."""
    s = sketch.group_by("_bin").agg(pl.col("_w").sum(), pl.col("_v").max()).sort("_bin")
    cum = s["_w"].cum_sum().to_numpy()
    return float(s["_v"][int(np.searchsorted(cum, 0.95 * cum[-1] * (1 - 1e-12)))])


def test_a_24h_window_from_rollups_matches_raw_frames(root: Path) -> None:
    frames = _frames(12_000, 30 * HOUR_NS, seed=1)
    _write(root, frames[:-500], chunks=4)
    with store.Writer(root) as w:  # the newest frames stay in the WAL: the scan returns them beside the rollups
        for f in frames[-500:]:
            w.append(f)
    since, until = START + 5 * HOUR_NS + 29 * 10**9, START + 29 * HOUR_NS + 31 * 10**9
    got = scan_rollups(root, since, until)
    assert got.files == 4 and got.wal.height > 0 and got.complete
    lo, hi = since // MINUTE_NS * MINUTE_NS, -(-until // MINUTE_NS) * MINUTE_NS
    assert (got.start_ns, got.end_ns) == (lo, hi)

    raw = pl.DataFrame(frames, infer_schema_length=None).filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
    raw = raw.with_columns(w=1.0 / pl.col("sample_rate"))
    rolled = pl.concat([got.sums, _sums_of_wal(got)])
    for comp in COMPONENTS:
        want = raw.filter(pl.col("component") == comp)
        have = rolled.filter(pl.col("component") == comp)
        assert have["rows"].sum() == want.height
        assert have["n"].sum() == want["w"].sum()  # weights are powers of two: exact in any order
        assert have.filter(~pl.col("success"))["n"].sum() == want.filter(~pl.col("success"))["w"].sum()
        cost = (want["cost_usd"].fill_null(0) * want["w"]).sum()
        assert have["cost_usd_sum"].sum() == pytest.approx(cost, rel=1e-12, abs=0)
        assert have["total_ms_sum"].sum() == pytest.approx((want["total_ms"] * want["w"]).sum(), rel=1e-12)
        if comp == "planner":
            unpriced = want.filter(pl.col("cost_usd").is_null())["w"].sum()
            assert have["unpriced"].sum() == unpriced > 0

        sketch = pl.concat([got.sketch, _sketch_of_wal(got)]).filter(
            (pl.col("component") == comp) & (pl.col("metric") == "total_ms")
        )
        exact = _p95(want["total_ms"].to_numpy(), want["w"].to_numpy())
        estimate = _sketch_p95(sketch)
        assert exact <= estimate <= exact * 1.01


def _sums_of_wal(got: RollupScan) -> pl.DataFrame:
    return aggregate(got.wal).filter(pl.col("metric").is_null()).select(got.sums.columns)


def _sketch_of_wal(got: RollupScan) -> pl.DataFrame:
    return aggregate(got.wal).filter(pl.col("metric").is_not_null()).select(got.sketch.columns)


def test_merged_rollups_equal_the_rollup_of_all_frames(root: Path) -> None:
    frames = _frames(3_000, 2 * HOUR_NS, seed=2)
    _write(root, frames, chunks=5)
    before = scan_rollups(root)
    assert before.files == 5
    store.compact(root, merge_min_age_s=0.0)
    hours, merged = sorted((root / "rollups").glob("*.parquet"), key=lambda p: p.name.split("-")[2])  # h < n
    assert pq.read_schema(merged).names == pq.read_schema(hours).names == SCHEMA.names
    after = scan_rollups(root)
    assert after.files == 1 and after.complete  # the merged frames files keep their mark
    key = ["t", "agent_id", "component", "model", "provider", "success", "metric", "_bin"]
    assert after.rows.sort(key, nulls_last=True).equals(merge(before.rows).sort(key, nulls_last=True))
    # the sketch bins are those of the raw values
    raw = pl.DataFrame(frames, infer_schema_length=None)
    bins = raw.select(bin_of(pl.col("total_ms"), K).alias("_bin")).unique()["_bin"].sort()
    have = after.sketch.filter(pl.col("metric") == "total_ms")["_bin"].unique().sort()
    assert have.to_list() == bins.to_list()
    window_level = after.sketch.filter(pl.col("metric").is_in(HOURLY))
    assert window_level.height and (window_level["t"] % HOUR_NS == 0).all()  # window-level sketches: per hour
    # the hour tier equals the minute rows it stands for, re-aggregated per hour
    in_hours = scan_rollups(root, tier_ns=HOUR_NS)
    assert in_hours.tier_ns == HOUR_NS and in_hours.files == 1 and (in_hours.rows["t"] % HOUR_NS == 0).all()
    want = hourly(before.rows).sort(key, nulls_last=True)
    assert_frame_equal(in_hours.rows.sort(key, nulls_last=True), want, check_exact=False, rel_tol=1e-12)  # sum order
    assert in_hours.sums["rows"].sum() == len(frames)


def test_retention_keeps_rollups_longer_than_raw_frames(root: Path) -> None:
    frames = _frames(2_000, 20 * DAY_NS, seed=3)
    _write(root, frames, chunks=2)
    now = START + 20 * DAY_NS
    result = store.apply_retention(root, days=7, rollup_days=15, now_ns=now)
    raw_cut, rollup_cut = now - 7 * DAY_NS, now - 15 * DAY_NS
    ts = store.scan(root).select(pl.col("ts").dt.epoch("ns")).collect()["ts"]
    assert ts.min() >= raw_cut and len(ts) == sum(f["ts"] >= raw_cut for f in frames)
    got = scan_rollups(root)
    assert got.rows["t"].min() >= rollup_cut // MINUTE_NS * MINUTE_NS
    kept_minutes = {f["ts"] // MINUTE_NS * MINUTE_NS for f in frames if f["ts"] // MINUTE_NS * MINUTE_NS >= rollup_cut}
    assert got.sums["rows"].sum() == sum(f["ts"] // MINUTE_NS * MINUTE_NS in kept_minutes for f in frames)
    assert result.rollups_trimmed and not result.rollups_removed  # both files straddle the 15-day cut
    assert store.apply_retention(root, days=7, rollup_days=1, now_ns=now + 30 * DAY_NS).rollups_removed


def test_a_damaged_rollup_file_is_quarantined_and_the_rest_read(root: Path) -> None:
    _write(root, _frames(1_000, HOUR_NS, seed=4), chunks=2)
    first, second = sorted((root / "rollups").glob("*-n*.parquet"))  # the minute tier's files
    data = bytearray(first.read_bytes())
    data[len(data) // 3] ^= 0xFF
    first.write_bytes(bytes(data))
    got = scan_rollups(root)
    assert got.quarantined == [first.name] and got.files == 1
    assert (root / "quarantine" / first.name).exists()
    assert got.sums["rows"].sum() == pl.read_parquet(second).filter(pl.col("metric").is_null())["rows"].sum()


def test_check_verifies_rollups_and_lists_strangers(root: Path) -> None:
    _write(root, _frames(500, HOUR_NS, seed=5), chunks=2)
    report = store.check(root)
    assert report.ok and report.rollup_files == 4 and report.rollup_bytes > 0  # two compactions x two tiers
    (root / "rollups" / "notes.txt").write_text("mine")
    path = sorted((root / "rollups").glob("*.parquet"))[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    report = store.check(root)
    assert report.unknown_files == ["rollups/notes.txt"]
    assert [u.split(":")[0] for u in report.unreadable_parquet] == [f"rollups/{path.name}"]
    assert not report.ok and report.rollup_files == 3


def test_a_crash_between_the_rollup_and_its_frames_file_counts_nothing_twice(root: Path) -> None:
    """The rollups (both tiers) are renamed into place first: if the compactor dies before its frames file
    follows, readers ignore them (their journal's target is missing), and recovery deletes them; the WAL is
    compacted again."""
    frames = _frames(300, HOUR_NS, seed=6)
    with store.Writer(root) as w:
        for f in frames:
            w.append(f)
    real_rename, calls = os.rename, []

    # the third rename publishes the frames file: fail it
    def crash_on_second(src: object, dst: object, *a: object, **k: object) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt("crash")
        return real_rename(src, dst, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compaction.os, "rename", crash_on_second)
        with pytest.raises(KeyboardInterrupt):
            store.compact(root)
    assert len(list((root / "rollups").glob("*.parquet"))) == 2  # published, but their target is not
    got = scan_rollups(root)
    assert got.rows.height == 0 and got.wal.height == len(frames)
    assert scan_rollups(root, tier_ns=HOUR_NS).rows.height == 0
    assert store.check(root).rollup_files == 0
    store.compact(root)
    got = scan_rollups(root)
    assert got.sums["rows"].sum() == len(frames) and got.wal.height == 0
    assert len(list((root / "rollups").glob("*.parquet"))) == 2
