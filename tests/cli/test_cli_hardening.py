"""The CLI against hostile input: names that are terminal escapes or Rich markup, CSV formulas, export
targets that are symlinks or FIFOs, planted temp files, unreadable stores and nonsense retention values."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest
from cli_testlib import T0_NS, run, user_error

from smythtop import store
from smythtop.cli import main
from smythtop.exporters import write_csv

LONG = "y" * 256  # the longest name the store accepts (MAX_ID_LEN)
HOSTILE = ["[/]", "[link=http://x]a[/link]", "\x1b[2J", "cr\rhere", "bell\x07", LONG, "rtl\u202eevil", "[$x]"]
RAW_BYTES = ("\x1b", "\x07", "\r", "\u202e")  # none of these may reach the terminal as such


def hostile_frames() -> list[dict]:
    """Every hostile string as a component, agent, model, provider, error type, trace id and tag value."""
    frames = []
    for i in range(60):
        name = HOSTILE[i % len(HOSTILE)]
        tid = HOSTILE[(i + 1) % len(HOSTILE)][:200] + str(i // len(HOSTILE))
        frames.append(
            {"ts": T0_NS + i * 10**9, "agent_id": HOSTILE[(i + 2) % len(HOSTILE)], "component": name,
             "total_ms": 100.0 + i, "success": i % 3 != 0, "error_type": None if i % 3 else HOSTILE[(i + 3) % 8],
             "model": HOSTILE[(i + 4) % 8], "provider": HOSTILE[(i + 5) % 8], "input_tokens": 10,
             "output_tokens": 5, "trace_id": tid, "span_id": f"s{i}", "note": HOSTILE[(i + 6) % 8]}
        )  # fmt: skip
    return frames


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "store"
    with store.Writer(root) as writer:
        for f in hostile_frames():
            writer.append(f)
    return root


def shown(name: str) -> str:
    """How a name must look: Python's own escapes for the controls (an independent oracle)."""
    return name.encode("unicode_escape").decode("ascii")


def assert_safe(out: str) -> None:
    for raw in RAW_BYTES:
        assert raw not in out, f"{raw!r} reached the terminal"


@pytest.mark.integration  # 2 x 10 s of CLI subprocesses: `make test-integration` (CI) runs it
@pytest.mark.parametrize("command", ["report", "optimize"])
def test_hostile_names_in_report_and_optimize(hostile_store: Path, command: str) -> None:
    text = run(command, "--store", str(hostile_store)).stdout
    assert_safe(text)
    if command == "report":
        assert "[/]" in text and "\\x1b[2J" in text and "rtl\\u202eevil" in text
        assert "[link=http://x]a[/link]" in text and "bell\\x07" in text
    report = json.loads(run(command, "--store", str(hostile_store), "--format", "json").stdout)
    if command == "report":
        assert {c["component"] for c in report["components"]} == set(HOSTILE)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_in_analyze(hostile_store: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (the report and optimize tests above cover the real process's stdout): 16 CLI start-ups of
    ~2 s each were a tenth of `make test`."""
    args = ["analyze", "--store", str(hostile_store), "--component", name]
    assert main(args) == 0
    out = capsys.readouterr()
    assert_safe(out.out + out.err)
    assert shown(name)[:40] in out.out.splitlines()[0]
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["component"] == name


def test_unknown_hostile_component_is_one_safe_line(hostile_store: Path) -> None:
    line = user_error(run("analyze", "--store", str(hostile_store), "--component", "no\x1b[2Jpe", check=False))
    assert_safe(line)


# ---- CSV ---------------------------------------------------------------------------------------------


def test_csv_export_neutralises_formulas_by_default(tmp_path: Path) -> None:
    root = tmp_path / "store"
    formulas = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain"]
    with store.Writer(root) as writer:
        for i, name in enumerate(formulas):
            writer.append({"ts": T0_NS + i, "agent_id": "=agent", "component": name, "total_ms": 5.0 + i,
                           "success": False, "error_type": "@err", "cost_usd": 0.5, "k": "=1"})  # fmt: skip
    out = tmp_path / "safe.csv"
    run("export", "--store", str(root), "--format", "csv", "-o", str(out))
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert [r["component"] for r in rows] == ["'" + f if f != "plain" else f for f in formulas]
    assert {r["agent_id"] for r in rows} == {"'=agent"} and {r["error_type"] for r in rows} == {"'@err"}
    assert float(rows[0]["total_ms"]) == 5.0 and rows[0]["cost_usd"] == "0.5"
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+-@\t\r", row
    raw = tmp_path / "raw.csv"
    run("export", "--store", str(root), "--format", "csv", "-o", str(raw), "--csv-raw")
    assert [r["component"] for r in csv.DictReader(raw.open(newline="", encoding="utf-8"))] == formulas


def test_csv_keeps_negative_numbers(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with store.Writer(root) as writer:
        writer.append({"ts": T0_NS, "agent_id": "a", "component": "-c", "total_ms": 1.0, "success": True})
    df = store.scan(root).collect().with_columns(total_ms=pl.lit(-1.5), input_tokens=pl.lit(-3, pl.Int64))
    buf = io.StringIO()
    write_csv(df, buf)
    (row,) = csv.DictReader(io.StringIO(buf.getvalue()))
    assert (row["total_ms"], row["input_tokens"], row["component"]) == ("-1.5", "-3", "'-c")


# ---- export targets ------------------------------------------------------------------------------------


def test_force_refuses_a_symlink_or_fifo_target(hostile_store: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for target in (link, dangling, fifo):
        for force in ([], ["--force"]):
            args = ["export", "--store", str(hostile_store), "--format", "csv", "-o", str(target), *force]
            line = user_error(run(*args, check=False))
            assert str(target) in line
    assert victim.read_text() == "precious" and link.is_symlink() and dangling.is_symlink()
    assert fifo.is_fifo() and not (tmp_path / "nowhere").exists()


def test_planted_temp_symlinks_redirect_nothing(hostile_store: Path, tmp_path: Path) -> None:
    """The old exporter wrote `.tmp-<name>.<pid>` with open(): plant symlinks at that name and others."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "frames.csv"
    names = [f".tmp-{target.name}.{os.getpid()}", f".tmp-{target.name}", ".tmp-", "frames.csv.tmp"]
    names += [f".tmp-{n}" for n in range(50)]
    for name in names:
        (out_dir / name).symlink_to(victim)
    assert main(["export", "--store", str(hostile_store), "--format", "csv", "-o", str(target)]) == 0
    assert victim.read_text() == "precious"
    assert target.is_file() and not target.is_symlink() and target.stat().st_mode & 0o777 == 0o600
    assert all((out_dir / n).is_symlink() for n in names)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json", "prometheus"])
def test_cli_exports_are_private(hostile_store: Path, tmp_path: Path, fmt: str) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / f"frames.{fmt}"
        run("export", "--store", str(hostile_store), "--format", fmt, "-o", str(out))
        assert out.stat().st_mode & 0o777 == 0o600
        run("export", "--store", str(hostile_store), "--format", fmt, "-o", str(out), "--force")
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


# ---- one line, not a traceback ------------------------------------------------------------------------


@pytest.mark.parametrize("days", ["nan", "inf", "-inf", "1e308", "-1"])
def test_retention_days_nonsense_is_one_line(hostile_store: Path, days: str) -> None:
    line = user_error(run("store", "retention", "--store", str(hostile_store), f"--days={days}", check=False))
    assert "--days" in line


NOBODY = 65534


def _as_nobody() -> list[str]:
    """The console script run as user nobody; skips when that cannot work here."""
    if os.geteuid() != 0:
        return [str(Path(sys.executable).with_name("smythtop"))]  # not root: a 0000 directory stops us already
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is missing")
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run([*cmd, sys.executable, "-c", "import smythtop.cli"], cwd="/", capture_output=True,
                           timeout=60, check=False)  # fmt: skip
    if probe.returncode != 0:  # e.g. a checkout inside a 0700 directory: nobody cannot even import smythtop
        pytest.skip(f"user nobody cannot import smythtop from this checkout: {probe.stderr.decode()[-200:]}")
    return [*cmd, str(Path(sys.executable).with_name("smythtop"))]


@pytest.mark.parametrize(
    "args",
    [
        ["report"],
        ["store", "check"],
        ["store", "stats"],
        ["export", "--format", "csv", "-o", "-"],
        ["top"],  # the app's start: refused before it needs a terminal
    ],
)
@pytest.mark.parametrize("private", ["root", "wal"])
def test_unreadable_store_is_one_line(args: list[str], private: str) -> None:
    cmd = _as_nobody()
    parent = Path(tempfile.mkdtemp(prefix="smythtop-unreadable-"))  # outside pytest's 0700 tmp tree
    try:
        parent.chmod(0o755)
        root = parent / "store"
        with store.Writer(root) as writer:
            writer.append({"ts": T0_NS, "agent_id": "a", "component": "c", "total_ms": 1.0, "success": True})
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        (root if private == "root" else root / "wal").chmod(0)
        proc = subprocess.run([*cmd, *args[:1], *args[1:], "--store", str(root)], capture_output=True, text=True,
                              timeout=120, check=False, cwd="/")  # fmt: skip
        line = user_error(proc)
        assert "ermission denied" in line, line
    finally:
        shutil.rmtree(parent)
