"""What the app offers to export (labels, file suffixes, a proposed name) and the export of a window.

The writing is `smythtop.exporters.write_file`, the same as `smythtop export`'s, so a file from the app
and one from the command line are the same bytes for the same window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from smythtop import fmt
from smythtop.app.data import Loader
from smythtop.app.window import Bounds
from smythtop.exporters import write_file


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
    """Export the window (or one component's frames in it), whole or not at all; returns the frames written."""
    frames = loader.window_frames(bounds, component).sort("ts")
    write_file(frames, kind, path)
    return frames.height
