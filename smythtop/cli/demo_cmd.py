"""`smythtop demo --no-ui`: a simulated agent fleet recording into a store, for a first look.

With --backfill HOURS it first writes that much past history quickly (on a virtual clock), then runs
live for --duration seconds (with --backfill alone it stops after the history; with neither it
runs until Ctrl-C). Everything is recorded through the real recorder API.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from smythtop.cli import CliError

if TYPE_CHECKING:
    from smythtop.fleet import FleetReport


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run a simulated agent fleet that records into a store",
        description="Run simulated LLM agents (planner, retrieval, tools, assistant, summariser) that "
        "record through the real recorder API.",
    )
    p.add_argument("--no-ui", action="store_true", help="only generate data (print progress), no live view")
    p.add_argument("--store", metavar="DIR", help="store directory (default: $SMYTHTOP_STORE or the XDG data dir)")
    p.add_argument("--agents", type=int, default=4, metavar="N", help="simulated agents (default 4)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="live run length (default: until Ctrl-C)")
    p.add_argument("--rate", type=float, default=2.0, metavar="PER_S", help="requests per second, fleet-wide")
    p.add_argument("--seed", type=int, metavar="N", help="random seed, for a reproducible run")
    p.add_argument("--backfill", type=float, metavar="HOURS", help="first write this many hours of past history")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.no_ui:
        from smythtop.cli.top_cmd import require_terminal

        require_terminal("`smythtop demo --no-ui` runs the fleet without the dashboard")
    if args.agents < 1:
        raise CliError("--agents must be at least 1")
    if not args.rate > 0:
        raise CliError("--rate must be a positive number of requests per second")
    if args.duration is not None and args.duration < 0:
        raise CliError("--duration must not be negative")
    if args.backfill is not None and not args.backfill > 0:
        raise CliError("--backfill must be a positive number of hours")

    from smythtop import store
    from smythtop.fleet import FleetOptions, FleetReport, backfill, run_fleet

    root = Path(args.store).expanduser() if args.store else store.default_root()
    options = FleetOptions(store=root, agents=args.agents, rate=args.rate, seed=args.seed)
    _check_writable(root)
    print(f"smythtop demo: {args.agents} agents, {args.rate:g} requests/s, store {root}", flush=True)

    if args.backfill is not None:
        print(f"backfilling {args.backfill:g} h of history ...", flush=True)
        started = time.monotonic()
        report = backfill(options, args.backfill, on_progress=_backfill_progress)
        _summary("backfill", report, time.monotonic() - started)
        if args.duration is None and args.no_ui:
            return _done(root)

    stop = threading.Event()
    report = FleetReport()
    if not args.no_ui:  # the fleet in a thread, the app in front; `q` stops both
        from smythtop.cli.top_cmd import open_app_beside

        started = time.monotonic()

        def fleet(stop: threading.Event) -> None:
            run_fleet(options, stop, duration_s=args.duration, report=report)

        open_app_beside(root, fleet, getattr(args, "config", None))  # `smythtop --config FILE demo`
        _summary("live", report, time.monotonic() - started)
        return _done(root)
    print("live: Ctrl-C stops" if args.duration is None else f"live for {args.duration:g} s", flush=True)
    started = time.monotonic()
    # On Ctrl-C, run_fleet's own clean-up stops the agents, closes the recorder and compacts.
    with contextlib.suppress(KeyboardInterrupt):
        run_fleet(options, stop, duration_s=args.duration, on_progress=_live_progress, report=report)
    _summary("live", report, time.monotonic() - started)
    return _done(root)


def _check_writable(root: Path) -> None:
    """Fail with one clear line before starting agents that would only count dropped frames."""
    from smythtop import store

    try:
        store.Writer(root).close()
    except store.StoreUnavailable as exc:
        raise CliError(str(exc)) from None


def _live_progress(r: FleetReport, elapsed: float) -> None:
    print(
        f"  {elapsed:6.0f}s  requests {r.requests:>6}  frames {r.frames:>7}  failed {r.failed:>5}  "
        f"cost ${r.cost_usd:,.4f}",
        flush=True,
    )


def _backfill_progress(r: FleetReport, simulated_s: float) -> None:
    print(
        f"  {simulated_s / 3600:6.2f} h  requests {r.requests:>7}  frames {r.frames:>8}  cost ${r.cost_usd:,.2f}",
        end="\r" if sys.stdout.isatty() else "\n",
        flush=True,
    )


def _summary(label: str, report: FleetReport, wall_s: float) -> None:
    stats = report.stats
    lost = stats.get("dropped_buffer_full", 0) + stats.get("dropped_store_unavailable", 0) + stats.get("rejected", 0)
    print(
        f"{label}: {report.requests} requests, {report.frames} frames ({report.failed} failed executions), "
        f"${report.cost_usd:,.4f}, {report.unpriced} unpriced LLM calls, {lost} frames lost, in {wall_s:.1f} s"
    )


def _done(root: Path) -> int:
    print(f"see it: smythtop store stats --store {root}")
    return 0
