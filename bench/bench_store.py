"""Store benchmarks (issue 2, section 5) on the realistic frame mix of `bench.frames`.

Everything goes through the store's own code paths (Writer, compact, write_parquet, scan, Tailer)
in a temp dir under /tmp that is removed afterwards. Where a figure misses its goal, the rows
after it measure why: per-column Parquet sizes, compression variants, time per compaction stage,
and the effect of pausing the cyclic GC (a change the store could make; store/ is not touched here).

The machine is shared and noisy, so a figure and its peer are measured in alternating rounds
(same load for both) and the median is quoted; the 1-minute load average is printed first.
`.venv/bin/python -m bench store` runs only this module (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import msgspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from smythtop.store.catalog import KIND_MERGE, parquet_name
from smythtop.store.columns import rows_to_arrow, rows_to_polars
from smythtop.store.compaction import ROW_GROUP_ROWS, ZSTD_LEVEL, write_parquet
from smythtop.store.framing import encode_frame, gc_paused, read_records
from smythtop.store.pqfiles import read_verified
from smythtop.store.schema import validate
from smythtop.store.wal import list_segments

from bench.bench_analysis import cpu_hog
from bench.frames import DEFAULT_START_NS, FRAMES_PER_S, realistic_frames, realistic_table
from bench.harness import Table
from smythtop import store

ENCODE_FRAMES = 20_000
ENCODE_ROUNDS = 7
INGEST_FRAMES = 100_000
INGEST_ROUNDS = 5
FLUSH_EVERY = 1_000  # a recorder flushes its micro-batches about this often
COMPACT_FRAMES = 200_000
COMPACT_ROUNDS = 3
VARIANT_ROUNDS = 3
BUFFER_FRAMES = 10_000
TAIL_FRAMES = 100_000
POLL_FRAMES = 10_000
POLL_ROUNDS = 5
SCAN_FILE_ROWS = 1_000_000
SCAN_FILES = 10
SCAN_ROUNDS = 5
TAIL_ROUNDS = 3
TOP_COLUMNS = 8
IDS = ("trace_id", "span_id", "parent_span_id")
TIMINGS = ("total_ms", "input_ms", "core_ms", "output_ms", "queue_ms", "ttft_ms")
MB = 1e6


def run(table: Table) -> None:
    table.add("machine", "load average (1 min) at start", os.getloadavg()[0], "", "", f"{os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="smythtop-bench-store-", dir="/tmp"))
    try:
        _encode(table)
        _ingest(table, tmp / "ingest")
        _disk_and_compaction(table, tmp / "compact")
        _buffer_memory(table, tmp / "buffer")
        _live_tail(table, tmp / "tail")
        _poll_decode(table, tmp / "poll")
        _scan(table, tmp / "scan")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table.add("machine", "load average (1 min) at end", os.getloadavg()[0], "", "", f"{os.cpu_count()} cores")


# -- helpers ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _gc_paused(paused: bool = True) -> Iterator[None]:
    """For the "if the store paused the cyclic GC" peers: bulk decoding allocates millions of
    tuples, and every 700 allocations the collector walks the young ones again."""
    if not paused:
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class Span:
    """Wall seconds, and CPU seconds of this process: on a loaded machine the second shows what
    single-threaded code costs regardless of how much of a core it was given."""

    wall: float
    cpu: float


def _now() -> Span:
    return Span(time.perf_counter(), time.process_time())


def _since(start: Span) -> Span:
    end = _now()
    return Span(end.wall - start.wall, end.cpu - start.cpu)


def _timed(fn: Callable[[], object]) -> Span:
    start = _now()
    fn()
    return _since(start)


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, Span]:
    """Median wall and CPU seconds of each fn, run in alternating rounds so load hits all alike.
    A fn may return its own Span (when it has setup that must not count); else the call is timed."""
    spans: dict[str, list[Span]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = _now()
            inner = fn()
            spans[name].append(inner if isinstance(inner, Span) else _since(start))
    return {
        name: Span(statistics.median(s.wall for s in values), statistics.median(s.cpu for s in values))
        for name, values in spans.items()
    }


def _tree_bytes(path: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern))


def _ratio(value: float, peer: float, what: str) -> str:
    return f"{value / peer:.2f}x {what}" if peer else ""


# -- encode -------------------------------------------------------------------------------------
def _encode(table: Table) -> None:
    """Per-frame cost of the store's validate + encode path against msgspec alone and msgpack.packb."""
    frames = realistic_frames(ENCODE_FRAMES, seed=1)
    validated = [validate(f) for f in frames]
    encoder = msgspec.msgpack.Encoder()

    def loop(fn: Callable[[object], object], items: list) -> Callable[[], None]:
        def run_all() -> None:
            for item in items:
                fn(item)

        return run_all

    us = {  # CPU time: the cost of encoding, whatever share of a core this process got
        name: span.cpu / len(frames) * 1e6
        for name, span in _interleaved(
            {
                "store": loop(lambda f: encode_frame(validate(f)), frames),
                "validate": loop(validate, frames),
                "encode_frame": loop(encode_frame, validated),
                "msgspec": loop(encoder.encode, frames),
                "packb": loop(msgpack.packb, frames),
            },
            ENCODE_ROUNDS,
        ).items()
    }
    peer = "msgpack.packb(dict)"
    table.add(
        "encode",
        "store validate+encode_frame, CPU per frame",
        us["store"],
        "us",
        "",
        _ratio(us["store"], us["packb"], peer),
    )
    table.add("encode", "  of which schema.validate (msgspec.convert)", us["validate"], "us")
    table.add(
        "encode",
        "  of which encode_frame (array, crc32)",
        us["encode_frame"],
        "us",
        "",
        _ratio(us["encode_frame"], us["packb"], peer),
    )
    table.add(
        "encode",
        "msgspec.msgpack.encode(dict), CPU per frame",
        us["msgspec"],
        "us",
        "",
        _ratio(us["msgspec"], us["packb"], peer),
    )
    table.add("encode", "msgpack.packb(dict), CPU per frame", us["packb"], "us")
    record = statistics.fmean(len(encode_frame(v)) for v in validated)
    packed = statistics.fmean(len(msgpack.packb(f)) for f in frames)
    table.add(
        "encode",
        "WAL record (msgpack array + 8 B header)",
        record,
        "B/frame",
        "",
        _ratio(record, packed, "packb(dict) bytes"),
    )


# -- ingest -------------------------------------------------------------------------------------
def _ingest(table: Table, root: Path) -> None:
    """One writer process appending the realistic mix, flushing every FLUSH_EVERY frames."""
    frames = realistic_frames(INGEST_FRAMES, seed=2)
    batches = [frames[i : i + FLUSH_EVERY] for i in range(0, len(frames), FLUSH_EVERY)]
    shutil.rmtree(root, ignore_errors=True)
    with store.Writer(root / "append") as one, store.Writer(root / "many") as many:

        def append_loop() -> None:
            for batch in batches:
                for frame in batch:
                    one.append(frame)
                one.flush()

        def append_many() -> None:
            for batch in batches:
                many.append_many(batch)
                many.flush()

        seconds = _interleaved({"append": append_loop, "many": append_many}, INGEST_ROUNDS)
        for writer in (one, many):
            assert writer.flushed == writer.appended == INGEST_ROUNDS * len(frames), "frames were lost"
    for key, name in (("append", "Writer.append loop"), ("many", "Writer.append_many")):
        rate = len(frames) / seconds[key].wall
        cpu_rate = f"{len(frames) / seconds[key].cpu:,.0f}/s per CPU-second"
        table.add("ingest", f"{name}, flush every 1K frames", rate, "frames/s", ">= 200K/s", cpu_rate)
    shutil.rmtree(root, ignore_errors=True)


# -- bytes on disk and compaction ---------------------------------------------------------------
def _column_bytes(path: Path | io.BytesIO) -> dict[str, int]:
    """Compressed bytes per column, summed over row groups, from the Parquet footer."""
    meta = pq.ParquetFile(path).metadata
    sizes: dict[str, int] = {}
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            chunk = group.column(c)
            name = chunk.path_in_schema.split(".", 1)[0]  # tags.key_value.key -> tags
            sizes[name] = sizes.get(name, 0) + chunk.total_compressed_size
    return sizes


def _disk_and_compaction(table: Table, base: Path) -> None:
    frames = realistic_frames(COMPACT_FRAMES, seed=3)
    wal_store = base / "wal-store"
    with store.Writer(wal_store) as writer:  # flushed in 1K batches, so segments rotate at their usual size
        for i in range(0, len(frames), FLUSH_EVERY):
            writer.append_many(frames[i : i + FLUSH_EVERY])
            writer.flush()
    del frames
    wal_per_frame = _tree_bytes(wal_store / "wal", "*.wal") / COMPACT_FRAMES
    table.add("disk", "WAL bytes per frame (incl. segment headers)", wal_per_frame, "B/frame")

    copies = iter(range(1_000))
    kept: list[Path] = []

    def compact_copy(paused: bool) -> Span:
        copy = base / f"copy-{next(copies)}"
        shutil.copytree(wal_store, copy)  # a closed writer: every segment is sealed
        with _gc_paused(paused):
            start = _now()
            result = store.compact(copy)
            seconds = _since(start)
        assert result.frames_written == COMPACT_FRAMES, result
        if kept:
            shutil.rmtree(copy)
        else:
            kept.append(copy)  # the first output is the one measured below
        return seconds

    seconds = _interleaved({"store": lambda: compact_copy(False), "paused": lambda: compact_copy(True)}, COMPACT_ROUNDS)

    parquet_files = sorted((kept[0] / "parquet").glob("*.parquet"))
    parquet_bytes = sum(p.stat().st_size for p in parquet_files)
    per_frame = parquet_bytes / COMPACT_FRAMES
    table.add(
        "disk",
        "Parquet bytes per frame after compaction (frame file v2)",
        per_frame,
        "B/frame",
        "<= 60 B",
        _ratio(per_frame, wal_per_frame, "WAL"),
    )
    sizes: dict[str, int] = {}
    for path in parquet_files:
        for name, size in _column_bytes(path).items():
            sizes[name] = sizes.get(name, 0) + size
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:TOP_COLUMNS]:
        table.add(
            "disk", f"  column {name}", size / COMPACT_FRAMES, "B/frame", "", f"{size / parquet_bytes:.0%} of file"
        )
    groups = {
        "ids (trace, span, parent)": IDS,
        "timings (6 *_us columns, v2)": [t.removesuffix("_ms") + "_us" for t in TIMINGS],
    }
    for label, cols in groups.items():
        size = sum(sizes.get(c, 0) for c in cols)
        table.add(
            "disk", f"  group {label}", size / COMPACT_FRAMES, "B/frame", "", f"{size / parquet_bytes:.0%} of file"
        )
    compacted = pa.concat_tables(read_verified(p) for p in parquet_files)  # v2 files read back as the contract
    v1 = io.BytesIO()  # the same rows as the v1 file format wrote them (float64 ms, before frame file v2)
    pq.write_table(compacted, v1, compression="zstd", compression_level=ZSTD_LEVEL, row_group_size=ROW_GROUP_ROWS,
                   use_byte_stream_split=list(TIMINGS), write_page_checksum=True,
                   use_dictionary=[c for c in compacted.column_names if c not in {*IDS, "ts", *TIMINGS}])  # fmt: skip
    table.add("disk", "  same rows as frame file v1 (float64 ms)", v1.getbuffer().nbytes / COMPACT_FRAMES, "B/frame",
              "", _ratio(per_frame, v1.getbuffer().nbytes / COMPACT_FRAMES, "v1"))  # fmt: skip
    rollup_bytes = sum(p.stat().st_size for p in (kept[0] / "rollups").glob("*.parquet"))
    table.add("disk", "  rollup files written with them", rollup_bytes / COMPACT_FRAMES, "B/frame", "",
              f"{rollup_bytes / parquet_bytes:.0%} of the frames file")  # fmt: skip
    _compression_variants(table, compacted)

    rate = COMPACT_FRAMES / seconds["store"].wall
    paused_rate = COMPACT_FRAMES / seconds["paused"].wall
    table.add(
        "compact",
        "store.compact throughput",
        rate,
        "frames/s",
        "",
        f"{COMPACT_FRAMES / seconds['store'].cpu:,.0f}/s per CPU-second; {len(parquet_files)} file",
    )
    table.add(
        "compact",
        "  same, cyclic GC paused around compact()",
        paused_rate,
        "frames/s",
        "",
        f"{_ratio(paused_rate, rate, 'store as is')}, CPU {seconds['store'].cpu / seconds['paused'].cpu:.2f}x",
    )
    _compaction_stages(table, wal_store, compacted)
    shutil.rmtree(base)


def _compaction_stages(table: Table, wal_store: Path, compacted: pa.Table) -> None:
    """Where compaction time goes: WAL read + decode, rows -> Arrow, Parquet write.

    In CPU time (all three run on one thread), in alternating rounds with the GC on and paused.
    """
    data = [p.read_bytes() for p in sorted((wal_store / "wal").rglob("*.wal"))]
    stages: dict[str, list[float]] = {}
    for _ in range(COMPACT_ROUNDS):
        for paused in (False, True):
            with _gc_paused(paused):
                start = _now()
                rows = [row for buf in data for row in read_records(buf, sealed=True).rows]
                decoded = _now()
                rows_to_arrow(rows)
                converted = _now()
            assert len(rows) == COMPACT_FRAMES
            del rows
            suffix = ", GC paused" if paused else ""
            stages.setdefault(f"read_records{suffix}", []).append(decoded.cpu - start.cpu)
            stages.setdefault(f"rows_to_arrow{suffix}", []).append(converted.cpu - decoded.cpu)
        write = _timed(
            lambda: pq.write_table(
                compacted, io.BytesIO(), compression="zstd", compression_level=ZSTD_LEVEL, row_group_size=ROW_GROUP_ROWS
            )
        )
        stages.setdefault(f"write_parquet (zstd {ZSTD_LEVEL})", []).append(write.cpu)
    for name, values in stages.items():
        per_frame = statistics.median(values) / COMPACT_FRAMES * 1e6
        table.add("compact", f"  stage {name}", per_frame, "us cpu", "", f"per frame, {len(data)} WAL segments")


def _with_int_timings(t: pa.Table, per_ms: float) -> pa.Table:
    """Timing columns as int64 (ns when per_ms=1e6: lossless for perf_counter_ns / 1e6)."""
    for name in TIMINGS:
        i = t.schema.get_field_index(name)
        ints = pc.cast(pc.round(pc.multiply(t.column(i), per_ms)), pa.int64())
        t = t.set_column(i, pa.field(name, pa.int64()), ints)
    return t


def _without_ids(t: pa.Table) -> pa.Table:
    for name in IDS:
        i = t.schema.get_field_index(name)
        t = t.set_column(i, t.schema.field(i), pa.nulls(t.num_rows, pa.string()))
    return t


def _compression_variants(table: Table, data: pa.Table) -> None:
    """Bytes per frame for other Parquet settings on the exact compacted rows."""
    n = data.num_rows
    floats = [f.name for f in data.schema if pa.types.is_floating(f.type)]
    not_floats = [f.name for f in data.schema if not pa.types.is_floating(f.type)]
    # "dict+": dictionary for every column that repeats (floats such as mem_pressure, sample_rate and
    # cost_usd included), byte_stream_split for the unique timings, plain for random ids and ts.
    unique = {*IDS, "ts", *TIMINGS}
    dict_plus = {
        "use_dictionary": [f for f in data.column_names if f not in unique],
        "use_byte_stream_split": list(TIMINGS),
    }
    ns = _with_int_timings(data, 1e6)
    back = pc.divide(pc.cast(ns.column("total_ms"), pa.float64()), 1e6)
    assert pc.all(pc.equal(back, data.column("total_ms"))).as_py(), "ns round trip is not exact"
    int_opts = {**dict_plus, "use_byte_stream_split": []}
    best = {**int_opts, "column_encoding": {"ts": "DELTA_BINARY_PACKED"}, "compression_level": 9}
    by_group = data.sort_by([("agent_id", "ascending"), ("component", "ascending"), ("ts", "ascending")])
    variants: list[tuple[str, pa.Table, dict]] = [
        ("store: zstd 6, BSS floats, dict rest", data, {"use_byte_stream_split": floats, "use_dictionary": not_floats}),
        ("dictionary on every column", data, {"use_dictionary": True}),
        ("dict+ (floats too; BSS timings)", data, dict_plus),
        ("dict+, zstd 3", data, {**dict_plus, "compression_level": 3}),
        ("dict+, zstd 9", data, {**dict_plus, "compression_level": 9}),
        ("dict+, rows sorted by ts", data.sort_by("ts"), dict_plus),
        ("dict+, by agent, component, ts", by_group, dict_plus),
        ("dict+, timings int64 ns (lossless)", ns, int_opts),
        ("dict+, timings int64 us (lossy)", _with_int_timings(data, 1e3), int_opts),
        ("dict+, no trace/span ids", _without_ids(data), dict_plus),
        ("best lossless: ns, ts delta, zstd 9", ns.sort_by("ts"), best),
        ("floor: best + us timings, no ids", _without_ids(_with_int_timings(data, 1e3)).sort_by("ts"), best),
    ]
    writers = {}
    sizes: dict[str, int] = {}
    for name, t, opts in variants:
        kwargs = {"compression": "zstd", "compression_level": ZSTD_LEVEL, "row_group_size": ROW_GROUP_ROWS, **opts}

        def write(name: str = name, t: pa.Table = t, kwargs: dict = kwargs) -> None:
            sink = io.BytesIO()
            pq.write_table(t, sink, **kwargs)
            sizes[name] = sink.getbuffer().nbytes

        writers[name] = write
    seconds = _interleaved(writers, VARIANT_ROUNDS)
    first = variants[0][0]
    for name, _, _ in variants:
        table.add(
            "disk",
            f"  {name}",
            sizes[name] / n,
            "B/frame",
            "<= 24 B",
            f"write CPU {_ratio(seconds[name].cpu, seconds[first].cpu, 'store')}",
        )


# -- memory -------------------------------------------------------------------------------------
def _buffer_memory(table: Table, root: Path) -> None:
    """10K frames held in a writer's buffer (nothing written), and the default writer's footprint."""
    frames = realistic_frames(BUFFER_FRAMES, seed=4)

    def measure(buffer_bytes: int) -> tuple[int, int]:
        shutil.rmtree(root, ignore_errors=True)
        with store.Writer(root, buffer_bytes=buffer_bytes) as writer:
            gc.collect()
            tracemalloc.start()
            for frame in frames:
                writer.append(frame)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            held = writer.buffered_bytes
        return held, peak

    huge = [measure(1 << 40) for _ in range(3)]
    held = statistics.median(h for h, _ in huge)
    peak = statistics.median(p for _, p in huge)
    per = f"{held / BUFFER_FRAMES:.0f} B/frame"
    table.add("memory", "10K frames in Writer buffer: len(buffer)", held / MB, "MB", "<= 2 MB", per)
    table.add("memory", "  same, tracemalloc peak while appending", peak / MB, "MB", "<= 2 MB")
    default = statistics.median(measure(64 << 10)[1] for _ in range(3))
    table.add("memory", "default Writer (64 KiB), 10K appends: peak", default / MB, "MB", "<= 2 MB")
    shutil.rmtree(root, ignore_errors=True)


# -- live tail ----------------------------------------------------------------------------------
def _group_by_component(frame: pl.LazyFrame) -> pl.DataFrame:
    total = pl.col("total_ms")
    return (
        frame.group_by("component")
        .agg(
            pl.len().alias("count"),
            total.quantile(0.5).alias("p50_ms"),
            total.quantile(0.95).alias("p95_ms"),
            total.quantile(0.99).alias("p99_ms"),
            pl.col("cost_usd").sum().alias("cost_usd"),
        )
        .collect()
    )


def _live_tail(table: Table, base: Path) -> None:
    """scan() over a store whose frames are still in a live WAL (decoded at every scan), and Tailer.poll."""
    frames = realistic_frames(TAIL_FRAMES + 2 * POLL_ROUNDS * POLL_FRAMES, seed=5)
    live = base / "live"
    compacted = base / "compacted"
    with store.Writer(live) as writer:
        writer.append_many(frames[:TAIL_FRAMES])
        writer.flush()
        shutil.copytree(live, compacted)  # the copy's writer is dead, so all of it compacts
        assert store.compact(compacted).frames_written == TAIL_FRAMES

        def query(root: Path, paused: bool = False) -> Callable[[], None]:
            def go() -> None:
                with _gc_paused(paused):
                    assert _group_by_component(store.scan(root))["count"].sum() == TAIL_FRAMES

            return go

        seconds = _interleaved(
            {"live": query(live), "parquet": query(compacted), "paused": query(live, paused=True)}, TAIL_ROUNDS
        )
        wal_s, parquet_s, paused_s = seconds["live"].wall, seconds["parquet"].wall, seconds["paused"].wall
        table.add(
            "tail", "scan+group-by, 100K frames in live WAL", wal_s, "s", "", _ratio(wal_s, parquet_s, "same compacted")
        )
        table.add("tail", "  same 100K frames compacted to Parquet", parquet_s, "s")
        table.add(
            "tail",
            "  live WAL, cyclic GC paused around scan",
            paused_s,
            "s",
            "",
            _ratio(paused_s, wal_s, "store as is"),
        )

        tailer = store.Tailer(live)
        next_frame = iter(range(TAIL_FRAMES, len(frames), POLL_FRAMES))

        def poll(paused: bool) -> Callable[[], float]:
            def go() -> float:
                start_at = next(next_frame)
                writer.append_many(frames[start_at : start_at + POLL_FRAMES])
                writer.flush()
                with _gc_paused(paused):
                    start = _now()
                    got = tailer.poll()
                    elapsed = _since(start)
                assert got is not None and got.height == POLL_FRAMES, "the tailer missed frames"
                return elapsed

            return go

        polls = _interleaved({"store": poll(False), "paused": poll(True)}, POLL_ROUNDS)
    per = f"{POLL_FRAMES / polls['store'].wall:,.0f} frames/s; {polls['store'].cpu * 1e3:.0f} ms CPU"
    table.add("tail", "Tailer.poll per 10K new frames", polls["store"].wall * 1e3, "ms", "", per)
    table.add(
        "tail",
        "  same, cyclic GC paused around poll",
        polls["paused"].wall * 1e3,
        "ms",
        "",
        _ratio(polls["paused"].wall, polls["store"].wall, "store as is"),
    )
    shutil.rmtree(base)


def _old_decode(root: Path, before: dict[str, int], after: dict[str, int]) -> tuple[float, pl.DataFrame]:
    """Seconds and frames of the path `Tailer.poll` used before read_table, on the bytes the poll just read:
    msgspec decode of each record into a FrameRow, then `rows_to_polars`."""
    chunks = []
    for seg in list_segments(root):
        lo, hi = before.get(seg.key, 0), after.get(seg.key, 0)
        if hi > lo:
            chunks.append((seg.path.read_bytes()[lo:hi], lo == 0))
    start = time.perf_counter()
    with gc_paused():
        rows = [row for data, head in chunks for row in read_records(data, sealed=True, has_header=head).rows]
        frame = rows_to_polars(rows)
    return time.perf_counter() - start, frame


def _poll_decode(table: Table, root: Path) -> None:
    """Tailer.poll of 10K realistic frames (the live tick's read at 10K frames/s) against the per-record
    decode it replaced, timed on the same bytes right after each poll, quiet and with a CPU hog."""
    frames = realistic_frames(POLL_FRAMES, seed=11)
    with store.Writer(root) as writer:
        tailer = store.Tailer(root)
        for hog in (False, True):
            polls, olds = [], []
            with cpu_hog(hog):
                for _ in range(POLL_ROUNDS):
                    writer.append_many(frames)
                    writer.flush()
                    before = dict(tailer.offsets)
                    start = time.perf_counter()
                    got = tailer.poll()
                    polls.append(time.perf_counter() - start)
                    old_s, old = _old_decode(root, before, tailer.offsets)
                    olds.append(old_s)
                    assert got is not None and got.height == POLL_FRAMES and got.equals(old), "decoders disagree"
            poll_ms, old_ms = statistics.median(polls) * 1e3, statistics.median(olds) * 1e3
            table.add(
                "tail",
                "Tailer.poll, 10K realistic frames" + (", CPU hog" if hog else ""),
                poll_ms,
                "ms",
                "<= 30" if not hog else "",
                f"per-record decode {old_ms:.0f} ms ({_ratio(poll_ms, old_ms, 'of it')})",
            )


# -- scan ---------------------------------------------------------------------------------------
def _scan(table: Table, base: Path) -> None:
    """group-by component over 1M and 10M rows of ~1M-row files written by store.compaction.write_parquet."""
    big = base / "10m" / "parquet"
    small = base / "1m" / "parquet"
    big.mkdir(parents=True)
    small.mkdir(parents=True)
    file_span_s = SCAN_FILE_ROWS / FRAMES_PER_S
    gen_times = []
    for i in range(SCAN_FILES):
        start = time.perf_counter()
        chunk = realistic_table(
            SCAN_FILE_ROWS, seed=100 + i, start_ns=DEFAULT_START_NS + int(i * file_span_s * 1e9), span_s=file_span_s
        )
        gen_times.append(time.perf_counter() - start)
        chunk = chunk.sort_by("ts")  # as the merger leaves them: ~1M rows per file, sorted by ts
        ts = chunk.column("ts").cast(pa.int64())
        name = parquet_name(pc.min(ts).as_py(), pc.max(ts).as_py(), KIND_MERGE)
        write_parquet(chunk, big / name, sources=[], kind=KIND_MERGE)
        if i == 0:
            os.link(big / name, small / name)
        del chunk
    table.add("frames", "realistic_table generation, 1M rows", SCAN_FILE_ROWS / statistics.median(gen_times), "rows/s")

    for label, root, rows in (("1M", base / "1m", SCAN_FILE_ROWS), ("10M", base / "10m", SCAN_FILE_ROWS * SCAN_FILES)):
        files = sorted(str(p) for p in (root / "parquet").glob("*.parquet"))
        ours = _group_by_component(store.scan(root))
        peer = _group_by_component(pl.scan_parquet(files))
        assert ours["count"].sum() == rows and ours.sort("component").equals(peer.sort("component")), "scan disagrees"
        seconds = _interleaved(
            {
                "store": lambda r=root: _group_by_component(store.scan(r)),
                "peer": lambda f=files: _group_by_component(pl.scan_parquet(f)),
            },
            SCAN_ROUNDS,
        )
        goal = "<= 1 s" if label == "10M" else ""
        ours_s, peer_s = seconds["store"].wall, seconds["peer"].wall
        peer_note = _ratio(ours_s, peer_s, "pl.scan_parquet")
        table.add("scan", f"scan+group-by component, {label} rows", ours_s, "s", goal, peer_note)
        table.add("scan", f"  pl.scan_parquet on the same files, {label}", peer_s, "s")
    shutil.rmtree(base)
