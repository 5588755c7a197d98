"""The terminal driver: Textual's Linux driver, with an input thread that sleeps while no key comes.

Textual's `LinuxDriver.run_input_thread` waits for input in `select(0.1)`: it wakes ten times a second, to tick its
escape-sequence parser (a lone ESC is the escape key once `constants.ESCAPE_DELAY`, 100 ms by default, passed with
nothing after it) and to see whether it should stop. Those wake-ups were ~0.14 % of a core, a fifth of an idle app's
own CPU (its threads' times in /proc over 120 s of `bench_app._idle_cpu`'s set-up).

`QuietLinuxDriver`'s thread runs the same loop, but waits with a timeout only while the parser may hold a sequence
that times out (ESCAPE_DELAY after the last input, when it ticks the parser at that deadline instead of up to
100 ms after it); otherwise it blocks until input arrives or the driver stops, whose exit event also writes a byte
to a pipe the thread selects on. The app uses it wherever Textual would use `LinuxDriver` (`SmythtopApp.
get_driver_class`); tests run headless and never start it, except tests/app/test_driver.py.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING

from textual import constants
from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App


class WakingEvent(threading.Event):
    """A `threading.Event` whose `set` also makes `fileno` readable, so that a thread blocked in `select` on it
    wakes; `clear` drains it. Closed with the driver; a `set` after that only sets the event."""

    def __init__(self) -> None:
        super().__init__()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._closed = False

    def fileno(self) -> int:
        return self._read

    def set(self) -> None:
        super().set()
        if not self._closed:
            with contextlib.suppress(BlockingIOError):  # the pipe is full: it is readable already
                os.write(self._write, b"\0")

    def clear(self) -> None:
        super().clear()
        if not self._closed:
            with contextlib.suppress(BlockingIOError):  # raised once the pipe is empty
                while os.read(self._read, 4096):
                    pass

    def close(self) -> None:
        """Close the pipe: Textual may call `disable_input` (which sets this event) after `close`, and a write to a
        closed descriptor could land in a file that reused its number."""
        if not self._closed:
            self._closed = True
            os.close(self._read)
            os.close(self._write)


class QuietLinuxDriver(LinuxDriver):
    """`LinuxDriver` whose input thread does not poll while nothing is typed (see the module docstring)."""

    def __init__(
        self, app: App, *, debug: bool = False, mouse: bool = True, size: tuple[int, int] | None = None
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self.exit_event = WakingEvent()

    def close(self) -> None:
        super().close()
        self.exit_event.close()

    def run_input_thread(self) -> None:
        """Read the terminal and dispatch its events until the exit event is set: Textual's loop, waiting in
        `select` without a timeout unless the parser may have a sequence to time out."""
        exit_event = self.exit_event
        assert isinstance(exit_event, WakingEvent)
        selector = selectors.SelectSelector()  # as Textual's: select(2) works on every terminal's descriptor
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(exit_event.fileno(), selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        deadline: float | None = None  # when a sequence the parser may hold times out
        try:
            while not exit_event.is_set():
                ready = selector.select(None if deadline is None else max(0.0, deadline - get_time()))
                now = get_time()
                if any(key.fd == self.fileno for key, _ in ready):
                    raw = os.read(self.fileno, 4096)
                    if not raw:  # the end of a piped stdin: wait for the exit event only (Textual's loop spins)
                        selector.unregister(self.fileno)
                    for event in parser.feed(data) if (data := decode(raw)) else ():  # "": a partial character
                        self.process_message(event)
                    deadline = get_time() + constants.ESCAPE_DELAY  # after the parser's own, which feed set
                elif deadline is not None and now >= deadline:
                    deadline = None  # the tick below, at or after the parser's deadline, ends its wait
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            with contextlib.suppress(EOFError, ParseError):
                for _event in parser.feed(""):
                    pass
