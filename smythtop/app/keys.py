"""The app's Textual bindings, built from the key catalogue (`smythtop.keymap`).

Each catalogue entry becomes a Textual `Binding` with the same `id`, so the config file can rebind it with
`app.set_keymap`; the help screen and the command palette read the same catalogue, so all three always agree.
"""

from __future__ import annotations

from textual.binding import Binding

from smythtop.keymap import BY_ID, CATALOGUE, KeyAction, Scope

__all__ = ["BY_ID", "CATALOGUE", "KeyAction", "Scope", "bindings"]


def bindings(scope: Scope) -> list[Binding]:
    """The Textual bindings of one scope; `priority` on the main screen so tables do not eat our keys."""
    return [
        Binding(
            a.keys,
            a.action,
            a.short or a.description,
            show=a.show,
            tooltip=a.description,
            key_display=a.key_display,
            id=a.id,
            priority=scope == "main" and a.id in _PRIORITY,
        )
        for a in CATALOGUE
        if a.scope == scope
    ]


# Tab must move between panes even when a DataTable has focus; Enter must reach us, not the table's
# own select binding, so the cursor row is read once in one place.
_PRIORITY = {"main.next_pane", "main.previous_pane"}
