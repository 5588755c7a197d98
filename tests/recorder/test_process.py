"""Process-level behaviour: fork (the child starts its own writer and thread), the light import path,
and configuration from a dict, a TOML file and the environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from recorder_testlib import PY, REPO, read_frames

from smythtop.recorder import Collector, Config, ConfigError


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_records_through_its_own_writer(make, root: Path) -> None:
    c = make({"global": {"flush_interval": 3600}})
    with c.track("BeforeFork", agent_id="parent"):
        pass  # buffered, not flushed: the parent's to write, never the child's too
    pid = os.fork()
    if pid == 0:  # the child: record, flush, and leave without running pytest's teardown
        code = 1
        try:
            with c.track("InChild", agent_id="child") as t:
                t.llm("gpt-4o-mini", "openai", input_tokens=100, output_tokens=5)
            ok = c.flush(timeout=30)
            code = 0 if ok and c.stats()["written"] == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with c.track("AfterFork", agent_id="parent"):
        pass
    assert c.flush()
    rows = read_frames(root)
    assert sorted(r["component"] for r in rows) == ["AfterFork", "BeforeFork", "InChild"]
    child = next(r for r in rows if r["component"] == "InChild")
    assert child["cost_usd"] > 0  # the child's own flush thread priced it
    writers = [p for p in (root / "wal").iterdir() if p.is_dir()]
    assert len(writers) == 2  # one WAL directory per process
    parent_ids = {r["span_id"] for r in rows if r["agent_id"] == "parent"}
    assert child["span_id"] not in parent_ids


LIGHT = r"""
import sys
from smythtop import Collector
heavy = ("textual", "polars", "pyarrow", "scipy", "genai_prices", "numpy", "pydantic")
loaded = [m for m in heavy if m in sys.modules]
c = Collector(store=sys.argv[1])
with c.track("Step", agent_id="a") as t:
    t.llm("gpt-4.1", "openai", input_tokens=10, output_tokens=1)
    t.llm_response({"model": "gpt-4.1", "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
loaded_after_track = [m for m in heavy if m in sys.modules]
print(",".join(loaded) + "|" + ",".join(loaded_after_track))
c.close()
"""


def test_import_and_hot_path_stay_light(root: Path) -> None:
    """The agent's thread never loads textual, polars, pyarrow or scipy, nor genai-prices (which
    the flush thread loads when it first prices a frame)."""
    proc = subprocess.run([PY, "-c", LIGHT, str(root)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    at_import, after_track = proc.stdout.strip().split("|")
    assert at_import == ""
    assert after_track in ("", "genai_prices")  # genai_prices only if the flush thread got there first
    assert not {"textual", "polars", "pyarrow", "scipy"} & set(after_track.split(","))


def test_import_smythtop_alone_does_not_load_the_recorder() -> None:
    code = "import sys, smythtop; print('smythtop.recorder' in sys.modules)"
    proc = subprocess.run([PY, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_config_from_dict_and_toml(tmp_path: Path) -> None:
    data = {
        "global": {"sampling_rate": 0.5, "buffer_size": 500, "flush_interval": 2},
        "components": {"whitelist": ["LLM*"], "blacklist": ["Debug"], "custom_sampling_rates": {"LLMPlanner": 1}},
        "llm": {"track_quality": False, "cost_thresholds": {"warning": 0.05, "critical": 2}},
        "alerts": {"latency_p95_ms": 800, "error_rate": 0.1, "memory_pressure": 0.8, "cost_per_operation": 0.5},
        "advanced": {"retention_days": 14, "compression": True},
    }
    cfg = Config.from_dict(data)
    assert cfg.global_.sampling_rate == 0.5 and cfg.global_.flush_interval_s == 2.0
    assert cfg.components.whitelist == ("LLM*",) and cfg.components.custom_sampling_rates == {"LLMPlanner": 1.0}
    assert cfg.llm.cost_thresholds.call_critical_usd == 2.0 and cfg.llm.track_quality is False
    assert cfg.alerts.latency_p95_ms == 800.0 and cfg.advanced.retention_days == 14.0
    toml = tmp_path / "smythtop.toml"
    toml.write_text(
        "[global]\nsampling_rate = 0.5\nbuffer_size = 500\nflush_interval = 2\n"
        '[components]\nwhitelist = ["LLM*"]\nblacklist = ["Debug"]\n'
        "[components.custom_sampling_rates]\nLLMPlanner = 1\n"
        "[llm]\ntrack_quality = false\n[llm.cost_thresholds]\nwarning = 0.05\ncritical = 2\n"
        "[alerts]\nlatency_p95_ms = 800\nerror_rate = 0.1\nmemory_pressure = 0.8\ncost_per_operation = 0.5\n"
        "[advanced]\nretention_days = 14\ncompression = true\n"
    )
    assert Config.from_toml(toml) == cfg
    assert Config.load(str(toml)) == cfg


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"globl": {}}, "globl"),
        ({"global": {"sample_rate": 0.5}}, "global.sample_rate"),
        ({"global": {"sampling_rate": 1.5}}, "global.sampling_rate"),
        ({"global": {"buffer_size": "big"}}, "global.buffer_size"),
        ({"global": {"enabled": "yes"}}, "global.enabled"),
        ({"components": {"whitelist": "LLM"}}, "components.whitelist"),
        ({"components": {"custom_sampling_rates": {"X": 2}}}, "components.custom_sampling_rates.X"),
        ({"llm": {"cost_thresholds": {"warn": 1}}}, "warn"),
    ],
)
def test_config_errors_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Config.from_dict(data)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Config.from_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[global\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.from_toml(bad)


def test_environment_picks_the_store_and_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMYTHTOP_STORE", raising=False)
    monkeypatch.setenv("SRE_PERFORMANCE_DIR", str(tmp_path / "seed-store"))
    assert Collector(Config(), store=None).store_root == tmp_path / "seed-store"
    monkeypatch.setenv("SMYTHTOP_STORE", str(tmp_path / "ours"))
    c = Collector({"global": {"enabled": False}})
    assert c.store_root == tmp_path / "ours"
    assert Collector({"global": {"enabled": False}}, store=tmp_path / "explicit").store_root == tmp_path / "explicit"
    toml = tmp_path / "env.toml"
    toml.write_text("[global]\nsampling_rate = 0.25\nenabled = false\n")
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(toml))
    assert Collector().config.global_.sampling_rate == 0.25


def test_singleton(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import smythtop.recorder.collector as mod

    monkeypatch.setattr(mod, "_instance", None)
    first = Collector.get_instance({"global": {"enabled": False}}, store=tmp_path)
    assert Collector.getInstance() is first and Collector.get_instance({"global": {}}) is first
    first.close()
    assert Collector.get_instance({"global": {"enabled": False}}, store=tmp_path) is not first
