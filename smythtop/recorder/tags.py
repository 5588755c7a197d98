"""Tags, in the flush thread: one rule for `t.tag(...)`, `tags=`, `t.set(unknown=...)` and `record()`'s extra fields.

The store keeps an unknown scalar field as a string tag (str as is, numbers and bools as `repr`), and rejects
the whole frame for anything else. Here every tag follows that rule before the store sees it, and a tag that
cannot be kept (a list, a dict, an over-long string, a 65th tag) is dropped and counted, never the frame.
Keys that name message content or credentials (`global.denied_tag_keys`) are dropped and counted too: a prompt
or an API key passed as `track(..., prompt=text)` must not be copied into a store that other tools read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from smythtop.store.schema import FIELD_SET, MAX_ID_LEN, MAX_STR_LEN, MAX_TAGS


def key_form(key: str) -> str:
    """The form keys are compared in: lower case, without "_" and "-" ("API-Key" and "api_key" match)."""
    return key.lower().replace("_", "").replace("-", "")


class TagPolicy:
    """Cleans a frame dict's tags in place; counts what it drops (`denied`, `invalid`)."""

    def __init__(self, denied: Iterable[str], allowed: Iterable[str]) -> None:
        self._denied = frozenset(key_form(k) for k in denied) - frozenset(key_form(k) for k in allowed)
        self.denied = 0  # tags dropped because their key names content or a credential
        self.invalid = 0  # tags dropped because the store could not keep them
        self.denied_keys: list[str] = []  # keys dropped by the last `clean`, for the caller's one-time warning

    def clean(self, frame: dict[str, Any]) -> None:
        """Move unknown fields into `tags`, convert scalar values to strings, drop denied keys and values that
        cannot be kept."""
        self.denied_keys = []
        extra = [k for k in frame if k not in FIELD_SET]
        given = frame.get("tags")
        if given is None and not extra:
            return
        tags: dict[str, str] = {}
        if given is not None:
            if isinstance(given, Mapping):
                for key, value in given.items():
                    self._put(tags, key, value)
            else:
                self.invalid += 1
        for key in extra:
            self._put(tags, key, frame.pop(key))
        if tags:
            frame["tags"] = tags
        else:
            frame.pop("tags", None)

    def _put(self, tags: dict[str, str], key: Any, value: Any) -> None:
        if not isinstance(key, str) or not 0 < len(key) <= MAX_ID_LEN:
            self.invalid += 1
        elif key_form(key) in self._denied:
            self.denied += 1
            self.denied_keys.append(key)
        else:
            text = _as_text(value)
            if text is None or (key not in tags and len(tags) >= MAX_TAGS):
                self.invalid += 1
            else:
                tags[key] = text


def _as_text(value: Any) -> str | None:
    """The store's rule (smythtop.store.schema): str as is, bool/int/float as repr; None if it cannot be kept."""
    if isinstance(value, str):
        return value if len(value) <= MAX_STR_LEN else None
    if isinstance(value, (bool, int, float)):
        return repr(value)
    return None
