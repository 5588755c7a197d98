"""smythtop's crash-safe local time-series store of frames (see docs/FORMAT.md).

`Writer` and the errors load only msgspec, so agents can import the store cheaply; the reading
side (`scan`, `compact`, `tail`, ...) loads polars and pyarrow on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from smythtop.store.errors import (
    AppendInterrupted,
    FrameError,
    NotAStore,
    StoreError,
    StoreUnavailable,
    UnsafeStore,
)
from smythtop.store.paths import default_root
from smythtop.store.schema import FIELDS, REQUIRED, SCHEMA_VERSION
from smythtop.store.wal import Writer

_LAZY = {
    "scan": "smythtop.store.reader",
    "scan_rollups": "smythtop.store.rollups",
    "RollupScan": "smythtop.store.rollups",
    "read_wal": "smythtop.store.reader",
    "unrecorded": "smythtop.store.reader",
    "compact": "smythtop.store.compaction",
    "CompactionResult": "smythtop.store.compaction",
    "apply_retention": "smythtop.store.retention",
    "RetentionResult": "smythtop.store.retention",
    "check": "smythtop.store.integrity",
    "CheckReport": "smythtop.store.integrity",
    "tail": "smythtop.store.tailing",
    "Tailer": "smythtop.store.tailing",
    "arrow_schema": "smythtop.store.schema",
    "polars_schema": "smythtop.store.columns",
}

__all__ = [
    "FIELDS",
    "REQUIRED",
    "SCHEMA_VERSION",
    "AppendInterrupted",
    "FrameError",
    "NotAStore",
    "StoreError",
    "StoreUnavailable",
    "UnsafeStore",
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
