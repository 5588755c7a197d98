"""Saved baselines: `<store>/baselines/<component, percent-encoded>.json`, one `analysis.baseline.Baseline` each.

`smythtop baseline` saves them; `smythtop report | analyze | optimize` and the app load them. They live here,
beside neither front-end, so the app never imports the CLI. A file is saved whole or not at all
(`store.paths.atomic_write`): a reader sees the old baseline or the new one. A damaged file is an error
naming it, never silently skipped: a report that quietly lost its baseline would hide a regression.
The analysis (polars, scipy) is loaded only when a baseline is read, so importing this costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from smythtop.errors import SmythtopError
from smythtop.store.paths import atomic_write_bytes, ensure_dir

if TYPE_CHECKING:
    from smythtop.analysis.baseline import Baseline

BASELINE_DIR = "baselines"


class BaselineError(SmythtopError):
    """A baseline that cannot be read or saved; the message names the file and what to do."""


def baseline_path(root: Path, component: str) -> Path:
    return root / BASELINE_DIR / f"{quote(component, safe='')}.json"


def load_baselines(root: Path) -> dict[str, Baseline]:
    """Every saved baseline, by component."""
    from smythtop.analysis.baseline import Baseline

    out = {}
    directory = root / BASELINE_DIR
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            base = Baseline.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise BaselineError(
                f"cannot read baseline {path}: {err} (delete it or re-run `smythtop baseline`)"
            ) from None
        out[base.component] = base
    return out


def save_baseline(root: Path, base: Baseline) -> Path:
    """Save `base` as its component's baseline, replacing any earlier one; returns the file's path."""
    path = baseline_path(root, base.component)
    try:
        ensure_dir(path.parent)
        atomic_write_bytes(path, base.to_json().encode())
    except OSError as err:
        raise BaselineError(f"cannot save baseline to {path}: {err.strerror or err}") from None
    return path
