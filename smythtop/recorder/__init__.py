"""The agent side of smythtop: record component executions, LLM usage and cost into the store.

Importing this package loads only the standard library, msgspec and the store's writer: no
textual, polars, pyarrow or scipy, and genai-prices only later, in the flush thread.
"""

from smythtop.config import Config
from smythtop.errors import ConfigError
from smythtop.recorder.clock import VirtualClock
from smythtop.recorder.collector import Collector
from smythtop.recorder.events import PerformanceEvent
from smythtop.recorder.fingerprint import config_hash
from smythtop.recorder.trace import current, propagate
from smythtop.recorder.tracker import RemoteParent, Tracker

__all__ = [
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
]
