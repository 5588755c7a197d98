"""One definition of "now" and of "the last N", shared by the app's live windows and the CLI's `--since`.

"Now" is the monitor's own clock (the machine running `smythtop`), never the newest frame's timestamp, and the
window is half-open, [now − span, now): a frame an agent stamped in the future (its clock runs ahead) is in
no such window until its time comes. Without this, the app's live window (no upper edge) counted frames that
`report --since` (which ends at now) did not, and the two disagreed by everything a skewed clock wrote.
Those frames are counted, not hidden: the app's status line and the CLI say how many are dated after now.
Plain Python, so the CLI can use it without loading the app (textual).
"""

from __future__ import annotations

import time


def now_ns() -> int:
    """The monitor's clock, in ns since the epoch: the "now" every window ends at."""
    return time.time_ns()


def last(span_ns: int, now: int) -> tuple[int, int]:
    """The window "the last `span_ns`" at `now`: [start, end), end exclusive, so frames dated after now are out."""
    return now - span_ns, now
