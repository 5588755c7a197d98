"""`serve --push`'s maintenance pass: files are pushed before they may be merged, and a merge is pushed after."""

from __future__ import annotations

import os
import time
from pathlib import Path

from smythtop.store.remote import Pusher, scan_url

from smythtop.maintenance import Maintenance
from tests.fleet_store.fleet_testlib import make_store


def age_files(root: Path) -> None:
    """Make the Parquet files older than the merge's minimum age (60 s), as a long-running serve would see them."""
    old = time.time() - 3600
    for path in (root / "parquet").glob("*.parquet"):
        os.utime(path, (old, old))


def test_nothing_is_merged_while_the_push_fails_then_the_merge_is_pushed(tmp_path: Path) -> None:
    root = tmp_path / "s"
    frames = make_store(root, 0, files=5, per_file=4)
    age_files(root)
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the bucket's prefix should be")
    failing = Maintenance(root, every_s=60, retention_days=None, pusher=Pusher(root, blocked.as_uri(), "a"))
    assert failing.run_once()
    assert (failing.stats.push_failed, failing.stats.files_merged) == (1, 0)  # unpushed files stay unmerged
    assert len(list((root / "parquet").glob("*.parquet"))) == 5

    url = (tmp_path / "bucket").as_uri()
    working = Maintenance(root, every_s=60, retention_days=None, pusher=Pusher(root, url, "a"))
    assert working.run_once()
    assert (working.stats.files_pushed, working.stats.files_merged) == (6, 5)  # 5 files, then their merge
    assert len(list((root / "parquet").glob("*.parquet"))) == 1
    fleet = scan_url(url).collect()
    assert sorted(fleet["ts"].dt.epoch("ns").to_list()) == sorted(f["ts"] for f in frames)
