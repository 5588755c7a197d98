"""`smythtop serve --metrics` user errors: a bad address or a taken port is one line on stderr and exit 2."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from serve_process import SMYTHTOP, user_env


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [SMYTHTOP, "serve", "--store", str(tmp_path / "store"), "--otlp", "127.0.0.1:0", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=user_env(tmp_path), timeout=60)


def test_a_bad_metrics_address_is_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path, "--metrics", "9464")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--metrics must be HOST:PORT" in proc.stderr and "127.0.0.1:9464" in proc.stderr


def test_a_taken_metrics_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run(tmp_path, "--metrics", f"127.0.0.1:{taken.getsockname()[1]}")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot serve metrics on 127.0.0.1:" in proc.stderr
    assert proc.stdout == ""  # refused before `listening on`: nothing half started
