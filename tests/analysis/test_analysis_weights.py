"""Weighted counts and percentiles against numpy on the data expanded by weight."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
from analysis_testlib import T0_NS, frames
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import to_builtins
from polars.testing import assert_frame_equal
from smythtop.analysis import cube, weights
from smythtop.analysis import rollup as rollup_module
from smythtop.analysis.report import build_report
from smythtop.analysis.rollup import rollup
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import prepare

RATES = np.array([1.0, 0.5, 0.25, 0.1])  # weights 1, 2, 4, 10: expanding by them is exact


def _rows(rng: np.random.Generator, n: int, component: str) -> list[dict]:
    ms = rng.lognormal(4.5, 0.9, n)
    rate = RATES[rng.integers(0, len(RATES), n)]
    ok = rng.random(n) > 0.1
    return [
        {"ts": T0_NS + i * 1_000_000, "component": component, "total_ms": float(m), "sample_rate": float(r),
         "success": bool(s)}
        for i, (m, r, s) in enumerate(zip(ms, rate, ok, strict=True))
    ]  # fmt: skip


def _tolerance(v: float) -> float:
    """The histogram's bound: one bin of width 1/K in ln(1 + x)."""
    return (1 + abs(v)) * (np.exp(1 / cube.K) - 1) + 1e-9


def test_weighted_percentiles_match_numpy_on_expanded_data() -> None:
    rng = np.random.default_rng(3)
    rows = _rows(rng, 4000, "alpha") + _rows(rng, 1500, "beta")
    df = frames(rows)
    report = to_builtins(build_report(df))
    for comp in ("alpha", "beta"):
        part = df.filter(pl.col("component") == comp)
        expanded = np.repeat(part["total_ms"].to_numpy(), (1 / part["sample_rate"].to_numpy()).round().astype(int))
        row = next(c for c in report["components"] if c["component"] == comp)
        assert row["executions"] == pytest.approx(len(expanded))
        for q, key in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
            expected = float(np.percentile(expanded, q, method="inverted_cdf"))
            assert row[key] >= expected - 1e-9  # the bin's largest value: never below the true percentile
            assert row[key] - expected <= _tolerance(expected), (comp, key)
        errors = np.repeat(~part["success"].to_numpy(), (1 / part["sample_rate"].to_numpy()).round().astype(int))
        assert row["error_rate"] == pytest.approx(errors.mean())
    everything = np.repeat(df["total_ms"].to_numpy(), (1 / df["sample_rate"].to_numpy()).round().astype(int))
    assert report["summary"]["executions"] == pytest.approx(everything.size)
    p95 = float(np.percentile(everything, 95, method="inverted_cdf"))
    assert 0 <= report["summary"]["p95_ms"] - p95 <= _tolerance(p95)


def test_unweighted_sample_gives_the_ordinary_percentiles() -> None:
    values = np.arange(1, 61, dtype=float)  # 1..60 ms: neighbours differ by > 1 %, so each has its own bin
    df = frames({"ts": T0_NS + i, "component": "c", "total_ms": v} for i, v in enumerate(values))
    row = to_builtins(build_report(df).components[0])
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (30.0, 57.0, 60.0)
    assert row["mean_ms"] == pytest.approx(30.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e6, allow_nan=False), st.sampled_from([1.0, 0.5, 0.25, 0.2, 0.1])),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([0.01, 0.25, 0.5, 0.9, 0.99, 1.0]),
)
def test_histogram_quantile_property(pairs: list[tuple[float, float]], q: float) -> None:
    values = np.array([v for v, _ in pairs])
    w = np.array([1 / r for _, r in pairs])
    df = pl.DataFrame({"g": ["x"] * len(pairs), "v": values, "w": w})
    hist = weights.histogram(df, ["g"], "v", cube.K)
    got = weights.quantiles(hist, ["g"], (q,), ("p",)).collect()["p"][0]
    expected = float(np.percentile(np.repeat(values, np.round(w).astype(int)), q * 100, method="inverted_cdf"))
    assert expected - 1e-9 <= got <= expected + _tolerance(expected)


def test_sums_are_weighted_and_phases_are_weighted_means() -> None:
    rows = [
        {"ts": T0_NS, "component": "c", "total_ms": 100.0, "queue_ms": 10.0, "sample_rate": 0.5},
        {"ts": T0_NS + 1, "component": "c", "total_ms": 300.0, "queue_ms": 40.0, "sample_rate": 1.0},
        {"ts": T0_NS + 2, "component": "c", "total_ms": 50.0, "sample_rate": 1.0, "success": False},
    ]
    df, win = prepare(frames(rows))
    r = rollup(cube.build(df, win, Thresholds()), ["component"]).row(0, named=True)
    assert r["executions"] == 4.0
    assert r["errors"] == 1.0
    assert r["total_ms_sum"] == pytest.approx(100 * 2 + 300 + 50)
    assert r["queue_ms"] == pytest.approx((10 * 2 + 40) / 3)  # only frames that measured queue time
    assert r["slo_attainment"] == 1.0


def test_subsample_keeps_sums_exact_and_percentiles_close(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    rows = [
        {"ts": T0_NS + i * 1_000_000, "component": f"c{i % 3}", "total_ms": float(ms), "success": bool(i % 17),
         "model": "gpt-4o", "provider": "openai", "input_tokens": 100 + i % 50, "output_tokens": 10,
         "cost_usd": 0.001 * (1 + i % 7), "queue_ms": float(ms) / 10, "sample_rate": 0.5 if i % 5 == 0 else 1.0}
        for i, ms in enumerate(rng.lognormal(5, 0.5, 12_000))
    ]  # fmt: skip
    df = frames(rows)
    full = to_builtins(build_report(df))
    monkeypatch.setattr(cube, "SUBSAMPLE_ROWS", 1_500)
    part = to_builtins(build_report(df))
    assert full["estimation"]["subsample_factor"] == 1 and part["estimation"]["subsample_factor"] == 8
    for key in ("executions", "total_cost_usd", "success_rate", "slo_attainment", "llm_calls"):
        assert part["summary"][key] == pytest.approx(full["summary"][key], rel=1e-12), key
    for a, b in zip(full["components"], part["components"], strict=True):
        assert (a["component"], a["input_tokens"], a["errors"]) == (b["component"], b["input_tokens"], b["errors"])
        assert b["cost_usd"] == pytest.approx(a["cost_usd"], rel=1e-12)
        assert b["p95_ms"] == pytest.approx(a["p95_ms"], rel=0.1)
        assert b["phases"]["queue_ms"] == pytest.approx(a["phases"]["queue_ms"], rel=0.1)


def _hist_rows(rng: np.random.Generator, groups: int) -> pl.DataFrame:
    """Histogram rows of many groups with the awkward cases: ties (integer weights), negative bins, rows
    repeating a (group, bin), one-bin groups, a group whose weights are all 0 and fractional weights."""
    parts = []
    for g in range(groups):
        n = 1 if g % 7 == 0 else int(rng.integers(2, 40))
        w = rng.integers(0, 4, n).astype(float) if g % 2 else rng.choice([0.1, 1 / 3, 2.5, 1e6], n)
        if g % 11 == 5:
            w[:] = 0.0
        b = rng.integers(-30, 60, n)
        parts.append(pl.DataFrame({"g": np.full(n, g), "_bin": b.astype(np.int32), "_w": w, "_v": b + rng.random(n)}))
    return pl.concat(parts)


@pytest.mark.parametrize("grid_per_row", [0, 10**9])  # every input merged by sorting / on the grid
def test_quantiles_np_picks_the_same_bins_as_the_polars_quantiles(
    grid_per_row: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "_GRID_PER_ROW", grid_per_row)
    qs = (0.0, 0.05, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)
    names = [f"q{i}" for i in range(len(qs))]
    rng = np.random.default_rng(11)
    for _ in range(5):
        hist = _hist_rows(rng, 60).sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 30)))
        expected = weights.quantiles(weights.regroup(hist, ["g"]), ["g"], qs, names).collect().sort("g")
        groups, values = weights.quantiles_np(*(hist[c].to_numpy() for c in ("g", "_bin", "_w", "_v")), qs)
        assert groups.tolist() == expected["g"].to_list()
        np.testing.assert_array_equal(values, expected.select(names).to_numpy())


@pytest.mark.parametrize("grid_per_row", [0, 10**9])
def test_quantiles_np_takes_the_running_weight_within_each_group(
    grid_per_row: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group after a far heavier one: its running weight reaches 0.3 of its total exactly at its third bin. A
    running sum over all groups less the group's start would lose it to the heavy group's rounding (here all of
    it: 0.1 is below half an ulp of 2e17)."""
    monkeypatch.setattr(weights, "_GRID_PER_ROW", grid_per_row)
    group = np.array([0, 0] + [1] * 10)
    bins = np.array([0, 1, *range(10)])
    w = np.array([1e17, 1e17] + [0.1] * 10)
    v = bins + 0.5
    groups, values = weights.quantiles_np(group, bins, w, v, (0.3, 0.7))
    assert groups.tolist() == [0, 1]
    assert values[1].tolist() == [2.5, 6.5]


def test_quantiles_np_within_a_bin_of_numpys_weighted_inverted_cdf() -> None:
    rng = np.random.default_rng(5)
    n, groups = 20_000, 40
    g = rng.integers(0, groups, n)
    x = rng.lognormal(3 + g % 5, 1.0, n) * np.where(g % 9 == 4, -1, 1)  # some groups all negative
    w = rng.choice([1.0, 2.0, 10 / 3, 7.5], n)
    qs = (0.05, 0.5, 0.95, 0.99)
    hist = weights.histogram(pl.DataFrame({"g": g, "x": x, "w": w}), ["g"], "x", cube.K).collect()
    got_groups, got = weights.quantiles_np(*(hist[c].to_numpy() for c in ("g", "_bin", "_w", "_v")), qs)
    assert got_groups.tolist() == list(range(groups))
    for i in range(groups):
        mine = g == i
        expected = np.quantile(x[mine], qs, method="inverted_cdf", weights=w[mine])
        assert (got[i] >= expected - 1e-9).all()  # the bin's largest value: never below
        assert (got[i] - expected <= [_tolerance(e) for e in expected]).all(), i


def test_quantiles_np_of_nothing() -> None:
    groups, values = weights.quantiles_np(*(np.array([], dtype=t) for t in (int, int, float, float)), (0.5, 0.9))
    assert groups.shape == (0,) and values.shape == (0, 2)


def _test_cube() -> cube.Cube:
    rng = np.random.default_rng(2)
    models = [("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic"), (None, None)]
    rows = []
    for i in range(3000):
        model, provider = models[int(rng.integers(0, 3))]
        llm = model is not None
        rows.append({
            "ts": T0_NS + i * 1_000_000, "agent_id": f"a{i % 3}", "component": f"c{int(rng.integers(0, 6))}",
            "model": model, "provider": provider, "total_ms": float(rng.lognormal(4, 1)),
            "ttft_ms": float(rng.lognormal(3, 1)) if llm else None, "input_tokens": int(rng.integers(1, 5000)) if llm
            else None, "mem_delta_bytes": int(rng.normal(0, 1e6)), "sample_rate": float(rng.choice([1.0, 0.5, 0.3])),
        })  # fmt: skip
    df, win = prepare(frames(rows))
    return cube.build(df, win, Thresholds())


_BYS = [["component"], [], ["agent_id"], ["model", "provider"], ["agent_id", "component"]]


def test_rollup_percentiles_equal_the_polars_quantiles_of_the_labelled_histograms() -> None:
    """Every rollup's percentile columns against `weights.quantiles` of the cube's histograms labelled with
    their names (the polars plan the rollups ran before): the same figures exactly, for the cube as built, with
    some components relabelled (as `capped` does) and with a key missing from its dims (a null group)."""
    c = _test_cube()
    relabelled = c.dims.with_columns(
        component=pl.when(pl.col("component").is_in(["c1", "c4"])).then(pl.lit("(other)")).otherwise("component")
    )
    for variant in (c, dataclasses.replace(c, dims=relabelled), dataclasses.replace(c, dims=c.dims[1:])):
        for by in _BYS:
            for llm_only in (False, True):
                _check_percentiles(variant, by, llm_only)


def _check_percentiles(c: cube.Cube, by: list[str], llm_only: bool) -> None:
    out = rollup(c, by, llm_only=llm_only)
    hists = [(cube.with_dims(getattr(c, name), c).collect(), qs, names) for name, qs, names in rollup_module._KEYED]
    mem = [(c.mem_c, (0.95,), ("mem_delta_p95_bytes",))] if set(by) <= {"component"} and not llm_only else []
    for hist, qs, names in hists + mem:
        if llm_only and "model" in hist.columns:
            hist = hist.filter(pl.col("model").is_not_null())
        expected = weights.quantiles(weights.regroup(hist, by), by, qs, names).collect()
        if by:
            expected = out.select(by).join(expected, on=by, how="left", nulls_equal=True)
        assert_frame_equal(out.select(*by, *names), expected, check_exact=True)
    if not mem:
        assert out["mem_delta_p95_bytes"].null_count() == out.height


@pytest.mark.parametrize("find_bits", [0, rollup_module._FIND_BITS])  # the binary search / the lookup table
def test_find_gives_each_keys_row_or_none(find_bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollup_module, "_FIND_BITS", find_bits)
    rng = np.random.default_rng(4)
    for n in (0, 1, 5, 40, 300):
        keys = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
        other = rng.integers(0, 2**64, 50, dtype=np.uint64)
        k = rng.permutation(np.concatenate([np.repeat(keys, 3), other, np.array([0], dtype=np.uint64)]))
        row = {int(key): i for i, key in enumerate(keys)}
        assert rollup_module._find(keys, k).tolist() == [row.get(int(x), n) for x in k]
