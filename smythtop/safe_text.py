"""The one way a stored string (a component, agent, model, provider, error type, trace id, tag, path...) reaches
the operator's terminal: control characters made visible, and never read as Rich or Textual markup.

Agents name things, and a name is data, not instructions to the terminal: `\\x1b[2J` would clear the screen,
`[/]` made Rich raise MarkupError, `[link=...]` made a clickable link, and a right-to-left override reorders
what follows it. So:

- `visible(s)`: every C0/C1 control, DEL, and the invisible or reordering format characters (bidi embeddings,
  overrides and isolates, zero-width spaces, line/paragraph separators, BOM) become their Python escape
  (`\\x1b`, `\\r`, `\\u202e`). A literal backslash is left as is (names like `C:\\tmp` stay readable), so a name
  that spells `\\x1b` with four characters looks like one holding ESC: a display ambiguity, never an effect.
- `text(s, style)`: a `rich.text.Text` of `visible(s)`; Text is never parsed as markup, and both Rich tables
  and Textual widgets (Static, DataTable cells, charts) take it as is.
- `markup(s)`: `rich.markup.escape(visible(s))`, for the few Rich markup strings of the CLI's text output.
- `content(template, **values)`: Textual markup with `$name` variables (`textual.content.Content.from_markup`),
  each value `visible(...)`: Textual inserts variables as plain text, never as markup, so the app keeps its
  styled templates and no value can close a tag, add a link or an action, or name another variable.

Notifications that quote a stored string are sent with `markup=False` and `visible(...)`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text
    from textual.content import Content

# C0 controls and DEL/C1 (Unicode category Cc); then the format characters that change how the rest of a
# line is shown without being visible themselves: ALM, zero-width space to RLM, line and paragraph separators,
# bidi embeddings and overrides, bidi isolates, the BOM / zero-width no-break space.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c in _SHORT:
        return _SHORT[c]
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def visible(s: object) -> str:
    """`str(s)` with every control and invisible format character replaced by its escape (`\\x1b`, `\\u202e`)."""
    s = str(s)
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s


def text(s: object, style: str = "") -> Text:
    """A Rich `Text` showing `s` literally: never parsed as markup, controls made visible."""
    from rich.text import Text  # here, so the CLI's error path (`visible`) costs no rich import

    return Text(visible(s), style=style)


def markup(s: object) -> str:
    """`s` for insertion into a Rich markup string: controls made visible, then `[` escaped."""
    from rich.markup import escape

    return escape(visible(s))


def content(template: str, **values: object) -> Content:
    """Textual markup `template` with each `$name` replaced by `visible(values[name])` as plain text."""
    from textual.content import Content  # here: only the app uses it, and only the app loads textual

    return Content.from_markup(template, **{k: visible(v) for k, v in values.items()})
