"""The columnar WAL decode (`columns.read_table`, what `Tailer.poll` and `scan` use) against the per-record
msgspec decode (`framing.read_records`): same frames, values, order, damage and resume offset on every buffer,
whichever path decoded it. Payloads are built as raw msgpack arrays so that what a foreign or buggy writer could
put behind a good CRC (out-of-range values, other int and str widths, older shorter arrays, duplicated tag keys,
bad UTF-8, trailing bytes) is covered, not only what our encoder writes."""

from __future__ import annotations

import math
import struct
from typing import Any

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smythtop.store.columns import decode_columns, read_table, rows_to_arrow, rows_to_polars
from smythtop.store.framing import HEADER_SIZE, encode_frame, encode_header, encode_record, frame_records, read_records
from smythtop.store.schema import FIELDS, validate
from store_testlib import frame

NF = len(FIELDS)
TAGS = FIELDS.index("tags")


def _values(i: int, **fields: Any) -> list[Any]:
    """A valid frame's positional values (every field present, as our encoder writes it), with overrides."""
    row = list(msgspec.structs.astuple(validate(frame(i))))
    for name, value in fields.items():
        row[FIELDS.index(name)] = value
    return row


def _segment(payloads: list[bytes]) -> bytes:
    return encode_header() + b"".join(encode_record(p) for p in payloads)


def _pack(values: list[Any]) -> bytes:
    return msgspec.msgpack.encode(values)


def _with_raw(values: list[Any], name: str, raw: bytes) -> bytes:
    """`_pack(values)` with the field `name` as the given msgpack bytes."""
    index = FIELDS.index(name)
    parts = [raw if j == index else msgspec.msgpack.encode(v) for j, v in enumerate(values)]
    return b"\xdc" + len(values).to_bytes(2, "big") + b"".join(parts)


def _same(buf: bytes, *, start: int = 0, sealed: bool = True, has_header: bool = True) -> pl.DataFrame:
    """Both decoders agree on buf; returns the frames."""
    old = read_records(buf, start, sealed=sealed, has_header=has_header)
    new = read_table(buf, start, sealed=sealed, has_header=has_header)
    assert (new.end, new.damage) == (old.end, old.damage)
    assert new.table.equals(rows_to_arrow(old.rows), check_metadata=True)
    frames = pl.from_arrow(new.table)
    assert isinstance(frames, pl.DataFrame)
    assert frames.equals(rows_to_polars(old.rows)) and frames.schema == rows_to_polars([]).schema
    return frames


def _columnar(buf: bytes) -> bool:
    """Whether the vectorized decoder (not the per-record fallback) took the buffer."""
    return decode_columns(buf, frame_records(buf, sealed=True)) is not None


# Every width our encoder (and msgpack) uses for ints and strs, nils in every nullable field, all-nil columns,
# multi-byte UTF-8, maps from empty to map16, an account frame.
EDGES = [
    _values(0),
    _values(1, mem_delta_bytes=-1, mem_peak_bytes=127, input_bytes=128, output_bytes=2**53, retry_count=0),
    _values(2, mem_delta_bytes=-33, input_tokens=255, output_tokens=256, cache_read_tokens=65535, http_status=599),
    _values(3, mem_delta_bytes=-129, reasoning_tokens=65536, cache_write_tokens=2**32 - 1, context_window=2**32),
    _values(4, mem_delta_bytes=-(2**15) - 1, ts=2**63 - 1, mem_peak_bytes=0),
    _values(5, mem_delta_bytes=-(2**31) - 1, cache_write_1h_tokens=7, unrecorded=3),
    _values(6, mem_delta_bytes=-(2**53), agent_name="é" * 100, model="模型" * 40, error_type="x" * 256),
    _values(7, trace_id="t" * 31, span_id="s" * 32, component_id="c" * 255, config_hash="", tags={}),
    _values(8, tags={f"k{j}": "v" * j for j in range(20)}, operation="op", finish_reason="stop"),
    _values(9, tags={"big": "€" * 341, "emoji": "🙂" * 10}, total_ms=0.0, sample_rate=1e-300, quality=-0.0),
    _values(10, total_ms=1e10, complexity=1.0, mem_pressure=5e-324, tags=None, agent_name=None),
]


def test_edge_values_take_the_columnar_path_and_match() -> None:
    buf = _segment([_pack(v) for v in EDGES])
    assert _columnar(buf)  # else this test would only check the fallback against itself
    frames = _same(buf)
    assert frames.height == len(EDGES)
    assert frames["tags"].to_list()[8] == {f"k{j}": "v" * j for j in range(20)}  # the Map values are kept
    assert frames["mem_delta_bytes"].to_list()[:7] == [EDGES[k][FIELDS.index("mem_delta_bytes")] for k in range(7)]


def test_written_frames_and_mid_segment_reads_match() -> None:
    payloads = [encode_frame(validate(frame(i, tags={"n": str(i)} if i % 2 else None)))[8:] for i in range(40)]
    buf = _segment(payloads)
    assert _columnar(buf)
    _same(buf)
    cut = HEADER_SIZE + sum(8 + len(p) for p in payloads[:17])
    _same(buf[cut:], has_header=False)
    _same(buf[: cut + 20], sealed=False)  # a live segment with half a record at its end


# CRC-good payloads a foreign or buggy writer could produce: some are v1 frames to msgspec but not shapes our
# encoder writes, so the columnar decoder leaves them to msgspec ...
ACCEPTED = {
    "older shorter array": _pack(_values(50)[:37]),
    "int in a float field": _pack(_values(51, total_ms=5)),
    "long in bytes, short in chars": _pack(_values(52, agent_name="é" * 200)),
    "duplicated tag key": _with_raw(_values(53), "tags", b"\x82\xa1a\xa1x\xa1a\xa1y"),
    "duplicated key in a big map": _with_raw(
        _values(53), "tags", bytes([0x8A]) + b"".join(msgspec.msgpack.encode(f"k{j % 9}") * 2 for j in range(10))
    ),
    "float32": _with_raw(_values(54), "total_ms", b"\xca" + struct.pack(">f", 1.5)),
    "array too long (msgspec ignores the extra fields)": _pack([*_values(66), None]),
}
# ... and the others must be reported as damage with msgspec's own message.
REJECTED = {
    "out of range": _pack(_values(55, total_ms=-1.0)),
    "nan": _pack(_values(56, cost_usd=math.nan)),
    "nil where required": _pack(_values(57, agent_id=None)),
    "empty name": _pack(_values(58, component="")),
    "too long": _pack(_values(59, trace_id="t" * 257)),
    "uint64 past int64": _pack(_values(60, ts=2**64 - 1)),
    "uint64 past int64, signed field": _with_raw(_values(60), "mem_delta_bytes", b"\xcf" + b"\xff" * 8),
    "bool for an int": _pack(_values(61, retry_count=True)),
    "str for an int": _pack(_values(62, retry_count="1")),
    "bad utf-8": _pack(_values(63, model="MODEL")).replace(b"MODEL", b"MOD\xffL"),
    "surrogate": _pack(_values(64, model="MODEL")).replace(b"MODEL", "\ud800".encode("utf-8", "surrogatepass") + b"EL"),
    "trailing bytes": _pack(_values(65)) + b"\xc0",
    "too many tags": _pack(_values(67, tags={f"k{j}": "v" for j in range(65)})),
    "http status": _pack(_values(68, http_status=99)),
}


@pytest.mark.parametrize("case", [*ACCEPTED, *REJECTED])
def test_foreign_payload_between_good_records_matches(case: str) -> None:
    """A CRC-bad record and a foreign payload between good ones: both decoders return the same frames and the
    same damage, and the foreign payload is never decoded differently by the columnar path."""
    good = [encode_frame(validate(frame(i)))[8:] for i in range(6)]
    foreign = ACCEPTED.get(case) or REJECTED[case]
    buf = bytearray(_segment([*good[:3], foreign, *good[3:]]))
    buf[HEADER_SIZE + 8 + 3] ^= 0x40  # a bit flip in the first record's payload: CRC bad
    frames = _same(bytes(buf))
    damage = read_table(bytes(buf), sealed=True).damage
    assert damage[0].reason == "bad length or crc"
    if case in ACCEPTED:
        assert frames.height == 6 and len(damage) == 1
    else:
        assert frames.height == 5 and damage[1].reason.startswith("not a v1 frame: ")


frame_values = st.fixed_dictionaries(
    {
        "mem_delta_bytes": st.integers(-(2**53), 2**53),
        "input_tokens": st.integers(0, 2**53) | st.none(),
        "retry_count": st.integers(0, 1_000_000) | st.none(),
        "total_ms": st.floats(0.0, 1e10),
        "quality": st.floats(0.0, 1.0) | st.none(),
        "agent_name": st.text(max_size=300) | st.none(),
        "trace_id": st.text(max_size=40) | st.none(),
        "tags": st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=40), max_size=18) | st.none(),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame_values, min_size=1, max_size=4))
def test_generated_frames_match(rows: list[dict[str, Any]]) -> None:
    _same(_segment([_pack(_values(i, **fields)) for i, fields in enumerate(rows)]))
