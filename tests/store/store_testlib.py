"""Shared helpers for the store tests: frames with known values, reading a store back, subprocesses."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from smythtop.store.schema import FIELDS

from smythtop import store

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
BASE_TS = 1_700_000_000_000_000_000  # 2023-11-14, ns

OPTIONAL = tuple(f for f in FIELDS if f not in store.REQUIRED)


def frame(i: int, **extra: Any) -> dict[str, Any]:
    """A minimal valid frame; `ts` = BASE_TS + i, so ts identifies the frame."""
    return {
        "ts": BASE_TS + i,
        "agent_id": f"agent-{i % 3}",
        "component": "LLMAssistant" if i % 2 else "Retriever",
        "total_ms": float(i % 97) + 0.25,
        "success": i % 5 != 0,
        **extra,
    }


def full_frame(i: int) -> dict[str, Any]:
    """A frame with every field of the contract set to a distinct value that survives compaction exactly."""
    return {
        **frame(i),
        "agent_name": f"Agent ñ {i} 🤖",
        "component_id": f"comp-{i}",
        "trace_id": f"{i:032x}",
        "span_id": f"{i:016x}",
        "parent_span_id": f"{i + 1:016x}",
        "input_ms": i / 10,  # durations at whole µs: what compacted (v2) files keep, see test_frame_file_v2
        "core_ms": 1.5 + i,
        "output_ms": 0.3,
        "queue_ms": 1e10,
        "mem_peak_bytes": 2**53,
        "mem_delta_bytes": -(2**53) + i,
        "mem_pressure": 0.75,
        "input_bytes": 1024 + i,
        "output_bytes": 0,
        "complexity": 1.0,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "input_tokens": 1200 + i,
        "output_tokens": 300,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 100,
        "reasoning_tokens": 50,
        "cost_usd": 0.000123 * (i + 1),
        "context_window": 128_000,
        "context_utilization": 0.0,
        "quality": 0.5,
        "ttft_ms": 250.125,
        "error_type": "TimeoutError",
        "config_hash": "cafe" * 16,
        "retry_count": 1_000_000,
        "sample_rate": 0.25,
        "tags": {"env": "prod", "unicode": "日本語", "empty": ""},
        "response_model": "gpt-4o-mini-2024-07-18",
        "operation": "chat",
        "http_status": 429,
        "finish_reason": "length",
        "cache_write_1h_tokens": 60,
        "unrecorded": None,  # set, it would make the frame an account, not an execution (tests/recorder)
    }


def expected_row(f: Mapping[str, Any]) -> dict[str, Any]:
    """What a frame must read back as: every field present, absent optionals None, ints in float fields as
    floats, sample_rate defaulting to 1.0."""
    floats = {name for name, t in store.polars_schema().items() if t == pl.Float64}
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = f.get(name)
        if name == "sample_rate" and value is None:
            value = 1.0
        if name in floats and value is not None:
            value = float(value)
        out[name] = value
    return out


def read_rows(root: Path, **kw: Any) -> list[dict[str, Any]]:
    """Every frame `store.scan` returns, ts as int ns, sorted by ts."""
    df = store.scan(root, **kw).collect()
    return df.with_columns(pl.col("ts").dt.epoch("ns")).sort("ts").to_dicts()


def scan_ts(root: Path, **kw: Any) -> list[int]:
    """The ts of every scanned frame (unsorted, duplicates kept)."""
    return store.scan(root, **kw).select(pl.col("ts").dt.epoch("ns")).collect().to_series().to_list()


def df_ts(df: pl.DataFrame | None) -> list[int]:
    return [] if df is None else df.select(pl.col("ts").dt.epoch("ns")).to_series().to_list()


def duplicates(values: list[int]) -> dict[int, int]:
    return {v: n for v, n in Counter(values).items() if n > 1}


def write_frames(root: Path, ids: range | list[int], **writer_kw: Any) -> None:
    """Write frames with one writer and close it (its directory is then dead and sealed)."""
    with store.Writer(root, **writer_kw) as w:
        for i in ids:
            w.append(frame(i))


def run_py(code: str, *args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter of this venv."""
    return subprocess.run(
        [PY, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


def store_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def tmp_leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in store_files(root) if p.name.startswith(".tmp-"))


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[bool]:
    """Mount a tmpfs at path (mount options such as "size=64k" or "ro,size=1m"); yields False where mounting is
    not permitted (not root, no mount(8)), and unmounts on the way out."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and shutil.which("mount") is not None
    mounted = mounted and _mount_cmd("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)).returncode == 0
    try:
        yield mounted
    finally:
        if mounted and _mount_cmd("umount", str(path)).returncode != 0:
            _mount_cmd("umount", "-l", str(path))


@contextlib.contextmanager
def tmpfs_or_skip(path: Path, options: str) -> Iterator[None]:
    """`tmpfs`, skipping the test where mounting is not permitted."""
    with tmpfs(path, options) as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs needs root and mount(8)")
        yield


def _mount_cmd(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)


def fill_disk(directory: Path) -> Path:
    """Fill the file system holding directory to the last byte; returns the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler
