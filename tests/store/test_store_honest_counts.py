"""Disk full: `Writer.append_many` and the recorder's `written` count exactly the frames the store holds.

A full disk is a real tmpfs filled to the last byte (as in test_store_disk.py), and the batch is
larger than the writer's buffer, so the write fails in the middle of `append_many`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from store_testlib import fill_disk, frame, scan_ts, tmpfs_or_skip

from smythtop import store
from smythtop.recorder import Collector


def test_append_many_reports_how_many_frames_it_appended(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    with tmpfs_or_skip(mnt, "size=64k"):
        root = mnt / "store"
        w = store.Writer(root, buffer_bytes=2048)
        try:
            w.append_many(frame(i) for i in range(5))
            w.flush()
            filler = fill_disk(mnt)
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
    with tmpfs_or_skip(mnt, "size=1m"):  # room for the writer's whole buffer once the filler is gone
        root = mnt / "store"
        c = Collector({"global": {"max_frames_per_second": 0}}, store=root)  # every execution kept: no sampler
        try:
            with c.track("Warmup", agent_id="a"):
                pass
            assert c.flush()
            filler = fill_disk(mnt)
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
        # the lost executions are in the store too, as account frames written once the disk had room again
        accounts = store.unrecorded(root).collect()
        assert stats["dropped_store_unavailable"] > 0 and stats["unrecorded_pending"] == 0
        assert accounts.select("component", "reason").unique().rows() == [("Step", "store_unavailable")]
        assert accounts["unrecorded"].sum() == stats["dropped_store_unavailable"]
