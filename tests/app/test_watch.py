"""The app's store watcher (`smythtop.app.watch`): changes are reported, the stop event ends it, and it polls its
backend at the quiet pace only after a quiet spell, at the fast pace again from the first change."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from smythtop.app import watch

WAIT_S = 10.0  # a generous bound for a loaded machine; never reached when the watcher works


class ScriptedNotify:
    """Stands in for watchfiles' `RustNotify`: answers `watch` from a script and records the step of each call."""

    def __init__(self, answers: list[object]) -> None:
        self.answers = answers
        self.steps: list[int] = []

    def __call__(self, *args: object) -> ScriptedNotify:  # the constructor, as `changes` calls it
        return self

    def __enter__(self) -> ScriptedNotify:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def watch(self, debounce_ms: int, step_ms: int, timeout_ms: int, stop: object) -> object:
        self.steps.append(step_ms)
        return self.answers.pop(0)


def test_the_step_slows_after_a_quiet_spell_and_quickens_at_the_first_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    change = {(1, str(tmp_path / "x"))}
    notify = ScriptedNotify([change, change, "timeout", "timeout", change, "stop"])
    monkeypatch.setattr(watch, "RustNotify", notify)
    got = list(watch.changes([tmp_path], threading.Event()))
    assert got == [True, True, False, False, True]
    fast, idle = watch.STEP_MS, watch.IDLE_STEP_MS
    assert notify.steps == [fast, fast, fast, idle, idle, fast]


def test_a_write_is_reported_and_the_stop_event_ends_the_watch(tmp_path: Path) -> None:
    stop = threading.Event()
    seen = threading.Event()

    def run() -> None:
        for changed in watch.changes([tmp_path], stop):
            if changed:
                seen.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for attempt in range(int(WAIT_S / 0.1)):  # written again until seen: the backend may not be watching yet
        (tmp_path / "segment").write_bytes(b"frames %d" % attempt)
        if seen.wait(0.1):
            break
    assert seen.is_set()
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive()
