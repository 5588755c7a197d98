"""Compacted frame files, format v2, and the reading of v1 and v2 alike.

v1 files hold the frame contract's Arrow schema as is (`store.arrow_schema()`): durations as float64 ms.
v2 files (written by every compaction, merge and retention rewrite since) differ in one way: each duration
column `<x>_ms` is stored as `<x>_us`, int64 microseconds (rounded to the nearest), and the file's
`smythtop.schema_version` is "2". Measured on the realistic mix (bench_store, 200K frames, zstd 3): the
float64 durations took 35 B of a frame's 88 B; as int64 µs with byte-stream-split they take 15 B, and with
byte-stream-split for the byte and token counts too and delta-encoded `ts` the file is 59 B a frame, trace and
span ids included (see `WRITE_OPTIONS`). Microseconds are the resolution every duration is read at (a
percentile is reported within 1 %), and a float64 ms of a perf_counter difference carries no information below
the microsecond worth keeping at 2.4x the bytes.

Readers never depend on the version being the newest: `read_table` turns either into the v1 Arrow schema (the
frame contract), so a store holding both reads as one.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from smythtop.store.columns import ARROW_SCHEMA

FORMAT_V1 = 1
FORMAT_V2 = 2
VERSION_KEY = b"smythtop.schema_version"
# "1" on a frames file whose every row is in the rollups (`rollups`): set on files made from the WAL since
# rollups exist, kept by a merge or rewrite only if all its sources had it. A long window is answered from
# rollups only when every frames file it overlaps has it.
ROLLED_UP_KEY = b"smythtop.rolled_up"
DURATIONS = tuple(f.name for f in ARROW_SCHEMA if f.name.endswith("_ms"))
_US = {name: name.removesuffix("_ms") + "_us" for name in DURATIONS}
_TS = pa.timestamp("ns", tz="UTC")


def _v2_schema() -> pa.Schema:
    fields = [pa.field(_US[f.name], pa.int64(), f.nullable) if f.name in _US else f for f in ARROW_SCHEMA]
    return pa.schema(fields, metadata={VERSION_KEY: str(FORMAT_V2).encode()})


V2_SCHEMA = _v2_schema()

# Per-column encodings, measured on the realistic mix (bench_store "frame file v2" rows): byte-stream-split
# for the integer durations and the byte and token counts (numbers that rarely repeat: 4.6 -> 3.6 B for
# mem_delta_bytes), delta for `ts` (near-sorted), plain for the random ids, dictionary for what repeats.
_BSS = [c for c in V2_SCHEMA.names if c.endswith(("_us", "_bytes", "_tokens"))]
_NOT_DICTIONARY = {"ts", "trace_id", "span_id", "parent_span_id", *_BSS}
WRITE_OPTIONS = {
    "use_dictionary": [c for c in V2_SCHEMA.names if c not in _NOT_DICTIONARY],
    "column_encoding": {"ts": "DELTA_BINARY_PACKED", **dict.fromkeys(_BSS, "BYTE_STREAM_SPLIT")},
}


def to_v2(table: pa.Table) -> pa.Table:
    """A table of the frame contract's schema (v1) as the v2 file schema: durations as int64 µs."""
    arrays = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in _US:
            column = pc.cast(pc.round(pc.multiply(column, 1000.0)), pa.int64())
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=V2_SCHEMA)


def rolled_up(path: str | os.PathLike[str]) -> bool:
    """Whether every row of the frames file at `path` is in the rollups (its footer's ROLLED_UP_KEY)."""
    return (pq.read_schema(path).metadata or {}).get(ROLLED_UP_KEY) == b"1"


def file_version(schema: pa.Schema) -> int:
    """The format of a file from its schema: "2" in its metadata, else v1 (also a foreign file without it)."""
    meta = schema.metadata or {}
    return FORMAT_V2 if meta.get(VERSION_KEY) == str(FORMAT_V2).encode() else FORMAT_V1


def read_table(
    source: str | BinaryIO, columns: list[str] | None, filters: list | pc.Expression | None, *, verify: bool = True
) -> pa.Table:
    """A v1 or v2 file's rows (only `columns`, filtered) in the frame contract's Arrow schema."""
    file_schema = pq.read_schema(source)
    if file_version(file_schema) == FORMAT_V1:
        return pq.read_table(
            source, columns=columns, filters=filters, schema=ARROW_SCHEMA, page_checksum_verification=verify
        )
    wanted = list(ARROW_SCHEMA.names) if columns is None else columns
    table = pq.read_table(
        source,
        columns=[_US.get(c, c) for c in wanted],
        filters=filters,
        schema=V2_SCHEMA,
        page_checksum_verification=verify,
    )
    arrays = [pc.divide(pc.cast(col, pa.float64()), 1000.0) if name in _US else col
              for name, col in zip(wanted, table.columns, strict=True)]  # fmt: skip
    return pa.Table.from_arrays(
        arrays, schema=pa.schema([ARROW_SCHEMA.field(c) for c in wanted], metadata=ARROW_SCHEMA.metadata)
    )
