"""The one config file: discovery order, unknown keys and wrong types named with the file, aliases, one set of
defaults, the documented examples loading in every reader, and a schema module light enough for the recorder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from smythtop.analysis.thresholds import Thresholds

from smythtop.app.config import load_config
from smythtop.config import ALIASES, Config, config_path, user_config_path
from smythtop.errors import ConfigError
from smythtop.recorder import Collector
from smythtop.thresholds import thresholds_from_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMYTHTOP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error(source: Any) -> str:
    with pytest.raises(ConfigError) as err:
        Config.load(source)
    return str(err.value)


# ---- discovery ---------------------------------------------------------------------------------------------


def test_discovery_order_explicit_then_environment_then_user_file(tmp_path: Path, monkeypatch) -> None:
    assert config_path() is None and Config.load() == Config()  # no file anywhere: the defaults
    user = write(tmp_path / "xdg" / "smythtop" / "config.toml", "[alerts]\nlatency_p95_ms = 1\n")
    env = write(tmp_path / "env.toml", "[alerts]\nlatency_p95_ms = 2\n")
    named = write(tmp_path / "named.toml", "[alerts]\nlatency_p95_ms = 3\n")
    assert config_path() == user and Config.load().alerts.latency_p95_ms == 1
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(env))
    assert config_path() == env and Config.load().alerts.latency_p95_ms == 2
    assert config_path(named) == named and Config.load(str(named)).alerts.latency_p95_ms == 3


def test_user_file_defaults_to_dot_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_config_path() == tmp_path / ".config" / "smythtop" / "config.toml"


def test_a_named_file_must_exist_the_default_one_need_not(tmp_path: Path, monkeypatch) -> None:
    assert error(tmp_path / "absent.toml") == f"config file {tmp_path / 'absent.toml'} does not exist"
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(tmp_path / "typo.toml"))
    assert error(None) == f"$SMYTHTOP_CONFIG {tmp_path / 'typo.toml'} does not exist"


def test_no_home_directory_means_no_user_file_not_an_error(tmp_path: Path, monkeypatch) -> None:
    """A container's uid with no passwd entry and no $HOME: Path.home() raises, and the recorder must not."""
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.delenv("HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert config_path() is None
    with Collector(store=tmp_path / "store") as c:
        assert c.enabled
    assert load_config().thresholds == Thresholds()


def test_collector_and_app_follow_the_same_rule(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "env.toml", "[global]\nenabled = false\n[app]\nrefresh_s = 2\n")
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(path))
    c = Collector(store=tmp_path / "store")
    try:
        assert c.config.global_.enabled is False and c.config.app.refresh_s == 2
    finally:
        c.close()
    assert load_config().refresh_s == 2


# ---- bad input: one line naming the key and the file --------------------------------------------------------


def test_unknown_keys_and_sections_name_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[alerts]\nlatncy_p95_ms = 100\n")
    assert error(path) == (
        f"unknown config key alerts.latncy_p95_ms in {path} (known: latency_p95_ms, latency_p95_ms_by_component,"
        " llm_latency_p95_ms, request_latency_p95_ms, error_rate, memory_pressure, cost_per_call_usd)"
    )
    path = write(tmp_path / "config.toml", "[alert]\n")
    assert error(path).startswith(f"unknown config key alert in {path} (known: global, components, llm, alerts,")
    assert error({"llm": {"cost_thresholds": {"warn": 1}}}).startswith(
        "unknown config key llm.cost_thresholds.warn in the config given (known: call_warning_usd,"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[global]\nsampling_rate = 1.5\n", "config key global.sampling_rate in {f} must be a number <= 1.0, got 1.5"),
        ('[global]\nbuffer_size = "big"\n', "config key global.buffer_size in {f} must be a whole number, got 'big'"),
        ('[global]\nenabled = "yes"\n', "config key global.enabled in {f} must be true or false, got 'yes'"),
        ('[components]\nwhitelist = "LLM"\n', "config key components.whitelist in {f} must be a list, got 'LLM'"),
        ('[components]\nwhitelist = ["a", 1]\n', "config key components.whitelist[1] in {f} must be a string, got 1"),
        ("[components.custom_sampling_rates]\nA = 0.5\nX = 2\n",
         "config key components.custom_sampling_rates.X in {f} must be a number <= 1.0, got 2"),
        ("[alerts.latency_p95_ms_by_component]\nanswer = -1\n",
         "config key alerts.latency_p95_ms_by_component.answer in {f} must be a number > 0.0, got -1"),
        ('[global]\nflush_interval = "1s"\n', "config key global.flush_interval in {f} must be a number, got '1s'"),
        ("alerts = 3\n", "config key alerts in {f} must be a table, got 3"),
        ("[keys]\n\"app.quit\" = 3\n", "config key keys.app.quit in {f} must be a string or a list, got 3"),
        ("[llm.cost_thresholds]\nburn_warning_usd_per_hour = 5\nburn_critical_usd_per_hour = 1\n",
         "config table llm.cost_thresholds in {f}: burn_critical_usd_per_hour must be >= burn_warning_usd_per_hour"),
        ("[global\n", "config file {f} is not valid TOML"),
    ],
)  # fmt: skip
def test_wrong_types_and_ranges_name_the_key_the_file_and_the_value(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "config.toml", text)
    assert error(path).startswith(message.format(f=path))


# ---- aliases -----------------------------------------------------------------------------------------------


def test_old_names_are_aliases_and_the_ambiguous_pair_means_per_call() -> None:
    data = {
        "global": {"flush_interval": 2},
        "alerts": {"cost_per_operation": 0.5},
        "llm": {"cost_thresholds": {"warning": 0.2, "critical": 3}},
    }
    cfg = Config.from_dict(data)
    assert cfg.global_.flush_interval_s == 2 and cfg.alerts.cost_per_call_usd == 0.5
    costs = cfg.llm.cost_thresholds
    assert (costs.call_warning_usd, costs.call_critical_usd) == (0.2, 3)
    assert (costs.burn_warning_usd_per_hour, costs.burn_critical_usd_per_hour) == (1.0, 5.0)  # untouched
    assert data["global"] == {"flush_interval": 2}  # the caller's dict is not changed
    new = {"global": {"flush_interval_s": 2}, "alerts": {"cost_per_call_usd": 0.5}}
    new["llm"] = {"cost_thresholds": {"call_warning_usd": 0.2, "call_critical_usd": 3}}
    assert Config.from_dict(new) == cfg


@pytest.mark.parametrize(("section", "old"), [(s, o) for (s, o) in ALIASES])
def test_two_spellings_of_one_key_is_an_error(tmp_path: Path, section: tuple[str, ...], old: str) -> None:
    new = ALIASES[(section, old)]
    path = write(tmp_path / "config.toml", f"[{'.'.join(section)}]\n{old} = 1\n{new} = 1\n")
    dotted = ".".join(section)
    assert error(path) == (
        f"config keys {dotted}.{old} and {dotted}.{new} in {path} are two spellings of one key; keep {new}"
    )


# ---- one set of defaults, and the docs ----------------------------------------------------------------------


def test_the_config_defaults_are_the_analysis_defaults() -> None:
    assert thresholds_from_config(Config()) == Thresholds()
    alerts, costs = Config().alerts, Config().llm.cost_thresholds
    assert (alerts.latency_p95_ms, alerts.memory_pressure, alerts.cost_per_call_usd) == (2000, 0.85, 0.05)
    assert (costs.call_warning_usd, costs.call_critical_usd) == (0.10, 1.00)


def test_thresholds_follow_the_config() -> None:
    cfg = Config.from_dict(
        {
            "alerts": {"latency_p95_ms": 300, "latency_p95_ms_by_component": {"answer": 900}, "error_rate": 0.1},
            "llm": {"cost_thresholds": {"burn_warning_usd_per_hour": 2, "burn_critical_usd_per_hour": 9}},
        }
    )
    th = thresholds_from_config(cfg)
    assert th.latency_for("answer") == 900 and th.latency_for("other") == 300 and th.error_rate == 0.1
    assert (th.cost_warning_per_hour, th.cost_critical_per_hour) == (2, 9)


def _toml_blocks(doc: str, heading: str) -> list[str]:
    text = (REPO / "docs" / doc).read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```toml\n(.*?)```", section, re.DOTALL)


@pytest.mark.parametrize(("doc", "heading"), [("APP.md", "## Config file"), ("CONFIG.md", "## Example")])
def test_documented_examples_load_in_the_collector_and_the_app(tmp_path: Path, doc: str, heading: str) -> None:
    (block,) = _toml_blocks(doc, heading)
    path = write(tmp_path / "config.toml", block)
    c = Collector(path, store=tmp_path / "store")
    c.close()
    assert load_config(path).thresholds == thresholds_from_config(c.config)


def _keys(kind: Any, prefix: str = "") -> list[str]:
    out = []
    for f in msgspec.structs.fields(kind):
        name = prefix + f.encode_name
        nested = isinstance(f.type, type) and issubclass(f.type, msgspec.Struct)
        out += _keys(f.type, name + ".") if nested else [name]
    return out


def test_docs_config_lists_every_key_and_alias() -> None:
    text = (REPO / "docs" / "CONFIG.md").read_text()
    missing = [k for k in _keys(Config) if f"`{k}`" not in text]
    missing += [".".join([*section, old]) for (section, old) in ALIASES if f"`{'.'.join([*section, old])}`" not in text]
    assert missing == []


def test_the_schema_module_is_light() -> None:
    """The recorder imports it: no textual, polars, pyarrow, scipy, and nothing of the analysis, app or CLI."""
    code = "import sys, smythtop.config; print(','.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip().split(",")
    heavy = {"textual", "polars", "pyarrow", "scipy", "smythtop.analysis", "smythtop.app", "smythtop.cli"}
    assert [m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy)] == []
