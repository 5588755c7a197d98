"""The app's part of the smythtop TOML config file: key rebinding by Binding id, the refresh rate, and
the thresholds the analysis judges against.

    # ~/.config/smythtop/config.toml  (or $SMYTHTOP_CONFIG, or `smythtop top --config FILE`)
    [app]
    refresh_s = 1.0

    [keys]
    "window.pan_back" = "h"
    "window.pan_forward" = "l"
    "app.quit" = "q,ctrl+q"

    [alerts]                 # the recorder's own sections, read by analysis.thresholds
    latency_p95_ms = 1500

It is the same file the recorder reads ($SMYTHTOP_CONFIG), so sections other than [app] and [keys] are
left to their owners. A missing file is fine; anything in [app] or [keys] we do not understand is an
error naming it, so a typo never silently leaves a key unbound.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smythtop.app.keys import BY_ID

DEFAULT_REFRESH_S = 0.5
REFRESH_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class ConfigError(ValueError):
    """The config file exists but cannot be used."""


@dataclass(frozen=True)
class AppConfig:
    refresh_s: float = DEFAULT_REFRESH_S
    keymap: dict[str, str] = field(default_factory=dict)
    thresholds: Any = None  # analysis.thresholds.Thresholds, or None for its defaults
    path: Path | None = None


def default_config_path() -> Path:
    env = os.environ.get("SMYTHTOP_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "smythtop" / "config.toml"


def load_config(path: str | os.PathLike[str] | None = None) -> AppConfig:
    """Read the config; an explicitly named file must exist, the default one may be absent."""
    explicit = path is not None
    target = Path(path).expanduser() if path is not None else default_config_path()
    if not target.exists():
        if explicit:
            raise ConfigError(f"config file {target} does not exist")
        return AppConfig()
    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read config file {target}: {err}") from None
    return parse_config(data, target)


def parse_config(data: dict[str, Any], path: Path | None = None) -> AppConfig:
    where = f" in {path}" if path else ""
    app = data.get("app", {})
    keys = data.get("keys", {})
    if not isinstance(app, dict) or not isinstance(keys, dict):
        raise ConfigError(f"[app] and [keys] must be tables{where}")
    bad = set(app) - {"refresh_s"}
    if bad:
        raise ConfigError(f"unknown setting app.{sorted(bad)[0]}{where}; known: refresh_s")
    refresh = app.get("refresh_s", DEFAULT_REFRESH_S)
    if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or not 0.1 <= refresh <= 60:
        raise ConfigError(f"app.refresh_s must be a number of seconds between 0.1 and 60{where}")
    keymap: dict[str, str] = {}
    for binding_id, value in keys.items():
        if binding_id not in BY_ID:
            raise ConfigError(f"unknown key binding id {binding_id!r}{where}; see `smythtop top --keys` for the ids")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f'keys.{binding_id} must be a key name like "h" or "ctrl+h"{where}')
        keymap[binding_id] = ",".join(k.strip() for k in value.split(",") if k.strip())
    return AppConfig(refresh_s=float(refresh), keymap=keymap, thresholds=_thresholds(data, where), path=path)


def _thresholds(data: dict[str, Any], where: str) -> Any:
    """Latency SLOs, error budget and cost limits from the recorder's [alerts] and [llm] sections."""
    if "alerts" not in data and "llm" not in data:
        return None
    from smythtop.analysis.thresholds import Thresholds

    try:
        return Thresholds.from_config(data)
    except (ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"bad thresholds{where}: {err}") from None
