"""Writing the selected window to a file, on a worker thread.

Parquet is written with `store.arrow_schema()` so the file reads back exactly like the store's own
files (docs/FORMAT.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import store
from smythtop.app import fmt
from smythtop.app.data import Loader
from smythtop.app.window import Bounds


@dataclass(frozen=True)
class Format:
    label: str
    suffix: str
    help: str


FORMATS: dict[str, Format] = {
    "parquet": Format("Parquet", ".parquet", "the window's frames, store schema"),
}


def proposed_name(bounds: Bounds, component: str | None, suffix: str) -> str:
    """smythtop-<component>-20250101T120000-20250101T121500.parquet: sortable and unique per window."""

    def part(ns: int | None, default: str) -> str:
        return default if ns is None else fmt.stamp(ns).replace("-", "").replace(":", "").replace(" ", "T")

    name = "smythtop"
    if component:
        name += "-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", component)[:60]
    return f"{name}-{part(bounds.start, 'start')}-{part(bounds.shown_end, 'now')}{suffix}"


def write_parquet(frames, path: Path) -> int:
    """Write a polars frame with the store's Arrow schema, via a temporary file and a rename."""
    table = frames.to_arrow()
    schema = store.arrow_schema()
    table = pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return table.num_rows


def export(loader: Loader, kind: str, bounds: Bounds, component: str | None, path: Path) -> int:
    """Export the window (or one component's frames in it); returns the number of rows written."""
    frames = loader.window_frames(bounds, component)
    if kind == "parquet":
        return write_parquet(frames, path)
    raise ValueError(f"unknown export format {kind!r}")
