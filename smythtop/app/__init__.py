"""The live Textual app (`smythtop`, `smythtop top`, `smythtop demo`). Imports textual: never from the recorder."""

from __future__ import annotations

from smythtop.app.app import SmythtopApp

__all__ = ["SmythtopApp"]
