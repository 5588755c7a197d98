"""Long windows from rollups (analysis/longwindow.py): a 24 h report from the store's per-minute rollups matches
the report from the same window's raw frames (counts and cost exactly, percentiles within 1 % of numpy)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import polars as pl
import pytest
from smythtop.analysis import longwindow
from smythtop.analysis.report import build_live, build_report, live_from_cube
from smythtop.analysis.thresholds import Thresholds
from test_analysis_partial import _mixed  # the partial tests' frames: agents, models, nulls, errors, weights

from smythtop import store

S = 10**9
HOUR = 3600 * S
START = 1_748_822_400 * S + 23 * S  # mid-minute


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("longwindow") / "store"
    mixed = _mixed(np.random.default_rng(11), 12_000, START, 30 * HOUR, components=4)
    frames = mixed.with_columns(pl.col("ts").dt.epoch("ns")).to_dicts()  # the Writer takes ints
    frames = [{k: v for k, v in f.items() if v is not None} for f in frames]
    for part in np.array_split(np.arange(len(frames) - 300), 3):
        with store.Writer(root) as w:
            w.append_many([frames[i] for i in part])
        store.compact(root, merge=False)
    with store.Writer(root) as w:  # some frames still in the WAL
        w.append_many(frames[-300:])
    return root, frames


def test_a_24h_report_from_rollups_matches_the_raw_report(rolled: tuple[Path, list[dict]]) -> None:
    root, frames = rolled
    th = Thresholds(latency_p95_ms=80.0, latency_p95_ms_by_component={"c1": 200.0})
    since, until = START + 4 * HOUR + 7 * S, START + 28 * HOUR + 7 * S
    win = longwindow.window_for(since, until)
    assert win.start_ns % HOUR == 0 and win.bucket_ns == HOUR and longwindow.tier_of(win) == HOUR
    scan = store.scan_rollups(root, win.start_ns, until, tier_ns=longwindow.tier_of(win))
    assert (scan.start_ns, scan.end_ns, scan.tier_ns) == (win.start_ns, win.end_ns, HOUR)  # whole hours: hour files
    from_rollups = live_from_cube(
        longwindow.cube_of(scan.sums, scan.sketch, scan.wal, win, th), store.scan(root, win.start_ns, win.end_ns), th
    ).report
    raw = store.scan(root, win.start_ns, win.end_ns)
    from_raw = build_live(raw, window_from=win.start_ns, window_to=win.end_ns, thresholds=th, bucket_ns=win.bucket_ns)
    a, b = from_rollups.summary, from_raw.report.summary
    assert a.rows == b.rows == sum(win.start_ns <= f["ts"] < win.end_ns for f in frames)
    assert a.executions == b.executions and a.llm_calls == b.llm_calls and a.unpriced_llm_calls == b.unpriced_llm_calls
    assert a.error_rate == pytest.approx(b.error_rate, rel=1e-12)
    assert a.total_cost_usd == pytest.approx(b.total_cost_usd, rel=1e-12)
    assert [c.cost_usd for c in from_rollups.cost_series] == pytest.approx(
        [c.cost_usd for c in from_raw.report.cost_series], rel=1e-9
    )
    assert a.slo_attainment == pytest.approx(b.slo_attainment, abs=0.01)  # estimated from the sketch: bins are 1 %

    df = raw.collect()
    for comp in from_rollups.components:
        mine = df.filter(pl.col("component") == comp.component)
        exact = np.percentile(mine["total_ms"], 95, weights=1 / mine["sample_rate"], method="inverted_cdf")
        assert exact <= comp.p95_ms <= exact * 1.01
        other = next(c for c in from_raw.report.components if c.component == comp.component)
        assert comp.executions == other.executions and comp.cost_usd == pytest.approx(other.cost_usd, rel=1e-12)


def test_an_empty_window_from_rollups_is_empty(rolled: tuple[Path, list[dict]]) -> None:
    root, _ = rolled
    since = START + 60 * HOUR
    win = longwindow.window_for(since, since + 2 * HOUR)
    scan = store.scan_rollups(root, win.start_ns, win.end_ns)
    c = longwindow.cube_of(scan.sums, scan.sketch, scan.wal, win, Thresholds())
    report = live_from_cube(c, store.scan(root, win.start_ns, win.end_ns), Thresholds()).report
    assert report.summary.executions == 0 and report.components == []


def test_report_of_says_what_rollups_cannot_hold(rolled: tuple[Path, list[dict]]) -> None:
    """The whole report from rollups: counts and cost as from raw frames, self time null rather than faked."""
    root, _ = rolled
    th = Thresholds()
    win = longwindow.window_for(START + 2 * HOUR, START + 20 * HOUR)
    scan = store.scan_rollups(root, win.start_ns, win.end_ns, tier_ns=longwindow.tier_of(win))
    sample = store.scan(root, longwindow.sample_start(win), win.end_ns)
    report = longwindow.report_of(scan.sums, scan.sketch, scan.wal, sample, win, th)
    raw = build_report(store.scan(root, win.start_ns, win.end_ns), window_from=win.start_ns, window_to=win.end_ns,
                       thresholds=th, bucket_ns=win.bucket_ns)  # fmt: skip
    assert report.summary.rows == raw.summary.rows and report.summary.total_cost_usd == pytest.approx(
        raw.summary.total_cost_usd, rel=1e-12
    )
    assert report.components and all(c.p95_self_ms is None and c.own_errors is None for c in report.components)
    assert all(c.p95_self_ms is not None for c in raw.components)
    basis = longwindow.basis_of(scan.tier_ns, scan.files, scan.wal.height, scan.quarantined, win, th)
    assert basis.source == longwindow.ROLLUPS and basis.tier_s == 3600 and basis.span_sample_from


def test_the_sketch_as_read_gives_the_report_of_its_strings(rolled: tuple[Path, list[dict]]) -> None:
    """`store.RollupScan.coded_sketch` (names as polars Categoricals, what the app and the CLI pass) and its
    strings (`.sketch`) make the same report: the names are hashed to the same keys after grouping."""
    root, _ = rolled
    th = Thresholds(latency_p95_ms_by_component={"c1": 200.0})
    win = longwindow.window_for(START + 3 * HOUR + 7 * S, START + 27 * HOUR + 7 * S)
    scan = store.scan_rollups(root, win.start_ns, win.end_ns, tier_ns=longwindow.tier_of(win))
    assert scan.coded_sketch.schema["component"] == pl.Categorical and scan.wal.height
    sample = store.scan(root, win.start_ns, win.end_ns)
    coded, plain = (
        live_from_cube(longwindow.cube_of(scan.sums, sketch, scan.wal, win, th), sample, th).report
        for sketch in (scan.coded_sketch, scan.sketch)
    )
    assert coded.summary.rows == plain.summary.rows and coded.summary.executions == plain.summary.executions
    assert _rounded(coded.summary) == _rounded(plain.summary)  # the same bins; sums added in another order
    assert _rounded(coded.components) == _rounded(plain.components)


def _rounded(result: object) -> object:
    """A result's builtins with every float to 12 significant digits."""

    def walk(x: object) -> object:
        if isinstance(x, float):
            return float(f"{x:.12g}")
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return [walk(v) for v in x] if isinstance(x, list) else x

    return walk(msgspec.to_builtins(result))
