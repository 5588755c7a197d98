"""Exceptions callers can catch by type; the recorder turns StoreUnavailable into counted drops."""

from __future__ import annotations

from smythtop.store.schema import FrameError

__all__ = ["FrameError", "StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """Base of every store failure that is not a bad frame."""


class StoreUnavailable(StoreError, OSError):
    """The store cannot be written: read-only, full, or missing permissions."""
