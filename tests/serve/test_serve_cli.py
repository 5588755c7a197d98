"""`smythtop serve` as a user runs it: the first line names the bound port, spans sent are in the store, and
SIGTERM or Ctrl-C stops it cleanly with everything received flushed and compacted. Bad arguments are one line."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from pathlib import Path

from serve_process import SMYTHTOP, serving, user_env
from serve_testlib import PROTOBUF, request, span_id, stored

from smythtop import store


def test_serve_receives_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """(Ctrl-C, SIGINT, is the node test's way to stop it: tests/integration/test_node_otlp.py.)"""
    root = tmp_path / "store"
    with serving(root, tmp_path) as served:
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        now = time.time_ns()  # within retention: the last maintenance pass must keep them
        spans = [{"name": f"step {i}", "span": span_id(i + 1), "start": now, "end": now + 1000} for i in range(3)]
        conn.request("POST", "/v1/traces", request(*spans).SerializeToString(), {"Content-Type": PROTOBUF})
        assert conn.getresponse().status == 200
        conn.close()
        status, out, err = served.stop(signal.SIGTERM)
    assert status == 0, err
    assert "stopped: 1 requests, 3 spans stored, 0 rejected, 0 requests refused; 3 frames compacted" in out
    report = store.check(root)
    assert (report.wal_frames, report.parquet_frames, report.writers_alive) == (0, 3, 0)
    assert sorted(f["component"] for f in stored(root)) == ["step 0", "step 1", "step 2"]


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [SMYTHTOP, "serve", "--store", str(tmp_path / "store"), *args]
        return subprocess.run(argv, capture_output=True, text=True, env=user_env(tmp_path), timeout=60)

    proc = run("--otlp", "4318")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "HOST:PORT" in proc.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run("--otlp", f"127.0.0.1:{taken.getsockname()[1]}")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot listen on" in proc.stderr
    assert not (tmp_path / "store" / "wal").exists() or not any((tmp_path / "store" / "wal").iterdir())
