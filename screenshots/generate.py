"""`make screenshots`: pictures of the real app on a backfilled demo store, as SVG and PNG.

The fleet backfills two hours ending at a fixed instant and the app runs on a clock stopped at that
instant, so the pictures change only when the app or the analysis does. SVGs come from
`App.save_screenshot()`; PNGs from `rsvg-convert -w 1600` (Debian librsvg2-bin, with fonts-firacode).
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent
END_NS = 1_748_876_400 * 10**9  # 2025-06-02 15:00:00 UTC, a busy afternoon on the fleet's day curve
HOURS = 2.0
WIDE, SMALL = (200, 50), (80, 24)

_TEXT = re.compile(r'(<text [^>]*?x=")([\d.]+)("[^>]*?textLength=")([\d.]+)("[^>]*>)((?:&#160;)+)([^<]*)(</text>)')


def fix_leading_spaces(svg: str) -> str:
    """rsvg-convert drops the leading no-break spaces of a <text> element (right-aligned table cells
    then render left-aligned), so move them into the element's x instead. Browsers need no fix."""

    def shift(m: re.Match[str]) -> str:
        lead = m.group(6).count("&#160;")
        rest = m.group(7)
        chars = lead + len(html.unescape(rest))
        width = float(m.group(4)) / chars
        if not rest:
            return ""
        x = float(m.group(2)) + lead * width
        length = float(m.group(4)) - lead * width
        return f"{m.group(1)}{x:g}{m.group(3)}{length:g}{m.group(5)}{rest}{m.group(8)}"

    return _TEXT.sub(shift, svg)


async def shoot(root: Path, name: str, size: tuple[int, int], steps) -> Path:
    from smythtop.app import SmythtopApp
    from smythtop.app.config import AppConfig

    app = SmythtopApp(root, clock=lambda: END_NS, config=AppConfig(refresh_s=1.0), export_dir=Path("."))
    async with app.run_test(size=size) as pilot:
        # the store check's result and the findings (computed in the background after the first paint) shown
        await until(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.health is not None and not app.snapshot.findings_pending,
        )
        for step in steps:
            await step(app, pilot)
        await pilot.pause(0.3)
        path = OUT / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
    return path


async def until(pilot, predicate, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise SystemExit("the app did not reach the expected state")
        await pilot.pause(0.1)


async def drill_down(app, pilot) -> None:
    await pilot.press("down", "enter")  # the second component by time share: the assistant's LLM calls
    await until(pilot, lambda: getattr(app.screen, "detail", None) is not None)


async def open_export(app, pilot) -> None:
    await pilot.press("e")


def to_png(svg: Path) -> Path:
    png = svg.with_suffix(".png")
    fixed = svg.with_suffix(".rsvg.svg")
    fixed.write_text(fix_leading_spaces(svg.read_text()))
    try:
        subprocess.run(["rsvg-convert", "-w", "1600", "-o", str(png), str(fixed)], check=True)
    finally:
        fixed.unlink()
    return png


def main() -> int:
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert is missing: `apt-get install librsvg2-bin fonts-firacode` (make screenshots does it)")
        return 2
    from smythtop.fleet import FleetOptions, backfill

    with tempfile.TemporaryDirectory(prefix="smythtop-shots-") as tmp:
        os.chdir(tmp)  # the status line then shows the short relative store path
        root = Path("demo-store")
        report = backfill(FleetOptions(store=root, agents=6, rate=3.0, seed=7), HOURS, end_ns=END_NS)
        print(f"backfilled {report.frames:,} frames ({report.requests:,} requests) into {root}")
        shots = [
            asyncio.run(shoot(root, "main", WIDE, [])),
            asyncio.run(shoot(root, "component", WIDE, [drill_down])),
            asyncio.run(shoot(root, "export", WIDE, [open_export])),
            asyncio.run(shoot(root, "small-80x24", SMALL, [])),
        ]
    for svg in shots:
        print(f"{svg.relative_to(OUT.parent)} -> {to_png(svg).relative_to(OUT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
