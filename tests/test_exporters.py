"""`smythtop.exporters.write_file`, behind both `smythtop export` and the app's export: the writers' exact
bytes, in a private file, whole or not at all. (The formats' content is checked in tests/cli/test_cli_export.py.)"""

from __future__ import annotations

import io
import stat
from pathlib import Path

import polars as pl
import pytest

from smythtop import store
from smythtop.exporters import FORMATS, ExportError, write_file, write_parquet, write_text

NOW = 1_750_000_000 * 10**9


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    root = tmp_path_factory.mktemp("exporters") / "store"
    with store.Writer(root) as writer:
        for i in range(200):
            writer.append({"ts": NOW - (i + 1) * 10**9, "agent_id": f"a{i % 3}", "component": f"c,\"{i % 4}\"\n",
                           "total_ms": 10.0 + i, "success": i % 7 != 0, "model": "gpt-4o" if i % 2 else None,
                           "cost_usd": 0.001 if i % 2 else None, "tags": {"k": "é"}})  # fmt: skip
    return store.scan(root).collect().sort("ts")


def writers_bytes(df: pl.DataFrame, fmt: str) -> bytes:
    if fmt == "parquet":
        raw = io.BytesIO()
        write_parquet(df, raw)
        return raw.getvalue()
    text = io.StringIO(newline="")
    write_text(df, fmt, text)
    return text.getvalue().encode("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_file_holds_the_writers_bytes_and_is_private(frames: pl.DataFrame, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    write_file(frames, fmt, path)
    assert path.read_bytes() == writers_bytes(frames, fmt)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failure_midway_keeps_the_old_file_and_leaves_no_temp(frames: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    poisoned = frames.with_columns(  # JSON has no NaN: the writer raises on the last row, after the others
        total_ms=pl.when(pl.int_range(pl.len()) == pl.len() - 1).then(float("nan")).otherwise(pl.col("total_ms"))
    )
    with pytest.raises(ValueError, match="JSON"):
        write_file(poisoned, "jsonl", path, overwrite=True)  # replacing is asked for since issue 13
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_an_unwritable_path_is_an_export_error_naming_it(frames: pl.DataFrame, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(ExportError, match=f"^cannot write {not_a_dir}/out.csv: Not a directory$"):
        write_file(frames, "csv", not_a_dir / "out.csv")


def test_an_unknown_format_is_an_export_error_and_writes_nothing(frames: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'xml'"):
        write_file(frames, "xml", tmp_path / "out.xml")
    assert list(tmp_path.iterdir()) == []
