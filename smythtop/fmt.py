"""Short, fixed-width renderings of numbers, shared by the app's table cells and the CLI's text report:
12.3ms, 1.24s, $0.042, 1.2K, 4.5%.

Missing values are an en dash, never a made-up zero; a cost of None is "unpriced". Plain Python only (no
textual, no polars), so every front-end can import it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

DASH = "–"
SPARK = "▁▂▃▄▅▆▇█"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def ms(x: float | None) -> str:
    if _missing(x):
        return DASH
    if x < 1:
        return f"{x:.2f}ms"
    if x < 100:
        return f"{x:.1f}ms"
    if x < 1000:
        return f"{x:.0f}ms"
    if x < 60_000:
        return f"{x / 1000:.2f}s"
    minutes, seconds = divmod(x / 1000, 60)
    return f"{int(minutes)}m{int(seconds):02d}s"


def usd(x: float | None, *, unpriced: str = "unpriced") -> str:
    if _missing(x):
        return unpriced
    if x == 0:
        return "$0"
    if x < 0.01:
        return f"${x:.4f}"
    if x < 100:
        return f"${x:.2f}"
    if x < 100_000:
        return f"${x:,.0f}"
    return f"${x / 1e6:.2f}M"


def count(x: float | None) -> str:
    if _missing(x):
        return DASH
    a = abs(x)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if a >= limit:
            v = x / limit
            return f"{v:.1f}{suffix}" if abs(v) < 100 else f"{v:.0f}{suffix}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def pct(x: float | None, *, digits: int = 1) -> str:
    """A fraction 0..1 as a percentage."""
    if _missing(x):
        return DASH
    return f"{x * 100:.{digits}f}%"


def rate(x: float | None) -> str:
    """A per-minute or per-second rate: one decimal below a thousand, so 4.0/min never reads as a count."""
    if _missing(x):
        return DASH
    return f"{x:.1f}" if abs(x) < 1000 else count(x)


def spark(values: list[float | None], width: int | None = None) -> str:
    """A one-line block sparkline; gaps (None) are blank, so an idle bucket never looks like a fast one.

    The scale runs from the minimum to the maximum, but spans at least a quarter of the maximum, so the
    shape of a real change shows while a steady series stays flat instead of magnifying its noise.

    Hand-written because Textual's Sparkline is a widget and a table cell needs a string.
    """
    vals = list(values)
    if width is not None and len(vals) > width:
        step = len(vals) / width
        vals = [_bucket_max(vals[int(i * step) : int((i + 1) * step)]) for i in range(width)]
    present = [v for v in vals if not _missing(v)]
    if not present:
        return ""
    hi = max(present)
    lo = min(min(present), hi * 0.75)
    scale = (hi - lo) or 1.0
    return "".join(" " if _missing(v) else SPARK[max(0, min(7, int((v - lo) / scale * 7.999)))] for v in vals)


def _bucket_max(chunk: list[float | None]) -> float | None:
    present = [v for v in chunk if not _missing(v)]
    return max(present) if present else None


def clock(ns: int | None) -> str:
    """UTC wall time of a ns timestamp: HH:MM:SS."""
    if ns is None:
        return DASH
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%H:%M:%S")


def stamp(ns: int | None) -> str:
    if ns is None:
        return DASH
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_to_ns(value: str | None) -> int | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1e9)
