"""The app's part of the config file: key rebinding by Binding id, refresh rate, thresholds, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from smythtop.analysis.thresholds import Thresholds

from smythtop.app.config import AppConfig, load_config
from smythtop.app.keys import CATALOGUE, bindings
from smythtop.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_default_file_is_fine_but_a_named_one_must_exist(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SMYTHTOP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert load_config() == AppConfig()
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match=r"\$SMYTHTOP_CONFIG .*absent\.toml does not exist"):
        load_config()


def test_keys_and_refresh_are_read(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[app]\nrefresh_s = 2\n[keys]\n"window.pan_back" = "h"\n"app.quit" = ["q", "x"]\n')
    )
    assert cfg.refresh_s == 2.0
    assert cfg.keymap == {"window.pan_back": "h", "app.quit": "q,x"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[keys]\n"window.pan_bak" = "h"\n', "unknown config key keys.window.pan_bak in {path}: not a key binding id"),
        ("[app]\nrefresh_s = 0\n", "config key app.refresh_s in {path} must be a number >= 0.1, got 0"),
        (
            "[app]\nrefresh = 1\n",
            "unknown config key app.refresh in {path} (known: refresh_s, maintenance, maintenance_every_s)",
        ),
        ("[alerts]\nerror_rate = 2\n", "config key alerts.error_rate in {path} must be a number <= 1.0, got 2"),
        ('[keys]\n"app.quit" = ""\n', "config key keys.app.quit in {path} must be a key name"),
        ("[keys\n", "config file {path} is not valid TOML"),
    ],
)
def test_bad_config_names_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(message.format(path=path))


def test_thresholds_come_from_alerts_and_the_burn_rates(tmp_path: Path) -> None:
    text = "[alerts]\nlatency_p95_ms = 1500\n[llm.cost_thresholds]\nburn_warning_usd_per_hour = 2\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.thresholds.latency_p95_ms == 1500 and cfg.thresholds.cost_warning_per_hour == 2
    assert load_config(write(tmp_path, "[app]\n")).thresholds == Thresholds()


def test_every_binding_has_a_unique_id_and_each_scope_builds() -> None:
    ids = [a.id for a in CATALOGUE]
    assert len(ids) == len(set(ids))
    for scope in ("app", "main", "component", "trace"):
        assert all(b.id for b in bindings(scope))
