"""The fleet store on S3 (issue 12 part 3): three hosts push to a moto S3 server on 127.0.0.1 at once, one is
killed with SIGKILL mid-upload and restarted, and the fleet read through `--store s3://...` equals the sum of
the three local stores exactly, with no duplicates. Then `smythtop serve --push` pushes what it received."""

from __future__ import annotations

import json
import math
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.fs as pafs
import pytest
from smythtop.store.remote import MARKER_SUFFIX, scan_url

from smythtop import store
from tests.fleet_store.fleet_testlib import make_store
from tests.serve_process import SMYTHTOP, user_env
from tests.waiting import wait_until

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extras: pip install -e .[test]")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def bucket_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """An empty prefix of a bucket on a moto S3 server bound to 127.0.0.1 on a free port; dummy credentials.
    (moto keeps its buckets per process, not per server: each test has a prefix of its own.)"""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        query = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
        fs, _ = pafs.FileSystem.from_uri(f"s3://fleet?{query}&allow_bucket_creation=true")
        fs.create_dir("fleet")
        yield f"s3://fleet/{tmp_path.name}?{query}"
    finally:
        server.stop()


def push(root: Path, url: str, host_id: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SMYTHTOP, "store", "push", url, "--store", str(root), "--host-id", host_id, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**user_env(home), **CREDENTIALS},
    )


def markers(url: str, host_id: str) -> list[str]:
    fs, base = pafs.FileSystem.from_uri(url)
    sel = pafs.FileSelector(f"{base}/host={host_id}", recursive=True, allow_not_found=True)
    return [i.path for i in fs.get_file_info(sel) if i.path.endswith(MARKER_SUFFIX)]


def parquet_objects(url: str) -> list[str]:
    fs, base = pafs.FileSystem.from_uri(url)
    sel = pafs.FileSelector(base, recursive=True)
    return [i.path for i in fs.get_file_info(sel) if i.path.endswith(".parquet")]


def test_three_hosts_push_at_once_one_killed_and_restarted(bucket_url: str, tmp_path: Path) -> None:
    sizes = {"host-a": (6, 50), "host-b": (120, 5), "host-c": (8, 40)}  # (files, frames per file)
    frames = {h: make_store(tmp_path / h, i, files=n, per_file=k) for i, (h, (n, k)) in enumerate(sizes.items())}
    procs = {h: push(tmp_path / h, bucket_url, h, tmp_path) for h in sizes}
    # SIGKILL host-b once some of its 120 files are up and before all are: mid-upload
    wait_until(lambda: len(markers(bucket_url, "host-b")) >= 3, timeout=120, what="host-b's first uploads")
    procs["host-b"].send_signal(signal.SIGKILL)
    procs["host-b"].wait(30)
    assert procs["host-b"].returncode == -signal.SIGKILL
    done_before_restart = len(markers(bucket_url, "host-b"))
    assert done_before_restart < 120, "host-b finished before it could be killed; give it more files"
    procs["host-b"] = push(tmp_path / "host-b", bucket_url, "host-b", tmp_path)
    outputs = {}
    for host, proc in procs.items():
        outputs[host], err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (host, err)
    restarted = json.loads(outputs["host-b"])  # it skipped exactly what the killed run had finished
    assert (restarted["already_pushed"], restarted["uploaded"]) == (done_before_restart, 120 - done_before_restart)
    fleet = scan_url(bucket_url).collect()
    every = [f for host_frames in frames.values() for f in host_frames]
    assert fleet.height == len(every) == sum(store.scan(tmp_path / h).collect().height for h in sizes)
    assert fleet["ts"].n_unique() == fleet.height  # no duplicates (each frame's ts is unique by construction)
    assert sorted(fleet["ts"].dt.epoch("ns").to_list()) == sorted(f["ts"] for f in every)
    local = pl.concat([store.scan(tmp_path / h).collect() for h in sizes])
    assert fleet.sort("ts").equals(local.sort("ts"))  # every column of every frame, exactly
    local_cost = math.fsum(local["cost_usd"].drop_nulls())  # correctly rounded: the same in any order
    assert math.fsum(fleet["cost_usd"].drop_nulls()) == local_cost
    assert len(parquet_objects(bucket_url)) == sum(n for n, _ in sizes.values())  # one object per file, no more

    report = subprocess.run(
        [SMYTHTOP, "report", "--store", bucket_url, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**user_env(tmp_path), **CREDENTIALS},
        check=True,
    )
    summary = json.loads(report.stdout)["summary"]
    assert summary["rows"] == len(every)
    # the report sums float64 in its own order, which may differ from fsum in the last bit
    assert summary["total_cost_usd"] == pytest.approx(local_cost, rel=1e-12)


def test_serve_push_uploads_what_it_compacts(bucket_url: str, tmp_path: Path) -> None:
    root = tmp_path / "served"
    frames = make_store(root, 0, files=2, per_file=10)
    with store.Writer(root) as writer:  # left in the WAL: serve's final pass compacts and pushes it
        writer.append_many([{**frames[0], "ts": frames[0]["ts"] + 10**6}])
    proc = subprocess.Popen(
        [SMYTHTOP, "serve", "--store", str(root), "--otlp", "127.0.0.1:0", "--push", bucket_url, "--host-id", "s1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**user_env(tmp_path), **CREDENTIALS},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("listening on 127.0.0.1:")
    assert proc.stdout.readline().startswith("store ")
    # printed once the signal handlers are in
    assert proc.stdout.readline().startswith(f"pushing to s3://fleet/{tmp_path.name} as host=s1")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "3 files pushed" in out, out
    assert scan_url(bucket_url).select(pl.len()).collect().item() == 21
    assert len(markers(bucket_url, "s1")) == 3
