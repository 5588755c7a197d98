"""The app's part of the one config file (`smythtop.config`, docs/CONFIG.md): the refresh rate, key rebinding by
Binding id, and the thresholds the analysis judges against.

    [app]
    refresh_s = 1.0
    maintenance = "compact"  # or "full" (retention too), or "off"

    [keys]
    "window.pan_back" = "h"
    "app.quit" = ["q", "ctrl+q"]

    [alerts]                 # read by the recorder and the analysis alike
    latency_p95_ms = 1500

The file is found by the same rule as everywhere (`smythtop.config.config_path`) and validated as a whole by its
schema, binding ids included (against the key catalogue, `smythtop.keymap`), so a typo never silently leaves a
key unbound and every command refuses the same file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from smythtop.analysis.thresholds import Thresholds
from smythtop.config import AppSection, Config, config_path, key_names
from smythtop.thresholds import thresholds_from_config

DEFAULT_REFRESH_S = AppSection().refresh_s
MaintenanceMode = Literal["compact", "full", "off"]
REFRESH_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class AppConfig:
    refresh_s: float = DEFAULT_REFRESH_S
    keymap: dict[str, str] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)
    maintenance: MaintenanceMode = AppSection().maintenance  # [app] maintenance: what the app does to the store
    maintenance_every_s: float = AppSection().maintenance_every_s
    retention_days: float | None = None  # with maintenance = "full": [advanced] retention_days
    rollup_retention_days: float | None = None


def load_config(path: str | os.PathLike[str] | None = None) -> AppConfig:
    """Read the config by the discovery rule; an explicitly named file must exist, the default one may be absent."""
    found = config_path(path)
    return app_config(Config.from_toml(found) if found is not None else Config())


def app_config(config: Config) -> AppConfig:
    """The app's settings from a validated Config."""
    keymap = {binding_id: ",".join(key_names(value)) for binding_id, value in config.keys.items()}
    full = config.app.maintenance == "full"
    return AppConfig(
        refresh_s=config.app.refresh_s,
        keymap=keymap,
        thresholds=thresholds_from_config(config),
        maintenance=config.app.maintenance,
        maintenance_every_s=config.app.maintenance_every_s,
        retention_days=config.advanced.retention_days if full else None,
        rollup_retention_days=config.advanced.rollup_retention_days if full else None,
    )
