"""Shared helpers for the recorder tests: the repository, its interpreter, and reading a store back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from smythtop import store
from smythtop.recorder import hotpath, tracker

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


@contextmanager
def hot_path_hooks(now: Callable[[], int] | None, draw: Callable[[], float]) -> Iterator[None]:
    """The clock (None: the real one) and the sampling draw of whichever hot path runs: the Python one reads
    tracker._now and tracker._random, the C one takes them from `_hotpath.hooks`."""
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(tracker, "_random", draw))
        if now is not None:
            stack.enter_context(mock.patch.object(tracker, "_now", now))
        if hotpath.C is not None:
            hotpath.C.hooks(now, draw)
            stack.callback(hotpath.C.hooks, None, None)
        yield
