"""The live buckets fed in batches, in any arrival order, give the report the frames path gives on the same frames.

The frames of one trace reach the tail over several ticks (children usually before their parent, sometimes the
other way round), so the buckets re-annotate the traces a batch touches (`smythtop.app.live`). Here a window is
fed in four batches whose order is adversarial, and the live report is compared, field by field, with
`build_live` over the same frames: sums exactly (float tolerance), percentiles within one sketch bin (1 %).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pytest
from smythtop.analysis.report import build_live, live_from_cube
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import aligned, frame_schema, scope

from smythtop.app import live as live_module
from smythtop.app.live import LiveBuckets

S, MS = 10**9, 10**6
NOW = 1_750_000_000 * S
SPAN = 900 * S
# percentiles and what is read from them may differ by one sketch bin (cube.K = 100: 1 %)
PERCENTILE = ("p50_ms", "p95_ms", "p99_ms", "p95_self_ms", "mem_delta_p95_bytes", "trend")


def _trace(rng: np.random.Generator, tid: str, t0: int, ms: float, depth: int, rows: list[dict], parent=None) -> None:
    """A span and, below depth 3, up to three children inside its interval (some run in parallel)."""
    sid = f"{tid}-{len(rows)}"
    kids = int(rng.integers(0, 4)) if depth < 3 else 0
    failed_kid = False
    start = len(rows)
    rows.append({})  # the span's own row, filled in once its children are known
    for _ in range(kids):
        off = float(rng.uniform(0, ms * 0.8))
        kid_ms = float(rng.uniform(0.1, 1.0) * (ms - off))
        before = len(rows)
        _trace(rng, tid, t0 + int(off * MS), kid_ms, depth + 1, rows, sid)
        failed_kid |= not rows[before]["success"]
    llm = depth > 0 and rng.random() < 0.3
    rows[start] = {
        "ts": t0, "agent_id": f"a{int(rng.integers(0, 2))}", "component": f"c{depth}-{int(rng.integers(0, 3))}",
        "total_ms": ms, "trace_id": tid, "span_id": sid, "parent_span_id": parent,
        # a parent fails with a failed child (not its own error) or on its own; a leaf on its own
        "success": not (failed_kid and rng.random() < 0.8) and rng.random() > 0.08,
        "sample_rate": 1.0 if depth < 2 else float(rng.choice([1.0, 0.5, 0.25])),
        "model": "gpt-4o" if llm else None, "provider": "openai" if llm else None,
        "input_tokens": int(rng.integers(10, 900)) if llm else None,
        "cost_usd": float(rng.uniform(0.001, 0.01)) if llm and rng.random() < 0.8 else None,  # else unpriced
        "ttft_ms": float(rng.uniform(50, 400)) if llm else None, "depth": depth,
    }  # fmt: skip


def _frames(rng: np.random.Generator, ago_s: float) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for i in range(120):
        _trace(rng, f"t{i}", NOW - int(rng.uniform(20, ago_s) * S), float(rng.lognormal(6, 0.8)), 0, rows)
    # sampled out: some deep spans never reach the store (their children then have no parent in the window)
    rows = [r for r in rows if not (r["sample_rate"] < 1 and rng.random() < 0.3)]
    for i in range(30):  # no trace: each frame is a request of its own
        rows.append({"ts": NOW - int(rng.uniform(1, ago_s) * S), "agent_id": "a0", "component": "lone",
                     "total_ms": float(rng.lognormal(4, 1)), "success": i % 7 != 0, "sample_rate": 1.0,
                     "depth": 0})  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Int64}).with_columns(
        pl.col("ts").cast(pl.Datetime("ns", "UTC"))
    )


def _batches(rng: np.random.Generator, df: pl.DataFrame) -> list[pl.DataFrame]:
    """Four batches: children before parents in some traces, parents first in others, a trace spread over three
    batches, and frames delivered while still dated after the tick's now (they enter when now reaches them)."""
    by_trace = {tid: rng.permutation(4) for tid in df["trace_id"].unique().to_list()}
    tick = [
        int(by_trace[tid][d]) if tid is not None else int(rng.integers(0, 4))
        for tid, d in zip(df["trace_id"].to_list(), df["depth"].to_list(), strict=True)
    ]
    df = df.with_columns(_tick=pl.Series(tick))
    return [df.filter(pl.col("_tick") == i).drop("_tick", "depth") for i in range(4)]


def _close(got: Any, want: Any, path: str = "") -> None:
    if isinstance(want, msgspec.Struct):
        got, want = msgspec.structs.asdict(got), msgspec.structs.asdict(want)
    if isinstance(want, dict):
        assert got.keys() == want.keys(), path
        for key in want:
            _close(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        rel = 0.0101 if any(path.rsplit(".", 1)[-1].startswith(p) for p in PERCENTILE) else 1e-9
        assert math.isclose(got, want, rel_tol=rel, abs_tol=1e-9), (path, got, want)
    else:
        assert got == want, path


@pytest.mark.parametrize(
    ("seed", "ago_s", "step_s"),
    [(1, 600, 15), (3, 1300, 100)],  # the second: 20 buckets leave the window between the ticks
)
def test_batches_in_adversarial_order_give_the_frames_path_report(seed: int, ago_s: float, step_s: int) -> None:
    rng = np.random.default_rng(seed)
    th = Thresholds(latency_p95_ms=300.0)
    batches = _batches(rng, _frames(rng, ago_s))
    df = pl.concat(batches)
    nows = [NOW - i * step_s * S for i in (3, 2, 1, 0)]  # each tick's now: later frames wait until it passes
    live = LiveBuckets(aligned(SPAN, NOW).bucket_ns, th)
    ahead = 0
    for batch, now in zip(batches, nows, strict=True):
        win = aligned(SPAN, now)
        live.drop_before(win.start_ns)
        live.add(batch, win.start_ns, now)
        ahead = max(ahead, live.pending)
    assert ahead > 0 and live.pending == 0  # some frames did arrive from the future
    win = aligned(SPAN, NOW)
    inside = df.filter(pl.col("ts").dt.epoch("ns") >= win.start_ns)
    assert inside.height < df.height or ago_s < SPAN / S  # the frames that left the window are not in the report
    want = build_live(inside, window_from=win.start_ns, window_to=NOW, thresholds=th, bucket_ns=win.bucket_ns)
    got = live_from_cube(live.cube(win), scope(inside, win.start_ns, NOW), th)
    report = want.report
    assert report.summary.requests.requests > 80 and report.summary.requests.unpriced_requests > 0
    assert 0 < sum(c.own_errors or 0 for c in report.components) < sum(c.errors for c in report.components)
    assert any((c.mean_self_ms or 0) < c.mean_ms for c in report.components)  # children's time taken out
    assert report.window.basis.seconds < SPAN / S or ago_s > SPAN / S  # the basis is the data's, not the window
    _close(got.report, report)


def test_an_empty_window_has_no_requests_and_no_basis() -> None:
    th = Thresholds()
    win = aligned(SPAN, NOW)
    live = LiveBuckets(win.bucket_ns, th)
    got = live_from_cube(live.cube(win), scope(pl.DataFrame(schema=frame_schema()), win.start_ns, NOW), th)
    assert got.report.summary.requests.requests == 0 and got.report.window.basis.frames == 0


def test_a_batch_touching_much_of_the_window_marks_the_buckets_overgrown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-annotating a large share of the window costs what rebuilding does: the buckets say so (the loader then
    takes the frames path), and the batch is still merged exactly."""
    rng = np.random.default_rng(1)
    th = Thresholds()
    batches = _batches(rng, _frames(rng, 600))
    win = aligned(SPAN, NOW)
    for share, overgrown in ((live_module.TOUCHED_SHARE, False), (0.0, True)):
        monkeypatch.setattr(live_module, "TOUCHED_SHARE", share)
        monkeypatch.setattr(live_module, "TOUCHED_MIN", 0 if overgrown else live_module.TOUCHED_MIN)
        live = LiveBuckets(win.bucket_ns, th)
        for batch in batches:
            live.add(batch, win.start_ns, NOW + SPAN)
        assert live.overgrown is overgrown
        assert live.rows(win.start_ns, win.end_ns + SPAN) == pl.concat(batches).height


def test_frames_from_the_future_wait_for_now_whatever_arrives_meanwhile() -> None:
    th = Thresholds()
    win = aligned(SPAN, NOW)
    live = LiveBuckets(win.bucket_ns, th)

    def frame(ts: int) -> pl.DataFrame:
        return pl.DataFrame({"ts": [ts], "component": ["c"], "total_ms": [1.0]}).with_columns(
            pl.col("ts").cast(pl.Datetime("ns", "UTC"))
        )

    live.add(frame(NOW + 60 * S), win.start_ns, NOW)  # an agent clock a minute ahead
    assert live.pending == 1 and live.rows(win.start_ns, NOW + 120 * S) == 0
    live.add(frame(NOW + S), win.start_ns, NOW + 2 * S)  # another batch: only the frame now has reached enters
    assert live.pending == 1 and live.rows(win.start_ns, NOW + 120 * S) == 1
    live.add(None, win.start_ns, NOW + 61 * S)
    assert live.pending == 0 and live.rows(win.start_ns, NOW + 120 * S) == 2
