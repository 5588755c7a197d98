"""`smythtop report | analyze | optimize | baseline`: the analysis engine from the shell.

JSON output is exactly what `analysis.report.build_report` / `analysis.detail.component_detail` return
(typed results, `msgspec.to_builtins`; shape in docs/ANALYSIS.md); text output is a readable rendering of the
same result. Baselines live in the store as
`<store>/baselines/<component, percent-encoded>.json`.

`report` and `optimize` answer a window of an hour or more (`window.LONG_WINDOW_NS`) of a local store from
its rollups plus the WAL's frames (`analysis.longwindow.report_of`): a 24 h window costs its hours x names, not
its frames. Their output carries a `basis` (`longwindow.Basis`: rollups or raw frames, the tier read, what
rollups cannot hold); `--raw` reads raw frames. `analyze` always reads the component's raw frames: its error
types, callers, callees and slowest traces exist only there. A whole-store window (no --since/--from), a fleet
URL, and a window overlapping frames files written before rollups existed read raw frames too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from smythtop.baselines import load_baselines, save_baseline
from smythtop.cli import CliError
from smythtop.cli.window_args import (
    add_config_arg,
    add_window_args,
    is_url,
    load_frames,
    load_rollups,
    thresholds,
)
from smythtop.safe_text import visible

if TYPE_CHECKING:
    import polars as pl

    from smythtop.analysis.longwindow import Basis
    from smythtop.analysis.results import Report
    from smythtop.store.reader import TimeBound


def register(sub: argparse._SubParsersAction) -> None:
    def fmt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")

    def raw(p: argparse.ArgumentParser) -> None:
        p.add_argument("--raw", action="store_true", help="read raw frames even for a window of an hour or more"
                       " (default: rollups, see `basis` in the output)")  # fmt: skip

    p = sub.add_parser(
        "report",
        help="the whole analysis of a window",
        description="The whole analysis of a "
        "window: summary and grade, components, models, bottlenecks, anomalies, trends, regressions "
        "against saved baselines, recommendations and flows.",
    )
    add_window_args(p)
    add_config_arg(p)
    fmt(p)
    raw(p)
    p.set_defaults(func=_report)

    p = sub.add_parser(
        "analyze",
        help="everything about one component",
        description="Everything about one "
        "component: latency series and histogram, phases, errors, models, baseline comparison, "
        "callers and callees, and the slowest traces.",
    )
    p.add_argument("--component", required=True, metavar="NAME")
    add_window_args(p)
    add_config_arg(p)
    fmt(p)
    p.set_defaults(func=_analyze)

    p = sub.add_parser(
        "optimize",
        help="recommendations, by $/day then ms",
        description="Recommendations, sorted by estimated savings in USD/day, then by latency gain.",
    )
    add_window_args(p)
    add_config_arg(p)
    fmt(p)
    raw(p)
    p.set_defaults(func=_optimize)

    p = sub.add_parser(
        "baseline",
        help="establish and save a component's baseline",
        description="Establish a "
        "baseline of one component over the window, save it in the store, and print it. Later "
        "reports compare against it.",
    )
    p.add_argument("--component", required=True, metavar="NAME")
    add_window_args(p)
    fmt(p)
    p.set_defaults(func=_baseline)


# ---- commands ------------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> tuple[Report, Basis, Path | str]:
    from smythtop.analysis import longwindow
    from smythtop.analysis.report import build_report
    from smythtop.analysis.unrecorded import correct, unrecorded

    th = thresholds(args)
    rolled = None if args.raw else load_rollups(args, th)
    if rolled is not None:
        report = longwindow.report_of(
            rolled.sums,
            rolled.sketch,
            rolled.wal,
            rolled.sample,
            rolled.window,
            th,
            baselines=load_baselines(rolled.root),
        )
        span = (rolled.window.start_ns, rolled.window.end_ns)
        lost = unrecorded(_accounts(rolled.root, *span, getattr(args, "agent", None)))
        return correct(report, lost), rolled.basis, rolled.root
    df, win, root = load_frames(args)
    report = build_report(
        df,
        window_from=win.since,
        window_to=win.until,
        thresholds=th,
        baselines=load_baselines(root) if isinstance(root, Path) else {},  # a fleet URL has none
    )
    if isinstance(root, Path):  # a fleet's bucket holds compacted executions only, never account frames
        lost = unrecorded(_accounts(root, win.since, win.until, getattr(args, "agent", None)))
        return correct(report, lost), longwindow.RAW_BASIS, root
    return report, longwindow.RAW_BASIS, root


def _accounts(root: Path, since: TimeBound, until: TimeBound, agent: str | None) -> pl.LazyFrame:
    """The window's account frames (executions the recorder lost), of `--agent` only when one is given."""
    import polars as pl

    from smythtop import store

    accounts = store.unrecorded(root, since, until)
    return accounts.filter(pl.col("agent_id") == agent) if agent else accounts


def _report(args: argparse.Namespace) -> int:
    report, basis, root = _build(args)
    if args.format == "json":
        _print_json({**msgspec.to_builtins(report), "basis": basis})
    else:
        from smythtop.cli import report_text

        report_text.render_report(report, root, basis)
    return 0


def _optimize(args: argparse.Namespace) -> int:
    report, basis, root = _build(args)
    if args.format == "json":
        _print_json({"window": report.window, "recommendations": report.recommendations, "basis": basis})
    else:
        from smythtop.cli import report_text

        report_text.render_recommendations(report, root, basis)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from smythtop.analysis.detail import UnknownComponent, component_detail

    df, win, root = load_frames(args)
    base = (load_baselines(root) if isinstance(root, Path) else {}).get(args.component)
    try:
        detail = component_detail(
            df,
            args.component,
            window_from=win.since,
            window_to=win.until,
            thresholds=thresholds(args),
            baseline=base,
        )
    except UnknownComponent as err:
        raise CliError(str(err)) from None
    if args.format == "json":
        _print_json(detail)
    else:
        from smythtop.cli import report_text

        report_text.render_detail(detail)
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from smythtop.analysis.baseline import establish_baseline

    if is_url(getattr(args, "store", None)):
        raise CliError("a baseline is saved in a local store; pass --store DIR, not a storage URL")
    df, _, root = load_frames(args, component=args.component)
    assert isinstance(root, Path)  # a URL was refused above
    try:
        base = establish_baseline(df, args.component, prices=thresholds(args).prices)
    except ValueError as err:
        raise CliError(str(err)) from None
    path = save_baseline(root, base)
    summary = base.summary()
    if args.format == "json":
        _print_json({**summary, "path": str(path)})
    else:
        print(f"baseline of {visible(base.component)} saved to {visible(path)}")
        for key in (
            "window_from",
            "window_to",
            "rows",
            "executions",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "mean_ms",
            "error_rate",
            "cost_per_call_usd",
            "tokens_per_call",
        ):
            value = summary[key]
            print(f"  {key:<18} {value:.6g}" if isinstance(value, float) else f"  {key:<18} {visible(value)}")
    return 0


def _print_json(data: Any) -> None:
    """Typed results (or plain values holding them) as indented JSON: `json.dump` of `msgspec.to_builtins`, so
    the bytes are those of the plain dicts the analysis used to return."""
    json.dump(msgspec.to_builtins(data), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
