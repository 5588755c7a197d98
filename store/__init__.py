"""smythtop's crash-safe local time-series store of frames (see docs/FORMAT.md).

`Writer` and the errors load only msgspec, so agents can import the store cheaply; the reading
side (`scan`, `compact`, `tail`, ...) loads polars and pyarrow on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from store.errors import FrameError, StoreError, StoreUnavailable
from store.paths import default_root
from store.schema import FIELDS, REQUIRED, SCHEMA_VERSION
from store.wal import Writer

_LAZY = {
    "scan": "store.reader",
    "read_wal": "store.reader",
    "compact": "store.compaction",
    "CompactionResult": "store.compaction",
    "apply_retention": "store.retention",
    "RetentionResult": "store.retention",
    "check": "store.integrity",
    "CheckReport": "store.integrity",
    "tail": "store.tailing",
    "Tailer": "store.tailing",
    "arrow_schema": "store.schema",
    "polars_schema": "store.columns",
}

__all__ = [
    "FIELDS",
    "REQUIRED",
    "SCHEMA_VERSION",
    "FrameError",
    "StoreError",
    "StoreUnavailable",
    "Writer",
    "default_root",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
