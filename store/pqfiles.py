"""Published Parquet files read with their page checksums verified, and damaged ones moved aside.

Every file the compactor writes carries a CRC32 per page (`write_page_checksum=True`). pyarrow checks
them when asked (`page_checksum_verification=True`); polars' own reader does not, and in a probe of 60
single-bit flips it returned changed values for 36 of them without an error. So every read of a
published file goes through `read_verified`, and a file that fails is damage: it is skipped and moved
to `quarantine/`, and everything else keeps working.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from smythtop.store.framefile import read_table
from smythtop.store.paths import QUARANTINE_DIR

# What pyarrow raises on damaged bytes: OSError for a bad page checksum or an undecodable Thrift
# header, ArrowInvalid (a ValueError) for a truncated file or a column of the wrong length, and other
# ArrowException subclasses for other nonsense. A vanished or unreadable file is not damage.
DAMAGE_ERRORS = (OSError, pa.ArrowException)
NOT_DAMAGE = (FileNotFoundError, PermissionError)

_TS = pa.timestamp("ns", tz="UTC")


def read_verified(
    source: Path | BinaryIO,
    columns: list[str] | None = None,
    lo: int | None = None,
    hi: int | None = None,
    *,
    accounts: bool = False,
) -> pa.Table:
    """The file's rows (only `columns`, and only `lo <= ts < hi`), every page read checked against its
    CRC; raises one of DAMAGE_ERRORS on damage. Row groups outside the range are pruned by statistics.

    With `accounts`, only account frames (`unrecorded` set): a row group whose `unrecorded` statistics say
    it is all null holds none and is skipped unread, so a store without lost executions (the usual one) answers
    the app's account read at each reload from the footers alone (the 15-minute window of the 10M-frame bench
    store: ~30 ms of decoding the window's ts, ids, names and tags, then filtering every row out)."""
    conditions = []
    if lo is not None:
        conditions.append(pc.field("ts") >= pa.scalar(lo, _TS))
    if hi is not None:
        conditions.append(pc.field("ts") < pa.scalar(hi, _TS))
    if accounts:
        conditions.append(pc.field("unrecorded").is_valid())
    where = None
    for condition in conditions:
        where = condition if where is None else where & condition
    return read_table(source, columns, where)  # v1 or v2 (`framefile`), as the v1 schema


def read_or_quarantine(
    root: Path,
    path: Path,
    source: Path | BinaryIO | None = None,
    columns: list[str] | None = None,
    lo: int | None = None,
    hi: int | None = None,
    *,
    accounts: bool = False,
) -> pa.Table | None:
    """`read_verified` of `source` (default: `path`, the published file), or None if it is damaged: then
    `path` is quarantined, so the caller skips it and goes on with the other files."""
    try:
        return read_verified(path if source is None else source, columns, lo, hi, accounts=accounts)
    except NOT_DAMAGE:
        raise
    except DAMAGE_ERRORS:
        quarantine_parquet(root, path)
        return None


def verify(path: Path) -> int:
    """Read every page of every row group (one group in memory at a time); the row count, or raise."""
    pf = pq.ParquetFile(path, page_checksum_verification=True)
    rows = 0
    for i in range(pf.num_row_groups):
        group = pf.read_row_group(i)
        if group.num_rows != pf.metadata.row_group(i).num_rows:
            raise pa.ArrowInvalid(f"row group {i} has {group.num_rows} rows, its footer says otherwise")
        rows += group.num_rows
    return rows


def quarantine_parquet(root: Path, path: Path) -> bool:
    """Move a damaged file into `quarantine/` under its own (unique) name, so no reader or merge meets it
    again; a rename within the store, so no byte is copied or lost. Best effort: on a read-only store, or
    one no compactor has set up yet (no `quarantine/`), the file stays and readers keep skipping it."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW  # never follow a symlinked directory out of the store
    try:
        src = os.open(path.parent, flags)
    except OSError:
        return False
    try:
        dst = os.open(root / QUARANTINE_DIR, flags)
    except OSError:
        os.close(src)
        return False
    try:
        os.rename(path.name, path.name, src_dir_fd=src, dst_dir_fd=dst)
        os.fsync(dst)
        os.fsync(src)
    except OSError:
        return False
    finally:
        os.close(src)
        os.close(dst)
    return True
