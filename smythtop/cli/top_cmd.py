"""`smythtop top [--store DIR] [--config FILE]` (and bare `smythtop`): open the live app on a store.

The config file is found by the one discovery rule (docs/CONFIG.md), so the app judges a store against the same
thresholds as `smythtop report`. Textual is imported inside the handler, so other commands never pay for it, and
only once the app's first tick is under way (`make_app`, `smythtop.app.first`).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smythtop import store
from smythtop.cli import CliError
from smythtop.cli.window_args import add_config_arg

if TYPE_CHECKING:
    from smythtop.app import SmythtopApp
    from smythtop.app.config import AppConfig


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("top", help="open the live dashboard (the default command)")
    parser.add_argument(
        "--store", metavar="DIR", help="store directory (default: $SMYTHTOP_STORE or the user data dir)"
    )
    add_app_options(parser)
    parser.set_defaults(func=run)


def add_app_options(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument("--keys", action="store_true", help="print the key bindings and their ids, then exit")


def run(args: argparse.Namespace) -> int:
    """Open the app on `args.store`; a store that does not exist yet opens empty and says how to fill it."""
    from smythtop.keymap import CATALOGUE

    config = _app_config(getattr(args, "config", None))
    if getattr(args, "keys", False):
        current = {a.id: config.keymap.get(a.id, a.keys) for a in CATALOGUE}
        for a in CATALOGUE:
            print(f"{a.id:<24} {current[a.id]:<28} {a.description}")
        return 0
    root = Path(args.store).expanduser() if getattr(args, "store", None) else store.default_root()
    return open_app(root, config)


def require_terminal(hint: str = "for scripts use `smythtop report` or `smythtop store stats`") -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(f"the dashboard needs a terminal; {hint}")


def _app_config(path: str | None) -> AppConfig:
    from smythtop.app.config import load_config
    from smythtop.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as err:
        raise CliError(str(err)) from None


def open_app(root: Path, config: AppConfig | None = None) -> int:
    """Run the app in this terminal until the user quits; its exit status is the app's (1 after a crash)."""
    if root.exists() and not root.is_dir():
        raise CliError(f"--store {root} is not a directory")
    require_readable(root)
    require_terminal()
    app = make_app(root, config)
    app.run()
    return app.return_code or 0


def make_app(
    root: Path,
    config: AppConfig | None = None,
    *,
    clock: Callable[[], int] = time.time_ns,
    findings_process: bool = True,
) -> SmythtopApp:
    """The app on `root` with its first tick already running (`smythtop.app.first`): started before Textual and
    the screens are imported, so the window's read overlaps those imports. `findings_process`: as `SmythtopApp`'s
    (False computes the findings in a thread: tests)."""
    from smythtop.app.config import AppConfig
    from smythtop.app.data import Loader, TickRequest
    from smythtop.app.first import FirstTick
    from smythtop.app.window import TimeWindow

    config = config or AppConfig()
    loader = Loader(root, clock=clock, thresholds=config.thresholds, findings_process=findings_process)
    first = FirstTick(loader, TickRequest(window=TimeWindow()))
    from smythtop.app import SmythtopApp

    return SmythtopApp(root, config=config, clock=clock, first=first)


def require_readable(root: Path) -> None:
    """List the store's directories before the app starts, so one this user may not read is a one-line error
    (a PermissionError, which `cli.main` reports) instead of an app showing nothing. Directories only: cheap."""

    def fail(err: OSError) -> None:
        if isinstance(err, PermissionError):  # not FileNotFoundError: a new store, or a file compaction removed
            raise err

    for _ in os.walk(root, onerror=fail):
        pass


def open_app_beside(
    root: Path, background: Callable[[threading.Event], object], config_file: str | None = None
) -> None:
    """Run `background(stop)` in a thread while the app shows `root`; quitting sets `stop` and waits for it.

    Used by `smythtop demo`: the fleet writes, the app watches, and `q` stops both cleanly (the fleet
    finishes its in-flight requests, closes its recorder and compacts before this returns).
    """
    require_terminal("`smythtop demo --no-ui` runs the fleet without the dashboard")
    config = _app_config(config_file)
    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            background(stop)
        except BaseException as err:  # reported after the app closes, not lost in a thread
            failure.append(err)

    thread = threading.Thread(target=work, name="smythtop-background", daemon=True)
    thread.start()
    try:
        make_app(root, config).run()
    finally:
        stop.set()
        print("stopping the fleet ...", flush=True)
        thread.join()
    if failure:
        raise CliError(f"the fleet stopped with an error: {failure[0]!r}")
