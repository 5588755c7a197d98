"""The `smythtop` console script: one argparse tree, one module per command group.

User errors (`smythtop.errors.SmythtopError`, of which `CliError` is the CLI's own, and the store's
`StoreError`) become one line on stderr with exit code 2; no tracebacks. So does a PermissionError: a store
or a file this user may not read or write is the user's situation, not a bug. The line goes through
`safe_text.visible`, since it may quote a stored name.
Command modules are imported lazily so `smythtop store stats` never pays for textual.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from smythtop.engine import prefer_in_memory
from smythtop.errors import SmythtopError
from smythtop.safe_text import visible
from smythtop.store.errors import StoreError


def _command_modules() -> list[str]:
    """Every `smythtop/cli/*_cmd.py`; each exposes `register(subparsers)` and sets `func`."""
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.name.endswith("_cmd"))


class CliError(SmythtopError):
    """A user error in the command line's own terms (arguments, a missing store): one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smythtop", description="htop for AI agents: live performance and cost.")
    parser.add_argument("--store", metavar="DIR", help="store the dashboard opens when no command is given")
    parser.add_argument("--config", metavar="FILE", help="config file (default: $SMYTHTOP_CONFIG, docs/CONFIG.md)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prefer_in_memory()  # before any analysis: see smythtop.engine
    func = getattr(args, "func", None)
    if func is None:  # bare `smythtop [--store DIR]` opens the dashboard
        from smythtop.cli.top_cmd import run as func
    try:
        return int(func(args) or 0)
    except (SmythtopError, StoreError) as err:
        print(f"smythtop: error: {visible(err)}", file=sys.stderr)
        return 2
    except PermissionError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"smythtop: error: {visible(where)}{err.strerror or 'permission denied'}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
