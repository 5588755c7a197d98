"""The app's terminal driver (`smythtop.app.driver`): keys still arrive, a lone ESC still becomes the escape key,
the exit event still stops the input thread, and while nothing is typed the thread does not wake."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual import events
from textual.drivers.linux_driver import LinuxDriver

from smythtop.app.driver import QuietLinuxDriver, WakingEvent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Textual's Linux driver")

WAIT_S = 10.0  # generous bounds for a loaded machine; never reached when the driver works


class Selects:
    """Counts the input thread's returns from `select`: one per wake-up."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = selectors.SelectSelector.select

        def select(selector, timeout=None):
            ready = real(selector, timeout)
            self.count += 1
            return ready

        monkeypatch.setattr(selectors.SelectSelector, "select", select)


@contextlib.contextmanager
def _input_thread(driver: QuietLinuxDriver) -> Iterator[threading.Thread]:
    """The driver's input thread, running; on leaving, its exit event must stop it (then the driver is closed)."""
    thread = threading.Thread(target=driver.run_input_thread, daemon=True)
    thread.start()
    try:
        yield thread
        driver.exit_event.set()
        thread.join(WAIT_S)
        assert not thread.is_alive()
    finally:
        driver.exit_event.set()
        driver.close()


@pytest.mark.anyio
async def test_keys_escape_and_exit_without_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # the driver's SIGTSTP/SIGCONT handlers: not here
    read, write = os.pipe()
    driver = QuietLinuxDriver(object())  # type: ignore[arg-type]  # the app only sends what the thread reads
    driver.fileno = read
    got: list[str] = []
    arrived = threading.Condition()

    def collect(message) -> None:
        if isinstance(message, events.Key):
            with arrived:
                got.append(message.key)
                arrived.notify_all()

    monkeypatch.setattr(driver, "process_message", collect)
    selects = Selects(monkeypatch)
    try:
        with _input_thread(driver) as thread:
            os.write(write, b"a")
            os.write(write, b"\x1b")  # a lone ESC: the escape key once ESCAPE_DELAY passed with nothing after it
            with arrived:
                assert arrived.wait_for(lambda: len(got) == 2, WAIT_S), got
            assert got == ["a", "escape"]
            woken = selects.count
            thread.join(0.3)
            assert thread.is_alive() and selects.count == woken  # nothing typed: blocked (Textual's loop: 3 wake-ups)
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.anyio
async def test_an_ended_stdin_is_not_polled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A piped stdin that ended reads as ready for ever: the thread stops selecting on it (Textual's loop spins)."""
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    read, write = os.pipe()
    os.close(write)
    driver = QuietLinuxDriver(object())  # type: ignore[arg-type]
    driver.fileno = read
    selects = Selects(monkeypatch)
    try:
        with _input_thread(driver) as thread:
            thread.join(0.3)
            assert thread.is_alive() and selects.count <= 3  # the end read, ESCAPE_DELAY's tick, then blocked
    finally:
        os.close(read)


def test_the_waking_event_is_readable_while_set_and_after_close_only_an_event() -> None:
    event = WakingEvent()
    sel = selectors.SelectSelector()
    sel.register(event.fileno(), selectors.EVENT_READ)
    assert sel.select(0) == []
    event.set()
    event.set()
    assert len(sel.select(0)) == 1 and event.is_set()
    event.clear()
    assert sel.select(0) == [] and not event.is_set()
    sel.close()
    event.close()
    event.set()  # Textual's shutdown sets it again after the driver's close: no write to a closed descriptor
    event.clear()
    assert not event.is_set()


def test_the_app_uses_the_quiet_driver_where_textual_would_use_its_linux_one(
    store_root: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(store_root)
    assert app.driver_class is QuietLinuxDriver
    assert issubclass(QuietLinuxDriver, LinuxDriver)
    monkeypatch.setattr("textual.constants.DRIVER", "textual.drivers.headless_driver:HeadlessDriver")
    assert app.get_driver_class().__name__ == "HeadlessDriver"  # a driver chosen in the environment is kept
