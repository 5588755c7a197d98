"""Exceptions callers can catch by type; the recorder turns StoreUnavailable into counted drops."""

from __future__ import annotations

from smythtop.store.schema import FrameError

__all__ = ["AppendInterrupted", "FrameError", "NotAStore", "StoreError", "StoreUnavailable", "UnsafeStore"]


class StoreError(Exception):
    """Base of every store failure that is not a bad frame."""


class StoreUnavailable(StoreError, OSError):
    """The store cannot be written: read-only, full, or missing permissions."""


class UnsafeStore(StoreUnavailable):
    """Refused: the store root is not the user's or is group/world-writable, or a path in it is a symlink.

    A StoreUnavailable, so the recorder counts its frames as dropped instead of raising into the agent."""


class NotAStore(StoreUnavailable):
    """Refused: a non-empty directory without the store's marker file, or a marker of a newer format."""


class AppendInterrupted(StoreUnavailable):
    """`Writer.append_many` stopped part-way: the first `appended` good frames of the call are held by
    the writer (written, or buffered for the next flush); the rest were not appended. `errors` are the
    bad frames' errors, as `append_many` returns them."""

    def __init__(self, message: str, *, appended: int, errors: list[FrameError]) -> None:
        super().__init__(message)
        self.appended = appended
        self.errors = errors
