"""Fixtures for the recorder tests: a fresh store root, collectors closed at teardown, and reading back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smythtop import store
from smythtop.recorder import Collector

REPO = Path(__file__).resolve().parents[2]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else "python3"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("SMYTHTOP_DISABLED", "SRE_PERFORMANCE_DISABLED", "SMYTHTOP_CONFIG", "SMYTHTOP_AGENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the user's own config file stays out


@pytest.fixture
def make(root: Path) -> Iterator[Callable[..., Collector]]:
    """Build collectors on the test's store; every one is closed at teardown."""
    made: list[Collector] = []

    def build(config: Any = None, **kwargs: Any) -> Collector:
        kwargs.setdefault("store", root)
        c = Collector(config, **kwargs)
        made.append(c)
        return c

    yield build
    for c in made:
        c.close()


def read_frames(root: Path) -> list[dict[str, Any]]:
    """Every committed frame in the store, oldest first, as plain dicts."""
    import polars as pl

    return store.scan(root).with_columns(pl.col("ts").dt.epoch("ns")).sort("ts").collect().to_dicts()


def by_component(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["component"], []).append(row)
    return out
