"""What a store is on disk: the marker, what readers may create (nothing), a lost LOCK or segment, stray files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from smythtop.store.locks import read_lock
from store_testlib import PY, REPO, frame, run_py, scan_ts, write_frames

from smythtop import store

SMYTHTOP = Path(PY).parent / "smythtop"


def _listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# -- item 10: a deleted LOCK or segment ---------------------------------------------------------------
def test_deleted_lock_loses_no_frame_and_the_writer_reopens(root: Path) -> None:
    """With its LOCK removed, a live writer's segment is not compacted away under it (its process runs),
    and the writer notices at the next flush, moves to a fresh directory, and counts it."""
    w = store.Writer(root)
    for i in range(100):
        w.append(frame(i))
    w.flush()
    first_dir = w.dir
    (first_dir / "LOCK").unlink()

    store.compact(root)
    for i in range(100, 200):
        w.append(frame(i))
    w.flush()
    store.compact(root)  # the old directory now has an unlocked LOCK: a dead writer's, compacted whole
    for i in range(200, 300):
        w.append(frame(i))
    w.close()
    store.compact(root)

    assert sorted(scan_ts(root)) == [frame(i)["ts"] for i in range(300)]
    assert w.reopened == 1 and not first_dir.exists()


def test_unlinked_segment_is_noticed_at_flush(root: Path) -> None:
    w = store.Writer(root)
    w.append(frame(0))
    w.flush()
    shutil.rmtree(w.dir)  # a careless `rm -r`: the open segment is unlinked under the writer
    w.append(frame(1))
    w.flush()
    w.close()
    assert scan_ts(root) == [frame(1)["ts"]]
    assert w.reopened == 1


def test_dead_writer_without_lock_is_still_compacted(root: Path) -> None:
    """A writer process that exited and whose LOCK was deleted is dead by its name's pid: compacted."""
    proc = run_py(
        "import sys; from smythtop import store; from store_testlib import frame\n"
        "w = store.Writer(sys.argv[1])\n"
        "[w.append(frame(i)) for i in range(50)]\n"
        "w.close()\n",
        str(root),
        env={"PYTHONPATH": str(REPO / "tests" / "store")},
    )
    assert proc.returncode == 0, proc.stderr
    next((root / "wal").glob("*/LOCK")).unlink()

    store.compact(root)

    assert store.check(root).wal_segments == 0 and len(scan_ts(root)) == 50


# -- item 11: stray files -------------------------------------------------------------------------------
def test_stray_file_never_hides_a_writer_and_check_reports_it(root: Path) -> None:
    write_frames(root, range(5000))
    writer_dir = next((root / "wal").iterdir())
    (writer_dir / "junk.wal").write_bytes(b"not a segment")
    (root / "notes.txt").write_text("someone's notes")

    assert len(scan_ts(root)) == 5000
    report = store.check(root)
    assert report.wal_frames == 5000 and not report.ok
    assert report.unknown_files == ["notes.txt", f"wal/{writer_dir.name}/junk.wal"]
    cli = subprocess.run(
        [str(SMYTHTOP), "store", "check", "--store", str(root)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert cli.returncode == 1 and f"unknown     wal/{writer_dir.name}/junk.wal" in cli.stdout
    store.compact(root)
    assert len(scan_ts(root)) == 5000
    assert (writer_dir / "junk.wal").read_bytes() == b"not a segment"  # not ours: never deleted


# -- item 12: the marker, and directories that are not stores -------------------------------------------
@pytest.fixture
def not_a_store(tmp_path: Path) -> Path:
    """A project directory someone passed as --store: temp files and a LOCK of another tool."""
    directory = tmp_path / "project"
    for rel in ("notes.txt", "parquet/.tmp-build", "wal/.tmp-cache/LOCK"):
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(rel)
    return directory


def test_a_directory_that_is_not_a_store_is_refused_and_left_alone(not_a_store: Path) -> None:
    before = _listing(not_a_store)
    for attempt in (store.compact, store.scan, store.check, store.Writer, store.Tailer):
        with pytest.raises(store.NotAStore, match="not a smythtop store"):
            attempt(not_a_store)
    with pytest.raises(store.NotAStore):
        store.apply_retention(not_a_store, days=1)
    assert _listing(not_a_store) == before


CLI_COMMANDS = [["report"], ["store", "compact"], ["store", "check"], ["export", "--format", "csv", "-o", "-"]]


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_cli_refuses_a_directory_that_is_not_a_store(not_a_store: Path, command: list[str]) -> None:
    before = _listing(not_a_store)
    proc = subprocess.run(
        [str(SMYTHTOP), *command, "--store", str(not_a_store)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 2, proc.stderr
    assert "not a smythtop store" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _listing(not_a_store) == before


def test_readers_create_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    store.scan(empty).collect()
    store.read_wal(empty)
    store.check(empty)
    store.Tailer(empty).poll()
    store.Tailer.with_history(empty)
    assert _listing(empty) == []


def _previous_version_store(root: Path) -> None:
    """A store as the previous version left it: no marker, and (never read) no publish lock."""
    write_frames(root, range(10))
    store.compact(root)
    write_frames(root, range(10, 20))
    for name in ("smythtop-store.json", "publish.lock", "compactor.lock"):
        (root / name).unlink(missing_ok=True)


def test_previous_version_store_is_read_without_creating_files_and_adopted_on_write(root: Path) -> None:
    _previous_version_store(root)
    before = _listing(root)
    assert len(scan_ts(root)) == 20 and store.check(root).ok
    lazy, tailer = store.Tailer.with_history(root)
    assert lazy.collect().height == 20 and tailer.poll() is None
    assert _listing(root) == before

    write_frames(root, range(20, 30))  # the first write adopts it
    assert json.loads((root / "smythtop-store.json").read_text()) == {"format": 1}
    assert (root / "publish.lock").is_file()
    assert len(scan_ts(root)) == 30


def test_writer_marks_a_new_store_and_a_newer_format_is_refused(root: Path) -> None:
    write_frames(root, range(3))
    assert json.loads((root / "smythtop-store.json").read_text()) == {"format": 1}
    (root / "smythtop-store.json").write_text(json.dumps({"format": 2}))
    with pytest.raises(store.NotAStore, match="format 2"):
        store.scan(root)
    with pytest.raises(store.NotAStore, match="format 2"):
        store.Writer(root)


def test_reader_of_a_store_without_publish_lock_excludes_its_creation(root: Path) -> None:
    """A reader that finds no publish.lock holds the root directory's flock shared while it reads, so the
    lock file (made under that flock exclusive, before any publish) cannot appear and be published under
    mid-read: the race the earlier "readers create publish.lock" fix closed, kept closed without a file."""
    _previous_version_store(root)
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    print('blocked')\n"
    )
    with read_lock(root):
        inside = run_py(probe, str(root))
    outside = run_py(probe, str(root))

    assert inside.stdout.strip() == "blocked" and outside.stdout.strip() == ""
    assert not (root / "publish.lock").exists()
