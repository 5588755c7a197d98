"""Carry the current execution into threads and thread-pool work, as OpenTelemetry's threading
instrumentation does.

Python 3.11 starts every `Thread` and every executor work item with an empty context, so a
tracked block there would start a new trace. Once installed, `Thread.start` and
`ThreadPoolExecutor.submit` copy the caller's context when (and only when) an execution is being
tracked, and the new thread runs in that copy. Installed by the first enabled Collector unless
`global.propagate_threads = false`; `smythtop.propagate(fn)` remains for other thread APIs.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from smythtop.recorder.trace import CURRENT, propagate

_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


def install() -> None:
    """Patch Thread and ThreadPoolExecutor once per process; a no-op when already installed."""
    with _lock:
        if _originals or not hasattr(threading.Thread, "_bootstrap_inner"):
            return
        start, bootstrap, submit = threading.Thread.start, threading.Thread._bootstrap_inner, ThreadPoolExecutor.submit
        _originals.update(start=start, bootstrap=bootstrap, submit=submit)

        def start_with_context(self: threading.Thread) -> None:
            if CURRENT.get() is not None:
                self._smythtop_context = contextvars.copy_context()  # type: ignore[attr-defined]
            start(self)

        def bootstrap_in_context(self: threading.Thread) -> None:
            # _bootstrap_inner, not run(): subclasses that override run() are carried too.
            ctx = self.__dict__.pop("_smythtop_context", None)
            if ctx is None:
                bootstrap(self)
            else:
                ctx.run(bootstrap, self)

        def submit_with_context(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kw: Any) -> Future:
            return submit(self, propagate(fn) if CURRENT.get() is not None else fn, *args, **kw)

        threading.Thread.start = start_with_context  # type: ignore[method-assign]
        threading.Thread._bootstrap_inner = bootstrap_in_context  # type: ignore[attr-defined]
        ThreadPoolExecutor.submit = submit_with_context  # type: ignore[method-assign]


def uninstall() -> None:
    with _lock:
        if not _originals:
            return
        threading.Thread.start = _originals["start"]  # type: ignore[method-assign]
        threading.Thread._bootstrap_inner = _originals["bootstrap"]  # type: ignore[attr-defined]
        ThreadPoolExecutor.submit = _originals["submit"]  # type: ignore[method-assign]
        _originals.clear()
