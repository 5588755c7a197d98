"""The store and time-window options every analysis and export command shares, and loading their frames.

--store DIR            default: $SMYTHTOP_STORE, $SRE_PERFORMANCE_DIR, or the user data dir
--since 15m            the last 15 minutes (s, m, h, d, w; combinations like 1h30m): [now − 15m, now) by this
                       machine's clock, as the app's live window (`smythtop.timewindow`); frames dated after
                       now (an agent clock ahead) are outside it, and a note on stderr counts them
--from ISO [--to ISO]  an absolute window; a time without a zone is local time
(none)                 the whole store
--config FILE          the thresholds to judge against (default: $SMYTHTOP_CONFIG, else the user config file)
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from smythtop.cli import CliError
from smythtop.timewindow import last, now_ns

if TYPE_CHECKING:
    import polars as pl

    from smythtop.analysis.thresholds import Thresholds
    from smythtop.rolled import Rolled

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Timestamps are int64 ns since the epoch (docs/FORMAT.md): what they can express, and no more.
_MIN_TIME = datetime(1677, 9, 22, tzinfo=UTC)
_MAX_TIME = datetime(2262, 4, 11, tzinfo=UTC)
_MAX_SPAN_S = (datetime(2262, 4, 11) - datetime(1970, 1, 1)).total_seconds()


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '1h30m', '2d' -> timedelta; anything else is an argparse error."""
    s = text.strip().lower()
    parts = _DURATION.findall(s)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != s.replace(" ", ""):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 90s, 15m, 1h30m or 2d)")
    seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    if seconds > _MAX_SPAN_S:
        raise argparse.ArgumentTypeError(f"duration too long: {text!r} (frames are stored from 1677 to 2262)")
    return timedelta(seconds=seconds)


def parse_time(text: str) -> datetime:
    """ISO 8601 ('2026-01-01T10:00:00Z', '2026-01-01 10:00', '2026-01-01'); no zone means local time."""
    try:
        value = datetime.fromisoformat(text.strip()).astimezone(UTC)  # a naive time is taken as local time
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (try 2026-01-01T10:00:00Z)") from None
    if not _MIN_TIME <= value <= _MAX_TIME:
        raise argparse.ArgumentTypeError(f"time out of range: {text!r} (frames are stored from 1677 to 2262)")
    return value


def add_store_arg(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not overwrite `smythtop --store DIR <command>`
    p.add_argument(
        "--store",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="store directory (default: $SMYTHTOP_STORE, $SRE_PERFORMANCE_DIR or the user data dir)",
    )


def add_window_args(p: argparse.ArgumentParser, *, agent: bool = True) -> None:
    add_store_arg(p)
    p.add_argument("--since", type=parse_duration, metavar="DURATION", help="the last DURATION, e.g. 15m, 1h, 2d")
    p.add_argument("--from", dest="from_", type=parse_time, metavar="ISO", help="window start (ISO 8601)")
    p.add_argument("--to", type=parse_time, metavar="ISO", help="window end (ISO 8601, exclusive)")
    if agent:
        p.add_argument("--agent", metavar="ID", help="only this agent_id")


def add_config_arg(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not overwrite `smythtop --config FILE <command>`
    p.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="smythtop config file: thresholds from [alerts] and [llm.cost_thresholds], see docs/CONFIG.md"
        " (default: $SMYTHTOP_CONFIG, else ~/.config/smythtop/config.toml if present)",
    )


@dataclass(frozen=True)
class Window:
    since: datetime | None
    until: datetime | None

    def describe(self) -> str:
        if self.since is None and self.until is None:
            return "the whole store"
        lo = self.since.isoformat(timespec="seconds") if self.since else "the start"
        hi = self.until.isoformat(timespec="seconds") if self.until else "now"
        return f"{lo} .. {hi}"


def window(args: argparse.Namespace, *, now: datetime | None = None) -> Window:
    since, start, end = getattr(args, "since", None), getattr(args, "from_", None), getattr(args, "to", None)
    if since is not None and start is not None:
        raise CliError("use either --since or --from, not both")
    if since is not None:
        now = now or datetime.fromtimestamp(now_ns() / 1e9, UTC)
        if end is not None:
            raise CliError("--since counts back from now; use --from with --to for a past window")
        start_ns, end_ns = last(round(since.total_seconds() * 1e9), round(now.timestamp() * 1e9))
        return Window(
            max(datetime.fromtimestamp(start_ns / 1e9, UTC), _MIN_TIME), datetime.fromtimestamp(end_ns / 1e9, UTC)
        )
    if start is not None and end is not None and end <= start:
        raise CliError("--to must be after --from")
    return Window(start, end)


def store_root(args: argparse.Namespace) -> Path:
    from smythtop import store

    given = getattr(args, "store", None)
    root = Path(given).expanduser() if given else store.default_root()
    if not root.is_dir():
        raise CliError(f"no store at {root} (record some frames, run `smythtop demo`, or pass --store DIR)")
    return root


def is_url(location: str | None) -> bool:
    from smythtop.store.remote import is_url

    return is_url(location)


def redacted(url: str) -> str:
    from smythtop.store.remote import redacted

    return redacted(url)


def _scan_url(url: str, since: datetime | None, until: datetime | None) -> pl.LazyFrame:
    """Every pushed host's frames at a storage URL (docs/FORMAT.md section 12); a read failure is one line."""
    from smythtop.store.remote import RemoteError, scan_url

    try:
        return scan_url(url, since, until)
    except RemoteError as exc:
        raise CliError(str(exc)) from None


def load_frames(args: argparse.Namespace, *, component: str | None = None) -> tuple[pl.DataFrame, Window, Path | str]:
    """The window's frames (filtered by --agent and component), or a one-line error if there are none; and where
    they came from: the store's Path, or a fleet's storage URL (redacted: it may carry credentials)."""
    import polars as pl

    from smythtop import store

    given = getattr(args, "store", None)
    remote = is_url(given)
    root: Path | str = redacted(given) if remote else store_root(args)
    win = window(args)
    lf = _scan_url(given, win.since, win.until) if remote else store.scan(root, win.since, win.until)
    agent = getattr(args, "agent", None)
    if agent:
        lf = lf.filter(pl.col("agent_id") == agent)
    if component:
        lf = lf.filter(pl.col("component") == component)
    df = lf.collect()
    if df.height == 0:
        what = " and ".join(x for x in (agent and f"agent {agent!r}", component and f"component {component!r}") if x)
        raise CliError(f"no frames{' for ' + what if what else ''} in {root} for {win.describe()}")
    if getattr(args, "since", None) is not None and win.until is not None and not remote:
        _note_future(root, win.until)
    return df, win, root


def _note_future(root: Path, until: datetime) -> None:
    """A note on stderr counting the frames dated after `until` (now): the app's status line says the same."""
    import polars as pl

    from smythtop import store

    ahead = store.scan(root, until).select(pl.len()).collect().item()
    if ahead:
        print(
            f"smythtop: note: {ahead:,} frames in the store are dated after now (an agent clock ahead?), outside"
            " the window",
            file=sys.stderr,
        )


def load_rollups(args: argparse.Namespace, th: Thresholds) -> Rolled | None:
    """A window of an hour or more of a local store, from its rollups plus the WAL (filtered by --agent,
    `smythtop.rolled.load`), or a one-line error if it holds no frames; None when raw frames must answer it: a
    fleet URL, a whole-store or shorter window, or one overlapping frames files written before rollups existed."""
    from smythtop import rolled

    win = window(args)
    if is_url(getattr(args, "store", None)) or win.since is None:
        return None
    root = store_root(args)
    since = round(win.since.timestamp() * 1e9)
    until = round(win.until.timestamp() * 1e9) if win.until is not None else now_ns()
    agent = getattr(args, "agent", None)
    out = rolled.load(root, since, until, th, agent=agent)
    if out is None:
        return None
    if out.empty:
        what = f" for agent {agent!r}" if agent else ""
        raise CliError(f"no frames{what} in {root} for {win.describe()}")
    if getattr(args, "since", None) is not None and win.until is not None:
        _note_future(root, win.until)
    return out


def thresholds(args: argparse.Namespace) -> Thresholds:
    """The thresholds of `--config FILE`, else of the file the discovery rule finds, else the defaults."""
    from smythtop.config import Config
    from smythtop.errors import ConfigError
    from smythtop.thresholds import thresholds_from_config

    try:
        return thresholds_from_config(Config.load(getattr(args, "config", None)))
    except ConfigError as err:
        raise CliError(str(err)) from None
