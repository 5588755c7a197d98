"""The live Textual app (`smythtop`, `smythtop top`, `smythtop demo`). Imports textual: never from the recorder.

`SmythtopApp` is imported on first use, so `smythtop.app.first` can start the app's first tick before Textual is
imported (`cli.top_cmd.make_app`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smythtop.app.app import SmythtopApp

__all__ = ["SmythtopApp"]


def __getattr__(name: str) -> Any:
    if name != "SmythtopApp":
        raise AttributeError(f"module 'smythtop.app' has no attribute {name!r}")
    from smythtop.app.app import SmythtopApp

    return SmythtopApp
