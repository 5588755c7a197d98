"""Terminal charts for the drill-down: a braille line chart and horizontal bar charts.

The braille canvas is hand-written (about 40 lines) because the maintained options do not fit:
textual-plotext is unmaintained and pins plotext < 6, and plotext would be a new dependency for
two line series. Each character cell holds 2x4 dots, so a 60x8 widget plots 120x32 points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from smythtop import fmt
from smythtop.safe_text import visible

# Dot bit for (x, y) inside one braille cell, x in 0..1, y in 0..3 (Unicode braille patterns).
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_BLOCKS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    style: str


def braille_lines(series: Sequence[Series], width: int, height: int, top: float) -> list[Text]:
    """Plot series (same x buckets) into `height` rows of `width` braille cells, 0 at the bottom."""
    w, h = width * 2, height * 4
    dots = [[0] * width for _ in range(height)]
    owner: list[list[str]] = [[""] * width for _ in range(height)]
    top = top or 1.0
    for s in series:
        n = len(s.values)
        if n == 0:
            continue
        prev: tuple[int, int] | None = None
        for i, v in enumerate(s.values):
            if v is None:
                prev = None
                continue
            px = round(i * (w - 1) / max(n - 1, 1))
            py = h - 1 - round(min(max(v / top, 0.0), 1.0) * (h - 1))
            points = [(px, py)] if prev is None else _segment(prev, (px, py))
            for x, y in points:
                cx, cy = x // 2, y // 4
                dots[cy][cx] |= _DOT[x % 2][y % 4]
                owner[cy][cx] = s.style
            prev = (px, py)
    lines = []
    for row, styles in zip(dots, owner, strict=True):
        line = Text(no_wrap=True)
        for bits, style in zip(row, styles, strict=True):
            line.append(chr(0x2800 + bits) if bits else " ", style=style)
        lines.append(line)
    return lines


def _segment(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    steps = max(abs(b[0] - a[0]), abs(b[1] - a[1]), 1)
    return [
        (round(a[0] + (b[0] - a[0]) * t / steps), round(a[1] + (b[1] - a[1]) * t / steps)) for t in range(1, steps + 1)
    ]


class LineChart(Widget):
    """Latency lines over the window with a y axis in ms and a legend."""

    DEFAULT_CSS = "LineChart { height: 10; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.series: list[Series] = []
        self.x_labels = ("", "")

    def plot(self, series: list[Series], x_labels: tuple[str, str] = ("", "")) -> None:
        self.series = series
        self.x_labels = x_labels
        self.refresh()

    def render(self) -> Group | Text:
        present = [v for s in self.series for v in s.values if v is not None]
        if not present:
            return Text("no executions in this window", style="dim")
        top = max(present)
        axis = max(len(fmt.ms(top)), len(fmt.ms(0.0))) + 1
        width = max(4, self.size.width - axis - 1)
        height = max(1, self.size.height - 2)
        lines = braille_lines(self.series, width, height, top)
        out = []
        for i, line in enumerate(lines):
            label = fmt.ms(top) if i == 0 else fmt.ms(top / 2) if i == height // 2 and height > 2 else ""
            out.append(Text(label.rjust(axis) + "┤" if label else " " * axis + "│", style="dim") + line)
        left, right = self.x_labels
        gap = max(1, width - len(left) - len(right))
        out.append(Text(" " * (axis + 1) + left + " " * gap + right, style="dim"))
        legend = Text(" " * (axis + 1))
        for s in self.series:
            legend.append("━━ ", style=s.style)
            legend.append(f"{s.label}  ", style="dim")
        out.append(legend)
        return Group(*out)


def bar_lines(items: Sequence[tuple[str, float, str]], width: int) -> list[Text]:
    """Horizontal bars, one per (label, value, value_text): eighths-of-a-cell resolution."""
    items = [(visible(label), value, shown) for label, value, shown in items]  # labels are stored names
    label_w = min(max(len(label) for label, _, _ in items), max(8, width // 3))
    text_w = max(len(text) for _, _, text in items)
    bar_w = max(4, width - label_w - text_w - 3)
    top = max((v for _, v, _ in items), default=0.0) or 1.0
    lines = []
    for label, value, text in items:
        eighths = round(max(value, 0.0) / top * bar_w * 8)
        full, part = divmod(eighths, 8)
        bar = "█" * full + (_BLOCKS[part] if part else "")
        line = Text(no_wrap=True)
        line.append(label[:label_w].ljust(label_w) + " ", style="bold")
        line.append(bar.ljust(bar_w), style="cyan")
        line.append(" " + text.rjust(text_w))
        lines.append(line)
    return lines


class BarChart(Widget):
    """A list of labelled horizontal bars (histogram, phases, errors by type)."""

    DEFAULT_CSS = "BarChart { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.items: list[tuple[str, float, str]] = []
        self.empty = "none in this window"

    def plot(self, items: list[tuple[str, float, str]], empty: str = "none in this window") -> None:
        self.items = items
        self.empty = empty
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self.items))

    def render(self) -> Group | Text:
        if not self.items:
            return Text(self.empty, style="dim")
        return Group(*bar_lines(self.items, self.size.width))
