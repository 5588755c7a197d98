"""The config file: key rebinding by Binding id, refresh rate, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from smythtop.app.config import ConfigError, load_config
from smythtop.app.keys import CATALOGUE, bindings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_default_file_is_fine_but_a_named_one_must_exist(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(tmp_path / "absent.toml"))
    assert load_config().keymap == {}
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_keys_and_refresh_are_read(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[app]\nrefresh_s = 2\n[keys]\n"window.pan_back" = "h"\n"app.quit" = ["q", "x"]\n')
    )
    assert cfg.refresh_s == 2.0
    assert cfg.keymap == {"window.pan_back": "h", "app.quit": "q,x"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[keys]\n"window.pan_bak" = "h"\n', "unknown key binding id 'window.pan_bak'"),
        ("[app]\nrefresh_s = 0\n", "refresh_s"),
        ("[app]\nrefresh = 1\n", "unknown setting app.refresh"),
        ("[alerts]\nerror_rate = 2\n", "bad thresholds"),
        ('[keys]\n"app.quit" = ""\n', "keys.app.quit"),
        ("[keys\n", "cannot read config file"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(write(tmp_path, text))


def test_thresholds_come_from_the_recorder_sections(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[alerts]\nlatency_p95_ms = 1500\n[llm.cost_thresholds]\nwarning = 2\n[other]\n"))
    assert cfg.thresholds.latency_p95_ms == 1500 and cfg.thresholds.cost_warning_per_hour == 2
    assert load_config(write(tmp_path, "[app]\n")).thresholds is None


def test_every_binding_has_a_unique_id_and_each_scope_builds() -> None:
    ids = [a.id for a in CATALOGUE]
    assert len(ids) == len(set(ids))
    for scope in ("app", "main", "component", "trace"):
        assert all(b.id for b in bindings(scope))
