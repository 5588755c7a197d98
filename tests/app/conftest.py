"""Fixtures for the app tests: a store with known frames and an app on a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from app_testlib import NOW, known_frames, write_frames

from smythtop.app import SmythtopApp
from smythtop.app.config import AppConfig


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    write_frames(root, known_frames())
    return root


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., SmythtopApp]:
    def make(root: Path, **kwargs: Any) -> SmythtopApp:
        kwargs.setdefault("config", AppConfig(refresh_s=0.25))
        kwargs.setdefault("export_dir", tmp_path)
        kwargs.setdefault("findings_process", False)  # the loader's thread: no worker process (~1 s) per app test
        return SmythtopApp(root, clock=lambda: NOW, **kwargs)

    return make
