"""`smythtop export --format parquet --encrypt-key-file KEY`: Parquet modular encryption, read back with the key
only; pyarrow, polars and DuckDB all fail without it; a key file others can read is refused; keys never printed."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from cli_testlib import WEIRD, run, user_error

from smythtop.encryption import KeyFileError, fingerprint, read_encrypted


def key_file(path: Path, key: bytes, mode: int = 0o600) -> Path:
    path.write_text(base64.b64encode(key).decode() + "\n")
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def exported(fleet_store: tuple[Path, list[dict]], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root, frames = fleet_store
    d = tmp_path_factory.mktemp("enc")
    key = os.urandom(32)
    kf = key_file(d / "export.key", key)
    plain, sealed = d / "plain.parquet", d / "sealed.parquet"
    run("export", "--store", str(root), "--format", "parquet", "--output", str(plain))
    proc = run("export", "--store", str(root), "--format", "parquet", "--output", str(sealed),
               "--encrypt-key-file", str(kf))  # fmt: skip
    return {"root": root, "frames": frames, "key": key, "kf": kf, "plain": plain, "sealed": sealed, "proc": proc}


def test_reads_back_with_the_key_exactly_as_the_plain_export(exported: dict) -> None:
    table = read_encrypted(exported["sealed"], exported["kf"])
    assert table.equals(pq.read_table(exported["plain"]))
    assert table.num_rows == len(exported["frames"])
    assert "encrypted" in exported["proc"].stderr


def test_nothing_is_readable_without_the_key(exported: dict) -> None:
    sealed: Path = exported["sealed"]
    data = sealed.read_bytes()
    assert data[-4:] == b"PARE"  # the encrypted-footer magic: not even the schema is in clear
    for clear in (WEIRD.encode(), b"component", b"gpt-4o-mini", b"smythtop.schema_version"):
        assert clear not in data
    with pytest.raises(OSError):
        pq.read_table(sealed)
    with pytest.raises(Exception, match=r"(?i)encrypt|parquet|magic"):
        pl.read_parquet(sealed)
    with pytest.raises(duckdb.Error):
        duckdb.sql(f"SELECT count(*) FROM read_parquet('{sealed}')").fetchall()


def test_a_wrong_key_is_named_by_fingerprint_never_by_value(exported: dict, tmp_path: Path) -> None:
    other = os.urandom(32)
    wrong = key_file(tmp_path / "wrong.key", other)
    with pytest.raises(KeyFileError) as err:
        read_encrypted(exported["sealed"], wrong)
    text = str(err.value)
    assert fingerprint(exported["key"]) in text and fingerprint(other) in text
    for secret in (exported["key"], other):
        assert base64.b64encode(secret).decode() not in text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused_before_anything_is_written(
    fleet_store: tuple[Path, list[dict]], tmp_path: Path, mode: int
) -> None:
    root, _ = fleet_store
    key = os.urandom(32)
    kf = key_file(tmp_path / "k", key, mode)
    out = tmp_path / "x.parquet"
    proc = run("export", "--store", str(root), "--format", "parquet", "--output", str(out),
               "--encrypt-key-file", str(kf), check=False)  # fmt: skip
    line = user_error(proc)
    assert f"{mode:04o}" in line and "chmod 600" in line
    assert base64.b64encode(key).decode() not in proc.stderr + proc.stdout
    assert not out.exists() and list(tmp_path.iterdir()) == [kf]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not base64 at all!", "base64"), (base64.b64encode(b"short"), "5 bytes"), (b"", "0 bytes")],
)
def test_a_key_file_without_a_key_is_one_clear_line(
    fleet_store: tuple[Path, list[dict]], tmp_path: Path, content: bytes, message: str
) -> None:
    root, _ = fleet_store
    kf = tmp_path / "k"
    kf.write_bytes(content)
    kf.chmod(0o600)
    proc = run("export", "--store", str(root), "--format", "parquet", "--output", str(tmp_path / "x.parquet"),
               "--encrypt-key-file", str(kf), check=False)  # fmt: skip
    assert message in user_error(proc)


def test_only_parquet_can_be_encrypted(fleet_store: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, _ = fleet_store
    kf = key_file(tmp_path / "k", os.urandom(16))
    proc = run("export", "--store", str(root), "--format", "csv", "--output", str(tmp_path / "x.csv"),
               "--encrypt-key-file", str(kf), check=False)  # fmt: skip
    assert "needs --format parquet" in user_error(proc)
