"""Fixtures for the recorder tests: a fresh store root, collectors closed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smythtop.recorder import Collector


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
