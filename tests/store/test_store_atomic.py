"""`store.paths.atomic_write`, the one atomic-write helper (the store's journals and quarantine, baselines,
exports): whole file or none, private, never following a planted link, and no temp file left behind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from smythtop.store.paths import TMP_PREFIX, atomic_write, atomic_write_bytes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_file_appears_complete_and_private_only_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "target.bin"
    data = os.urandom(1 << 20)
    with atomic_write(target) as fh:
        fh.write(data[: len(data) // 2])
        assert not target.exists()
        [tmp] = tmp_path.iterdir()
        assert tmp.name.startswith(TMP_PREFIX)  # the name the compactor's recovery removes after a crash
        assert mode(tmp) == 0o600
        fh.write(data[len(data) // 2 :])
    assert target.read_bytes() == data
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["target.bin"]


def test_text_is_written_untranslated_in_utf8(tmp_path: Path) -> None:
    target = tmp_path / "target.csv"
    text = 'a,"b\r\nc"\r\nü,€\n'
    with atomic_write(target, text=True) as fh:
        fh.write(text)
    assert target.read_bytes() == text.encode("utf-8")


def test_replacing_a_file_keeps_it_private(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"old")
    target.chmod(0o644)
    atomic_write_bytes(target, b"new")
    assert (target.read_bytes(), mode(target)) == (b"new", 0o600)


@pytest.mark.parametrize("existed", [True, False])
def test_an_error_midway_leaves_the_target_untouched_and_no_temp_file(tmp_path: Path, existed: bool) -> None:
    target = tmp_path / "target"
    if existed:
        target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="midway"), atomic_write(target) as fh:
        fh.write(b"half of the new")
        fh.flush()
        raise RuntimeError("midway")
    assert target.read_bytes() == b"old" if existed else not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["target"] if existed else [])


def test_a_failed_fsync_leaves_the_target_untouched_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    target = tmp_path / "target"
    target.symlink_to(victim)
    atomic_write_bytes(target, b"new")
    assert victim.read_bytes() == b"keep"
    assert not target.is_symlink() and target.read_bytes() == b"new"


def test_a_missing_directory_is_an_oserror_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "nowhere" / "target", b"x")
    assert list(tmp_path.iterdir()) == []
