"""smythtop: htop for AI agents.

`from smythtop import Collector` is the agent's entry point (see docs/RECORDER.md), and `smythtop.instrument()`
records every openai and anthropic SDK call with no other code (smythtop/capture). The recorder is
loaded on first use, so `import smythtop` alone (the CLI, the app) does not pay for it, and the
recorder's own import path never loads textual, polars, pyarrow or scipy.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_RECORDER_NAMES = frozenset(
    {
        "Collector",
        "Config",
        "ConfigError",
        "PerformanceEvent",
        "RemoteParent",
        "Tracker",
        "VirtualClock",
        "config_hash",
        "current",
        "propagate",
    }
)

__all__ = ["__version__", "instrument", *sorted(_RECORDER_NAMES)]


def __getattr__(name: str) -> Any:
    if name == "instrument":  # smythtop.instrument(): the SDKs are imported only when it runs
        from smythtop.capture import instrument

        globals()[name] = instrument
        return instrument
    if name in _RECORDER_NAMES:
        from smythtop import recorder

        value = getattr(recorder, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'smythtop' has no attribute {name!r}")
