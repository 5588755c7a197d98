"""Regressions: each store bug the suite once found, reproduced deterministically."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import smythtop.store.compaction
import smythtop.store.wal
from smythtop.store.framing import encode_frame, read_records
from smythtop.store.schema import validate
from store_testlib import PY, REPO, df_ts, frame, run_py, scan_ts, tmpfs_or_skip, umask, write_frames

from smythtop import store


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)


# -- 1. Tailer re-delivers a compacted segment while its sources still exist -------------------------


def test_tailer_no_duplicates_while_compaction_publishes(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the rename of the Parquet file and the deletion of its WAL sources (fsyncs happen in
    between), a Tailer poll sees the new file, forgets the segments, and the next poll reads them again
    from offset 0: every frame of them delivered twice. (Found by test_store_concurrency.)"""
    write_frames(root, range(20))
    tailer = store.Tailer(root, from_start=True)
    assert sorted(df_ts(tailer.poll())) == [frame(i)["ts"] for i in range(20)]

    published, release = threading.Event(), threading.Event()
    delete = smythtop.store.compaction._delete_sources

    def slow_delete(*args: object, **kwargs: object) -> None:
        published.set()  # the Parquet file is in place; the sources are not deleted yet
        release.wait(30)
        delete(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(smythtop.store.compaction, "_delete_sources", slow_delete)
    compactor = threading.Thread(target=store.compact, args=(root,))
    compactor.start()
    got: list[int] = []
    try:
        assert published.wait(30)
        got += df_ts(tailer.poll())
        got += df_ts(tailer.poll())
    finally:
        release.set()
        compactor.join(30)
    assert not compactor.is_alive(), "the compactor thread did not finish within 30 s"
    got += df_ts(tailer.poll())
    assert got == [], f"{len(got)} frames delivered again"


def test_tailer_no_duplicates_after_compactor_crash(root: Path) -> None:
    """A compactor that died after publishing leaves the sources and a journal; scan and check skip the
    superseded sources, but the Tailer re-reads them from offset 0."""
    write_frames(root, range(10))
    tailer = store.Tailer(root, from_start=True)
    assert len(df_ts(tailer.poll())) == 10
    code = (
        "import os, sys\nfrom smythtop import store\nimport smythtop.store.compaction as c\n"
        "c._delete_sources = lambda *a: os._exit(9)\n"
        "store.compact(sys.argv[1])"
    )
    assert run_py(code, str(root)).returncode == 9
    assert len(scan_ts(root)) == 10  # scan is right
    got = []
    for _ in range(3):
        got += df_ts(tailer.poll())
    assert got == [], f"{len(got)} frames delivered again"


# -- 2. Writer broken for good after a full disk at rotation ---------------------------------------


def test_writer_recovers_after_full_disk_at_rotation(tmp_path: Path) -> None:
    """wal.py `_rotate_locked`: the old fd is closed and `_fd = -1` before `_open_segment` fails with
    ENOSPC (its O_EXCL file is left behind, empty). Every later flush fails with EBADF even after space
    is freed, and close() skips the write (`self._fd >= 0`), dropping the buffered frames silently."""
    mnt = tmp_path / "small"
    with tmpfs_or_skip(mnt, "size=64k"):
        root = mnt / "store"
        w = store.Writer(root, segment_bytes=200, buffer_bytes=1 << 20)
        try:
            filler = mnt / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            for size in (1 << 16, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
            os.close(fd)
            w.append_many(frame(i) for i in range(10))  # fits in the segment's page; the new segment does not
            with pytest.raises(store.StoreUnavailable):
                w.flush()
            filler.unlink()
            w.append_many(frame(i) for i in range(10, 20))
            w.flush()  # space is back: this must work
        finally:
            with contextlib.suppress(store.StoreUnavailable):
                w.close()
        assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(20)]


# -- 3. A segment whose header is gone loses its first record -------------------------------------


def test_segment_without_header_keeps_first_record() -> None:
    """framing.py read_records: on a bad header it resyncs with `_resync(buf, 0, n)`, which starts looking
    at offset 1, so a valid record at offset 0 is counted as damage instead of being read."""
    records = [encode_frame(validate(frame(i))) for i in range(3)]
    read = read_records(b"".join(records), sealed=True)
    assert [r[0] for r in read.rows] == [frame(i)["ts"] for i in range(3)]
    assert read.damage == []


# -- 4. The store root is created 0755 -------------------------------------------------------------


def test_store_root_is_created_0700(tmp_path: Path) -> None:
    """paths.py ensure_dir: `mkdir(mode=0o700, parents=True)` gives missing parents the default mode, so
    the store root itself (created by the first Writer) is 0755 under umask 022."""
    root = tmp_path / "store"
    with umask(0o022):
        store.Writer(root).close()
        store.compact(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


# -- 5. compact/retention on a read-only store: raw OSError, CLI traceback ------------------------


def test_cli_compact_on_read_only_store_is_one_line(tmp_path: Path) -> None:
    """compaction.py compact(): `ensure_dir` / `compactor_lock` raise a raw OSError (EROFS), not
    StoreUnavailable, so `smythtop store compact` and `retention` print a traceback (exit 1)."""
    mnt = tmp_path / "rw"
    with tmpfs_or_skip(mnt, "size=1m"):
        root = mnt / "store"
        write_frames(root, range(5))
        assert _run("mount", "-o", "remount,ro", str(mnt)).returncode == 0
        with pytest.raises(store.StoreUnavailable):
            store.compact(root)
        for args in (["compact"], ["retention", "--days", "1"]):
            proc = subprocess.run(
                [str(Path(PY).parent / "smythtop"), "store", *args, "--store", str(root)],
                capture_output=True,
                text=True,
                cwd=REPO,
                check=False,
                timeout=120,
            )
            assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1


# -- 6. A writer starting while a compaction runs is torn down under it ------------------------------


def test_writer_starting_during_compaction(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """wal.py _open_dir makes `wal/.tmp-<name>/`, then creates LOCK, then flocks it. A compaction in that
    window sees an unlocked `.tmp-` dir (compaction.py _recover, and the empty-dir sweep at the end of
    _compact_wal) and deletes it; the Writer then fails with StoreUnavailable "No such file or directory".
    (Found by test_store_concurrency: one of four writer processes failed to start.)"""
    write_frames(root, range(3))
    store.compact(root)
    real_flock, fired = fcntl.flock, []

    def flock(fd: int, op: int) -> None:
        if not fired:  # the writer's own flock on its new LOCK: a compactor runs just before it
            fired.append(store.compact(root))
        real_flock(fd, op)

    monkeypatch.setattr(
        smythtop.store.wal, "fcntl", SimpleNamespace(flock=flock, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB)
    )
    with store.Writer(root) as w:
        w.append(frame(10))
    assert fired
    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in (0, 1, 2, 10)]
