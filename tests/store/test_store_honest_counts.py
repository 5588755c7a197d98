"""Disk full: `Writer.append_many` and the recorder's `written` count exactly the frames the store holds.

A full disk is a real tmpfs filled to the last byte (as in test_store_disk.py), and the batch is
larger than the writer's buffer, so the write fails in the middle of `append_many`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_testlib import frame, scan_ts

from smythtop import store
from smythtop.recorder import Collector


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """A tmpfs of `size` mounted at path; skips where mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    run = {"check": False, "capture_output": True, "timeout": 60}
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], **run).returncode:
        pytest.skip("mount not permitted here")
    try:
        yield
    finally:
        if subprocess.run(["umount", str(path)], **run).returncode:
            subprocess.run(["umount", "-l", str(path)], **run)


def fill(directory: Path) -> Path:
    """Fill the file system holding directory to the last byte."""
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


def test_append_many_reports_how_many_frames_it_appended(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    with tmpfs(mnt, "64k"):
        root = mnt / "store"
        w = store.Writer(root, buffer_bytes=2048)
        try:
            w.append_many(frame(i) for i in range(5))
            w.flush()
            filler = fill(mnt)
            batch = [frame(i, tags={"pad": "p" * 200}) for i in range(5, 205)]
            batch.insert(3, {"ts": -1})  # a bad frame: reported in errors, never counted as appended
            with pytest.raises(store.AppendInterrupted) as err:
                w.append_many(batch)
            assert isinstance(err.value, store.StoreUnavailable)
            appended = err.value.appended
            assert 0 < appended < 200 and len(err.value.errors) == 1
            filler.unlink()
            w.flush()
        finally:
            w.close()
        # Exactly the frames before the batch and the first `appended` good frames of it: no more, no fewer.
        assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(5 + appended)]


def test_recorder_written_equals_frames_stored_after_a_full_disk(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    with tmpfs(mnt, "1m"):  # room for the writer's whole buffer once the filler is gone
        root = mnt / "store"
        c = Collector(store=root)
        try:
            with c.track("Warmup", agent_id="a"):
                pass
            assert c.flush()
            filler = fill(mnt)
            for _ in range(2000):  # one batch far larger than the writer's 64 KiB buffer
                with c.track("Step", agent_id="a", padding="p" * 100):
                    pass
            assert c.flush()
            filler.unlink()
            with c.track("After", agent_id="a"):
                pass
            assert c.flush()
        finally:
            c.close()
        stats = c.stats()
        assert stats["written"] == len(scan_ts(root))
        assert stats["written"] + stats["dropped_store_unavailable"] == 2002
