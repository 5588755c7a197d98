"""`smythtop store check|stats|compact|retention` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_testlib import PY, REPO, frame, scan_ts, write_frames

from smythtop import store

# The console script installed next to the interpreter running the tests (.venv/bin/smythtop).
SMYTHTOP = Path(PY).parent / "smythtop"


def smythtop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SMYTHTOP_STORE", "SRE_PERFORMANCE_DIR")}
    return subprocess.run(
        [str(SMYTHTOP), *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO, env=env
    )


def _json(*args: str) -> dict:
    proc = smythtop(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


@pytest.mark.slow
def test_store_commands_report_real_numbers(root: Path) -> None:
    write_frames(root, range(40), segment_bytes=1024, buffer_bytes=256)
    segments = len(list((root / "wal").glob("*/*.wal")))
    assert segments > 1

    out = _json("store", "compact", "--store", str(root))
    assert out["segments_compacted"] == segments
    assert out["frames_written"] == 40
    assert out["files_written"] == 1
    assert out["quarantined_bytes"] == 0

    write_frames(root, range(40, 50))
    stats = _json("store", "stats", "--store", str(root))
    parquet_bytes = sum(p.stat().st_size for p in (root / "parquet").glob("*.parquet"))
    wal_bytes = sum(p.stat().st_size for p in (root / "wal").glob("*/*.wal"))
    assert stats["frames"] == 50
    assert stats["frames_in_parquet"] == 40 and stats["frames_in_wal"] == 10
    assert stats["bytes_on_disk"] == parquet_bytes + wal_bytes
    assert stats["parquet_bytes_per_frame"] == round(parquet_bytes / 40, 2)
    assert stats["oldest"] == _iso(frame(0)["ts"]) and stats["newest"] == _iso(frame(49)["ts"])
    assert stats["damaged_bytes"] == 0 and stats["writers_alive"] == 0

    check = _json("store", "check", "--store", str(root))
    assert check["frames"] == 50 and check["ok"] is True
    assert (check["parquet_files"], check["wal_segments"]) == (1, 1)
    assert (check["oldest_ts"], check["newest_ts"]) == (frame(0)["ts"], frame(49)["ts"])

    text = smythtop("store", "check", "--store", str(root))
    assert text.returncode == 0 and "10 frames" in text.stdout and "40 frames" in text.stdout
    text = smythtop("store", "stats", "--store", str(root))
    assert text.returncode == 0 and "50" in text.stdout


def test_check_exits_1_on_damage(root: Path) -> None:
    write_frames(root, range(5))
    (seg,) = (root / "wal").glob("*/*.wal")
    data = bytearray(seg.read_bytes())
    data[40] ^= 0xFF  # inside the first record
    seg.write_bytes(bytes(data))
    proc = smythtop("store", "check", "--store", str(root), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["damaged_bytes"] > 0 and report["frames"] == 4
    out = _json("store", "compact", "--store", str(root))
    assert out["quarantined_bytes"] == report["damaged_bytes"] and out["frames_written"] == 4
    assert smythtop("store", "check", "--store", str(root)).returncode == 0


def test_retention_command(root: Path) -> None:
    write_frames(root, range(10))  # frames from 2023
    store.compact(root)
    kept = _json("store", "retention", "--store", str(root), "--days", "36500")
    assert kept["removed"] == [] and kept["kept_files"] == 1
    out = _json("store", "retention", "--store", str(root), "--days", "30")
    assert len(out["removed"]) == 1 and out["removed_bytes"] > 0 and out["kept_files"] == 0
    assert scan_ts(root) == []


def test_retention_max_bytes(root: Path) -> None:
    for k in range(3):
        write_frames(root, range(10 * k, 10 * k + 10))
        store.compact(root, merge=False)
    out = _json("store", "retention", "--store", str(root), "--days", "36500", "--max-bytes", "1K")
    assert out["kept_bytes"] <= 1024 and len(out["removed"]) >= 1
    assert len(scan_ts(root)) == 10 * out["kept_files"]


@pytest.mark.parametrize("action", ["check", "stats", "compact", "retention"])
def test_missing_store_is_one_line_exit_2(tmp_path: Path, action: str) -> None:
    extra = ["--days", "7"] if action == "retention" else []
    proc = smythtop("store", action, "--store", str(tmp_path / "nowhere"), *extra)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "nowhere") in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("days", ["abc", "0", "-3", ""])
def test_bad_days_is_an_error(root: Path, days: str) -> None:
    write_frames(root, range(3))
    store.compact(root)
    proc = smythtop("store", "retention", "--store", str(root), "--days", days)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "days" in proc.stderr
    assert len(scan_ts(root)) == 3


def test_bad_max_bytes_and_missing_days(root: Path) -> None:
    write_frames(root, range(3))
    for args in (["--days", "1", "--max-bytes", "lots"], []):
        proc = smythtop("store", "retention", "--store", str(root), *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(scan_ts(root)) == 3
