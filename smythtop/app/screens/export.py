"""The export dialog: proposes a file name, lets the user edit it, and returns the chosen path."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from smythtop.exporters import ExportError, check_target
from smythtop.safe_text import content, text


class ExportModal(ModalScreen[Path | None]):
    """Dismisses with the path to write, or None when cancelled."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="export.cancel")]

    def __init__(self, proposed: Path, what: str, kind: str = "Parquet") -> None:
        super().__init__(id="export-modal")
        self.proposed = proposed
        self.what = what
        self.kind = kind

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog") as box:
            box.border_title = f"Export to {self.kind}"
            yield Static(text(self.what), id="export-what")  # quotes the component: never markup
            yield Label("File:")
            yield Input(str(self.proposed), id="export-path")
            yield Static("", id="export-error")
            with Horizontal(id="export-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def _problem(self, path: Path) -> str | None:
        """The export's own rule (`exporters.check_target`): never over an existing file, symlink or FIFO."""
        try:
            check_target(path, overwrite=False, hint=": choose another name")
        except ExportError as err:
            return str(err)
        if not path.parent.is_dir():
            return f"directory {path.parent} does not exist"
        return None

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _confirm(self) -> None:
        text = self.query_one("#export-path", Input).value.strip()
        if not text:
            self.query_one("#export-error", Static).update("[red]enter a file name[/red]")
            return
        path = Path(text).expanduser()
        problem = self._problem(path)
        if problem:
            self.query_one("#export-error", Static).update(content("[red]$problem[/red]", problem=problem))
            return
        self.dismiss(path)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
