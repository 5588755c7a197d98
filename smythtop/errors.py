"""The errors smythtop shows to a person: one line, no traceback, and a non-zero exit from the CLI.

Every user-facing error of the front-ends derives from `SmythtopError`, so the CLI's `main` and the app each
catch one type. The store's own errors (`smythtop.store.StoreError`) stay in the store, which knows nothing
above it, and are caught beside this one. Nothing here imports anything: the recorder raises `ConfigError`
from its light import path.
"""

from __future__ import annotations


class SmythtopError(Exception):
    """A user error: the message is one line saying what is wrong and, where it can, what to do."""


class ConfigError(SmythtopError, ValueError):
    """A config file, section, key or value that cannot be used; the message names the key and the file."""
