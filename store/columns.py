"""Decoded rows to columns: one Arrow construction shared by compaction, scan and tail.

`read_table` also decodes WAL records straight into Arrow columns, without a Python object per value:
numpy walks all records one field at a time (a vector of read positions, one per record), so the live
tick's read of 10K frames costs a fixed number of array operations per field instead of ~43 Python
objects per frame (bench_store, "Tailer.poll, 10K realistic frames": the per-record msgspec decode
plus `rows_to_polars` cost ~8 us a frame quiet; the whole poll now takes 0.37-0.47x of that decode
alone, measured under load on 2 cores). It handles only the shapes our encoder writes
and checks every constraint of the schema; anything else (an older, shorter array, an int in a float
field, a string longer in bytes than its character limit, a duplicated tag key, bad UTF-8, a value out
of range...) rejects the whole batch, which is then decoded record by record by msgspec exactly as
before, so the result and the damage reported never depend on which path ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from smythtop.store.framing import Damage, Framed, decode_rows, frame_records
from smythtop.store.schema import FIELDS, FrameRow, arrow_schema

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


def tables_to_polars(tables: Sequence[pa.Table]) -> pl.DataFrame:
    """Tables of `read_table` as one DataFrame (the empty frame of the schema when there are none)."""
    if not tables:
        return rows_to_polars([])
    return pl.from_arrow(pa.concat_tables(tables) if len(tables) > 1 else tables[0])  # type: ignore[return-value]


def polars_schema() -> pl.Schema:
    """The polars schema of every frame that `scan` and `tail` return."""
    return rows_to_polars([]).schema


@dataclass(slots=True)
class TableRead:
    """`framing.ReadResult` with the frames as one Arrow table of the v1 schema."""

    table: pa.Table
    end: int = 0
    damage: list[Damage] = field(default_factory=list)


def read_table(buf: bytes | memoryview, start: int = 0, *, sealed: bool, has_header: bool = True) -> TableRead:
    """`framing.read_records` as a table: same frames in the same order, same damage, same resume offset."""
    framed = frame_records(buf, start, sealed=sealed, has_header=has_header)
    table = decode_columns(buf, framed)
    if table is not None:
        return TableRead(table, framed.end, framed.damage)
    read = decode_rows(buf, framed)
    return TableRead(rows_to_arrow(read.rows), read.end, read.damage)


class _Reject(Exception):
    """The batch holds something the vectorized decoder does not prove valid: msgspec decides instead."""


_INFO = msgspec.inspect.type_info(FrameRow)
# msgpack marker bytes
_NIL, _FALSE, _TRUE, _FLOAT64, _UINT64 = 0xC0, 0xC2, 0xC3, 0xCB, 0xCF
_STR8, _STR16, _MAP16, _ARRAY16 = 0xD9, 0xDA, 0xDE, 0xDC
_I64_MAX = 2**63 - 1
_I32_MAX = 2**31 - 1


def _lut(values: dict[int, int]) -> np.ndarray:
    table = np.zeros(256, np.int64)
    table[list(values)] = list(values.values())
    return table


_FIXINTS = {**{m: m for m in range(0x80)}, **{m: m - 0x100 for m in range(0xE0, 0x100)}}  # marker: value
_FIXSTRS = range(0xA0, 0xC0)
# Per marker byte, int64 lookup tables. Widths: the bytes a value takes, 0 where the marker is not of that kind.
_FLOAT_WIDTH = _lut({_FLOAT64: 9})  # our encoder writes floats as float64 (msgspec takes ints and float32 too)
_BOOL_WIDTH = _lut({_FALSE: 1, _TRUE: 1})
_INT_WIDTH = _lut(
    {**dict.fromkeys(_FIXINTS, 1), 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}
)
_FIXINT = _lut(_FIXINTS)
_INT_SHIFT = _lut({0xCC: 56, 0xCD: 48, 0xCE: 32, 0xD0: 56, 0xD1: 48, 0xD2: 32})  # of the 8 bytes after the marker
# A str's header bytes (fixstr, str8, str16; str32 only exceeds our limits), and a fixstr's length.
_STR_WIDTH = _lut({**dict.fromkeys(_FIXSTRS, 1), _STR8: 2, _STR16: 3})
_FIXSTR_LEN = _lut({m: m & 0x1F for m in _FIXSTRS})
_MAP_WIDTH = _lut({**dict.fromkeys(range(0x80, 0x90), 1), _MAP16: 3})
_WIDTHS = {
    msgspec.inspect.FloatType: _FLOAT_WIDTH,
    msgspec.inspect.IntType: _INT_WIDTH,
    msgspec.inspect.BoolType: _BOOL_WIDTH,
    msgspec.inspect.StrType: _STR_WIDTH,
    msgspec.inspect.DictType: _MAP_WIDTH,
}


@dataclass(frozen=True, slots=True)
class _Field:
    """A schema field as the decoder needs it: its msgspec type info, Arrow type, and marker widths (for a nullable
    field a nil also takes one byte: it is then a zero-length str or map)."""

    info: msgspec.inspect.Type
    nullable: bool
    arrow: pa.DataType
    width: np.ndarray

    @classmethod
    def of(cls, info: msgspec.inspect.Type, arrow: pa.DataType) -> _Field:
        nullable = isinstance(info, msgspec.inspect.UnionType)
        if nullable:
            (info,) = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        width = _WIDTHS.get(type(info), _lut({})).copy()
        if nullable:
            width[_NIL] = 1
        return cls(info, nullable, arrow, width)


_FIELDS = [_Field.of(f.type, a.type) for f, a in zip(_INFO.fields, ARROW_SCHEMA, strict=True)]


# A str or map must end within its record (checked), so a read position passes its record's end only through the
# fixed-width values (9 bytes at most) that follow the record's last str: with this much zeroed padding every read
# stays inside the array, and the position, which only grows, can never come back to the record's end.
_PAD = 9 * len(FIELDS) + 16


@dataclass(slots=True)
class _Cursor:
    """The raw buffer, its records, and its 8-byte big-endian words at every byte offset (strided views)."""

    raw: pa.Buffer
    bytes_: np.ndarray
    words: np.ndarray
    floats: np.ndarray
    ends: np.ndarray  # of each record's payload
    every: pa.Array  # 0, 2, 4...: the even indices that `_string_array` takes

    @classmethod
    def over(cls, buf: bytes | memoryview, ends: np.ndarray) -> _Cursor:
        padded = np.empty(len(buf) + _PAD, np.uint8)
        padded[: len(buf)] = np.frombuffer(buf, np.uint8)
        padded[len(buf) :] = 0
        words = np.ndarray((len(buf) + _PAD - 8,), ">u8", padded, 0, (1,))
        floats = np.ndarray((len(buf) + _PAD - 8,), ">f8", padded, 0, (1,))
        every = pa.array(np.arange(0, 2 * len(ends), 2))
        return cls(pa.py_buffer(padded), padded, words, floats, ends, every)


def _check_range(
    values: np.ndarray, null: np.ndarray | None, t: msgspec.inspect.IntType | msgspec.inspect.FloatType
) -> None:
    """Constraint checks as msgspec's; NaN fails every comparison, so it is rejected as msgspec rejects it."""
    if t.multiple_of is not None:
        raise _Reject
    ok = None
    for bound, holds in ((t.ge, np.greater_equal), (t.gt, np.greater), (t.le, np.less_equal), (t.lt, np.less)):
        if bound is not None:
            ok = holds(values, bound) if ok is None else ok & holds(values, bound)
    if ok is not None and not (ok if null is None else ok | null).all():
        raise _Reject


def _strings_at(
    cur: _Cursor,
    pos: np.ndarray,
    marker: np.ndarray,
    width: np.ndarray | None,
    null: np.ndarray | None,
    t: msgspec.inspect.StrType,
    limit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of the str at each position, where `width` holds its header bytes (None: no nil allowed, find
    them) and a nil where `null` gives an empty range; checks the lengths and that each ends by `limit` (its
    record's end)."""
    if t.pattern is not None:
        raise _Reject
    if width is None:
        width = _STR_WIDTH.take(marker)
        if not width.all():
            raise _Reject
    length = _FIXSTR_LEN.take(marker)
    if (width > 1).any():  # str8 and str16: the length follows the marker (a nil is one byte, like a fixstr)
        after = cur.bytes_.take(pos + 1).astype(np.int64)
        length = np.where(width == 2, after, np.where(width == 3, after << 8 | cur.bytes_.take(pos + 2), length))
    # Characters <= bytes: within the limit in bytes is within it in characters; longer goes to msgspec.
    if t.max_length is not None and (length > t.max_length).any():
        raise _Reject
    if t.min_length and ((length < t.min_length) if null is None else (length < t.min_length) & ~null).any():
        raise _Reject
    start = pos + width
    end = start + length
    if not (end <= limit).all():
        raise _Reject  # ran past its record: Arrow must never read out of the buffer
    return start, end


def _string_array(cur: _Cursor, start: np.ndarray, end: np.ndarray, null: np.ndarray | None) -> pa.Array:
    """The strings at [start, end) of the buffer: ascending, disjoint ranges (each inside its own record), so one
    binary array over the whole buffer with interleaved offsets holds them at even indices, and `take` gathers
    them. UTF-8 is checked only when a byte is not ASCII, by Arrow's validation (it rejects what Python's strict
    decoder does, surrogates too): a cast to string would check every string, and copy them."""
    bounds = np.empty(2 * len(start), np.int32)
    bounds[0::2], bounds[1::2] = start, end
    spans = pa.BinaryArray.from_buffers(pa.binary(), max(len(bounds) - 1, 0), [None, pa.py_buffer(bounds), cur.raw])
    if len(start) == len(cur.ends) and null is None:
        taken = spans.take(cur.every)
    else:
        taken = spans.take(pa.array(np.arange(0, len(bounds), 2), mask=null))
    strings = taken.view(pa.string())
    data = taken.buffers()[2]
    if data is not None and (np.frombuffer(data, np.uint8) >= 0x80).any():
        strings.validate(full=True)
    return strings


def decode_columns(buf: bytes | memoryview, framed: Framed) -> pa.Table | None:
    """The framed payloads as a table of the v1 schema, or None when msgspec must decide (see the module)."""
    if not framed.starts:
        return rows_to_arrow([])
    if len(buf) + _PAD > _I32_MAX:
        return None  # string offsets are int32
    ends = np.frombuffer(framed.ends, np.int64)
    try:
        return _decode(_Cursor.over(buf, ends), np.frombuffer(framed.starts, np.int64))
    except (_Reject, pa.ArrowInvalid):
        return None


def _decode(cur: _Cursor, starts: np.ndarray) -> pa.Table:
    b = cur.bytes_
    n = len(starts)
    if not ((b[starts] == _ARRAY16) & (b[starts + 1] == 0) & (b[starts + 2] == len(FIELDS))).all():
        raise _Reject  # our encoder writes every field: a shorter (older) array goes to msgspec
    pos = starts + 3
    arrays = []
    for fld in _FIELDS:
        t = fld.info
        marker = b.take(pos)
        width = fld.width.take(marker)
        if not width.all():
            raise _Reject  # a marker of another kind (or a nil where none is allowed)
        null: np.ndarray | None = None
        if fld.nullable:
            null = marker == _NIL
            if not null.any():
                null = None
            elif null.all():
                arrays.append(pa.nulls(n, fld.arrow))
                pos += 1
                continue
        if isinstance(t, msgspec.inspect.FloatType):
            values = cur.floats[pos + 1].astype(np.float64)
            _check_range(values, null, t)
            arrays.append(pa.array(values, type=fld.arrow, mask=null))
        elif isinstance(t, msgspec.inspect.IntType):
            if (width == 1).all():
                values = _FIXINT.take(marker)
            else:
                word = cur.words[pos + 1].astype(np.uint64)
                if ((marker == _UINT64) & (word > _I64_MAX)).any():
                    raise _Reject
                shift = _INT_SHIFT.take(marker)
                signed = word.view(np.int64) >> shift  # arithmetic: sign-extends int8-64
                unsigned = (word >> shift.astype(np.uint64)).view(np.int64)
                values = np.where(width == 1, _FIXINT.take(marker), np.where(marker >= 0xD0, signed, unsigned))
            _check_range(values, null, t)
            arrays.append(pa.array(values, type=fld.arrow, mask=null))
        elif isinstance(t, msgspec.inspect.BoolType):
            arrays.append(pa.array(marker == _TRUE, type=fld.arrow, mask=null))
        elif isinstance(t, msgspec.inspect.StrType):
            start, pos = _strings_at(cur, pos, marker, width, null, t, cur.ends)
            arrays.append(_string_array(cur, start, pos, null))
            continue
        elif isinstance(t, msgspec.inspect.DictType):
            arrays.append(_map_array(cur, pos, marker, null, t, fld.arrow))
            continue
        else:
            raise _Reject
        pos += width
    if not (pos == cur.ends).all():
        raise _Reject  # a payload with bytes left over, or one that ran into the next record
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def _map_array(
    cur: _Cursor,
    pos: np.ndarray,
    marker: np.ndarray,
    null: np.ndarray | None,
    t: msgspec.inspect.DictType,
    typ: pa.DataType,
) -> pa.Array:
    """A str -> str map per record (fixmap or map16, its marker checked); advances `pos` in place past it."""
    key_t, value_t = t.key_type, t.value_type
    if not (isinstance(key_t, msgspec.inspect.StrType) and isinstance(value_t, msgspec.inspect.StrType)):
        raise _Reject
    map16 = marker == _MAP16
    count = np.where(marker < 0x90, marker & 0x0F, 0)  # a fixmap, else a map16 or a nil
    if map16.any():
        count = np.where(map16, (cur.words[pos].astype(np.int64) >> 40) & 0xFFFF, count)
    if (t.max_length is not None and (count > t.max_length).any()) or t.min_length:
        raise _Reject  # duplicated keys would shrink msgspec's dict below the count: it decides
    pos += np.where(map16, 3, 1)
    offsets = np.zeros(len(pos) + 1, np.int32)
    np.cumsum(count, out=offsets[1:])
    bounds = np.empty((4, int(offsets[-1])), np.int64)  # key start, key end, value start, value end, entry order
    most = int(count.max())
    for k in range(most):
        rows = np.flatnonzero(count > k)
        at = offsets[rows] + k
        limit = cur.ends[rows]
        key_at = pos[rows]
        bounds[0, at], bounds[1, at] = _strings_at(cur, key_at, cur.bytes_.take(key_at), None, None, key_t, limit)
        value_at = bounds[1, at]
        bounds[2, at], bounds[3, at] = _strings_at(cur, value_at, cur.bytes_.take(value_at), None, None, value_t, limit)
        pos[rows] = bounds[3, at]
    keys = _string_array(cur, bounds[0], bounds[1], None)
    items = _string_array(cur, bounds[2], bounds[3], None)
    if most > 1 and _has_duplicate_key(keys, offsets, count, most):
        raise _Reject  # msgspec keeps the last value of a duplicated key
    return pa.MapArray.from_arrays(offsets, keys, items, type=typ, mask=None if null is None else pa.array(null))


def _has_duplicate_key(keys: pa.Array, offsets: np.ndarray, count: np.ndarray, most: int) -> bool:
    """Any map with a key twice: pairwise for small maps (tags hold a few keys), by hashing beyond."""
    if most > 8:
        owner = np.repeat(np.arange(len(count)), count)
        return bool(pl.DataFrame({"map": owner, "key": pl.from_arrow(keys)}).is_duplicated().any())
    for j in range(1, most):
        rows = np.flatnonzero(count > j)
        later = keys.take(offsets[rows] + j)
        for i in range(j):
            if pc.any(pc.equal(keys.take(offsets[rows] + i), later)).as_py():
                return True
    return False
