"""Retention racing readers (issue 13, item 9): a scan collected after retention deleted its files still
returns its snapshot, and a scanner running against a real retention loop in another process never fails
and always sees whole batches."""

from __future__ import annotations

import gc
import os
import subprocess
import threading

import polars as pl
import pytest
from store_testlib import PY, REPO, frame, scan_ts, write_frames
from waiting import joined

from smythtop import store

BATCH = 50  # frames per writer, so per Parquet file: a consistent view holds whole batches only
ROUNDS = 40  # write + compact + retention rounds of the loop process

RETENTION_LOOP = f"""
import sys
from smythtop import store
root = sys.argv[1]
for k in range({ROUNDS}):
    base = 1_000_000_000 + k * {BATCH}
    with store.Writer(root) as w:
        w.append_many(
            {{"ts": base + i, "agent_id": "a", "component": "c", "total_ms": 1.0, "success": True}}
            for i in range({BATCH})
        )
    store.compact(root, merge=False)
    store.apply_retention(root, days=1)  # every frame is from 1970: each round removes what it compacted
"""


def test_scan_collected_after_retention_returns_its_snapshot(root) -> None:
    write_frames(root, range(30))
    store.compact(root)
    lazy = store.scan(root)
    assert store.apply_retention(root, days=1).removed  # 2023 frames: all expired
    assert scan_ts(root) == []
    assert sorted(lazy.select(pl.col("ts").dt.epoch("ns")).collect().to_series()) == [frame(i)["ts"] for i in range(30)]


def test_scanner_against_a_real_retention_loop(root) -> None:
    write_frames(root, range(BATCH))
    store.compact(root)
    loop = subprocess.Popen([PY, "-c", RETENTION_LOOP, str(root)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    counts: list[int] = []
    errors: list[BaseException] = []

    def scanner() -> None:
        while loop.poll() is None:
            try:
                counts.append(store.scan(root).select(pl.len()).collect().item())
            except Exception as exc:
                errors.append(exc)

    thread = threading.Thread(target=scanner)
    thread.start()
    try:
        _, err = loop.communicate(timeout=300)
    finally:
        loop.kill()
        joined(thread, "scanner", timeout=120)
    assert loop.returncode == 0, err
    assert errors == []
    assert counts and all(n % BATCH == 0 for n in counts), sorted(set(counts))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd")
def test_scans_close_their_files_when_dropped(root) -> None:
    """The snapshot's descriptors live as long as the LazyFrame, not longer: repeated scans do not leak."""
    for start in range(0, 30, 10):
        write_frames(root, range(start, start + 10))
        store.compact(root, merge=False)
    scan_ts(root)  # first use starts polars' and pyarrow's own pools
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        scan_ts(root)
        history, _ = store.Tailer.with_history(root)
        history.collect()
    del history
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before
