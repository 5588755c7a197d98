"""The recorder's configuration: five sections, from a dict, a TOML file, and the environment.

The sections and their keys follow the seed system's `AIPerformanceCollector` config, so an existing
config file keeps its meaning. Errors are raised here, at set-up time, as one `ConfigError` naming
the key; nothing in this module runs on the recording path.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    enabled: bool = True
    sampling_rate: float = 1.0
    buffer_size: int = 10_000
    flush_interval: float = 1.0  # seconds: smythtop shows data within about this long
    # Per component, the kept-by-chance frames are capped near this many per second (0 = no cap);
    # errors and slow executions are kept on top of it. See docs/RECORDER.md, "Sampling".
    max_frames_per_second: float = 1000.0
    track_memory: bool = False  # RSS delta/peak from /proc/self/statm, about 2 us per execution
    propagate_threads: bool = True  # carry the trace into Thread and ThreadPoolExecutor (threads.py)
    agent_id: str | None = None  # default: "<program>-<pid>"
    agent_name: str | None = None  # default: the program name
    store: str | None = None  # default: $SMYTHTOP_STORE, $SRE_PERFORMANCE_DIR, ~/.local/share/smythtop/store


@dataclass(frozen=True, slots=True)
class ComponentsConfig:
    whitelist: tuple[str, ...] = ()  # fnmatch patterns; empty = every component
    blacklist: tuple[str, ...] = ()
    custom_sampling_rates: Mapping[str, float] = field(default_factory=dict)  # pattern -> rate


@dataclass(frozen=True, slots=True)
class CostThresholds:
    warning: float | None = 0.10  # USD per call
    critical: float | None = 1.00


@dataclass(frozen=True, slots=True)
class LlmConfig:
    track_tokens: bool = True
    track_costs: bool = True
    track_quality: bool = True
    cost_thresholds: CostThresholds = field(default_factory=CostThresholds)


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    latency_p95_ms: float | None = 5_000.0  # one execution slower than this -> a "slow" event
    error_rate: float | None = 0.05  # per component and flushed batch, weighted by 1/sample_rate
    memory_pressure: float | None = 0.90  # process RSS / memory limit
    cost_per_operation: float | None = 0.25  # mean USD per priced execution, per component and batch


@dataclass(frozen=True, slots=True)
class AdvancedConfig:
    retention_days: float = 30.0  # applied by store maintenance (`smythtop store retention`, the demo)
    compression: bool = True  # seed compatibility: the store always writes zstd Parquet


@dataclass(frozen=True, slots=True)
class Config:
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    components: ComponentsConfig = field(default_factory=ComponentsConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    advanced: AdvancedConfig = field(default_factory=AdvancedConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Config:
        """Build from `{"global": {...}, "components": {...}, ...}`; unknown keys are errors."""
        data = dict(data or {})
        sections = {"global": GlobalConfig, "components": ComponentsConfig, "llm": LlmConfig}
        sections |= {"alerts": AlertsConfig, "advanced": AdvancedConfig}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(f"unknown config section `{unknown[0]}` (known: {', '.join(sections)})")
        built = {
            ("global_" if name == "global" else name): _section(name, kind, data.get(name))
            for name, kind in sections.items()
        }
        return cls(**built)._checked()

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Config:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, source: Config | Mapping[str, Any] | str | os.PathLike[str] | None) -> Config:
        """A Config, a dict, a TOML path, or None (then $SMYTHTOP_CONFIG if set, else defaults)."""
        if isinstance(source, Config):
            return source
        if isinstance(source, Mapping):
            return cls.from_dict(source)
        if source is not None:
            return cls.from_toml(source)
        env = os.environ.get("SMYTHTOP_CONFIG")
        return cls.from_toml(env) if env else cls()

    def _checked(self) -> Config:
        g = self.global_
        _check_rate("global.sampling_rate", g.sampling_rate)
        if g.buffer_size < 1:
            raise ConfigError("global.buffer_size must be at least 1")
        if not g.flush_interval > 0:
            raise ConfigError("global.flush_interval must be > 0 seconds")
        if g.max_frames_per_second < 0:
            raise ConfigError("global.max_frames_per_second must be >= 0 (0 turns the cap off)")
        for pattern, rate in self.components.custom_sampling_rates.items():
            _check_rate(f"components.custom_sampling_rates.{pattern}", rate)
        for name in ("latency_p95_ms", "error_rate", "memory_pressure", "cost_per_operation"):
            value = getattr(self.alerts, name)
            if value is not None and value < 0:
                raise ConfigError(f"alerts.{name} must be >= 0")
        if self.advanced.retention_days <= 0:
            raise ConfigError("advanced.retention_days must be > 0")
        return self

    @property
    def disabled_by_env(self) -> bool:
        """SRE_PERFORMANCE_DISABLED=true (the seed's name) or SMYTHTOP_DISABLED=1 turns recording off."""
        return any(os.environ.get(v, "").strip().lower() in TRUE_WORDS for v in ENV_DISABLE)

    @property
    def enabled(self) -> bool:
        return self.global_.enabled and not self.disabled_by_env

    def store_root(self, override: str | os.PathLike[str] | None = None) -> Path:
        """An explicit root wins, then global.store, then the environment (store.default_root)."""
        from smythtop import store

        chosen = override if override is not None else self.global_.store
        return Path(chosen).expanduser() if chosen is not None else store.default_root()


ENV_DISABLE = ("SRE_PERFORMANCE_DISABLED", "SMYTHTOP_DISABLED")


def _check_rate(key: str, rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"{key} must be between 0 and 1, got {rate!r}")


def _section(name: str, kind: type, raw: Any) -> Any:
    if raw is None:
        return kind()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config section `{name}` must be a table, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        f = fields.get(key)
        if f is None:
            raise ConfigError(f"unknown config key `{name}.{key}` (known: {', '.join(fields)})")
        values[key] = _coerce(f"{name}.{key}", f.type, value)
    return kind(**values)


def _coerce(key: str, typ: str, value: Any) -> Any:
    """Check one value against its annotation (a string, under `from __future__ import annotations`)."""
    optional = typ.endswith("| None")
    base = typ.removesuffix(" | None")
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} must not be null")
    if base == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if base in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if base == "int" and value != int(value):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        return int(value) if base == "int" else float(value)
    if base == "str":
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string, got {value!r}")
    if base == "tuple[str, ...]":
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        return tuple(value)
    if base == "Mapping[str, float]":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table of component -> rate")
        return {str(k): _coerce(f"{key}.{k}", "float", v) for k, v in value.items()}
    if base == "CostThresholds":
        return _section(key, CostThresholds, value)
    raise ConfigError(f"{key}: unsupported setting type {typ}")  # a new field without a coercion rule
