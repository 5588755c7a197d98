"""Writing the selected window to a file, on a worker thread, with `smythtop export`'s own writers.

Parquet carries the store's exact Arrow schema (`store.arrow_schema()`, docs/FORMAT.md); CSV, JSON and
Prometheus text are the formats of `smythtop export`, so a file from the app and one from the command
line are the same bytes for the same window.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from smythtop import fmt
from smythtop.app.data import Loader
from smythtop.app.window import Bounds


@dataclass(frozen=True)
class Format:
    label: str
    suffix: str
    help: str


FORMATS: dict[str, Format] = {
    "parquet": Format("Parquet", ".parquet", "the window's frames with the store's schema"),
    "csv": Format("CSV", ".csv", "the window's frames, one row each (smythtop export --format csv)"),
    "json": Format("JSON", ".json", "the window's frames as an array of objects (smythtop export --format json)"),
    "prometheus": Format("Prometheus", ".prom", "text exposition of the window's aggregates (prometheus_client)"),
}


def proposed_name(bounds: Bounds, component: str | None, suffix: str) -> str:
    """smythtop-<component>-20250101T120000-20250101T121500.parquet: sortable and unique per window."""

    def part(ns: int | None, default: str) -> str:
        return default if ns is None else fmt.stamp(ns).replace("-", "").replace(":", "").replace(" ", "T")

    name = "smythtop"
    if component:
        name += "-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", component)[:60]
    return f"{name}-{part(bounds.start, 'start')}-{part(bounds.shown_end, 'now')}{suffix}"


def export(loader: Loader, kind: str, bounds: Bounds, component: str | None, path: Path) -> int:
    """Export the window (or one component's frames in it); returns the number of frames written.

    Written to a temporary name and renamed, so a failed export never leaves half a file.
    """
    from smythtop.cli import export_cmd

    if kind not in FORMATS:
        raise ValueError(f"unknown export format {kind!r}")
    frames = loader.window_frames(bounds, component).sort("ts")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if kind == "parquet":
            with open(tmp, "wb") as fh:
                export_cmd.write_parquet(frames, fh)
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                export_cmd.write_text(frames, kind, fh)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return frames.height
