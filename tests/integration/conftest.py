"""Integration tests: real servers and other languages (node, Prometheus, S3). `make test-integration` runs them.

Everything in this folder is marked `integration`, which `make test` deselects (see pyproject's addopts), so the
quick suite stays under its time budget; `.ci/run` runs both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)
