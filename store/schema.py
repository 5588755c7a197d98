"""The frame contract, v1: one place that defines every field, its type and its limits.

The same field list drives validation at append (msgspec), the on-disk msgpack array order,
and the Arrow/polars schema, so the three can never drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1

MAX_ID_LEN = 256
MAX_STR_LEN = 1024
MAX_TAGS = 64
MAX_MS = 1e10  # about 116 days: larger is a unit error, not a duration
MAX_COUNT = 2**53  # token and byte counts stay exact in a float64 aggregation

Ms = Annotated[float, Meta(ge=0.0, le=MAX_MS)]
Fraction = Annotated[float, Meta(ge=0.0, le=1.0)]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
SignedCount = Annotated[int, Meta(ge=-MAX_COUNT, le=MAX_COUNT)]
Usd = Annotated[float, Meta(ge=0.0, le=1e9)]
Id = Annotated[str, Meta(max_length=MAX_ID_LEN)]
Text = Annotated[str, Meta(max_length=MAX_STR_LEN)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_ID_LEN)]
Tags = Annotated[dict[Name, Text], Meta(max_length=MAX_TAGS)]


class _Fields(msgspec.Struct, kw_only=True):
    """Field order here is the v1 on-disk order. Never reorder; only append."""

    ts: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    agent_id: Name
    component: Name
    total_ms: Ms
    success: bool
    agent_name: Id | None = None
    component_id: Id | None = None
    trace_id: Id | None = None
    span_id: Id | None = None
    parent_span_id: Id | None = None
    input_ms: Ms | None = None
    core_ms: Ms | None = None
    output_ms: Ms | None = None
    queue_ms: Ms | None = None
    mem_peak_bytes: Count | None = None
    mem_delta_bytes: SignedCount | None = None
    mem_pressure: Fraction | None = None
    input_bytes: Count | None = None
    output_bytes: Count | None = None
    complexity: Fraction | None = None
    model: Id | None = None
    provider: Id | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_read_tokens: Count | None = None
    cache_write_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    cost_usd: Usd | None = None
    context_window: Count | None = None
    context_utilization: Fraction | None = None
    quality: Fraction | None = None
    ttft_ms: Ms | None = None
    error_type: Id | None = None
    config_hash: Id | None = None
    retry_count: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None
    sample_rate: Annotated[float, Meta(gt=0.0, le=1.0)] = 1.0
    tags: Tags | None = None
    # v1 extension (zero-code capture): appended, so every older array and Parquet file still reads.
    response_model: Id | None = None
    operation: Id | None = None
    http_status: Annotated[int, Meta(ge=100, le=599)] | None = None
    finish_reason: Id | None = None
    cache_write_1h_tokens: Count | None = None
    # An account, not an execution: this many executions of `component` were not recorded (the recorder's
    # buffer was full, the store refused or could not take them; reason in tags["smythtop.reason"]).
    unrecorded: Count | None = None


class Frame(_Fields, kw_only=True):
    """A validated frame, built from a mapping by `validate`."""


class FrameRow(_Fields, kw_only=True, array_like=True):
    """The same frame as the positional msgpack array written on disk."""


class TrustedRow(_Fields, kw_only=True, array_like=True, gc=False):
    """A frame in the on-disk array shape that `Writer.append_many` encodes without validating it: whoever builds
    one vouches for every field, as the recorder does for its plain frames (`Collector._frames`).
    Only scalars are ever set on one (never `tags`), so it can hold no reference cycle and is left out of the
    garbage collector (gc=False): the flush thread keeps thousands alive per batch, and as tracked objects
    they triggered a gen0 collection every ~700 (and, every tenth, a gen1 one over the buffered trackers)."""


ACCOUNT_REASON_TAG = "smythtop.reason"  # an account frame's reason: buffer_full, store_unavailable, rejected, ...

FIELDS: tuple[str, ...] = Frame.__struct_fields__
FIELD_SET = frozenset(FIELDS)
REQUIRED: tuple[str, ...] = FIELDS[:5]

_FLOAT_FIELDS = {
    "total_ms", "input_ms", "core_ms", "output_ms", "queue_ms", "mem_pressure", "complexity",
    "cost_usd", "context_utilization", "quality", "ttft_ms", "sample_rate",
}  # fmt: skip
_INT_FIELDS = {
    "mem_peak_bytes", "mem_delta_bytes", "input_bytes", "output_bytes", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "context_window", "retry_count", "http_status", "cache_write_1h_tokens", "unrecorded",
}  # fmt: skip


class FrameError(ValueError):
    """A frame that breaks the contract; `field` names the offending field."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(f"invalid frame field `{field}`: {message}" if field else f"invalid frame: {message}")


def _error_field(err: msgspec.ValidationError) -> str | None:
    text = str(err)
    if "`$." in text:
        return text.split("`$.", 1)[1].split("`", 1)[0].split("[", 1)[0].split(".", 1)[0]
    if "missing required field `" in text:
        return text.split("missing required field `", 1)[1].split("`", 1)[0]
    return None


def _scalar_tag(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return repr(value)
    raise FrameError(
        key, f"unknown field with a {type(value).__name__} value; extra fields must be scalars (kept as tags)"
    )


def validate(frame: Any) -> Frame:
    """Check a mapping against the contract; unknown scalar fields are kept as string tags."""
    if not isinstance(frame, dict):
        try:
            frame = dict(frame)
        except (TypeError, ValueError) as exc:
            raise FrameError(None, f"expected a mapping, got {type(frame).__name__}") from exc
    if not frame.keys() <= FIELD_SET:
        extra = {k: v for k, v in frame.items() if k not in FIELD_SET}
        if not all(isinstance(k, str) for k in extra):
            raise FrameError(None, "field names must be strings")
        frame = {k: v for k, v in frame.items() if k in FIELD_SET}
        tags = dict(frame.get("tags") or {})
        tags.update({k: _scalar_tag(k, v) for k, v in extra.items()})
        frame["tags"] = tags
    if frame.get("sample_rate", 1.0) is None:
        frame = {**frame, "sample_rate": 1.0}
    try:
        return msgspec.convert(frame, Frame)
    except msgspec.ValidationError as err:
        field = _error_field(err)
        msg = str(err).split(" - at ", 1)[0]
        if field in _FLOAT_FIELDS and ("<=" in msg or ">=" in msg or ">" in msg):
            msg += " (NaN and infinite values are rejected)"
        raise FrameError(field, msg) from None


def valid_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames that pass `validate`, in order (what `Writer.append_many` keeps: it says how many, not which)."""
    good = []
    for frame in frames:
        try:
            validate(frame)
        except FrameError:
            continue
        good.append(frame)
    return good


def arrow_schema():  # -> pyarrow.Schema; pyarrow is imported lazily to keep the writer light
    """The Parquet/Arrow schema of a frame, in on-disk field order."""
    import pyarrow as pa

    def typ(name: str) -> pa.DataType:
        if name == "ts":
            return pa.timestamp("ns", tz="UTC")
        if name == "success":
            return pa.bool_()
        if name == "tags":
            return pa.map_(pa.string(), pa.string())
        if name in _FLOAT_FIELDS:
            return pa.float64()
        if name in _INT_FIELDS:
            return pa.int64()
        return pa.string()

    nullable = set(FIELDS) - set(REQUIRED) - {"sample_rate"}
    schema = pa.schema([pa.field(f, typ(f), nullable=f in nullable) for f in FIELDS])
    return schema.with_metadata({b"smythtop.schema_version": str(SCHEMA_VERSION).encode()})
