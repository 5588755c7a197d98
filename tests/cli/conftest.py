"""One store per module: writing it and starting the console script are the slow parts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_testlib import write_store


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("cli") / "store"
    return root, write_store(root)
