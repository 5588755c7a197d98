"""Bad frames are rejected at append with the field named, counted, and never poison the segment."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from smythtop.store.framing import read_records
from store_testlib import BASE_TS, expected_row, frame, read_rows

from smythtop import store

_MISSING = object()

BAD: list[tuple[str, Any, str]] = [
    # (field, value or _MISSING, why)
    *[(name, _MISSING, "missing required") for name in ("ts", "agent_id", "component", "total_ms", "success")],
    ("ts", "1700000000", "str for int"),
    ("ts", 1.5, "float for int"),
    ("ts", -1, "negative ts"),
    ("ts", 2**63, "ts beyond int64"),
    ("success", 1, "int for bool"),
    ("success", "true", "str for bool"),
    ("input_tokens", True, "bool for int"),
    ("mem_peak_bytes", False, "bool for int"),
    ("retry_count", 1.0, "float for int"),
    ("input_tokens", -1, "negative count"),
    ("output_tokens", 2**53 + 1, "count beyond 2^53"),
    ("total_ms", math.nan, "NaN"),
    ("core_ms", math.inf, "inf"),
    ("ttft_ms", -math.inf, "-inf"),
    ("cost_usd", math.nan, "NaN cost"),
    ("mem_pressure", math.nan, "NaN fraction"),
    ("total_ms", -0.001, "negative duration"),
    ("queue_ms", -5, "negative duration"),
    ("total_ms", 1e11, "duration beyond limit (unit error)"),
    ("total_ms", "12", "str for float"),
    ("cost_usd", -0.01, "negative cost"),
    ("quality", 1.5, "fraction above 1"),
    ("context_utilization", -0.1, "fraction below 0"),
    ("agent_id", "a" * 257, "over-long id"),
    ("agent_id", "", "empty id"),
    ("component", 42, "int for str"),
    ("model", "m" * 257, "over-long string"),
    ("error_type", "e" * 10_000, "very long string"),
    ("sample_rate", 0.0, "sample_rate 0"),
    ("sample_rate", 0, "sample_rate int 0"),
    ("sample_rate", 1.5, "sample_rate > 1"),
    ("sample_rate", -0.5, "negative sample_rate"),
    ("sample_rate", math.nan, "NaN sample_rate"),
    ("tags", {"k": 1}, "non-str tag value"),
    ("tags", {"k": "v" * 1025}, "over-long tag value"),
    ("tags", {"": "v"}, "empty tag key"),
    ("tags", {f"k{i}": "v" for i in range(65)}, "too many tags"),
    ("tags", ["k", "v"], "tags not a map"),
]


def _bad(field: str, value: Any) -> dict[str, Any]:
    f = frame(1)
    if value is _MISSING:
        del f[field]
    else:
        f[field] = value
    return f


@pytest.mark.parametrize(("field", "value", "why"), BAD, ids=[f"{f}-{why}" for f, _, why in BAD])
def test_bad_frame_rejected_naming_field(root: Path, field: str, value: Any, why: str) -> None:
    with store.Writer(root) as w:
        w.append(frame(0))
        with pytest.raises(store.FrameError) as err:
            w.append(_bad(field, value))
        assert err.value.field == field, str(err.value)
        assert f"`{field}`" in str(err.value)
        assert isinstance(err.value, ValueError)
        w.append(frame(2))
        assert (w.appended, w.rejected) == (2, 1)
    assert [r["ts"] - BASE_TS for r in read_rows(root)] == [0, 2]


def test_good_values_at_the_limits_are_accepted(root: Path) -> None:
    edge = [
        frame(0, ts=0),
        frame(1, sample_rate=1e-9, total_ms=0, quality=0.0, context_utilization=1),
        frame(2, agent_id="a" * 256, model="m" * 256, tags={"k" * 256: "v" * 1024}),
        frame(3, mem_delta_bytes=-(2**53), output_tokens=2**53, sample_rate=None),
        frame(4, tags={f"k{i}": "v" for i in range(64)}),
    ]
    with store.Writer(root) as w:
        for f in edge:
            w.append(f)
        assert w.rejected == 0
    assert read_rows(root) == sorted((expected_row(f) for f in edge), key=lambda r: r["ts"])


def test_non_mapping_is_rejected(root: Path) -> None:
    with store.Writer(root) as w:
        for bad in (42, "frame", None, [1, 2, 3]):
            with pytest.raises(store.FrameError):
                w.append(bad)  # type: ignore[arg-type]
        assert w.rejected == 4 and w.appended == 0


def test_rejected_frames_never_poison_the_segment(root: Path) -> None:
    """Interleave every bad frame with good ones, across rotations: every good frame reads back,
    the segments hold no damage, and nothing of a bad frame reached the disk."""
    good_ids = []
    with store.Writer(root, segment_bytes=1024, buffer_bytes=256) as w:
        for k, (field, value, _) in enumerate(BAD):
            w.append(frame(10 * k))
            good_ids.append(10 * k)
            bad = _bad(field, value)
            if field != "ts":
                bad["ts"] = BASE_TS + 10 * k + 1  # would show up in the scan if it got through
            with pytest.raises(store.FrameError):
                w.append(bad)
            if k % 7 == 0:
                w.flush()
        assert (w.appended, w.rejected) == (len(BAD), len(BAD))
    for seg in (root / "wal").glob("*/*.wal"):
        read = read_records(seg.read_bytes(), sealed=True)
        assert read.damage == []
    report = store.check(root)
    assert (report.wal_frames, report.damaged_bytes) == (len(BAD), 0)
    assert [r["ts"] - BASE_TS for r in read_rows(root)] == good_ids
    store.compact(root)
    assert [r["ts"] - BASE_TS for r in read_rows(root)] == good_ids


def test_append_many_returns_errors_and_keeps_good_frames(root: Path) -> None:
    batch = [
        frame(0),
        _bad("total_ms", math.nan),
        frame(1),
        _bad("agent_id", _MISSING),
        frame(2, region="eu"),
        _bad("input_tokens", True),
        frame(3, blob=[1]),
    ]
    with store.Writer(root) as w:
        errors = w.append_many(batch)
        assert [e.field for e in errors] == ["total_ms", "agent_id", "input_tokens", "blob"]
        assert all(isinstance(e, store.FrameError) for e in errors)
        assert (w.appended, w.rejected) == (3, 4)
        assert w.append_many([]) == []
    rows = read_rows(root)
    assert [r["ts"] - BASE_TS for r in rows] == [0, 1, 2]
    assert rows[2]["tags"] == {"region": "eu"}


def test_closed_writer_refuses_appends(root: Path) -> None:
    w = store.Writer(root)
    w.append(frame(0))
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError):
        w.append(frame(1))
    assert [r["ts"] - BASE_TS for r in read_rows(root)] == [0]


def test_a_trusted_row_is_written_as_is_in_order_with_validated_frames(root: Path) -> None:
    """`TrustedRow`s (the recorder's plain frames) skip validation, not encoding: their records are the bytes the
    same frame gets as a mapping, and a batch mixing both keeps its order, across writes of a full buffer, and
    rejects only its bad mappings. A row that breaks the contract is written, and read back as damage."""
    from smythtop.store.framing import encode_frames
    from smythtop.store.schema import TrustedRow

    rows = [TrustedRow(**frame(i, span_id=f"{i:016x}")) for i in (0, 2)]
    assert encode_frames(rows) == encode_frames([frame(i, span_id=f"{i:016x}") for i in (0, 2)])
    lie = TrustedRow(**frame(4, total_ms=-1.0))  # the writer takes its maker's word; the reader does not
    with store.Writer(root, buffer_bytes=200) as w:  # a write every record or two
        errors = w.append_many([rows[0], frame(1), _bad("total_ms", math.nan), rows[1], lie, frame(3)])
        assert [e.field for e in errors] == ["total_ms"]
        assert (w.appended, w.rejected) == (5, 1) and 0 < w.flushed < 5  # written per full buffer, the rest held
    assert w.flushed == 5  # at close: every appended frame counted once
    (segment,) = (root / "wal").glob("*/*.wal")
    read = read_records(segment.read_bytes(), sealed=True)
    assert [(row[0] - BASE_TS, row[3]) for row in read.rows] == [(0, 0.25), (1, 1.25), (2, 2.25), (3, 3.25)]
    assert [d.reason.split(":")[0] for d in read.damage] == ["not a v1 frame"]  # why the recorder checks its rows
