"""The time-window model: which slice of time every pane shows, and how keys move it.

Pure Python on integer nanoseconds, so the UI thread can change it instantly and the worker can
resolve it against its own clock. Live windows follow the tail; any pan, zoom or mark fixes the
window in time until `go_live`. Pausing freezes "now" so a live window stops sliding.

A live window of a span is `smythtop.timewindow.last`, the same [now − span, now) as `report --since`:
frames dated after now (an agent clock ahead) are outside it (`Bounds.upper`) and counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from smythtop.timewindow import last

NS_PER_S = 1_000_000_000
MINUTE = 60 * NS_PER_S
HOUR = 60 * MINUTE

# Preset name -> span in ns (None = everything in the store). Number keys 1..6 pick them in order.
PRESETS: dict[str, int | None] = {
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "1h": HOUR,
    "6h": 6 * HOUR,
    "24h": 24 * HOUR,
    "all": None,
}
DEFAULT_PRESET = "15m"
MIN_SPAN = MINUTE
MAX_SPAN = 90 * 24 * HOUR


class WindowError(ValueError):
    """A window change that cannot apply (e.g. panning the whole store)."""


@dataclass(frozen=True)
class Bounds:
    """A resolved window: `start` None means from the first frame; `end` None means up to the tail."""

    start: int | None
    end: int | None
    now: int

    @property
    def shown_end(self) -> int:
        return self.now if self.end is None else self.end

    @property
    def upper(self) -> int | None:
        """The exclusive upper edge applied to frames: the fixed end, else now for a live window of a span,
        else None ("all": the whole store, as the CLI's whole store, future frames included)."""
        return self.end if self.end is not None or self.start is None else self.now


@dataclass(frozen=True)
class TimeWindow:
    """Immutable: every key returns a new window, which makes stale worker results easy to spot."""

    span: int | None = PRESETS[DEFAULT_PRESET]
    end: int | None = None  # None: follow now (live)
    paused_at: int | None = None  # set while paused: "now" stops moving
    mark_start: int | None = None  # pending start mark, shown until the end mark is set

    @property
    def live(self) -> bool:
        return self.end is None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def ticking(self) -> bool:
        """Whether the app should poll for new frames at all: paused means no work."""
        return not self.paused

    def now(self, clock_ns: int) -> int:
        return self.paused_at if self.paused_at is not None else clock_ns

    def resolve(self, clock_ns: int) -> Bounds:
        now = self.now(clock_ns)
        if self.end is None:
            end = now if self.paused else None
            start = None if self.span is None else last(self.span, now)[0]
            return Bounds(start, end, now)
        start = None if self.span is None else self.end - self.span
        return Bounds(start, self.end, now)

    def preset(self, name: str) -> TimeWindow:
        """Presets mean "the last N": they return to a live window of that span."""
        if name not in PRESETS:
            raise WindowError(f"unknown window preset {name!r}; choose one of {', '.join(PRESETS)}")
        return replace(self, span=PRESETS[name], end=None, mark_start=None)

    def pan(self, direction: int, clock_ns: int) -> TimeWindow:
        """Move by half a span; panning forward past now returns to live."""
        if self.span is None:
            raise WindowError("the window already covers the whole store; pick a shorter one (1-5) to pan")
        now = self.now(clock_ns)
        end = (now if self.end is None else self.end) + direction * (self.span // 2)
        if end >= now:
            return replace(self, end=None)
        return replace(self, end=end)

    def zoom(self, factor: float, clock_ns: int) -> TimeWindow:
        """Zoom in (factor < 1) or out around the centre; a live window keeps its right edge at now."""
        if self.span is None:
            if factor >= 1:
                raise WindowError("the window already covers the whole store")
            return replace(self, span=PRESETS["24h"])
        span = int(min(MAX_SPAN, max(MIN_SPAN, self.span * factor)))
        if self.end is None:
            return replace(self, span=span)
        centre = self.end - self.span // 2
        now = self.now(clock_ns)
        end = centre + span // 2
        return replace(self, span=span, end=None if end >= now else end)

    def mark(self, clock_ns: int) -> TimeWindow:
        """First mark remembers the start (the current window's start); the second sets the end.

        The end mark is the current window's end, so `[`/`]`/`z` find the two edges in turn.
        """
        bounds = self.resolve(clock_ns)
        if self.mark_start is None:
            start = bounds.start if bounds.start is not None else bounds.shown_end - (self.span or HOUR)
            return replace(self, mark_start=start)
        end = bounds.shown_end
        start, end = sorted((self.mark_start, end))
        if end - start < NS_PER_S:
            raise WindowError("the marked window is empty: move the window before setting the end mark")
        return TimeWindow(span=end - start, end=end, paused_at=self.paused_at)

    def clear_mark(self) -> TimeWindow:
        return replace(self, mark_start=None)

    def go_live(self) -> TimeWindow:
        return replace(self, end=None, paused_at=None, mark_start=None)

    def pause(self, clock_ns: int) -> TimeWindow:
        return replace(self, paused_at=clock_ns)

    def resume(self) -> TimeWindow:
        return replace(self, paused_at=None)


def span_label(span: int | None) -> str:
    """15m, 1h, 2h30m, all."""
    if span is None:
        return "all"
    seconds = span // NS_PER_S
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{secs}s" if secs and not days and not hours else "")
    return "".join(parts) or "0s"
