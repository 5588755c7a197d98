"""One frame dated far ahead (issue 13, item 14: one from 2262) must not shield a file of expired frames
from retention: the expired rows go, and the file that remains is named by the rows it holds."""

from __future__ import annotations

import time
from pathlib import Path

from smythtop.store.catalog import list_parquet
from store_testlib import frame, scan_ts

from smythtop import store

DAY = 86_400 * 10**9
YEAR_2262 = 9_200_000_000_000_000_000  # 2261-07: within the int64 ns range the contract allows


def test_retention_drops_expired_frames_despite_a_future_outlier(root: Path) -> None:
    now = time.time_ns()
    old = [now - 40 * DAY + i for i in range(20)]
    with store.Writer(root) as w:
        w.append_many(frame(i, ts=ts) for i, ts in enumerate(old))
        w.append(frame(20, ts=YEAR_2262))
    (name,) = store.compact(root, merge=False).files_written
    assert name.endswith(".parquet") and list_parquet(root)[0].max_ts == YEAR_2262  # the stretched range

    result = store.apply_retention(root, days=30)
    assert scan_ts(root) == [YEAR_2262]  # the 40-day-old frames are gone
    assert (result.trimmed, result.trimmed_frames, result.removed) == ([name], 20, [])
    (left,) = list_parquet(root)
    assert left.min_ts == left.max_ts == YEAR_2262
    report = store.check(root)
    assert report.ok and report.parquet_frames == 1 and report.oldest_ts == YEAR_2262
