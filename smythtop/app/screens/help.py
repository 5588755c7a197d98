"""The help screen: every key (as currently bound, after the config file), and what each pane shows."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Static

from smythtop.app.keys import CATALOGUE

PANES_HELP = """[b]Components[/b]  executions/min, latency percentiles, error rate, share of time, cost, p95 trend.
[b]LLM cost[/b]  by model: calls, tokens in/out/cached, cost, $/hour burn, context use; cost over the window.
[b]Bottlenecks[/b]  ranked by the analysis, coloured by severity, with evidence; the suggestion is below.
[b]Recommendations[/b]  ranked by $/day saved, then ms gained; the rationale is below.
Enter on any row opens that component. Everything shows the selected time window (status line)."""

SCOPES = {"app": "Everywhere", "main": "Main screen", "component": "Component screen", "trace": "Trace screen"}


def keys_table(current: dict[str, str]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("key", style="cyan", no_wrap=True)
    table.add_column("action")
    table.add_column("binding id", style="dim", no_wrap=True)
    scope = None
    for action in CATALOGUE:
        if action.scope != scope:
            scope = action.scope
            table.add_row(Text(SCOPES[scope], style="bold underline"), "", "")
        keys = ", ".join(format_key(k) for k in current.get(action.id, action.keys).split(","))
        table.add_row(keys, action.description, action.id)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, current_keys: dict[str, str]) -> None:
        super().__init__(id="help")
        self.current_keys = current_keys

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "smythtop help — Esc closes"
            yield Static(PANES_HELP, id="help-panes")
            yield Static(keys_table(self.current_keys), id="help-keys")
            yield Static("[dim]Rebind keys in ~/.config/smythtop/config.toml, section \\[keys], by binding id.[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
