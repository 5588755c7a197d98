"""Hostile and malformed OTLP input: each gets the status the OTLP/HTTP spec names and a google.rpc.Status body,
the receiver keeps serving, and the store holds nothing from a refused request (and only the good spans of a
partly rejected one)."""

from __future__ import annotations

import gzip
import json
import socket
import time

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from serve_testlib import GOOD, JSON, PROTOBUF, Answer, attr, post, request, span_id, stored

from smythtop.serve import OtlpReceiver


def _status(answer: Answer, ctype: str = PROTOBUF) -> str:
    """The refusal's message, from the Status body in the request's encoding."""
    assert answer.headers["Content-Type"] == ctype
    if ctype == JSON:
        return json_format.Parse(answer.body, status_pb2.Status()).message
    return status_pb2.Status.FromString(answer.body).message


def _still_serving(receiver: OtlpReceiver, refused_before: int) -> None:
    """Nothing of the refused requests was stored, and a good request after them is."""
    assert stored(receiver.root) == []
    assert receiver.stats.refused == refused_before
    answer = post(receiver, request(GOOD).SerializeToString())
    assert answer.status == 200 and not answer.partial().HasField("partial_success")
    assert [f["model"] for f in stored(receiver.root)] == ["gpt-4.1"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _nested_json(depth: int) -> bytes:
    """One span whose attribute value is an array nested `depth` deep: valid JSON, past json_format's stack."""
    value = '{"stringValue": "x"}'
    for _ in range(depth):
        value = '{"arrayValue": {"values": [' + value + "]}}"
    span = f'{{"attributes": [{{"key": "k", "value": {value}}}]}}'
    return b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + span.encode() + b"]}]}]}"


def _nested_protobuf(depth: int) -> bytes:
    """The same in protobuf: AnyValue.array_value (field 5) -> ArrayValue.values (field 1), `depth` times."""
    value = AnyValue(string_value="x").SerializeToString()
    for _ in range(depth):
        inner = b"\x0a" + _varint(len(value)) + value  # ArrayValue.values
        value = b"\x2a" + _varint(len(inner)) + inner  # AnyValue.array_value
    kv = b"\x0a\x01k" + b"\x12" + _varint(len(value)) + value  # KeyValue{key, value}
    span = b"\x4a" + _varint(len(kv)) + kv  # Span.attributes (field 9)
    scope = b"\x12" + _varint(len(span)) + span
    resource = b"\x12" + _varint(len(scope)) + scope
    return b"\x0a" + _varint(len(resource)) + resource


@pytest.mark.parametrize(
    ("body", "ctype", "words"),
    [
        (b"\xff\xff\xff\xff", PROTOBUF, "not a protobuf"),
        (b"\x0a\x05\x12", PROTOBUF, "not a protobuf"),  # a length past the end
        (b"{not json", JSON, "not JSON"),
        (b"[1, 2]", JSON, "expected an object"),
        (b'{"resourceSpans": 5}', JSON, "not a JSON ExportTraceServiceRequest"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, "not hex"),
        (b"\xc3\x28", JSON, "not JSON"),
        (b"[" * 200_000 + b"]" * 200_000, JSON, "nested too deeply"),
        (_nested_json(5_000), JSON, "nested too deeply"),
        (_nested_protobuf(5_000), PROTOBUF, "not a protobuf"),
    ],
    ids=[
        "garbage-protobuf",
        "length-past-end",
        "garbage-json",
        "json-array",
        "wrong-json-type",
        "id-not-hex",
        "not-utf8",
        "json-nested-deep",
        "attribute-nested-deep-json",
        "attribute-nested-deep-protobuf",
    ],
)
def test_undecodable_bodies_get_400(receiver: OtlpReceiver, body: bytes, ctype: str, words: str) -> None:
    answer = post(receiver, body, ctype)
    assert answer.status == 400
    assert words in _status(answer, ctype)
    _still_serving(receiver, 1)


def test_wrong_content_type_path_method_and_encoding(receiver: OtlpReceiver) -> None:
    good = request(GOOD).SerializeToString()
    assert post(receiver, good, "text/plain").status == 415
    assert post(receiver, good, path="/v1/metrics").status == 404
    answer = post(receiver, b"", method="GET")
    assert answer.status == 405 and answer.headers["Allow"] == "POST"
    answer = post(receiver, good, headers={"Content-Encoding": "br"})
    assert answer.status == 415 and "br" in _status(answer)
    answer = post(receiver, b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert answer.status == 400 and "gzip" in _status(answer)
    answer = post(receiver, gzip.compress(good)[:-12], headers={"Content-Encoding": "gzip"})
    assert answer.status == 400 and "truncated" in _status(answer)
    _still_serving(receiver, 6)


def _raw(receiver: OtlpReceiver, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes as they are (no client to fix them up); the answer's status line and headers."""
    with socket.create_connection(receiver.address, timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_size_limits_before_and_after_gzip(receiver: OtlpReceiver) -> None:
    limit = receiver.options.max_body_bytes
    # announced too large: refused before one byte of the body is read
    answer = _raw(receiver, b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\n"
                  b"Content-Length: %d\r\n\r\n" % (limit + 1))  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 413")
    # a gzip bomb: 64 MiB of zeros in about 64 KiB, refused once the limit is inflated
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)
    answer = post(receiver, bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status == 413 and "decompressed" in _status(answer)
    # a chunked body that grows past the limit
    chunk = b"x" * (1 << 20)
    head = b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(limit // len(chunk) + 1)) + b"0\r\n\r\n"
    assert _raw(receiver, head, body).startswith(b"HTTP/1.1 413")
    # no length at all
    assert _raw(receiver, b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\n\r\n").startswith(
        b"HTTP/1.1 411"
    )
    _still_serving(receiver, 4)


def test_a_chunked_body_is_read(receiver: OtlpReceiver) -> None:
    body = request(GOOD).SerializeToString()
    head = b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n"
    half = len(body) // 2
    chunks = b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
    assert _raw(receiver, head, chunks).startswith(b"HTTP/1.1 200")
    assert [f["model"] for f in stored(receiver.root)] == ["gpt-4.1"]


def test_a_million_spans_in_one_request(receiver: OtlpReceiver) -> None:
    """Two bytes a bare span: a million fit in 2 MB of protobuf, under the 4 MiB body limit; the span-count
    limit refuses them after the (0.4 s) parse, before any is mapped. JSON is counted before its costly parse."""
    # Built on the wire (a million `spans.add()` take seconds): field 2 of ScopeSpans, an empty Span, each.
    scope_spans = b"\x12\x00" * 1_000_000
    resource_spans = b"\x12" + _varint(len(scope_spans)) + scope_spans
    body = b"\x0a" + _varint(len(resource_spans)) + resource_spans
    answer = post(receiver, body)
    assert answer.status == 413 and "1000000 spans" in _status(answer)
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + b",".join([b"{}"] * 1_000_000) + b"]}]}]}"
    answer = post(receiver, body, JSON)
    assert answer.status == 413 and "1000000 spans" in _status(answer, JSON)
    _still_serving(receiver, 2)


def test_huge_attribute_values(receiver: OtlpReceiver) -> None:
    """Two 1.5 MiB values fit the body limit: the model is cut to the contract's 256 characters, an attribute the
    mapping does not read is not kept at all. A value past the limit refuses the request."""
    huge = "m" * (3 << 19)
    answer = post(receiver, request({"attrs": {"gen_ai.request.model": huge, "note": huge}}).SerializeToString())
    assert answer.status == 200 and not answer.partial().HasField("partial_success")
    [frame] = stored(receiver.root)
    assert frame["model"] == "m" * 256 and frame["tags"] == {"otel.scope": "tests.serve"}
    too_big = request({"span": span_id(2), "attrs": {"gen_ai.request.model": huge * 3}})
    assert post(receiver, too_big.SerializeToString()).status == 413
    assert len(stored(receiver.root)) == 1


def test_unknown_attribute_types_are_dropped_not_the_span(receiver: OtlpReceiver) -> None:
    req = request({"attrs": {"gen_ai.request.model": "gpt-4.1", "gen_ai.usage.output_tokens": 7}})
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(
        [
            KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(bytes_value=b"\x01")),
            KeyValue(key="gen_ai.provider.name", value=AnyValue(kvlist_value=KeyValueList(values=[attr("a", 1)]))),
            KeyValue(key="gen_ai.response.model"),  # no value at all
        ]
    )
    assert post(receiver, req.SerializeToString()).status == 200
    # JSON: a value of a type this proto does not know (a newer AnyValue case) and unknown fields are ignored
    body = json_format.MessageToDict(request({"span": span_id(2), "attrs": {"gen_ai.request.model": "o3"}}))
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for s in spans:
        s["traceId"] = bytes(range(1, 17)).hex()
        s["spanId"] = span_id(2).hex()
        s["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"futureValue": {"x": 1}}})
        s["somethingNew"] = [1, 2, 3]
    assert post(receiver, json.dumps(body).encode(), JSON).status == 200
    first, second = stored(receiver.root)
    assert (first["model"], first["output_tokens"], first["input_tokens"], first["provider"]) == (
        "gpt-4.1",
        7,
        None,
        None,
    )
    assert first["response_model"] is None
    assert (second["model"], second["input_tokens"]) == ("o3", None)


def test_partial_success_keeps_only_the_good_spans(receiver: OtlpReceiver) -> None:
    req = request(
        {"name": "good one", "span": span_id(1), **GOOD},
        {"name": "no trace id", "span": span_id(2), "trace": b""},
        {"name": "ends before it starts", "span": span_id(3), "start": 2_000_000_000_000_000_000},
        {"name": "short span id", "span": b"\x01\x02"},
        {
            "name": "from the future",
            "span": span_id(4),
            "start": time.time_ns() + 2 * 3600 * 10**9,
            "end": time.time_ns() + 2 * 3600 * 10**9,
        },
        {"name": "good two", "span": span_id(5)},
    )
    answer = post(receiver, req.SerializeToString())
    partial = answer.partial().partial_success
    assert partial.rejected_spans == 4
    for name in ("no trace id", "ends before it starts", "short span id", "from the future"):
        assert name in partial.error_message
    assert sorted(f["component"] for f in stored(receiver.root)) == ["good one", "good two"]
    assert (receiver.stats.spans_accepted, receiver.stats.spans_rejected) == (2, 4)


def test_json_ids_are_hex_and_answers_are_json(receiver: OtlpReceiver) -> None:
    trace, span, parent = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-agent"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "json-scope"},
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": span,
                                "parentSpanId": parent,
                                "name": "chat gpt-4.1",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000500000000",
                                "attributes": [
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4.1"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 20}},
                                    {
                                        "key": "gen_ai.response.finish_reasons",
                                        "value": {"arrayValue": {"values": [{"stringValue": "length"}]}},
                                    },
                                ],
                                "status": {"code": 2, "message": "cut short"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    answer = post(receiver, json.dumps(body).encode(), "application/json; charset=utf-8")
    assert answer.status == 200 and answer.headers["Content-Type"] == JSON
    assert json.loads(answer.body) == {}
    [frame] = stored(receiver.root)
    assert (frame["trace_id"], frame["span_id"], frame["parent_span_id"]) == (trace, span, parent)
    assert (frame["ts"], frame["total_ms"], frame["agent_id"]) == (1_700_000_000_000_000_000, 500.0, "json-agent")
    assert (frame["input_tokens"], frame["output_tokens"], frame["finish_reason"]) == (100, 20, "length")
    assert frame["success"] is False
