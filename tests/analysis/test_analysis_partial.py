"""Partial aggregates: merging partials of any split of the frames gives the cube of all of them at once."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from analysis_testlib import T0_NS, frames
from smythtop.analysis import cube, partial, selftime
from smythtop.analysis.report import build_live, live_from_cube
from smythtop.analysis.rollup import rollups
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import REPORT_COLUMNS, aligned, prepare, scope

S = 1_000_000_000
RATES = np.array([1.0, 0.5, 0.25, 0.1])  # weights 1, 2, 4, 10: expanding by them is exact
MODELS = [(None, None), ("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic")]


def _mixed(rng: np.random.Generator, n: int, start_ns: int, span_ns: int, components: int = 6) -> pl.DataFrame:
    """Frames of three agents, `components` components, LLM and plain calls, nulls, errors, negative memory."""
    rows = []
    for i in range(n):
        model, provider = MODELS[i % 3]
        llm = model is not None
        rows.append({
            "ts": start_ns + int(rng.integers(0, span_ns)),
            "agent_id": f"agent-{i % 3}",
            "component": f"c{int(rng.integers(0, components))}",
            "total_ms": float(rng.lognormal(4.0, 1.2)),
            "success": bool(rng.random() > 0.08),
            "sample_rate": float(RATES[i % 4]),
            "model": model,
            "provider": provider,
            "input_tokens": int(rng.integers(10, 5000)) if llm else None,
            "output_tokens": int(rng.integers(1, 800)) if llm else None,
            "cache_read_tokens": int(rng.integers(0, 400)) if llm else None,
            "cost_usd": float(rng.random() / 100) if llm and i % 7 else None,
            "ttft_ms": float(rng.lognormal(5, 0.5)) if llm else None,
            "retry_count": int(rng.integers(0, 3)),
            "core_ms": float(rng.random() * 50) if i % 5 else None,
            "mem_delta_bytes": int(rng.normal(0, 1e6)),
            "mem_pressure": float(rng.random()),
            "context_utilization": float(rng.random()) if llm else None,
        })  # fmt: skip
    return frames(rows)


def _whole(df: pl.DataFrame, win, th: Thresholds) -> cube.Cube:
    prepared, w = prepare(
        df, win.start_ns, win.end_ns, columns=REPORT_COLUMNS, extra=selftime.KEYS, bucket_ns=win.bucket_ns
    )
    # the same bucket grid; `prepare` also measures the data's coverage, which sums and sketches do not depend on
    assert (w.start_ns, w.end_ns, w.bucket_ns, w.n_buckets) == (win.start_ns, win.end_ns, win.bucket_ns, win.n_buckets)
    return cube.build(prepared, w, th)


SPECS = [
    (["component"], False), ([], False), (["component", "b"], False), (["b"], False), (["agent_id", "model"], True),
]  # fmt: skip


def _assert_same(a: cube.Cube, b: cube.Cube) -> None:
    assert a.components == b.components and a.subsample == b.subsample == 1
    assert (a.kept is None) == (b.kept is None)
    for x, y, (by, _) in zip(rollups(a, SPECS), rollups(b, SPECS), SPECS, strict=True):
        x, y = x.sort(by or pl.lit(0)), y.sort(by or pl.lit(0))
        assert sorted(x.columns) == sorted(y.columns) and x.height == y.height > 0
        y = y.select(x.columns)
        for col in x.columns:
            if x[col].dtype.is_numeric():
                assert np.allclose(x[col].to_numpy(), y[col].to_numpy(), rtol=1e-9, atol=1e-12, equal_nan=True), col
            else:
                assert x[col].to_list() == y[col].to_list(), col


@pytest.mark.parametrize("max_rows", [200, 3])  # 3: components fold into OTHER, from aggregates
def test_merged_partials_equal_the_cube_of_all_frames(max_rows: int) -> None:
    rng = np.random.default_rng(11)
    th = Thresholds(max_rows=max_rows, latency_p95_ms=80.0)
    now = T0_NS + 900 * S + 7 * S // 3  # not on a bucket edge
    win = aligned(900 * S, now)
    df = _mixed(rng, 6000, win.start_ns, now - win.start_ns)
    # arrival order is not time order: late frames land in older buckets of later chunks
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=4)
    cuts = sorted(rng.choice(np.arange(1, df.height), 9, replace=False).tolist())
    chunks = [shuffled[idx] for idx in np.split(np.arange(df.height), cuts)]
    parts = [partial.of_frames(chunk, win.bucket_ns, th) for chunk in chunks]
    assert sum(p.rows for p in parts) == df.height
    _assert_same(partial.to_cube(parts, win, th), _whole(df, win, th))


def test_minute_partials_serve_a_longer_window() -> None:
    """Rollup rows (60 s buckets) give a 6 h window's cube (buckets of 10 min) exactly."""
    rng = np.random.default_rng(5)
    th = Thresholds()
    now = T0_NS + 6 * 3600 * S + 123 * S
    win = aligned(6 * 3600 * S, now)
    assert win.bucket_ns == 600 * S and win.start_ns % win.bucket_ns == 0
    df = _mixed(rng, 3000, win.start_ns - 3600 * S, now + 3600 * S - win.start_ns)  # frames outside it too
    sums, sketch = partial.labelled(partial.of_frames(df, 60 * S, th))  # the rows a rollup file holds
    assert sums.columns[:6] == ["t", "agent_id", "component", "model", "provider", "success"]
    assert sketch.columns == ["t", "agent_id", "component", "model", "provider", "metric", "_bin", "_w", "_v"]
    assert set(sketch["metric"]) == {"total_ms", "ttft_ms", "input_tokens", "mem_delta_bytes"}
    minutes = partial.from_labelled(sums, sketch)
    inside = df.filter(pl.col("ts").dt.epoch("ns").is_between(win.start_ns, win.end_ns, closed="left"))
    _assert_same(partial.to_cube([minutes], win, th), _whole(inside, win, th))


def test_merged_sketch_percentiles_within_one_percent_of_numpy() -> None:
    rng = np.random.default_rng(8)
    th = Thresholds()
    win = aligned(3600 * S, T0_NS + 3600 * S)
    df = _mixed(rng, 20_000, win.start_ns, 3600 * S, components=2)
    chunks = [partial.of_frames(df[i : i + 1500], win.bucket_ns, th) for i in range(0, df.height, 1500)]
    c = partial.to_cube(chunks, win, th)
    (comps,) = rollups(c, [(["component"], False)])
    for row in comps.iter_rows(named=True):
        part = df.filter(pl.col("component") == row["component"])
        expanded = np.repeat(part["total_ms"].to_numpy(), (1 / part["sample_rate"].to_numpy()).round().astype(int))
        assert row["executions"] == pytest.approx(len(expanded))
        for q in (50, 95, 99):
            expected = float(np.percentile(expanded, q, method="inverted_cdf"))
            got = row[f"p{q}_ms"]
            assert expected <= got <= expected * (1 + 1 / cube.K) + 1 / cube.K, (q, got, expected)


def test_aligned_window_is_whole_buckets_plus_the_current_one() -> None:
    now = T0_NS + 12 * S + 1
    win = aligned(900 * S, now)
    assert win.bucket_ns == 15 * S
    assert win.start_ns % win.bucket_ns == 0 and win.start_ns <= now - 900 * S < win.start_ns + win.bucket_ns
    assert win.end_ns == now and win.n_buckets == 61  # 60 whole buckets and the partial one holding now
    exact = aligned(900 * S, T0_NS + 900 * S)  # now on a bucket edge: no partial bucket
    assert exact.start_ns == T0_NS and exact.n_buckets == 60


def test_live_part_from_partials_matches_the_raw_path() -> None:
    rng = np.random.default_rng(2)
    th = Thresholds()
    now = T0_NS + 300 * S + S // 2
    win = aligned(300 * S, now)
    df = _mixed(rng, 2000, win.start_ns, now - win.start_ns)
    raw = build_live(df, window_from=win.start_ns, window_to=now, thresholds=th, bucket_ns=win.bucket_ns)
    parts = [partial.of_frames(df[:700], win.bucket_ns, th), partial.of_frames(df[700:], win.bucket_ns, th)]
    fast = live_from_cube(partial.to_cube(parts, win, th), scope(df, win.start_ns, now), th)
    assert fast.report.summary.executions == pytest.approx(raw.report.summary.executions, rel=1e-12)
    assert fast.report.summary.total_cost_usd == pytest.approx(raw.report.summary.total_cost_usd, rel=1e-12)
    assert fast.report.summary.p95_ms == raw.report.summary.p95_ms
    assert [r.component for r in fast.report.components] == [r.component for r in raw.report.components]
    assert [r.trend for r in fast.report.components] == [r.trend for r in raw.report.components]
    assert [p.t for p in fast.report.cost_series] == [p.t for p in raw.report.cost_series]
    fast_cost, raw_cost = ([p.cost_usd for p in r.report.cost_series] for r in (fast, raw))
    assert fast_cost == pytest.approx(raw_cost, rel=1e-12)


def test_partials_of_annotated_frames_carry_the_span_tree() -> None:
    """Frames annotated by `selftime` give partials with self time, own failures and requests: merged, the cube
    `cube.build` gives (where partials of plain frames take self time as the total and have no requests)."""
    rng = np.random.default_rng(3)
    th = Thresholds(latency_p95_ms=80.0)
    now = T0_NS + 900 * S + S // 3
    win = aligned(900 * S, now)
    df = _mixed(rng, 3000, win.start_ns, now - win.start_ns)
    i = pl.int_range(pl.len())
    root = (i // 4 * 4).cast(pl.String)
    df = df.with_columns(  # traces of four spans: one parent, three children (sampled at 1 to 0.1, some failed)
        trace_id=pl.lit("t") + (i // 4).cast(pl.String),
        span_id=i.cast(pl.String),
        parent_span_id=pl.when(i % 4 > 0).then(root),
    )
    prepared, _ = prepare(df, win.start_ns, now, columns=REPORT_COLUMNS, extra=selftime.KEYS, bucket_ns=win.bucket_ns)
    annotated = selftime.annotate(prepared)
    parts = [partial.of_frames(annotated[j : j + 700], win.bucket_ns, th) for j in range(0, annotated.height, 700)]
    got, want = partial.to_cube(parts, win, th), _whole(df, win, th)
    _assert_same(got, want)
    assert want.requests["n"].sum() == pytest.approx(df.height / 4, rel=0.3)  # roots weigh 1, 2, 4 or 10
    for name in ("requests", "request_lat", "self_k"):
        x, y = (getattr(c, name).sort(getattr(c, name).columns) for c in (got, want))
        assert x.columns == y.columns and x.height == y.height > 0, name
        for col in x.columns:
            if x[col].dtype.is_numeric():
                assert np.allclose(x[col].to_numpy(), y[col].to_numpy(), rtol=1e-9), (name, col)
            else:
                assert x[col].to_list() == y[col].to_list(), (name, col)
