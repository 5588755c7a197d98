"""The receiver under way: a request in flight when it is told to stop still finishes and is flushed; a client
that stalls is cut off; too many requests at once get 503 with Retry-After; it keeps serving through all three."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from serve_testlib import GOOD, post, request, stored
from waiting import joined, wait_until

from smythtop import store
from smythtop.serve import OtlpReceiver, ReceiverOptions, server


def _half_sent(receiver: OtlpReceiver, body: bytes) -> socket.socket:
    """A connection that sent the headers and half of `body`; the handler waits for the rest."""
    sock = socket.create_connection(receiver.address, timeout=30)
    head = b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n" % len(body)
    sock.sendall(head + body[: len(body) // 2])
    return sock


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    return data


def test_a_request_in_flight_at_stop_is_answered_and_flushed(tmp_path: Path) -> None:
    receiver = OtlpReceiver(tmp_path / "store", ReceiverOptions(port=0)).start()
    body = request(GOOD).SerializeToString()
    sock = _half_sent(receiver, body)
    wait_until(lambda: receiver._inflight == 1, "the handler to be reading the body")
    stopping = threading.Thread(target=receiver.stop)
    stopping.start()
    wait_until(lambda: receiver._closing, "stop to begin")
    assert stopping.is_alive()  # it waits for the request under way
    sock.sendall(body[len(body) // 2 :])
    assert _answer(sock).startswith(b"HTTP/1.1 200")
    sock.close()
    joined(stopping, "stop")
    assert store.check(receiver.root).writers_alive == 0  # the writer is closed
    assert [f["model"] for f in stored(receiver.root)] == ["gpt-4.1"]


def test_a_stalled_client_is_cut_off(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server._Handler, "timeout", 0.2)
    sock = _half_sent(receiver, request(GOOD).SerializeToString())
    wait_until(lambda: sock.recv(1) == b"", "the receiver to close the stalled connection")
    sock.close()
    assert stored(receiver.root) == []
    assert post(receiver, request(GOOD).SerializeToString()).status == 200


def test_too_many_requests_at_once_get_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "MAX_CONCURRENT_REQUESTS", 1)
    receiver = OtlpReceiver(tmp_path / "store", ReceiverOptions(port=0)).start()
    try:
        body = request(GOOD).SerializeToString()
        sock = _half_sent(receiver, body)
        wait_until(lambda: receiver._inflight == 1, "the first request to hold the one slot")
        answer = post(receiver, body)
        assert answer.status == 503 and answer.headers["Retry-After"] == "1"
        sock.sendall(body[len(body) // 2 :])
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        sock.close()
        wait_until(lambda: receiver._inflight == 0, "the first request to give its slot back")  # after answering
        assert post(receiver, body).status == 200
        assert receiver.stats.refused == 1 and receiver.stats.spans_accepted == 2
    finally:
        receiver.stop()


def test_a_bug_costs_one_request_not_the_receiver(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: object) -> tuple[int, str]:
        raise RuntimeError("a bug")

    body = request(GOOD).SerializeToString()
    with monkeypatch.context() as patch:
        patch.setattr(receiver, "ingest", broken)
        assert post(receiver, body).status == 500
        assert post(receiver, body).status == 500
    assert [r.getMessage() for r in caplog.records] == ["smythtop serve: a request failed: RuntimeError('a bug')"]
    assert post(receiver, body).status == 200
