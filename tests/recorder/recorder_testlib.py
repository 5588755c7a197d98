"""Shared helpers for the recorder tests: the repository, its interpreter, and reading a store back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smythtop import store

REPO = Path(__file__).resolve().parents[2]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else "python3"


def read_frames(root: Path) -> list[dict[str, Any]]:
    """Every committed frame in the store, oldest first, as plain dicts."""
    import polars as pl

    return store.scan(root).with_columns(pl.col("ts").dt.epoch("ns")).sort("ts").collect().to_dicts()


def by_component(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["component"], []).append(row)
    return out
