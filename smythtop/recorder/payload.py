"""A cheap size estimate of what flows into and out of a component, for information-flow analysis.

Never serialises a big payload: buffers and ASCII strings are measured exactly, other strings by
encoding at most a 4 KiB prefix and extrapolating, containers by sampling at most SAMPLE items
and extrapolating, to a bounded depth. The cost is a few microseconds whatever the payload's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SAMPLE = 16
TEXT_SAMPLE = 4096
MAX_DEPTH = 3
_SCALAR = 8  # bytes charged for a number, bool or None: about its binary encoding


def estimate_size(obj: Any, _depth: int = 0) -> int:
    """Bytes an object would take on the wire, roughly; ints are taken as a size already given."""
    if isinstance(obj, str):
        if obj.isascii():
            return len(obj)
        head = obj[:TEXT_SAMPLE]
        return len(head.encode("utf-8", "surrogatepass")) * len(obj) // len(head)
    if isinstance(obj, (bytes, bytearray)):
        return len(obj)
    if isinstance(obj, memoryview):
        return obj.nbytes
    if obj is None or isinstance(obj, (bool, int, float)):
        return _SCALAR
    if _depth >= MAX_DEPTH:
        return _SCALAR * (len(obj) if hasattr(obj, "__len__") else 1)
    if isinstance(obj, Mapping):
        n = len(obj)
        total = 0
        for i, (k, v) in enumerate(obj.items()):
            if i == SAMPLE:
                return total * n // SAMPLE
            total += estimate_size(k, _depth + 1) + estimate_size(v, _depth + 1)
        return total
    if isinstance(obj, (list, tuple, set, frozenset)):
        n = len(obj)
        total = 0
        for i, item in enumerate(obj):
            if i == SAMPLE:
                return total * n // SAMPLE
            total += estimate_size(item, _depth + 1)
        return total
    nbytes = getattr(obj, "nbytes", None)  # numpy arrays and friends
    if isinstance(nbytes, int):
        return nbytes
    return _SCALAR


def size_of(value: Any) -> int:
    """A size the caller handed (an int) as is; anything else estimated."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return estimate_size(value)
