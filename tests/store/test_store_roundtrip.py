"""Every field and type, nulls included, survives Writer -> scan (WAL) and Writer -> compact -> scan (Parquet);
the bytes on disk are what docs/FORMAT.md says, readable by an independent msgpack implementation."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgpack
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from smythtop.store.schema import FIELDS
from store_testlib import BASE_TS, OPTIONAL, expected_row, frame, full_frame, read_rows

from smythtop import store


def _frames() -> list[dict[str, Any]]:
    """A full frame, a required-only frame, and for every optional field one frame where only it is null
    (absent or explicitly None, alternately), so each column holds both values and nulls."""
    frames = [full_frame(0), frame(1)]
    for k, name in enumerate(OPTIONAL):
        f = full_frame(2 + k)
        if k % 2:
            f[name] = None
        else:
            del f[name]
        frames.append(f)
    return frames


def _write(root: Path, frames: list[dict[str, Any]], **kw: Any) -> None:
    with store.Writer(root, **kw) as w:
        for f in frames:
            w.append(f)
        assert (w.appended, w.rejected) == (len(frames), 0)


def test_scan_schema_is_the_contract(root: Path) -> None:
    _write(root, [frame(0)])
    schema = store.scan(root).collect_schema()
    assert list(schema) == list(FIELDS)
    assert schema["ts"] == pl.Datetime("ns", "UTC")
    assert schema["success"] == pl.Boolean
    assert schema["tags"] == pl.Map(pl.String, pl.String)
    assert schema["agent_id"] == pl.String and schema["model"] == pl.String
    assert schema["total_ms"] == pl.Float64 and schema["cost_usd"] == pl.Float64
    assert schema["input_tokens"] == pl.Int64 and schema["mem_delta_bytes"] == pl.Int64


def test_empty_store_scans_to_empty_frame_with_full_schema(root: Path) -> None:
    df = store.scan(root).collect()
    assert df.height == 0
    assert df.schema == store.polars_schema()
    root.mkdir()
    assert store.scan(root).collect().schema == store.polars_schema()


def test_round_trip_through_wal_and_parquet(root: Path) -> None:
    frames = _frames()
    expected = [expected_row(f) for f in frames]
    # Several small segments, so rows of one column come from several files.
    _write(root, frames, segment_bytes=2048, buffer_bytes=512)
    assert len(list((root / "wal").glob("*/*.wal"))) > 1
    assert read_rows(root) == expected

    result = store.compact(root)
    assert result.frames_written == len(frames)
    assert not list((root / "wal").glob("*/*.wal"))
    assert len(list((root / "parquet").glob("*.parquet"))) == 1
    assert read_rows(root) == expected


def test_round_trip_from_a_live_writer(root: Path) -> None:
    """Frames of a live writer (its last segment unsealed) are read once flushed, and survive its
    sealed segments being compacted while it keeps writing."""
    frames = _frames()
    half = len(frames) // 2
    w = store.Writer(root, segment_bytes=1024)
    try:
        for f in frames[:half]:
            w.append(f)
        w.flush()
        assert read_rows(root) == [expected_row(f) for f in frames[:half]]
        assert store.compact(root).frames_written > 0
        for f in frames[half:]:
            w.append(f)
        w.flush()
        assert read_rows(root) == [expected_row(f) for f in frames]
    finally:
        w.close()
    store.compact(root)
    assert read_rows(root) == [expected_row(f) for f in frames]


def test_parquet_file_schema_equals_arrow_schema(root: Path) -> None:
    frames = _frames()
    _write(root, frames)
    store.compact(root)
    (path,) = (root / "parquet").glob("*.parquet")
    schema = pq.read_schema(path)
    expected = store.arrow_schema()
    us = {f: f.removesuffix("_ms") + "_us" for f in FIELDS if f.endswith("_ms")}  # frame file v2: int64 µs
    assert schema.names == [us.get(f, f) for f in FIELDS]
    assert [f.type for f in schema] == [pa.int64() if f.name in us else f.type for f in expected]
    assert [f.nullable for f in schema] == [f.nullable for f in expected]
    assert schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert schema.field("tags").type == pa.map_(pa.string(), pa.string())
    assert schema.field("cost_usd").type == pa.float64()
    assert schema.field("input_tokens").type == pa.int64()
    assert schema.field("success").type == pa.bool_()
    assert schema.metadata[b"smythtop.schema_version"] == b"2"
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"

    # Read with pyarrow alone (no polars): the values are the frames, nulls included.
    table = pq.read_table(path)
    table = table.set_column(0, "ts", table.column("ts").cast(pa.int64()))
    rows = sorted(table.to_pylist(), key=lambda r: r["ts"])
    for row in rows:
        row["tags"] = None if row["tags"] is None else dict(row["tags"])
        for ms, name in us.items():
            value = row.pop(name)
            row[ms] = None if value is None else value / 1000
    assert [{f: r[f] for f in FIELDS} for r in rows] == [expected_row(f) for f in frames]


def test_unknown_scalar_fields_become_string_tags(root: Path) -> None:
    f = frame(0, tags={"env": "prod"}, region="eu", attempt=2, ratio=0.5, cached=True)
    g = frame(1, note="only-extra")
    _write(root, [f, g])
    for _ in range(2):  # WAL, then Parquet
        rows = read_rows(root)
        assert rows[0]["tags"] == {"env": "prod", "region": "eu", "attempt": "2", "ratio": "0.5", "cached": "True"}
        assert rows[1]["tags"] == {"note": "only-extra"}
        assert "region" not in rows[0]
        store.compact(root)


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, None, b"raw", (1,)])
def test_unknown_non_scalar_field_is_rejected_naming_it(root: Path, value: Any) -> None:
    with store.Writer(root) as w:
        with pytest.raises(store.FrameError) as err:
            w.append(frame(0, payload=value))
        assert err.value.field == "payload"
        assert "payload" in str(err.value)
        assert w.rejected == 1
        w.append(frame(1))
    assert [r["ts"] for r in read_rows(root)] == [BASE_TS + 1]


def test_any_mapping_is_accepted(root: Path) -> None:
    _write(root, [MappingProxyType(frame(0))])  # type: ignore[list-item]
    assert read_rows(root) == [expected_row(frame(0))]


def test_since_until_filter_both_paths(root: Path) -> None:
    from datetime import UTC, datetime

    _write(root, [frame(i) for i in range(10)])
    for _ in range(2):
        assert [r["ts"] - BASE_TS for r in read_rows(root, since=BASE_TS + 3, until=BASE_TS + 7)] == [3, 4, 5, 6]
        assert len(read_rows(root, since=BASE_TS + 9)) == 1
        assert len(read_rows(root, until=BASE_TS)) == 0
        dt = datetime.fromtimestamp(BASE_TS // 10**9, UTC)  # BASE_TS is a whole second
        assert len(read_rows(root, since=dt)) == 10
        assert len(read_rows(root, until=dt)) == 0
        store.compact(root)


def _segment_records(path: Path) -> tuple[bytes, list[bytes]]:
    """Split a segment by hand, following docs/FORMAT.md: 16-byte header, then u32 len | u32 crc | payload."""
    data = path.read_bytes()
    header, pos, payloads = data[:16], 16, []
    while pos < len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8 : pos + 8 + length]
        assert len(payload) == length and zlib.crc32(payload) == crc
        payloads.append(payload)
        pos += 8 + length
    return header, payloads


def test_on_disk_records_are_plain_msgpack(root: Path) -> None:
    frames = [full_frame(7), frame(8, region="eu")]
    _write(root, frames)
    (seg,) = (root / "wal").glob("*/*.wal")
    header, payloads = _segment_records(seg)
    assert header == bytes.fromhex("534d59544857414c0100000006a2e2ba")
    assert len(payloads) == 2
    expected = [expected_row(frames[0]), expected_row({**frame(8), "tags": {"region": "eu"}})]
    for payload, want in zip(payloads, expected, strict=True):
        decoded = msgpack.unpackb(payload)
        assert isinstance(decoded, list)
        assert len(decoded) == len(FIELDS)
        assert dict(zip(FIELDS, decoded, strict=True)) == want


def _foreign_segment(records: list[list[Any]], single_float: bool) -> bytes:
    out = bytearray(bytes.fromhex("534d59544857414c0100000006a2e2ba"))
    for rec in records:
        payload = msgpack.packb(rec, use_single_float=single_float)
        out += struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
    return bytes(out)


def test_a_foreign_writer_following_format_md_is_read(root: Path) -> None:
    """A segment written with the independent msgpack package (short arrays, float32, nil optionals)
    by a dead writer is scanned and compacted like our own."""
    full = full_frame(3)
    records = [
        [BASE_TS + 1, "ext-agent", "Tool", 2.5, False],  # trailing optionals omitted
        [full[f] for f in FIELDS],
        [BASE_TS + 2, "ext-agent", "Tool", 0.5, True, None, None, None, None, None, 1.0],
    ]
    writer_dir = root / "wal" / "foreign-1-0000abcd"
    writer_dir.mkdir(parents=True)
    (writer_dir / "LOCK").touch()
    (writer_dir / "000001.wal").write_bytes(_foreign_segment(records[:2], single_float=False))
    (writer_dir / "000002.wal").write_bytes(_foreign_segment(records[2:], single_float=True))
    expected = sorted(
        [
            expected_row(dict(zip(FIELDS, records[0], strict=False))),
            expected_row(full),
            expected_row(dict(zip(FIELDS, records[2], strict=False))),
        ],
        key=lambda r: r["ts"],
    )
    assert store.check(root).damaged_bytes == 0
    assert read_rows(root) == expected
    assert store.compact(root).frames_written == 3
    assert read_rows(root) == expected


def test_files_written_before_the_capture_fields_still_read(tmp_path: Path) -> None:
    """Fields 37-41 were appended to v1: a Parquet file written without their columns reads them as null."""
    root = tmp_path / "store"
    with store.Writer(root) as w:
        w.append(frame(1))
    store.compact(root)
    (published,) = (root / "parquet").glob("*.parquet")
    table = pq.read_table(published)
    pq.write_table(table.select(table.column_names[:37]), published, compression="zstd", write_page_checksum=True)
    with store.Writer(root) as w:
        w.append(frame(2))
    rows = read_rows(root)
    assert [r["ts"] for r in rows] == [BASE_TS + 1, BASE_TS + 2]
    assert all(r[f] is None for r in rows for f in ("response_model", "operation", "http_status", "finish_reason"))
