"""The recorder's view of the one config file (`smythtop.config`): the schema is re-exported, and the two
settings the environment can override are resolved here, where the recorder's environment variables live.
"""

from __future__ import annotations

import os
from pathlib import Path

from smythtop.config import Config
from smythtop.errors import ConfigError

__all__ = ["ENV_DISABLE", "Config", "ConfigError", "enabled", "store_root"]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
ENV_DISABLE = ("SRE_PERFORMANCE_DISABLED", "SMYTHTOP_DISABLED")


def enabled(config: Config) -> bool:
    """`global.enabled`, unless SRE_PERFORMANCE_DISABLED=true (the seed's name) or SMYTHTOP_DISABLED=1."""
    disabled_by_env = any(os.environ.get(v, "").strip().lower() in TRUE_WORDS for v in ENV_DISABLE)
    return config.global_.enabled and not disabled_by_env


def store_root(config: Config, override: str | os.PathLike[str] | None = None) -> Path:
    """An explicit root wins, then global.store, then the environment (store.default_root)."""
    from smythtop import store

    chosen = override if override is not None else config.global_.store
    return Path(chosen).expanduser() if chosen is not None else store.default_root()
