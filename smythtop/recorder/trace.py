"""Trace context: which execution is current, and the ids that link frames into traces.

The current execution lives in a ContextVar, so nesting, asyncio tasks (which copy the context at
creation) and `asyncio.to_thread` propagate it for free. Plain threads and executors start with an
empty context in Python 3.11: `threads.install()` carries it into them, `propagate(fn)` by hand.

Ids are cheap on the hot path because they are not made there: a span id is a per-process counter
value drawn only when someone asks (the flush thread, a child, or the caller), and it is formatted
as hex in the flush thread. A random per-process prefix keeps ids from different processes apart.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import os
import secrets
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("smythtop_current_execution", default=None)


class _Ids:
    """Per-process id source; re-seeded in a forked child so parent and child never collide."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        # The prefixes are kept formatted: each id then formats only its counter half.
        self.span_prefix = f"{secrets.randbits(32):08x}"
        self.trace_prefix = f"{secrets.randbits(64):016x}"
        self.counter = itertools.count(1)

    def next(self) -> int:
        return next(self.counter)  # atomic under the GIL

    # bytes.hex rather than a format spec: half the time per id (bench_recorder's flush rows), same digits.
    def span_hex(self, n: int) -> str:
        return self.span_prefix + (n & 0xFFFFFFFF).to_bytes(4, "big").hex()

    def trace_hex(self, n: int) -> str:
        return self.trace_prefix + n.to_bytes(8, "big").hex()


IDS = _Ids()
os.register_at_fork(after_in_child=IDS.reseed)


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap `fn` so it runs in a copy of the caller's context: executions it tracks become children
    of the caller's current execution, in any thread. Use it for `Thread(target=...)` and
    `executor.submit(...)`; asyncio tasks and `asyncio.to_thread` need nothing."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


def current() -> Any:
    """The innermost execution being tracked in this context, or None."""
    return CURRENT.get()
