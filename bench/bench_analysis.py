"""Full `report` over 1M and 10M frames: the aggregations on an in-memory frame, and the same read from Parquet.
Then bounded cardinality: `report` on stores with 10K and 1M distinct component names, quiet and with a CPU hog
on one core, against the same number of rows over 10 names, with peak RSS.

The data is a vectorised synthetic fleet (numpy + polars, no recorder) in the store's exact schema:
six-span traces (root, planner LLM, retrieval, a tool, assistant LLM, summariser LLM) priced with
genai-prices per-token rates, written as Parquet under the store layout so `store.scan` reads it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from bench.harness import Table, median_time

_HOUR_NS = 3600 * 10**9
_TOOLS = ("web_search", "sql_query", "code_exec", "calculator")
# component, model, provider, mean ms, sigma; models are real genai-prices ids
_LLM = {
    "planner": ("gpt-4o", "openai", 900.0, 0.35),
    "assistant": ("claude-sonnet-4-5", "anthropic", 2600.0, 0.4),
    "summarizer": ("gpt-4o-mini", "openai", 450.0, 0.3),
}


def _unit_prices(model: str, provider: str) -> tuple[float, float, float, int]:
    """($/input token, $/output token, $/cache-read token, context window) from genai-prices."""
    from genai_prices import Usage, calc_price

    big = 1_000_000
    p_in = calc_price(Usage(input_tokens=big), model, provider_id=provider)
    p_out = calc_price(Usage(output_tokens=big), model, provider_id=provider)
    p_cache = calc_price(Usage(input_tokens=big, cache_read_tokens=big), model, provider_id=provider)
    per = Decimal(big)
    return (
        float(p_in.total_price / per),
        float(p_out.total_price / per),
        float(p_cache.total_price / per),
        int(p_in.model.context_window or 128_000),
    )


def generate_fleet(n_rows: int, *, seed: int = 0, hours: float = 6.0, agents: int = 8) -> pl.DataFrame:
    """About n_rows frames (a multiple of 6) spread over `hours` ending now, in the store's schema."""
    from smythtop.analysis.window import frame_schema

    rng = np.random.default_rng(seed)
    n_tr = max(1, n_rows // 6)
    end = int(datetime.now(UTC).timestamp() * 1e9)
    t0 = np.sort(rng.integers(end - int(hours * _HOUR_NS), end, n_tr))
    agent = rng.integers(0, agents, n_tr)
    tool = rng.integers(0, len(_TOOLS), n_tr)

    cols: dict[str, list[np.ndarray]] = {}

    def put(**kv: np.ndarray) -> None:
        for k, v in kv.items():
            cols.setdefault(k, []).append(v)

    children = ["planner", "retrieval", "tool", "assistant", "summarizer"]
    start = t0 + 2_000_000  # 2 ms root set-up
    child_ms = []
    nan = np.full(n_tr, np.nan)
    none_i = np.full(n_tr, -1)
    for pos, comp in enumerate(children, start=1):
        if comp in _LLM:
            model, provider, mean, sigma = _LLM[comp]
            ms = rng.lognormal(np.log(mean), sigma, n_tr)
            p_in, p_out, p_cache, ctx = _unit_prices(model, provider)
            tin = rng.lognormal(np.log(6000 if comp == "assistant" else 1500), 0.5, n_tr).astype(np.int64) + 50
            tout = rng.lognormal(np.log(500 if comp == "assistant" else 180), 0.6, n_tr).astype(np.int64) + 5
            cache = (tin * (0.6 if comp == "assistant" else 0.0)).astype(np.int64)
            cost = (tin - cache) * p_in + cache * p_cache + tout * p_out
            put(
                model=np.full(n_tr, model),
                provider=np.full(n_tr, provider),
                input_tokens=tin,
                output_tokens=tout,
                cache_read_tokens=cache,
                cost_usd=cost,
                context_utilization=np.minimum(tin / ctx, 1.0),
                context_window=np.full(n_tr, ctx),
                ttft_ms=ms * rng.uniform(0.1, 0.3, n_tr),
            )
            names = np.full(n_tr, comp)
        else:
            ms = rng.lognormal(np.log(80 if comp == "retrieval" else 300), 0.5, n_tr)
            put(
                model=np.full(n_tr, None),
                provider=np.full(n_tr, None),
                input_tokens=none_i,
                output_tokens=none_i,
                cache_read_tokens=none_i,
                cost_usd=nan,
                context_utilization=nan,
                context_window=none_i,
                ttft_ms=nan,
            )
            names = np.array(_TOOLS)[tool] if comp == "tool" else np.full(n_tr, comp)
        ok = rng.random(n_tr) > (0.04 if comp == "tool" else 0.005)
        put(
            ts=start,
            component=names,
            total_ms=ms,
            success=ok,
            pos=np.full(n_tr, pos),
            input_ms=ms * 0.05,
            core_ms=ms * 0.9,
            output_ms=ms * 0.05,
            queue_ms=rng.exponential(3.0, n_tr),
            retry_count=np.where(ok, 0, rng.integers(1, 3, n_tr)),
            sample_rate=np.full(n_tr, 0.5 if comp == "retrieval" else 1.0),
            input_bytes=rng.integers(200, 20000, n_tr),
            output_bytes=rng.integers(100, 8000, n_tr),
        )
        child_ms.append(ms)
        start = start + (ms * 1e6).astype(np.int64) + 1_000_000
    root_ms = (start - t0) / 1e6
    put(
        ts=t0,
        component=np.full(n_tr, "agent_run"),
        total_ms=root_ms,
        success=np.ones(n_tr, bool),
        pos=np.zeros(n_tr, np.int64),
        model=np.full(n_tr, None),
        provider=np.full(n_tr, None),
        input_tokens=none_i,
        output_tokens=none_i,
        cache_read_tokens=none_i,
        cost_usd=nan,
        context_utilization=nan,
        context_window=none_i,
        ttft_ms=nan,
        input_ms=nan,
        core_ms=nan,
        output_ms=nan,
        queue_ms=nan,
        retry_count=none_i,
        sample_rate=np.ones(n_tr),
        input_bytes=rng.integers(200, 2000, n_tr),
        output_bytes=rng.integers(100, 2000, n_tr),
    )
    trace = np.tile(np.arange(n_tr), 6)
    agents_col = np.tile(agent, 6)
    data = {k: np.concatenate(v) for k, v in cols.items()}
    df = pl.DataFrame(data, nan_to_null=True).with_columns(
        pl.col(c).replace(-1, None)
        for c in ("input_tokens", "output_tokens", "cache_read_tokens", "context_window", "retry_count")
    )
    df = df.with_columns(
        ts=pl.col("ts").cast(pl.Datetime("ns", "UTC")),
        agent_id=pl.format("agent-{}", pl.Series(agents_col)),
        trace_id=pl.format("t{}", pl.Series(trace)),
        span_id=pl.format("t{}.{}", pl.Series(trace), pl.col("pos")),
        parent_span_id=pl.when(pl.col("pos") > 0).then(pl.format("t{}.0", pl.Series(trace))),
        mem_delta_bytes=pl.Series(rng.integers(-4096, 65536, len(trace))),
        mem_pressure=pl.Series(rng.uniform(0.2, 0.6, len(trace))),
        error_type=pl.when(~pl.col("success")).then(pl.lit("TimeoutError")),
    )
    schema = frame_schema()
    return df.select(
        pl.col(c).cast(schema[c]) if c in df.columns else pl.lit(None, dtype=schema[c]).alias(c) for c in schema
    ).sort("ts")


def write_store(df: pl.DataFrame, root: Path, files: int = 8) -> None:
    """Parquet files named like compacted ones (`<min_ts>-<max_ts>-m<hex>.parquet`), so store.scan finds them."""
    from smythtop.store.catalog import KIND_MERGE, parquet_name
    from smythtop.store.paths import PARQUET_DIR

    out = root / PARQUET_DIR
    out.mkdir(parents=True, exist_ok=True)
    size = -(-df.height // files)
    for part in df.iter_slices(size):
        t = part["ts"].dt.epoch("ns")
        part.write_parquet(out / parquet_name(int(t.min()), int(t.max()), KIND_MERGE), statistics=True)


def many_names(n_rows: int, names: int, *, seed: int = 1, hours: float = 6.0) -> pl.DataFrame:
    """`generate_fleet` with its components renamed c0 ... c<names-1> round-robin (every name used when
    n_rows >= names): the same rows, times, traces and costs, only more distinct names."""
    df = generate_fleet(n_rows, seed=seed, hours=hours)
    return df.with_columns(component=pl.format("c{}", pl.int_range(pl.len()) % names))


@contextlib.contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """While the block runs, a `python -c "while True: pass"` process keeps one core busy (when `on`)."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait(timeout=10)


_REPORT = """
import resource, sys, time
from smythtop import store
from smythtop.analysis.report import build_report
start = time.perf_counter()
report = build_report(store.scan(sys.argv[1]))
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, report.summary.components)
"""


def _report_run(root: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS MB, distinct components) of `build_report(store.scan(root))` in a fresh process, so
    that its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, "-c", _REPORT, str(root)], capture_output=True, text=True, check=True, timeout=REPORT_TIMEOUT_S
    )
    secs, rss_kb, components = out.stdout.split()
    return float(secs), int(rss_kb) / 1024, int(components)


REPORT_TIMEOUT_S = 300.0  # a report that takes longer is a failure to report, not a bench to wait on
REFERENCE_NAMES = 10  # the reference store: the same rows over this many component names
# (distinct names, rows): 1M names get one row each (rows are a multiple of generate_fleet's 6 spans a trace)
CARDINALITY = ((10_000, 200_004), (1_000_000, 1_000_002))


def cardinality(table: Table) -> None:
    """`report` at 10K and 1M distinct component names against the same rows over 10 names, measured in the
    same run, quiet and with a CPU hog on one core: medians of 3 fresh processes each, and peak RSS."""
    for names, rows in CARDINALITY:
        with tempfile.TemporaryDirectory(prefix="smythtop-bench-names-") as tmp:
            roots = {n: Path(tmp) / str(n) for n in (names, REFERENCE_NAMES)}
            for n, root in roots.items():
                write_store(many_names(rows, n), root)
            gc.collect()
            for hog in (False, True):
                with cpu_hog(hog):
                    runs = {n: [_report_run(root) for _ in range(3)] for n, root in roots.items()}
                    load = os.getloadavg()[0]
                mine, ref = runs[names], runs[REFERENCE_NAMES]
                assert mine[0][2] == names and ref[0][2] == REFERENCE_NAMES
                add_names_row(table, "analysis", "report", names, rows, hog, load,
                              [(r[0], r[1]) for r in mine], [(r[0], r[1]) for r in ref])  # fmt: skip


def add_names_row(
    table: Table,
    group: str,
    what: str,
    names: int,
    rows: int,
    hog: bool,
    load: float,
    mine: list[tuple[float, float]],
    ref: list[tuple[float, float]],
    note: str = "",
) -> None:
    """One cardinality row: the median seconds of `mine` against `ref` (the same rows over REFERENCE_NAMES names,
    same run) and the peak RSS of each; runs are (seconds, peak RSS MB); `note` goes before the load."""
    secs, ref_secs = statistics.median(s for s, _ in mine), statistics.median(s for s, _ in ref)
    rss, ref_rss = max(m for _, m in mine), max(m for _, m in ref)
    table.add(
        group,
        f"{what}, {names:,} names, {rows // 1000:,}K rows, {'CPU hog' if hog else 'quiet'}",
        secs * 1000,
        "ms",
        goal="<= 3x ref",
        peer=f"{secs / ref_secs:.2f}x {REFERENCE_NAMES} names ({ref_secs * 1000:.0f} ms); peak RSS "
        f"{rss:.0f} MB vs {ref_rss:.0f} MB; {note}load {load:.1f}",
    )


def _cpu(fn: object) -> str:
    """CPU seconds of one call and the load average: wall time on a shared 2-core box needs both to be read."""
    start = time.process_time()
    fn()  # type: ignore[operator]
    cpu = time.process_time() - start
    return f"cpu {cpu * 1000:.0f} ms/call, load {os.getloadavg()[0]:.1f}"


def self_time(table: Table, n: int = 1_000_000) -> None:
    """The self-time pass (`selftime.annotate`: span ids to keys, children to parents, the union of their
    intervals) against the whole report on the same frame, quiet and with a CPU hog on one core."""
    from smythtop.analysis import selftime
    from smythtop.analysis.report import build_report
    from smythtop.analysis.window import REPORT_COLUMNS, prepare

    df = generate_fleet(n, seed=1)
    prepared, _ = prepare(df, columns=REPORT_COLUMNS, extra=selftime.KEYS)
    for hog in (False, True):
        with cpu_hog(hog):
            report = median_time(lambda: build_report(df), repeat=3)
            annotate = median_time(lambda: selftime.annotate(prepared), repeat=3)
        table.add(
            "analysis",
            f"selftime.annotate, {n // 1_000_000}M rows, {'CPU hog' if hog else 'quiet'}",
            annotate * 1000,
            "ms",
            peer=f"{annotate / report:.0%} of build_report's {report * 1000:.0f} ms (which includes it)",
        )


def read_time_prices(table: Table, n_rows: int = 1_000_002) -> None:
    """`build_report` on a fleet whose LLM frames were stored unpriced and are priced from `[prices]` at read time,
    against the same frames with their recorded costs, same run, quiet and with a CPU hog on one core."""
    from smythtop.analysis.report import build_report
    from smythtop.analysis.thresholds import CustomPrice, Thresholds

    stored = generate_fleet(n_rows, seed=2)
    unpriced = stored.with_columns(cost_usd=pl.lit(None, dtype=pl.Float64))
    prices = {model: CustomPrice(input_mtok=2.5, output_mtok=10.0, cache_read_mtok=1.25) for model, *_ in _LLM.values()}
    th = Thresholds(prices=prices)
    report = build_report(unpriced, thresholds=th)
    assert report.summary.unpriced_llm_calls == 0 and report.summary.total_cost_usd > 0
    for hog in (False, True):
        with cpu_hog(hog):
            priced_s = median_time(lambda: build_report(unpriced, thresholds=th), repeat=5)
            stored_s = median_time(lambda: build_report(stored), repeat=5)
            load = os.getloadavg()[0]
        table.add(
            "analysis",
            f"build_report, {n_rows // 1000:,}K rows priced at read time, {'CPU hog' if hog else 'quiet'}",
            priced_s * 1000,
            "ms",
            peer=f"{priced_s / stored_s:.2f}x recorded costs ({stored_s * 1000:.0f} ms); load {load:.1f}",
        )


def run(table: Table) -> None:
    read_time_prices(table)
    cardinality(table)
    self_time(table)
    from smythtop.analysis.report import build_report

    for n in (1_000_000, 10_000_000):
        label = f"{n // 1_000_000}M"
        df = generate_fleet(n, seed=1)
        report = build_report(df)  # warm-up, and a sanity check that the report is real
        assert report.summary.executions > 0 and report.bottlenecks and report.components
        secs = median_time(lambda df=df: build_report(df), repeat=5 if n < 5_000_000 else 3)
        table.add(
            "analysis",
            f"build_report, in-memory frame, {label} rows",
            secs * 1000,
            "ms",
            goal="<= 1000 ms" if n == 10_000_000 else "",
            peer=_cpu(lambda df=df: build_report(df)),
        )
        with tempfile.TemporaryDirectory(prefix="smythtop-bench-") as tmp:
            from smythtop import store

            write_store(df, Path(tmp))
            del df
            gc.collect()
            t = time.perf_counter()
            build_report(store.scan(tmp))
            first = time.perf_counter() - t
            secs = median_time(lambda tmp=tmp: build_report(store.scan(tmp)), repeat=3)
            table.add(
                "analysis",
                f"store.scan + build_report, Parquet, {label} rows",
                secs * 1000,
                "ms",
                peer=f"first run {first * 1000:.0f} ms; " + _cpu(lambda tmp=tmp: build_report(store.scan(tmp))),
            )
        gc.collect()
