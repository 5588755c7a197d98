"""Bounded waits for every test directory (on the path through pytest's `pythonpath`).

Each wait has a timeout and fails the test with what it waited for, so a bug fails the run
instead of hanging it. A timeout is a bound, never a measurement: nothing asserts how long a
wait took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

POLL_S = 0.02


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_S)


def joined(thread: threading.Thread, what: str, timeout: float = 60.0) -> None:
    """Join `thread`; fail naming `what` if it is still running after `timeout` seconds."""
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"timed out after {timeout:g} s waiting for {what} to finish")
