"""Exceptions callers can catch by type; the recorder turns StoreUnavailable into counted drops."""

from __future__ import annotations

from smythtop.store.schema import FrameError

__all__ = ["FrameError", "NotAStore", "StoreError", "StoreUnavailable", "UnsafeStore"]


class StoreError(Exception):
    """Base of every store failure that is not a bad frame."""


class StoreUnavailable(StoreError, OSError):
    """The store cannot be written: read-only, full, or missing permissions."""


class UnsafeStore(StoreUnavailable):
    """Refused: the store root is not the user's or is group/world-writable, or a path in it is a symlink.

    A StoreUnavailable, so the recorder counts its frames as dropped instead of raising into the agent."""


class NotAStore(StoreUnavailable):
    """Refused: a non-empty directory without the store's marker file, or a marker of a newer format."""
