"""The polars engine smythtop's own processes (the app, the CLI) run their queries on.

Polars 2 runs a query on its streaming engine unless told otherwise. The analysis runs hundreds of small
plans over small frames (a live tick re-groups aggregates of a few thousand rows: rollups, percentiles,
span trees), where the streaming engine's fixed cost per plan dominates: the five rollups of a live tick took
59 ms on it against 20 ms on the in-memory engine, and a whole bench-like live tick (500K frames in the window,
5K new) 310 against 188 ms. The large scans the app and CLI make were no slower in memory (the 15-minute window
of the 10M-frame bench store: 0.24-0.27 s on both; a group-by over all 10M rows 1.0-1.3 s on both, noisy).

A library must not change a global for its host, so the analysis itself never calls this: only the entry
points of processes smythtop owns do, and an explicit POLARS_ENGINE_AFFINITY in the environment wins.
"""

from __future__ import annotations

import os
import sys

ENGINE = "in-memory"


def prefer_in_memory() -> None:
    """Make the in-memory engine polars' default in this process, unless POLARS_ENGINE_AFFINITY is set.
    Cheap and idempotent; polars need not be imported yet (it reads the variable when it is)."""
    if "POLARS_ENGINE_AFFINITY" in os.environ:
        return
    os.environ["POLARS_ENGINE_AFFINITY"] = ENGINE
    polars = sys.modules.get("polars")
    if polars is not None:  # already imported: it read the environment before the variable was set
        polars.Config.set_engine_affinity(ENGINE)
