"""Rollup files: per-minute and per-hour mergeable aggregates written at compaction, so long windows never read
raw frames.

Every kind-w frames file the compactor publishes comes with a rollup file in `rollups/`, published in the same
step (one journal: the frames file is the target, the rollup an `also`; see `compaction.publish`), so the
frames that leave the WAL are in the rollups exactly once. A rollup file holds two kinds of rows, told apart
by `metric` (docs/FORMAT.md section 11):

- sums rows (`metric` null): one per (t, agent_id, component, model, provider, success) with `rows`, the
  weighted count `n` and weighted sums and counts (`<c>_sum`, `<c>_w`, `unpriced`, `retry_ms`);
- sketch rows (`metric` set): one per (t, agent_id, component, model, provider, metric, _bin) with the
  weighted count `_w` and largest value `_v` of a log-binned sketch (`sketch`).

`t` is the minute (ns since the epoch, a multiple of 60 s) that holds the frames' ts. These are the columns of
the analysis' per-bucket partial aggregate (analysis/partial.py) at 60 s buckets, less `slo_ok` and
`mem_over`: those depend on the reader's thresholds, so the reader estimates them from the `total_ms` and
`mem_pressure` sketches. Weighted sums are plain sums per sample rate multiplied by 1/sample_rate, as
analysis/cube.py does, so a window from rollups counts and costs what the same window from raw frames does.

Rows for one key may sit in several files (each compaction writes its own minutes); readers add them up,
which is what makes the aggregates mergeable. Small rollup files are merged (re-aggregated) like frames files,
and retention keeps rollups longer than raw frames (`apply_rollup_retention`).

Tiers. Every compaction writes the same frames twice, at two granularities, in the same publish step: a minute
file (kind `n`) and an hour file (kind `h`: `t` the hour's start, every sketch per hour). So each tier holds
every rolled-up frame exactly once, whatever arrives late, and a reader may take any time range from either
tier. A 24 h window in hour buckets reads ~24 rows per key and sketch bin instead of 1440: at low density a
minute cell holds a few frames, so minute sketch rows approach one per frame per metric (measured: 24 h at 2M
frames a day read slower from minute rollups than from raw frames). `scan_rollups(tier_ns=HOUR_NS)` takes the
whole hours of the window from the hour tier and its edges from the minute tier. Minute files written before
tiers existed (kinds `w`, `m`) have no hour counterpart: a window that overlaps one reads the minute tier only,
so old stores still read, exactly. A merge keeps tiers apart (`n` stays `n` only if all its sources were).
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from smythtop.store.catalog import ParquetFile, list_parquet, orphaned, parquet_name, rel, superseded
from smythtop.store.framefile import rolled_up
from smythtop.store.layout import open_store
from smythtop.store.locks import read_lock
from smythtop.store.paths import FILE_MODE, QUARANTINE_DIR, ROLLUP_DIR, resolve_root
from smythtop.store.pqfiles import DAMAGE_ERRORS, NOT_DAMAGE, quarantine_parquet
from smythtop.store.reader import _read_wal_frames
from smythtop.store.sketch import K_MEM, K, bin_of

MINUTE_NS = 60 * 10**9
KEY = ("t", "agent_id", "component", "model", "provider")
SUMMED = ("total_ms", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
          "reasoning_tokens", "cost_usd", "retry_count", "input_ms", "core_ms", "output_ms", "queue_ms",
          "mem_delta_bytes", "mem_pressure", "context_utilization")  # fmt: skip
COUNTED = ("cost_usd", "model", "input_ms", "core_ms", "output_ms", "queue_ms", "mem_delta_bytes",
           "mem_pressure", "context_utilization")  # fmt: skip
METRICS = (("total_ms", K), ("ttft_ms", K), ("input_tokens", K), ("mem_delta_bytes", K_MEM), ("mem_pressure", K))
HOUR_NS = 60 * MINUTE_NS
KIND_MINUTE = "n"  # minute rows whose frames the hour tier holds too
KIND_HOUR = "h"  # hour rows (`t` the hour's start)
# kinds `w` and `m`: minute rows written before tiers existed (or merged with such rows): no hour counterpart
# Sketches the analysis only reads for a whole window (never per bucket) are kept per hour, `t` the hour's start:
# at the bench's 2M frames a day most minute cells hold a few frames, so a minute sketch is about one row per
# frame per metric (measured: these three were 3.4M of 5.3M rollup rows); per hour they are a fraction of that.
HOURLY = ("ttft_ms", "input_tokens", "mem_delta_bytes")
# Rows are sorted by t, so a reader's t filter skips whole row groups: with one group per file a 24 h window's
# few edge minutes decoded the whole minute file (measured on the bench's 1M-row minute files, under load:
# 1.9 s with one row group, 0.05-0.14 s with 64k-row groups; files 15 % larger).
ROW_GROUP_ROWS = 64 * 1024
VALUES = ("n", *(f"{c}_sum" for c in SUMMED), *(f"{c}_w" for c in COUNTED), "unpriced", "retry_ms")
SUMS_COLUMNS = (*KEY, "success", "rows", *VALUES)
SKETCH_COLUMNS = (*KEY, "metric", "_bin", "_w", "_v")
# The sketch rows' strings, read as the files' dictionaries (`read`, `RollupScan.coded_sketch`)
_CODED = ("agent_id", "component", "model", "provider", "metric")
Part = Literal["sums", "sketch"]  # one kind of rows (`read`)


# 2: sums rows, then sketch rows, in row groups of their own (`write`); 1: the two kinds interleaved, sorted by key.
# Readers take both (`read`): the version only says whether one kind's row groups can be skipped.
VERSION = 2


def _schema() -> pa.Schema:
    fields = [
        pa.field("t", pa.int64(), nullable=False),
        pa.field("agent_id", pa.string(), nullable=False),
        pa.field("component", pa.string(), nullable=False),
        pa.field("model", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("success", pa.bool_()),
        pa.field("metric", pa.string()),
        pa.field("_bin", pa.int32()),
        pa.field("_w", pa.float64()),
        pa.field("_v", pa.float64()),
        pa.field("rows", pa.int64()),
        *(pa.field(c, pa.float64()) for c in VALUES),
    ]
    return pa.schema(fields, metadata={b"smythtop.rollup_version": str(VERSION).encode()})


SCHEMA = _schema()
_POLARS = pl.from_arrow(SCHEMA.empty_table()).schema  # type: ignore[union-attr]
_CODED_SCHEMA = pa.schema(
    [pa.field(f.name, pa.dictionary(pa.int32(), f.type), f.nullable) if f.name in _CODED else f for f in SCHEMA]
)


def aggregate(frames: pl.DataFrame) -> pl.DataFrame:
    """Rollup rows (both kinds) of frames with the contract's columns: one pass per kind over the frames."""
    df = frames.lazy().with_columns(
        t=pl.col("ts").dt.epoch("ns") // MINUTE_NS * MINUTE_NS,
        w=1.0 / pl.col("sample_rate").fill_null(1.0),
        success=pl.col("success").fill_null(True),
    )
    rc = pl.col("retry_count").fill_null(0).cast(pl.Float64)
    plain = {
        **{f"{c}_sum": pl.col(c).fill_null(0).cast(pl.Float64) for c in SUMMED},
        **{f"{c}_w": pl.col(c).is_not_null().cast(pl.Float64) for c in COUNTED},
        "unpriced": (pl.col("model").is_not_null() & pl.col("cost_usd").is_null()).cast(pl.Float64),
        "retry_ms": pl.col("total_ms") * rc / (rc + 1.0),
    }
    # plain sums per sample rate, weighted after: the weight is constant in a group (analysis/cube.py does the same)
    by_rate = df.group_by(*KEY, "success", "sample_rate").agg(
        pl.len().alias("rows"), *(e.sum().alias(c) for c, e in plain.items())
    )
    w = 1.0 / pl.col("sample_rate").fill_null(1.0)
    sums = (
        by_rate.with_columns(n=pl.col("rows") * w, **{c: pl.col(c) * w for c in plain})
        .group_by(*KEY, "success")
        .agg(pl.col("rows").sum(), *(pl.col(c).sum() for c in VALUES))
    )
    hour = pl.col("t") // HOUR_NS * HOUR_NS
    sketches = [
        df.filter(pl.col(metric).is_not_null())
        .with_columns(t=hour if metric in HOURLY else pl.col("t"))
        .group_by(*KEY, bin_of(pl.col(metric), k).alias("_bin"))
        .agg(_w=pl.col("w").sum(), _v=pl.col(metric).max().cast(pl.Float64))
        .with_columns(metric=pl.lit(metric))
        for metric, k in METRICS
    ]
    parts = pl.collect_all([sums, *sketches])
    return pl.concat(parts, how="diagonal_relaxed").select(pl.col(n).cast(d) for n, d in _POLARS.items())


def merge(rows: pl.DataFrame) -> pl.DataFrame:
    """Rollup rows with each key once: sums and bin weights added, bin maxima kept (exact: mergeable)."""
    sums = (
        rows.lazy()
        .filter(pl.col("metric").is_null())
        .group_by(*KEY, "success")
        .agg(pl.col("rows").sum(), *(pl.col(c).sum() for c in VALUES))
    )
    sketch = (
        rows.lazy()
        .filter(pl.col("metric").is_not_null())
        .group_by(*KEY, "metric", "_bin")
        .agg(pl.col("_w").sum(), pl.col("_v").max())
    )
    parts = pl.collect_all([sums, sketch])
    return pl.concat(parts, how="diagonal_relaxed").select(pl.col(n).cast(d) for n, d in _POLARS.items())


def hourly(rows: pl.DataFrame) -> pl.DataFrame:
    """Minute rollup rows as hour rows: `t` moved back to its hour and the rows re-aggregated (exact: mergeable;
    a sketch's bins do not depend on t)."""
    return merge(rows.with_columns(t=pl.col("t") // HOUR_NS * HOUR_NS))


def tier_of(f: ParquetFile) -> int:
    """The granularity of a rollup file's `t`, from its kind letter."""
    return HOUR_NS if f.kind == KIND_HOUR else MINUTE_NS


def name_of(rows: pl.DataFrame, kind: str) -> str:
    """The file name for rollup rows: their minute range, as frames files carry their ts range."""
    lo, hi = rows.select(lo=pl.col("t").min(), hi=pl.col("t").max()).row(0)
    return parquet_name(lo, hi, kind)


def write(rows: pl.DataFrame, path: Path, *, sources: list[str]) -> None:
    """Write rollup rows (zstd, page checksums, provenance in the metadata) and fsync: the sums rows first, then
    the sketch rows, each sorted by key and in row groups of their own (rollup version 2), so that a reader of
    one kind skips the other's row groups on the `metric` statistics (`read(..., part=...)`)."""
    import json

    sums = rows.filter(pl.col("metric").is_null()).sort(*KEY, "success", nulls_last=True)
    sketch = rows.filter(pl.col("metric").is_not_null()).sort(*KEY, "metric", "_bin", nulls_last=True)
    meta = {**SCHEMA.metadata, b"smythtop.sources": json.dumps({"sources": sources}).encode()}
    schema = SCHEMA.with_metadata(meta)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as fh:
        with pq.ParquetWriter(fh, schema, compression="zstd", compression_level=3, write_page_checksum=True) as out:
            for part in [p for p in (sums, sketch) if p.height] or [sums]:  # a write starts its own row group
                out.write_table(part.to_arrow().cast(schema), row_group_size=ROW_GROUP_ROWS)
        fh.flush()
        os.fsync(fh.fileno())


def read(
    root: Path, path: Path, lo: int | None = None, hi: int | None = None, *, part: Part | None = None
) -> pl.DataFrame | None:
    """A rollup file's rows with lo <= t < hi, page checksums verified; None (and the file quarantined) if it
    is damaged, as for frames files (`pqfiles`). `part` "sums" or "sketch": only the rows of that kind, with
    only its columns (`SUMS_COLUMNS`, `SKETCH_COLUMNS`): in a version-2 file the other kind's row groups are
    skipped on their `metric` statistics; in an older one (kinds interleaved) its rows are filtered out.
    The sketch part's names and `metric` are polars Categoricals, as the file's dictionaries are read
    (`RollupScan.coded_sketch` says why); read so, the sums rows' group is filtered row by row (pyarrow does
    not compare a dictionary column to its statistics), which is one group of a few thousand rows."""
    t = pc.field("t")
    where = [t >= lo] if lo is not None else []
    where += [t < hi] if hi is not None else []
    sketch = part == "sketch"
    if part is not None:
        where.append(pc.field("metric").is_valid() if sketch else pc.field("metric").is_null())
    try:
        table = pq.read_table(
            path,
            columns=list(SKETCH_COLUMNS if sketch else SUMS_COLUMNS) if part else None,
            filters=functools.reduce(operator.and_, where) if where else None,
            schema=_CODED_SCHEMA if sketch else SCHEMA,
            read_dictionary=_CODED if sketch else None,
            page_checksum_verification=True,
        )
    except NOT_DAMAGE:
        raise
    except DAMAGE_ERRORS:
        quarantine_parquet(root, path)
        return None
    return pl.from_arrow(table)  # type: ignore[return-value]


def list_rollups(root: Path) -> list[ParquetFile]:
    """Published rollup files (catalog.ParquetFile, min/max are minute starts), oldest first."""
    return list_parquet(root, ROLLUP_DIR)


@dataclass
class RollupScan:
    """What `scan_rollups` returns: rollup rows, by kind, and the frames not yet rolled up. A key may have rows
    in several files: add them up (`merge`)."""

    sums: pl.DataFrame  # SUMS_COLUMNS, start_ns <= t < end_ns, keys possibly repeated
    # SKETCH_COLUMNS, the same, the names and `metric` as polars Categoricals (`read(..., part="sketch")`): the
    # ~1.1M sketch rows of a 24 h window of the bench's 100M frames took 0.13-0.16 s of CPU more to decode as
    # strings than to read (0.06-0.08 s, one core); the analysis groups them on the Categoricals (`longwindow`)
    coded_sketch: pl.DataFrame
    wal: pl.DataFrame  # the WAL frames with start_ns <= ts < end_ns (the contract's columns)
    start_ns: int  # the window start, moved back to its minute
    end_ns: int | None
    files: int = 0
    quarantined: list[str] = field(default_factory=list)
    complete: bool = True  # every frames file overlapping the window is rolled up (else read raw frames)
    tier_ns: int = MINUTE_NS  # the coarsest tier read: HOUR_NS if whole hours came from hour files

    @property
    def sketch(self) -> pl.DataFrame:
        """`coded_sketch` with the files' types (strings)."""
        return self.coded_sketch.with_columns(pl.col(c).cast(pl.String) for c in _CODED)

    @property
    def rows(self) -> pl.DataFrame:
        """Both kinds as the files hold them (SCHEMA's columns)."""
        both = pl.concat([self.sums, self.sketch], how="diagonal_relaxed")
        return both.select(pl.col(n).cast(d) for n, d in _POLARS.items())


def _ranges(
    lo: int | None, hi: int | None, tier_ns: int, minutes: list[ParquetFile], broken: list[ParquetFile]
) -> dict[bool, list]:
    """The [lo, hi) ranges of `t` to read from hour files (True) and from minute files (False): the window's
    whole hours from hour files, if asked for, every minute file overlapping the window has an hour counterpart
    and no damaged hour file overlapping it was quarantined (its frames are then only in the minute tier); its
    edges (and everything else) from minute files."""
    paired = all(f.kind == KIND_MINUTE for f in minutes if not _outside(f, lo, hi))
    paired &= all(_outside(f, lo, hi) for f in broken)
    if tier_ns != HOUR_NS or not paired:
        return {False: [(lo, hi)], True: []}
    h_lo = None if lo is None else -(-lo // HOUR_NS) * HOUR_NS
    h_hi = None if hi is None else hi // HOUR_NS * HOUR_NS
    if h_lo is not None and h_hi is not None and h_hi <= h_lo:  # no whole hour inside
        return {False: [(lo, hi)], True: []}
    edges = [(lo, h_lo)] if lo is not None and lo < h_lo else []  # type: ignore[operator]
    edges += [(h_hi, hi)] if hi is not None and h_hi < hi else []  # type: ignore[operator]
    return {False: edges, True: [(h_lo, h_hi)]}


def _rolled_up(path: Path) -> bool:
    """`framefile.rolled_up`, False for a frames file whose footer is damaged: the raw reader that answers the
    window then quarantines it and says so."""
    try:
        return rolled_up(path)
    except NOT_DAMAGE:
        raise
    except DAMAGE_ERRORS:
        return False


def _outside(f: ParquetFile, lo: int | None, hi: int | None) -> bool:
    return (lo is not None and f.max_ts < lo) or (hi is not None and f.min_ts >= hi)


def scan_rollups(
    root: str | os.PathLike[str] | None = None,
    since: int | None = None,
    until: int | None = None,
    *,
    shared: bool = False,
    tier_ns: int = MINUTE_NS,
) -> RollupScan:
    """Everything committed with ts in [since, until) as rollup rows plus the WAL frames not yet rolled up, taken
    under one shared publish lock so that no frame is in both or in neither.

    Rollups hold whole minutes, so the window covers the whole minutes it overlaps: its start moves back to its
    minute and its end forward to the next minute boundary (`start_ns`, `end_ns`), and the WAL frames are cut
    at the same bounds. A window ending now gains nothing at the end (no frame is newer than now).
    `tier_ns=HOUR_NS`: the window's whole hours are read from the hour tier when the store has it for the whole
    window (`RollupScan.tier_ns` says whether it did), the minutes at its edges from the minute tier."""
    path = resolve_root(root)
    open_store(path, write=False, shared=shared)
    lo = None if since is None else since // MINUTE_NS * MINUTE_NS
    until = None if until is None else -(-until // MINUTE_NS) * MINUTE_NS
    empty = pl.DataFrame(schema=_POLARS)
    coded = empty.select(SKETCH_COLUMNS).with_columns(pl.col(c).cast(pl.Categorical) for c in _CODED)
    out = RollupScan(empty.select(SUMS_COLUMNS), coded, pl.DataFrame(), lo or 0, until)
    with read_lock(path):
        skip = superseded(path) | orphaned(path)
        listed = [f for f in list_rollups(path) if rel(path, f.path) not in skip]
        broken = [f for f in list_parquet(path, QUARANTINE_DIR) if f.kind == KIND_HOUR]  # damaged hour files
        ranges = _ranges(lo, until, tier_ns, [f for f in listed if f.kind != KIND_HOUR], broken)
        out.tier_ns = HOUR_NS if ranges[True] else MINUTE_NS
        parts: dict[Part, list[pl.DataFrame]] = {"sums": [], "sketch": []}
        hour_damaged = False
        for f in listed:
            read_rows = []
            for (a, b), part in itertools.product(ranges[f.kind == KIND_HOUR], parts):
                rows = None if _outside(f, a, b) else read(path, f.path, a, b, part=part)
                if rows is None and not _outside(f, a, b):
                    out.quarantined.append(f.name)
                    hour_damaged |= f.kind == KIND_HOUR
                    read_rows = []
                    break
                if rows is not None:
                    read_rows.append((part, rows))
            for part, rows in read_rows:
                parts[part].append(rows)
            out.files += bool(read_rows)
        for f in list_parquet(path):
            overlaps = (lo is None or f.max_ts >= lo) and (until is None or f.min_ts < until)
            if overlaps and rel(path, f.path) not in skip and not _rolled_up(f.path):
                out.complete = False  # written before rollups existed (or merged with such a file), or damaged
                break
        wal = _read_wal_frames(path, superseded(path))
    if hour_damaged:
        again = scan_rollups(path, since, until, shared=shared)  # a damaged hour file's frames: in the minute tier
        again.quarantined[:0] = out.quarantined
        return again
    # not merged here: every reader adds rows up by key anyway (`analysis.partial.of_rows` does)
    out.sums = pl.concat([out.sums, *parts["sums"]])
    out.coded_sketch = pl.concat([out.coded_sketch, *parts["sketch"]])
    ts = pl.col("ts").dt.epoch("ns")
    out.wal = wal.filter((ts >= (lo if lo is not None else 0)) & (ts < (until if until is not None else 2**63 - 1)))
    return out
