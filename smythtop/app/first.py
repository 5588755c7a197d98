"""The app's first tick, started before Textual is imported.

A new `smythtop top` process spends ~0.6 s importing Textual and its screens, then building them, before the app
could start its first tick; that tick needs neither (on the 10M-frame bench store it reads the 15-minute window,
~105K frames, from Parquet and analyses it: ~1 s alone). `FirstTick` starts it in a thread as soon as the store is
known, so its reads, which release the GIL, overlap the imports; the app's first tick then takes this snapshot
instead of computing one (`SmythtopApp._tick`). It is the snapshot a tick started at that moment shows, the same
one the app's own first tick would have computed then; the next tick follows at once (the first skips
`store.check`, so the app re-ticks soon after painting it). This module imports no Textual, so the CLI can start
it before the app's imports.

While it runs, the interpreter's switch interval is FIRST_SWITCH_S instead of 5 ms: the tick is hundreds of
polars calls that release the GIL, and each one's return waited up to a whole interval for the UI thread, busy
importing and building the screens, to hand the GIL back.
"""

from __future__ import annotations

import sys
import threading

from smythtop.app.data import Loader, Snapshot, TickRequest

# Measured with the first-paint bench script (8 paired runs on a loaded machine): 1 ms painted a median 0.4 s
# sooner than the default 5 ms.
FIRST_SWITCH_S = 0.001


class FirstTick:
    """`loader.tick(request)` running in a thread from construction; `take` hands its snapshot over once."""

    def __init__(self, loader: Loader, request: TickRequest) -> None:
        self.loader = loader
        self.request = request
        self._snapshot: Snapshot | None = None
        self._error: Exception | None = None
        loader.painted.clear()  # the first findings wait for the first paint, as the app's own first tick's do
        self._thread = threading.Thread(target=self._run, name="smythtop-first-tick", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, FIRST_SWITCH_S))
        try:
            self._snapshot = self.loader.tick(self.request)
        except Exception as err:  # raised again by `take`, in the app's tick worker, which reports it as usual
            self._error = err
        finally:
            sys.setswitchinterval(interval)

    def take(self, request: TickRequest) -> Snapshot | None:
        """The early snapshot when `request` is the one it answers (waiting for it to finish), else None (the
        window changed meanwhile: the caller ticks as usual); None on every later call."""
        self._thread.join()
        snapshot, error = self._snapshot, self._error
        self._snapshot = self._error = None
        if request != self.request:
            return None
        if error is not None:
            raise error
        return snapshot
