"""A read-only or full disk gives StoreUnavailable (catchable by type, naming the store) and loses nothing;
files are created 0600 and directories 0700.

As root, chmod does not stop writes, so the read-only and full disks are real tmpfs mounts (ro, and 64 KiB).
Where mounting is not permitted, the read-only case runs the writer as an unprivileged user instead.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from smythtop.store.framing import read_records
from store_testlib import (
    PY,
    REPO,
    fill_disk,
    frame,
    read_rows,
    run_py,
    scan_ts,
    store_files,
    tmpfs,
    umask,
    write_frames,
)

from smythtop import store


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)


def test_writer_on_read_only_mount(tmp_path: Path) -> None:
    mnt = tmp_path / "ro"
    # mode=0700: tmpfs roots are 1777 by default, and a world-writable store root is refused before any write
    with tmpfs(mnt, "ro,size=1m,mode=0700") as mounted:
        if not mounted:
            pytest.skip("mount not permitted here; test_read_only_directory_unprivileged covers it")
        for target in (mnt, mnt / "store"):
            with pytest.raises(store.StoreUnavailable) as err:
                store.Writer(target)
            assert isinstance(err.value, OSError) and isinstance(err.value, store.StoreError)
            assert str(target) in str(err.value)
            assert "read-only" in str(err.value).lower()
        assert list(mnt.iterdir()) == []


def test_store_remounted_read_only_is_still_readable(tmp_path: Path) -> None:
    mnt = tmp_path / "rw"
    with tmpfs(mnt, "size=1m") as mounted:
        if not mounted:
            pytest.skip("mount not permitted here")
        root = mnt / "store"
        write_frames(root, range(20))
        store.compact(root)
        write_frames(root, range(20, 30))
        assert _run("mount", "-o", "remount,ro", str(mnt)).returncode == 0
        with pytest.raises(store.StoreUnavailable) as err:
            store.Writer(root)
        assert str(root) in str(err.value)
        assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(30)]
        report = store.check(root)
        assert (report.parquet_frames, report.wal_frames, report.damaged_bytes) == (20, 10, 0)
        tail = store.Tailer(root, from_start=True).poll()
        assert tail is not None and tail.height == 10


NOBODY = r"""
import sys
from smythtop import store
try:
    store.Writer(sys.argv[1])
except store.StoreUnavailable as err:
    assert isinstance(err, OSError)
    print(err)
    sys.exit(0)
sys.exit(1)
"""


def test_read_only_directory_unprivileged(tmp_path: Path) -> None:
    """Without mount: a 0500 directory, written by a user who is not root (root ignores the mode)."""
    if os.geteuid() != 0:
        root = tmp_path / "store"
        root.mkdir(mode=0o500)
        try:
            with pytest.raises(store.StoreUnavailable) as err:
                store.Writer(root)
            assert str(root) in str(err.value)
        finally:
            root.chmod(0o700)
        return
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is missing")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PY, "-c"]
    probe = subprocess.run([*as_nobody, "import smythtop.store"], cwd="/", capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:  # e.g. a checkout inside a 0700 directory: nobody cannot even import smythtop
        pytest.skip(f"user nobody cannot import smythtop from this checkout: {probe.stderr.decode()[-200:]}")
    parent = Path(tempfile.mkdtemp(prefix="smythtop-ro-"))  # outside pytest's 0700 tmp tree
    parent.chmod(0o755)
    try:
        root = parent / "store"
        root.mkdir(mode=0o500)
        os.chown(root, 65534, 65534)  # nobody owns it, and may only read it
        proc = subprocess.run(
            [*as_nobody, NOBODY, str(root)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0 and "Traceback" not in proc.stderr:
            pytest.skip(f"cannot run as nobody here: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr
        assert str(root) in proc.stdout and "Permission denied" in proc.stdout
        assert list(root.iterdir()) == []
    finally:
        shutil.rmtree(parent)


def test_full_disk_at_flush_keeps_frames_and_a_clean_segment(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    with tmpfs(mnt, "size=64k") as mounted:
        if not mounted:
            pytest.skip("mount not permitted here")
        root = mnt / "store"
        w = store.Writer(root, buffer_bytes=1 << 20)
        try:
            w.append_many(frame(i) for i in range(5))
            w.flush()
            (seg,) = (root / "wal").glob("*/*.wal")
            clean = seg.stat().st_size
            filler = fill_disk(mnt)
            # Far more than the free tail of the segment's last page: the write fails part-way.
            w.append_many(frame(i, tags={"pad": "p" * 200}) for i in range(5, 105))
            before = w.buffered_bytes
            with pytest.raises(store.StoreUnavailable) as err:
                w.flush()
            assert isinstance(err.value, OSError)
            assert str(root) in str(err.value) and "No space left" in str(err.value)
            # Truncated back: exactly the frames flushed before, no torn record, nothing lost from memory.
            assert seg.stat().st_size == clean
            read = read_records(seg.read_bytes(), sealed=True)
            assert read.damage == [] and [r[0] for r in read.rows] == [frame(i)["ts"] for i in range(5)]
            assert store.check(root).damaged_bytes == 0
            assert (w.buffered_bytes, w.flushed) == (before, 5)
            with pytest.raises(store.StoreUnavailable):
                w.flush()  # still full: still failing, still clean
            assert seg.stat().st_size == clean

            filler.unlink()
            w.flush()
            assert (w.buffered_bytes, w.flushed) == (0, 105)
        finally:
            w.close()
        rows = read_rows(root)
        assert [r["ts"] for r in rows] == [frame(i)["ts"] for i in range(105)]
        assert rows[-1]["tags"] == {"pad": "p" * 200}
        assert store.check(root).damaged_bytes == 0


def test_writer_creation_on_a_full_disk(tmp_path: Path) -> None:
    mnt = tmp_path / "full"
    with tmpfs(mnt, "size=64k") as mounted:
        if not mounted:
            pytest.skip("mount not permitted here")
        fill_disk(mnt)
        root = mnt / "store"
        with pytest.raises(store.StoreUnavailable) as err:
            store.Writer(root)
        assert str(root) in str(err.value)
        (mnt / "filler").unlink()
        # The half-made writer directory is only a temp name: nobody reads it, compaction removes it.
        assert scan_ts(root) == []
        assert store.check(root).wal_segments == 0
        leftovers = list((root / "wal").glob(".tmp-*"))
        assert store.compact(root).temp_files_removed == len(leftovers)
        assert list((root / "wal").glob(".tmp-*")) == []
        write_frames(root, range(3))
        assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(3)]


CRASH_BEFORE_DELETE = r"""
import os, sys
from smythtop import store
import smythtop.store.compaction as c
c._delete_sources = lambda *a, **k: os._exit(9)
store.compact(sys.argv[1])
"""


def test_modes_files_0600_directories_0700(root: Path) -> None:
    with umask(0o022):
        write_frames(root, range(40), segment_bytes=512, buffer_bytes=256)  # several segments
        (seg, *_) = sorted((root / "wal").glob("*/*.wal"))
        with open(seg, "ab") as fh:
            fh.write(b"torn tail")  # quarantined by the compaction
        assert run_py(CRASH_BEFORE_DELETE, str(root)).returncode == 9  # leaves a journal behind
        assert len(list((root / "journal").glob("*.json"))) == 1
        live = store.Writer(root, segment_bytes=512)
        try:
            live.append_many(frame(i) for i in range(100, 140))
            live.flush()
            for path in store_files(root):
                mode = stat.S_IMODE(path.lstat().st_mode)
                if path.is_dir():
                    assert mode == 0o700, f"{path.relative_to(root)} is {oct(mode)}"
                else:
                    assert mode == 0o600, f"{path.relative_to(root)} is {oct(mode)}"
            kinds = {p.relative_to(root).parts[0] for p in store_files(root) if p.is_file()}
            assert {"wal", "parquet", "journal"} <= kinds

            result = store.compact(root)
            assert result.journals_recovered == 1
            assert store.check(root).quarantined_bytes == len(b"torn tail")  # copied before the crash, once
            store.compact(root, merge_min_age_s=0)
            files = list(store_files(root))
            assert {p.relative_to(root).parts[0] for p in files if p.is_file()} >= {"wal", "parquet", "quarantine"}
            for path in files:
                mode = stat.S_IMODE(path.lstat().st_mode)
                assert mode == (0o700 if path.is_dir() else 0o600), f"{path.relative_to(root)} is {oct(mode)}"
        finally:
            live.close()
