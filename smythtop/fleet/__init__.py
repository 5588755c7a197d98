"""A simulated fleet of LLM agents that records through the real recorder API: the demo's data."""

from smythtop.fleet.runner import FleetOptions, FleetReport, backfill, run_fleet

__all__ = ["FleetOptions", "FleetReport", "backfill", "run_fleet"]
