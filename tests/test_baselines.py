"""`smythtop.baselines`: saved whole and private in the store, loaded by the CLI and the app alike, and a
damaged file is a one-line error naming it (the CLI exits 2 on it; the app shows it in its status line)."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest
from smythtop.analysis.baseline import Baseline, establish_baseline

from smythtop import store
from smythtop.app.data import Loader, TickRequest
from smythtop.app.window import TimeWindow
from smythtop.baselines import BASELINE_DIR, BaselineError, load_baselines, save_baseline
from smythtop.cli import CliError, main
from smythtop.errors import SmythtopError

NOW = 1_750_000_000 * 10**9
COMPONENT = "tools/search 100%?"  # a slash, a space, a percent sign: the file name is percent-encoded


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    with store.Writer(root) as writer:
        for i in range(60):
            writer.append({"ts": NOW - (i + 1) * 10**9, "agent_id": "a", "component": COMPONENT,
                           "total_ms": 100.0 + i, "success": True})  # fmt: skip
    return root


def baseline(root: Path) -> Baseline:
    return establish_baseline(store.scan(root).collect(), COMPONENT)


def test_a_saved_baseline_loads_back_and_is_private(root: Path) -> None:
    base = baseline(root)
    path = save_baseline(root, base)
    assert path == root / BASELINE_DIR / "tools%2Fsearch%20100%25%3F.json"
    assert path.read_text(encoding="utf-8") == base.to_json()  # the format `smythtop baseline` always wrote
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    assert load_baselines(root) == {COMPONENT: base}
    newer = dataclasses.replace(base, p50_ms=base.p50_ms * 2)
    assert save_baseline(root, newer) == path
    assert load_baselines(root) == {COMPONENT: newer}


def test_a_store_without_baselines_has_none(tmp_path: Path) -> None:
    assert load_baselines(tmp_path) == {}


def test_a_damaged_baseline_is_a_one_line_error_naming_the_file(root: Path) -> None:
    path = save_baseline(root, baseline(root))
    path.write_text('{"version": 1, "component": ', encoding="utf-8")
    with pytest.raises(BaselineError) as info:
        load_baselines(root)
    message = str(info.value)
    assert message.startswith(f"cannot read baseline {path}: ") and "\n" not in message
    assert isinstance(info.value, SmythtopError) and not isinstance(info.value, CliError)
    assert path.read_text(encoding="utf-8") == '{"version": 1, "component": '  # reported, never rewritten


def test_an_unsavable_baseline_is_an_error_naming_the_file(root: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(BaselineError, match=f"cannot save baseline to {not_a_dir}/{BASELINE_DIR}/"):
        save_baseline(not_a_dir, baseline(root))


def test_the_cli_exits_2_with_one_line_on_a_damaged_baseline(root: Path, capsys: pytest.CaptureFixture) -> None:
    path = save_baseline(root, baseline(root))
    path.write_bytes(b"\xff")
    assert main(["report", "--store", str(root), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"smythtop: error: cannot read baseline {path}: ") and err.count("\n") == 1


def test_the_app_shows_a_damaged_baseline_and_goes_on(root: Path) -> None:
    path = save_baseline(root, baseline(root))
    path.write_text("[]", encoding="utf-8")
    snap = Loader(root, clock=lambda: NOW).tick(TickRequest(window=TimeWindow()))
    assert snap.warning is not None and snap.warning.startswith(f"cannot read baseline {path}: ")
    assert snap.window_frames == 60
