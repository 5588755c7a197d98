"""Pushing a store to a storage URL and reading the fleet back (a file:// bucket: same code path as s3://)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from smythtop.store.remote import MARKER_SUFFIX, Pusher, RemoteError, check_host_id, partition, scan_url

from smythtop import store
from tests.fleet_store.fleet_testlib import BASE_TS, HOUR_NS, make_store


def objects(bucket: Path, suffix: str) -> list[Path]:
    return sorted(p for p in bucket.rglob(f"*{suffix}") if p.is_file())


def test_push_then_read_counts_every_frame_once(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    url = bucket.as_uri()
    expected = []
    for host in range(2):
        root = tmp_path / f"h{host}"
        expected += make_store(root, host, files=3, per_file=10)
        result = Pusher(root, url, f"host-{host}").push()
        assert len(result.uploaded) == 3 and result.pending == 0
    fleet = scan_url(url).collect()
    assert sorted(fleet["ts"].dt.epoch("ns").to_list()) == sorted(f["ts"] for f in expected)
    assert fleet["cost_usd"].sum() == pytest.approx(sum(f["cost_usd"] or 0 for f in expected), abs=0)
    # every object sits under host=/date=/hour= of its last frame, and has its marker
    parquet = objects(bucket, ".parquet")
    assert len(parquet) == 6 == len(objects(bucket, MARKER_SUFFIX))
    for path in parquet:
        marker = json.loads(path.with_name(path.name.removesuffix(".parquet") + MARKER_SUFFIX).read_bytes())
        assert path.parent.relative_to(bucket).as_posix() == f"host={marker['host']}/{partition(marker['max_ts'])}"


def test_a_retried_push_uploads_nothing_again_and_a_restarted_pusher_skips_done_files(tmp_path: Path) -> None:
    root, url = tmp_path / "s", (tmp_path / "bucket").as_uri()
    make_store(root, 0, files=2, per_file=5)
    assert len(Pusher(root, url, "a").push().uploaded) == 2
    again = Pusher(root, url, "a").push()  # a new process: learns what is done from the markers
    assert again.uploaded == [] and again.already == 2
    assert scan_url(url).select(pl.len()).collect().item() == 10


def test_a_file_without_its_marker_is_ignored(tmp_path: Path) -> None:
    root, bucket = tmp_path / "s", tmp_path / "bucket"
    make_store(root, 0, files=2, per_file=5)
    Pusher(root, bucket.as_uri(), "a").push()
    marker = objects(bucket, MARKER_SUFFIX)[0]
    marker.unlink()  # as an upload cut off between the Parquet object and its marker leaves it
    assert scan_url(bucket.as_uri()).select(pl.len()).collect().item() == 5
    assert Pusher(root, bucket.as_uri(), "a").push().uploaded  # the retry finishes it, under the same name
    assert scan_url(bucket.as_uri()).select(pl.len()).collect().item() == 10
    assert len(objects(bucket, ".parquet")) == 2


def test_a_merged_file_replaces_its_pushed_sources(tmp_path: Path) -> None:
    root, url = tmp_path / "s", (tmp_path / "bucket").as_uri()
    frames = make_store(root, 0, files=5, per_file=4)
    Pusher(root, url, "a").push()
    result = store.compact(root, merge_min_age_s=0)
    assert result.files_merged == 5
    pushed = Pusher(root, url, "a").push()
    assert len(pushed.uploaded) == 1
    fleet = scan_url(url).collect()
    assert fleet.height == len(frames)  # 6 objects in the bucket, each frame read once
    assert fleet["ts"].n_unique() == len(frames)


def test_partition_pruning_by_since_and_until(tmp_path: Path) -> None:
    root, url = tmp_path / "s", (tmp_path / "bucket").as_uri()
    frames = make_store(root, 0, files=5, per_file=1)  # file i holds frame i, in hour i
    Pusher(root, url, "a").push()
    lo, hi = BASE_TS + 2 * HOUR_NS, BASE_TS + 4 * HOUR_NS
    got = scan_url(url, since=lo, until=hi).collect()["ts"].dt.epoch("ns").to_list()
    assert sorted(got) == sorted(f["ts"] for f in frames if lo <= f["ts"] < hi)


def test_bad_urls_and_host_ids_are_one_clear_error() -> None:
    with pytest.raises(RemoteError, match="host id"):
        check_host_id("../etc")
    with pytest.raises(RemoteError, match="nosuchscheme://b"):
        scan_url("nosuchscheme://b/p")


def test_a_scheme_pyarrow_lacks_goes_through_fsspec(tmp_path: Path) -> None:
    """memory:// is fsspec's, not pyarrow's: the way a user adds a backend (docs/FORMAT.md section 12)."""
    pytest.importorskip("fsspec", reason="fsspec is in the test extras")
    frames = make_store(tmp_path / "s", 0, files=2, per_file=3)
    url = f"memory://fleet-{tmp_path.name}/prod"
    assert len(Pusher(tmp_path / "s", url, "m").push().uploaded) == 2
    assert sorted(scan_url(url).collect()["ts"].dt.epoch("ns").to_list()) == sorted(f["ts"] for f in frames)


def test_a_since_window_does_not_read_partitions_that_ended_before_it(tmp_path: Path) -> None:
    root, bucket = tmp_path / "s", tmp_path / "bucket"
    make_store(root, 0, files=5, per_file=1)  # file i holds frame i, in hour i: partitions hour 22, 23, 00, 01, 02
    Pusher(root, bucket.as_uri(), "a").push()
    first = min(objects(bucket, MARKER_SUFFIX))  # the earliest partition's marker: made unreadable
    first.write_text("not json")
    with pytest.raises(RemoteError, match="unreadable marker"):
        scan_url(bucket.as_uri())
    assert scan_url(bucket.as_uri(), since=BASE_TS + HOUR_NS).select(pl.len()).collect().item() == 4
