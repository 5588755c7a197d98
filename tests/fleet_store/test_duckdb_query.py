"""The DuckDB query of docs/FORMAT.md section 12, run on a pushed bucket: it must apply the upload contract
(marked files only, replaced files dropped) and agree with smythtop's own fleet read."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest
from smythtop.store.remote import MARKER_SUFFIX, Pusher, scan_url

from smythtop import store
from tests.fleet_store.fleet_testlib import make_store
from tests.fleet_store.test_maintenance_push import age_files

duckdb = pytest.importorskip("duckdb", reason="duckdb is in the test extras")
FORMAT_MD = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"


def documented_query() -> str:
    section = FORMAT_MD.read_text(encoding="utf-8").split("## 12.", 1)[1]
    match = re.search(r"```sql\n(.*?)```", section, re.S)
    assert match, "docs/FORMAT.md section 12 has no sql block"
    return match[1]


def test_the_documented_duckdb_query_reads_each_frame_once(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    frames = {}
    for host in range(2):
        root = tmp_path / f"h{host}"
        frames[f"h{host}"] = make_store(root, host, files=4, per_file=6)
        Pusher(root, bucket.as_uri(), f"h{host}").push()
    age_files(tmp_path / "h0")
    assert store.compact(tmp_path / "h0").files_merged == 4
    Pusher(tmp_path / "h0", bucket.as_uri(), "h0").push()  # the merge: 5 objects for h0, 4 of them replaced
    stray = next(bucket.rglob("*.parquet"))  # an object whose upload was cut off before its marker
    shutil.copy(stray, stray.with_name("1-2-wdeadbeef0000.parquet"))
    assert not stray.with_name("1-2-wdeadbeef0000" + MARKER_SUFFIX).exists()

    rows = duckdb.sql(documented_query().replace("s3://bucket/prefix", str(bucket))).fetchall()
    fleet = scan_url(bucket.as_uri()).collect()
    assert [(host, n) for host, n, _ in rows] == [("h0", 24), ("h1", 24)]
    for host, _, cost in rows:
        mine = fleet.filter(fleet["agent_id"].str.starts_with(host.replace("h", "host")))["cost_usd"]
        assert math.isclose(cost, math.fsum(mine.drop_nulls()), rel_tol=1e-12)
        assert math.isclose(cost, math.fsum(f["cost_usd"] or 0 for f in frames[host]), rel_tol=1e-12)
