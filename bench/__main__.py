"""Run every `bench/bench_*.py` module (or those named on the command line) and print one table."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

import bench
from bench.harness import Table


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    table = Table()
    failed = []
    for name in names:
        print(f"# {name}", flush=True)
        try:
            importlib.import_module(f"bench.{name}").run(table)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
    print()
    print(table.render())
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
