"""Messages to the app: from the workers, each carrying a finished, plain-Python result, and from the
screens and widgets, each a request the app acts on (they bubble up the DOM to it), so no screen needs
to know the app's class and no screen or widget imports `smythtop.app.app`.

`can_replace` lets Textual drop a stale snapshot still waiting in the queue when a newer one arrives,
so a slow UI never replays old states.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from smythtop.app.data import Snapshot

if TYPE_CHECKING:
    from smythtop.analysis.results import Span


class SnapshotReady(Message):
    """A tick finished: the report (and drill-down detail) for the requested window."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class TickFailed(Message):
    """A tick raised: shown in the status line; the next tick is still armed."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TickFailed)


class StoreChanged(Message):
    """The store's files changed (from the watchfiles thread): new frames may be waiting."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


class FindingsReady(Message):
    """The loader's background findings finished (or failed), from its thread: a tick shows them now."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FindingsReady)


class MaintenanceDone(Message):
    """A store maintenance pass finished (from the maintenance thread): what it did, or why it failed."""

    def __init__(self, *, changed: bool, busy: bool, error: str | None) -> None:
        self.changed = changed  # it compacted, merged or expired something: another pass may find more to merge
        self.busy = busy  # another compactor (a second app, `smythtop serve`) held the store's lock: nothing done
        self.error = error
        super().__init__()


class SpanTreeReady(Message):
    def __init__(self, trace_id: str, spans: list[Span], error: str | None = None) -> None:
        self.trace_id = trace_id
        self.spans = spans
        self.error = error
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SpanTreeReady)


class ExportDone(Message):
    """An export finished (or failed with `error`)."""

    def __init__(self, path: Path, rows: int, kind: str, error: str | None = None) -> None:
        self.path = path
        self.rows = rows
        self.kind = kind
        self.error = error
        super().__init__()


class OpenComponent(Message):
    """A screen asks for a component's drill-down (Enter on a row of the main screen)."""

    def __init__(self, component: str) -> None:
        self.component = component
        super().__init__()


class OpenTrace(Message):
    """A screen asks for a trace's span tree (Enter on a slowest trace)."""

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        super().__init__()


class ClearMark(Message):
    """A screen asks to drop a half-made window mark (Escape on the main screen)."""


class StatusWanted(Message):
    """A status line was just mounted (its screen was pushed between ticks) and wants the current state."""
