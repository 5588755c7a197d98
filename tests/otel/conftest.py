"""Fixtures for the span processor tests: a collector on a fresh store, a real OTel SDK TracerProvider feeding a
`SmythtopSpanProcessor`, and reading the store back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from smythtop import store
from smythtop.otel import SmythtopSpanProcessor
from smythtop.recorder import Collector
from smythtop.recorder.config import ENV_DISABLE


@pytest.fixture(autouse=True)
def _recording_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames are recorded whatever the environment says; configs are given as dicts, so no user file is read."""
    for var in ENV_DISABLE:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


class Pipeline:
    """A collector, a TracerProvider with the processor, and the frames they wrote."""

    def __init__(self, root: Path, config: Any, resource: dict[str, Any]) -> None:
        self.root = root
        self.collector = Collector(config or {}, store=root)
        self.processor = SmythtopSpanProcessor(self.collector)
        self.provider = TracerProvider(resource=Resource.create(resource))
        self.provider.add_span_processor(self.processor)

    def tracer(self, scope: str = "tests.otel") -> Any:
        return self.provider.get_tracer(scope)

    def frames(self) -> list[dict[str, Any]]:
        """Every frame written, oldest first, as plain dicts (after a flush)."""
        import polars as pl

        assert self.provider.force_flush(10_000)
        return store.scan(self.root).with_columns(pl.col("ts").dt.epoch("ns")).sort("ts").collect().to_dicts()

    def close(self) -> None:
        self.provider.shutdown()
        self.collector.close()


@pytest.fixture
def pipeline(root: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def build(config: Any = None, resource: dict[str, Any] | None = None) -> Pipeline:
        p = Pipeline(root, config, resource or {"service.name": "support-bot"})
        made.append(p)
        return p

    yield build
    for p in made:
        p.close()
