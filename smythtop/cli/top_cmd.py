"""`smythtop top [--store DIR]` (and bare `smythtop`): open the live app on a store.

Textual is imported inside the handler, so other commands never pay for it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import store
from smythtop.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("top", help="open the live dashboard (the default command)")
    parser.add_argument(
        "--store", metavar="DIR", help="store directory (default: $SMYTHTOP_STORE or the user data dir)"
    )
    add_app_options(parser)
    parser.set_defaults(func=run)


def add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="app config (default: ~/.config/smythtop/config.toml)")
    parser.add_argument("--keys", action="store_true", help="print the key bindings and their ids, then exit")


def run(args: argparse.Namespace) -> int:
    """Open the app on `args.store`; a store that does not exist yet opens empty and says how to fill it."""
    from smythtop.app.config import ConfigError, load_config
    from smythtop.app.keys import CATALOGUE

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as err:
        raise CliError(str(err)) from None
    if getattr(args, "keys", False):
        current = {a.id: config.keymap.get(a.id, a.keys) for a in CATALOGUE}
        for a in CATALOGUE:
            print(f"{a.id:<24} {current[a.id]:<28} {a.description}")
        return 0
    root = Path(args.store).expanduser() if getattr(args, "store", None) else store.default_root()
    return open_app(root, config)


def open_app(root: Path, config=None) -> int:
    """Run the app in this terminal until the user quits."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError("the dashboard needs a terminal; for scripts use `smythtop report` or `smythtop store stats`")
    if root.exists() and not root.is_dir():
        raise CliError(f"--store {root} is not a directory")
    from smythtop.app import SmythtopApp

    SmythtopApp(root, config=config).run()
    return 0
