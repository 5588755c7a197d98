"""Decoded rows to columns: one Arrow construction shared by compaction, scan and tail."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa
from smythtop.store.schema import FIELDS, arrow_schema

ARROW_SCHEMA = arrow_schema()


def rows_to_arrow(rows: Sequence[tuple]) -> pa.Table:
    """Positional frame tuples (on-disk field order) to a table with the exact v1 schema.

    Built column by column: polars' row constructor silently nulls Map values (polars 2.1).
    """
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(FIELDS)
    arrays = [pa.array(col, type=fld.type) for col, fld in zip(columns, ARROW_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def rows_to_polars(rows: Sequence[tuple]) -> pl.DataFrame:
    return pl.from_arrow(rows_to_arrow(rows))  # type: ignore[return-value]


def polars_schema() -> pl.Schema:
    """The polars schema of every frame that `scan` and `tail` return."""
    return rows_to_polars([]).schema
