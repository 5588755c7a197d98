"""Exceptions callers can catch by type; the recorder turns StoreUnavailable into counted drops."""

from __future__ import annotations

from smythtop.store.schema import FrameError

__all__ = ["AppendInterrupted", "FrameError", "StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """Base of every store failure that is not a bad frame."""


class StoreUnavailable(StoreError, OSError):
    """The store cannot be written: read-only, full, or missing permissions."""


class AppendInterrupted(StoreUnavailable):
    """`Writer.append_many` stopped part-way: the first `appended` good frames of the call are held by
    the writer (written, or buffered for the next flush); the rest were not appended. `errors` are the
    bad frames' errors, as `append_many` returns them."""

    def __init__(self, message: str, *, appended: int, errors: list[FrameError]) -> None:
        super().__init__(message)
        self.appended = appended
        self.errors = errors
