"""A DataTable updated by diff, sorted by real values, whose cursor follows its row.

Textual's DataTable costs ~0.1 ms per cell update and far more to clear and refill (see
docs/APP.md), so `sync` touches only cells whose text changed, inside one `batch_update`. Cells carry
their raw value for sorting, and after any change the cursor moves back to the row key it was on,
because `DataTable.sort` keeps the cursor's position, not its row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from smythtop.safe_text import text, visible


@dataclass(frozen=True)
class Cell:
    """What a table cell shows, and the raw value it sorts by."""

    text: str
    value: Any = None
    style: str = ""
    right: bool = True

    def __rich__(self) -> Text:
        """Shown literally (`safe_text.text`): a name is never markup, and its controls are made visible."""
        shown = text(self.text, self.style)
        shown.justify, shown.no_wrap = "right" if self.right else "left", True
        return shown

    @property
    def sort_key(self) -> tuple:
        v = self.value if self.value is not None else self.text
        missing = self.value is None and self.right
        return (missing, v)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sortable: bool = True
    descending: bool = True  # the first press of `s` on this column puts the largest first
    width: int | None = None
    right: bool = True  # numbers are right-aligned, names left


Row = tuple[str, Sequence[Cell]]
FIT_MAX = 32  # widest a fitted column grows; longer names are cut


class DiffTable(DataTable):
    """Rows keyed by a stable string (the component, the model...).

    Every column has a fixed width (a column declared without one is fitted to its widest text when rows
    change): Textual re-measures auto widths only on idle, after some rows may already be cached at the
    old width, so auto widths leave rows misaligned; fixed widths also keep the layout from jittering."""

    def __init__(self, columns: Sequence[Column], *, sort_column: str | None = None, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.spec = list(columns)
        self.sort_column = sort_column
        self.sort_reversed = False
        self._rows: dict[str, Sequence[Cell]] = {}

    def on_mount(self) -> None:
        for col in self.spec:
            self.add_column(self._label(col), key=col.key, width=col.width or len(col.label) + 1)

    def _fit_columns(self) -> bool:
        """Give the columns declared without a width the width of their widest text (up to FIT_MAX)."""
        changed = False
        for i, col in enumerate(self.spec):
            if col.width is not None:
                continue
            texts = [len(visible(cells[i].text)) for cells in self._rows.values()]
            want = min(FIT_MAX, max([len(col.label) + 1, *texts]))
            column = self.columns[col.key]
            if column.width != want:
                column.width, changed = want, True
        return changed

    # ---- sorting --------------------------------------------------------------------------------

    @property
    def sortable(self) -> list[Column]:
        return [c for c in self.spec if c.sortable]

    def cycle_sort(self, *, reverse: bool) -> str | None:
        """`s` moves to the next sortable column; `S` reverses the current one. Returns a description."""
        cols = self.sortable
        if not cols:
            return None
        if reverse:
            self.sort_reversed = not self.sort_reversed
        else:
            keys = [c.key for c in cols]
            idx = keys.index(self.sort_column) if self.sort_column in keys else -1
            self.sort_column = keys[(idx + 1) % len(keys)]
            self.sort_reversed = False
        for col in self.spec:
            self.columns[col.key].label = self._label(col)
        self.refresh()
        self._apply_order()
        col = self._column(self.sort_column)
        return f"{col.label} {'ascending' if self._ascending(col) else 'descending'}"

    def _column(self, key: str | None) -> Column:
        return next(c for c in self.spec if c.key == key)

    def _ascending(self, col: Column) -> bool:
        return (not col.descending) != self.sort_reversed

    def _label(self, col: Column) -> Text:
        mark = " " if col.key != self.sort_column else "▲" if self._ascending(col) else "▼"
        return Text(f"{col.label}{mark}", justify="right" if col.right else "left")

    def _order(self) -> list[str]:
        keys = list(self._rows)
        if self.sort_column is None:
            return keys
        idx = [c.key for c in self.spec].index(self.sort_column)
        col = self.spec[idx]
        present = [k for k in keys if self._rows[k][idx].value is not None or not self._rows[k][idx].right]
        missing = [k for k in keys if k not in present]
        present.sort(key=lambda k: (self._rows[k][idx].sort_key, k), reverse=not self._ascending(col))
        return present + missing

    def _apply_order(self) -> None:
        """Sort only when the order differs, then put the cursor back on the row it was on."""
        want = self._order()
        have = [row.key.value for row in self.ordered_rows]
        if want == have:
            return
        cursor_key = self.cursor_key
        rank = {k: i for i, k in enumerate(want)}
        # Sorting by the row key's rank: the key function sees cell values only, so the first cell
        # of each row is looked up by identity in the rank map built from the same objects.
        by_first_cell = {id(self._rows[k][0]): rank[k] for k in want}
        self.sort(self.spec[0].key, key=lambda first: by_first_cell.get(id(first), len(rank)))
        self.restore_cursor(cursor_key)

    # ---- data -----------------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor can sit past the end for a moment after rows are removed
            return None

    def restore_cursor(self, key: str | None) -> None:
        if key is None or self.row_count == 0:
            return
        try:
            row = self.get_row_index(key)
        except RowDoesNotExist:
            return
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False, scroll=True)

    def sync(self, rows: Sequence[Row]) -> int:
        """Make the table show exactly `rows`, touching only what changed. Returns cells written."""
        cursor_key = self.cursor_key
        new = dict(rows)
        written = 0
        with self.app.batch_update():
            for key in [k for k in self._rows if k not in new]:
                self.remove_row(key)
                del self._rows[key]
            col_keys = [c.key for c in self.spec]
            for key, cells in rows:
                old = self._rows.get(key)
                if old is None:
                    self.add_row(*cells, key=key)
                    written += len(cells)
                else:
                    for col, before, after in zip(col_keys, old, cells, strict=True):
                        if before != after:
                            self.update_cell(key, col, after)
                            written += 1
                    # the stored cells must be the ones in the table: the sort looks them up by identity
                    cells = [a if a != b else b for a, b in zip(cells, old, strict=True)]
                self._rows[key] = list(cells)
            if self._fit_columns() and self._rows:
                # a width changed: rewrite one cell so Textual drops every row it rendered at the old width
                key, cells = next(iter(self._rows.items()))
                self.update_cell(key, self.spec[0].key, cells[0], update_width=True)
            self._apply_order()
            self.restore_cursor(cursor_key)
        return written
