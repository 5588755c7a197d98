"""`smythtop serve` run as a user runs it, for tests/serve and tests/integration: a subprocess on a free loopback
port (`--otlp 127.0.0.1:0`; its first line names the port), with no user config and a bounded stop."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SMYTHTOP = str(Path(sys.executable).with_name("smythtop"))


def user_env(home: Path) -> dict[str, str]:
    """A clean environment: no $SMYTHTOP_* variables, and a config dir with no config file."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / "xdg")}


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int

    @property
    def traces_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def stop(self, sig: signal.Signals) -> tuple[int, str, str]:
        """Send `sig`; (exit status, rest of stdout, stderr) once it exits."""
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, err


@contextlib.contextmanager
def serving(root: Path, home: Path, *extra: str) -> Iterator[Served]:
    proc = subprocess.Popen(
        [SMYTHTOP, "serve", "--store", str(root), "--otlp", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=user_env(home),
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first.startswith("listening on 127.0.0.1:"), first + (proc.stderr.read() if proc.poll() else "")
        yield Served(proc, int(first.rsplit(":", 1)[1]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
