"""What the first paint reads: account frames are read only from row groups that hold one (their `unrecorded`
statistics), so a reload on a store without lost executions decodes no row group for them."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from smythtop.store.columns import ARROW_SCHEMA
from smythtop.store.pqfiles import read_verified

ROWS = 200
PER_GROUP = 100  # two row groups: the first without an account frame, the second with one


class CountingReader(io.BytesIO):
    """A file whose reads are counted, so a test sees which row groups were decoded."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def _file(tmp_path: Path) -> bytes:
    columns = {f.name: [None] * ROWS for f in ARROW_SCHEMA}
    columns.update(
        ts=list(range(ROWS)),
        agent_id=["a"] * ROWS,
        component=[f"c{i}" for i in range(ROWS)],
        total_ms=[1.0] * ROWS,
        success=[True] * ROWS,
        sample_rate=[1.0] * ROWS,
        unrecorded=[3 if i == 150 else None for i in range(ROWS)],
    )
    path = tmp_path / "frames.parquet"
    pq.write_table(pa.Table.from_pydict(columns, schema=ARROW_SCHEMA), path, row_group_size=PER_GROUP)
    return path.read_bytes()


def test_account_reads_skip_the_row_groups_without_an_account_frame(tmp_path: Path) -> None:
    data = _file(tmp_path)
    every = CountingReader(data)
    all_rows = read_verified(every, ["ts", "component", "unrecorded"], lo=0)
    assert all_rows.num_rows == ROWS

    accounts = CountingReader(data)
    table = read_verified(accounts, ["ts", "component", "unrecorded"], lo=0, accounts=True)
    assert table.column("component").to_pylist() == ["c150"]  # only the account frame, all columns right
    assert table.column("unrecorded").to_pylist() == [3]
    assert accounts.read_bytes < every.read_bytes  # the first row group was never read

    none = CountingReader(data)
    assert read_verified(none, ["ts", "unrecorded"], lo=0, hi=PER_GROUP, accounts=True).num_rows == 0
