"""The app's store watcher: tells the app when the store's files change, at a pace that follows the store.

watchfiles waits for changes in its Rust backend, which sleeps `step` ms at a time and takes the GIL after each sleep
to look at the stop event. At the app's 50 ms step that was 20 wake-ups a second while nothing changed, ~0.15 % of a
core on the 2-core development VM (~80 µs each: the watcher thread's run time in /proc/self/task/*/schedstat over
20 s), a sixth of an idle app's CPU. `changes` drives that backend (`RustNotify`, whose direct use watchfiles
documents: docs/api/rust_backend.md in its repository) with a step of STEP_MS while changes come and IDLE_STEP_MS
once none came for QUIET_MS, which one `watch` call of the backend waits at most. A change is reported one to two
steps after it (the backend waits a step for changes to stop, `debounce` ms at most): 50–100 ms while frames flow,
as before, so the flush-to-screen path is unchanged; 250–500 ms for the first change after 5 s without one, which
is what the quiet pace costs (that first frame shows up to 0.4 s later; the idle tick, `app.IDLE_TICK_S`, would see
it within 5 s anyway). Polling (WSL, `WATCHFILES_FORCE_POLLING`) is chosen as `watchfiles.watch` chooses it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from watchfiles._rust_notify import RustNotify

STEP_MS = 50  # while changes come: each batch is reported 50-100 ms after it
DEBOUNCE_MS = 50  # changes that keep coming are reported at least this often
IDLE_STEP_MS = 250  # once none came for QUIET_MS: 4 wake-ups a second (~0.02 % of a core) instead of 20
QUIET_MS = 5000  # a `watch` call with no change returns after this long; the next one takes the idle step
POLL_DELAY_MS = 300  # watchfiles' default, for the polling backend only


def changes(dirs: list[Path], stop: threading.Event) -> Iterator[bool]:
    """Yield True after each batch of changes under `dirs` (recursively), False after QUIET_MS without one; end
    once `stop` is set (seen within a step)."""
    from watchfiles.main import _default_force_polling, _default_poll_delay_ms

    polling, delay_ms = _default_force_polling(None), _default_poll_delay_ms(POLL_DELAY_MS)
    # the arguments: paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied
    with RustNotify([str(d) for d in dirs], False, polling, delay_ms, True, False) as notify:
        step = STEP_MS
        while True:
            got = notify.watch(DEBOUNCE_MS, step, QUIET_MS, stop)
            if got in ("stop", "signal"):  # "signal": only the main thread sees them, never this one
                return
            changed = got != "timeout"
            step = STEP_MS if changed else IDLE_STEP_MS
            yield changed
