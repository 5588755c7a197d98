"""Fixtures for the store tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A store root that does not exist yet: the store creates it."""
    return tmp_path / "store"
