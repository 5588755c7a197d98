"""A local user who can write into a store gains nothing: paths from store contents stay inside the store,
no symlink in a store is followed, and an unsafe store root is refused (docs/SECURITY.md, "The store")."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from store_testlib import PY, REPO, scan_ts, write_frames

from smythtop import store

SMYTHTOP = Path(PY).parent / "smythtop"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Files of another user, or of the same user outside the store, that no store command may touch."""
    directory = tmp_path / "victim"
    directory.mkdir()
    (directory / "secret.txt").write_text("keep me")
    return directory


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_journal_sources_outside_the_store_are_never_deleted(root: Path, victim: Path) -> None:
    write_frames(root, range(10))
    store.compact(root)
    target = next((root / "parquet").iterdir()).relative_to(root).as_posix()  # a published target exists
    sources = [f"../{victim.name}/secret.txt", str(victim / "secret.txt"), "wal/../../victim/secret.txt"]
    (root / "journal" / "0000000000000001.json").write_text(json.dumps({"target": target, "sources": sources}))

    store.compact(root)

    assert (victim / "secret.txt").read_text() == "keep me"
    assert len(scan_ts(root)) == 10
    assert "journal/0000000000000001.json" in store.check(root).unknown_files


def test_symlinked_writer_directory_is_never_followed(root: Path, victim: Path) -> None:
    write_frames(root, range(10))
    real = next((root / "wal").iterdir())
    for name in ("LOCK", "000001.wal"):  # a dead writer's files, as compaction would take and delete them
        (victim / name).write_bytes((real / name).read_bytes())
    (root / "wal" / "evil").symlink_to(victim, target_is_directory=True)
    before = _tree(victim)

    store.compact(root)

    assert _tree(victim) == before
    assert len(scan_ts(root)) == 10  # the real writer's frames, not the victim's copy
    assert store.check(root).unknown_files == ["wal/evil"]


def test_symlinked_quarantine_is_refused_and_nothing_is_written_there(root: Path, victim: Path) -> None:
    write_frames(root, range(10))
    segment = next((root / "wal").glob("*/000001.wal"))
    with segment.open("ab") as fh:
        fh.write(b"attacker bytes " * 20)  # damage a compaction would quarantine
    (root / "quarantine").symlink_to(victim, target_is_directory=True)

    with pytest.raises(store.UnsafeStore, match="quarantine"):
        store.compact(root)

    assert _tree(victim) == {"secret.txt": b"keep me"}


def test_symlinked_publish_lock_is_refused_and_not_created(root: Path, tmp_path: Path) -> None:
    write_frames(root, range(10))
    (root / "publish.lock").unlink(missing_ok=True)
    planted = tmp_path / "created-by-attacker"
    (root / "publish.lock").symlink_to(planted)

    with pytest.raises(store.UnsafeStore, match=r"publish\.lock"):
        store.scan(root)
    proc = subprocess.run(
        [str(SMYTHTOP), "report", "--store", str(root)], capture_output=True, text=True, timeout=120, cwd=REPO
    )

    assert proc.returncode == 2 and "publish.lock" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not planted.exists()


def test_group_or_world_writable_root_is_refused_unless_shared(root: Path) -> None:
    write_frames(root, range(5))
    root.chmod(0o770)
    with pytest.raises(store.UnsafeStore, match="group-writable"):
        store.Writer(root)
    with pytest.raises(store.UnsafeStore, match="group-writable"):
        store.scan(root)
    assert len(scan_ts(root, shared=True)) == 5
    with store.Writer(root, shared=True) as w:  # an explicit shared group store
        w.append({"ts": 1, "agent_id": "a", "component": "c", "total_ms": 1.0, "success": True})
    assert len(store.scan(root, shared=True).collect()) == 6

    root.chmod(0o777)
    with pytest.raises(store.UnsafeStore, match="world-writable"):
        store.scan(root, shared=True)
    root.chmod(0o700)
    (root / "wal").chmod(0o777)
    with pytest.raises(store.UnsafeStore, match="wal: it is world-writable"):
        store.compact(root)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_root_owned_by_another_user_is_refused(root: Path) -> None:
    write_frames(root, range(5))
    os.chown(root, 65534, 65534)
    with pytest.raises(store.UnsafeStore, match="owned by uid 65534"):
        store.check(root)
    with pytest.raises(store.UnsafeStore, match="owned by uid 65534"):
        store.compact(root)
