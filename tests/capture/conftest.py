"""Fixtures for the capture tests: a collector on a fresh store, the SDKs instrumented to it, frames read back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import smythtop
from smythtop import store
from smythtop.capture import Instrumentation
from smythtop.recorder import Collector


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("SMYTHTOP_DISABLED", "SRE_PERFORMANCE_DISABLED", "SMYTHTOP_CONFIG", "SMYTHTOP_AGENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def collector(root: Path) -> Iterator[Collector]:
    c = Collector(store=root)
    yield c
    c.close()


@pytest.fixture
def inst(collector: Collector) -> Iterator[Instrumentation]:
    h = smythtop.instrument(collector)
    yield h
    h.uninstrument()


@pytest.fixture
def frames(collector: Collector, root: Path) -> Callable[[], list[dict[str, Any]]]:
    """Flush the collector and read every frame of the store back, oldest first."""

    def read() -> list[dict[str, Any]]:
        import polars as pl

        assert collector.flush(), "the collector did not flush in time"
        return store.scan(root).with_columns(pl.col("ts").dt.epoch("ns")).sort("ts").collect().to_dicts()

    return read
