"""The OTLP/HTTP trace receiver: POST /v1/traces in, frames in the store out.

Method: the standard library's ThreadingHTTPServer (one thread per connection, HTTP/1.1 keep-alive, as the OTel
exporters use it); no web framework, since one route and the checks below are all it needs. Each request is
checked in the order the OTLP/HTTP spec's answers imply: path (404), method (405), content type (415), size
before reading (413: Content-Length over the limit, or a chunked body that grows past it), content encoding
(gzip, capped on its decompressed size; another coding is 415), decoding (400), span count (413). Then every span
goes through the one mapping table (`smythtop.capture.genai.span_to_frame`), is priced like a recorder frame
(`smythtop.recorder.pricing.Pricer`) and validated by the store's `Writer.append_many`, which buffers only the good
frames; a request's frames reach the WAL in one flush before the answer, so a 200 means they survive a kill -9.
Spans the mapping or the contract refuses are counted in the answer's `partial_success`; the request's other
spans are kept. Nothing of a request refused with a 4xx reaches the store.

Stopping (`stop`): no new connection is accepted, requests under way finish (their frames flushed), idle
keep-alive connections are closed, then the writer is closed, which seals its last segment.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from smythtop import store
from smythtop.capture.genai import SpanError, span_to_frame
from smythtop.recorder.pricing import Pricer, PricingError
from smythtop.serve import otlp
from smythtop.store.schema import valid_frames

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

log = logging.getLogger("smythtop.serve")

TRACES_PATH = "/v1/traces"
# A client that stops sending mid-request (or keeps an idle connection) holds a thread: cut it after this long.
# The OTel exporters' own timeout is 10 s, so a live client never waits this long between two reads.
SOCKET_TIMEOUT_S = 30.0
# Requests decoded at once; each holds up to about three times its body (bytes, parsed messages, frames), so
# 16 x 4 MiB bounds the receiver near 200 MiB. Over it: 503 with Retry-After, which the exporters retry.
MAX_CONCURRENT_REQUESTS = 16
# A refused body up to this size is read and dropped so the client reads the answer (`_skip_body`); 16 default
# limits: bandwidth only, in 64 KiB reads, never memory.
DRAIN_MAX_BYTES = 64 << 20
MAX_MESSAGE_CHARS = 1000  # partial_success.error_message: the first errors, not one line per span
POLL_S = 0.1  # how often the accept loop checks for `stop` (the stdlib's 0.5 s made every stop wait that long)
# google.rpc.Code of each refusal (the Status body OTLP/HTTP answers 4xx and 5xx with)
_RPC_CODE = {400: 3, 404: 5, 405: 12, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}


@dataclass(frozen=True, slots=True)
class ReceiverOptions:
    host: str = "127.0.0.1"
    port: int = 4318  # the OTLP/HTTP default port
    max_body_bytes: int = 4 << 20
    max_spans_per_request: int = 100_000
    default_agent_id: str = "otlp"
    # A span dated further ahead of this host's clock is rejected, as the recorder does (global.max_clock_skew_s):
    # one far-future frame would stretch its Parquet file's time range past any retention cut-off.
    max_clock_skew_s: float = 3600.0


@dataclass(slots=True)
class ReceiverStats:
    requests: int = 0  # answered 200
    refused: int = 0  # answered 4xx or 5xx
    spans_accepted: int = 0
    spans_rejected: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections never hold up a stop; `stop` waits for requests instead
    receiver: OtlpReceiver


class OtlpReceiver:
    """Owns the HTTP server and the store writer. `start()` serves in a thread; `stop()` flushes and closes."""

    def __init__(
        self,
        root: Path,
        options: ReceiverOptions | None = None,
        *,
        forward: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
    ) -> None:
        """`forward` (`serve --forward-otlp`: smythtop.otlp_out.Forwarder.submit) gets the frames each request
        stored, priced, after they reached the WAL; it must not block or raise (the Forwarder only queues)."""
        self.root = root
        self._forward = forward
        self.options = options = options or ReceiverOptions()
        self.stats = ReceiverStats()
        self._pricer = Pricer()
        self._write_lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT_REQUESTS)  # requests decoding at once
        self._inflight = 0
        self._closing = False
        self._idle = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._logged: set[str] = set()
        self.server = _Server((options.host, options.port), _Handler)  # first: a taken port leaves no writer dir
        try:
            # A request's frames reach the WAL in one flush, never in buffer-sized pieces: the buffer holds the
            # largest request (a frame is smaller than the span it comes from, at most its body, times headroom).
            self.writer = store.Writer(root, buffer_bytes=max(4 * options.max_body_bytes, 1 << 20))
        except BaseException:
            self.server.server_close()
            raise
        self.server.receiver = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_S,), name="smythtop-otlp", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, let requests under way finish, close idle connections, close the writer."""
        with self._idle:
            self._closing = True
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout)
        self.server.server_close()
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout)
            for conn in list(self._connections):
                with contextlib.suppress(OSError):  # the client closed it already
                    conn.shutdown(socket.SHUT_RDWR)
        self.writer.close()

    # -- per request, called by the handler ---------------------------------------------------------------
    def enter(self) -> bool:
        with self._idle:
            if self._closing:
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def connected(self, conn: socket.socket, *, open_: bool) -> None:
        """Track open connections, so `stop` can close the idle keep-alive ones."""
        with self._idle:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def ingest(self, request: ExportTraceServiceRequest) -> tuple[int, str]:
        """Map, price and store every span of a decoded request; (rejected spans, message) for the answer."""
        frames: list[dict] = []
        errors: list[str] = []
        latest = time.time_ns() + int(self.options.max_clock_skew_s * 1e9)
        for span in otlp.spans(request):
            try:
                frame = span_to_frame(span, default_agent_id=self.options.default_agent_id)
            except SpanError as exc:
                errors.append(f"span {span.name[:60]!r}: {exc}")
                continue
            except Exception as exc:  # a bug in the mapping must cost one span, not the receiver
                self.log_once("mapping", "smythtop serve: mapping a span failed: %r", exc)
                errors.append(f"span {span.name[:60]!r}: cannot be mapped ({type(exc).__name__})")
                continue
            if frame["ts"] > latest:
                errors.append(
                    f"span {span.name[:60]!r}: starts more than {self.options.max_clock_skew_s:g} s after this "
                    "host's clock (global.max_clock_skew_s)"
                )
                continue
            frames.append(frame)
        total = len(frames) + len(errors)
        warning = ""
        with self._write_lock:  # the Pricer's caches and one request's frames in one flush
            for frame in frames:
                try:
                    self._pricer.price(frame)
                except PricingError as exc:  # kept unpriced (cost null), as the recorder does
                    self.log_once("pricing", "smythtop serve: %s", exc)
            bad: list[store.FrameError] = []
            kept = len(frames)
            try:
                bad = self.writer.append_many(frames)
                kept = len(frames) - len(bad)
                self.writer.flush()
            except store.AppendInterrupted as exc:  # disk full part-way: the first `appended` are held
                bad, kept = exc.errors, exc.appended
                warning = f"the store is not writable, {len(frames) - len(bad) - kept} spans not kept: {exc}"
            except store.StoreUnavailable as exc:  # the frames stay buffered; the writer retries at the next flush
                warning = f"spans held in memory, the store is not writable now: {exc}"
        if self._forward is not None and kept:
            self._forward(frames if kept == len(frames) else valid_frames(frames)[:kept])
        errors.extend(str(e) for e in bad)
        rejected = total - kept
        with self._idle:
            self.stats.requests += 1
            self.stats.spans_accepted += kept
            self.stats.spans_rejected += rejected
        if not rejected and not warning:
            return 0, ""
        message = "; ".join(filter(None, [warning, *errors[:5]]))
        if rejected:
            message = f"{rejected} of {total} spans rejected: {message}"
        return rejected, message[:MAX_MESSAGE_CHARS]

    def count_refused(self) -> None:
        with self._idle:
            self.stats.refused += 1

    def log_once(self, kind: str, fmt: str, *args: object) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(fmt, *args)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse one connection per batch stream
    timeout = SOCKET_TIMEOUT_S
    server_version = "smythtop-otlp"

    def setup(self) -> None:
        super().setup()
        self.server.receiver.connected(self.connection, open_=True)

    def finish(self) -> None:
        self.server.receiver.connected(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        receiver = self.server.receiver
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self._skip_body()
            return self._refuse(404, f"no such path {self.path[:100]!r}; OTLP traces go to {TRACES_PATH}")
        if not receiver.enter():
            self._skip_body()
            self.close_connection = True
            return self._refuse(503, "the receiver is stopping")
        try:
            self._export(receiver)
        except (TimeoutError, ConnectionError) as exc:  # the client stalled or went away: no one to answer
            self.close_connection = True
            self.log_message("connection dropped: %r", exc)
        except Exception as exc:  # a bug must cost this request (answered 500, logged once), never the receiver
            receiver.log_once("handler", "smythtop serve: a request failed: %r", exc)
            self.close_connection = True
            with contextlib.suppress(OSError):  # the answer may be what failed
                self._refuse(500, f"internal error ({type(exc).__name__}); the receiver's log has it")
        finally:
            receiver.leave()

    def _export(self, receiver: OtlpReceiver) -> None:
        if not receiver.slots.acquire(blocking=False):
            self._skip_body()
            return self._refuse(503, "too many requests at once; retry", headers={"Retry-After": "1"})
        try:
            self._export_slot(receiver)
        finally:
            receiver.slots.release()

    def _export_slot(self, receiver: OtlpReceiver) -> None:
        ctype = otlp.media_type(self.headers.get("Content-Type"))
        limit = receiver.options.max_body_bytes
        if ctype not in otlp.CONTENT_TYPES:
            self._skip_body()
            return self._refuse(415, f"content type {ctype[:60]!r} is not one of {', '.join(otlp.CONTENT_TYPES)}")
        try:
            body = self._read_body(limit)
            coding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            if coding == "gzip":
                body = otlp.gunzip(body, limit)
            elif coding != "identity":
                raise otlp.OtlpError(415, f"content encoding {coding[:30]!r} is not supported (gzip or none)")
            request = otlp.decode(body, ctype, receiver.options.max_spans_per_request)
        except otlp.OtlpError as exc:
            return self._refuse(exc.status, str(exc), ctype)
        del body
        rejected, message = receiver.ingest(request)
        self._answer(200, otlp.encode_response(ctype, rejected, message), ctype)

    def _read_body(self, limit: int) -> bytes:
        """The request body, refused (413) as soon as it is known to exceed `limit` bytes."""
        if (self.headers.get("Transfer-Encoding") or "").strip().lower() == "chunked":
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self.close_connection = True
            raise otlp.OtlpError(411, "a Content-Length header (or a chunked body) is required")
        n = int(length)
        if n > limit:
            self._skip_body()
            raise otlp.OtlpError(413, f"body of {n} bytes is over the limit of {limit} bytes")
        body = self.rfile.read(n)
        if len(body) < n:
            self.close_connection = True
            raise otlp.OtlpError(400, f"body ended after {len(body)} of {n} bytes")
        return body

    def _skip_body(self) -> None:
        """Read and drop the body of a request refused before it was read. A client still sending would otherwise
        get a connection reset instead of the answer, and the OTel exporters retry a reset (never a 4xx). A body
        over DRAIN_MAX_BYTES, a chunked one or one of unknown length closes the connection instead."""
        length = (self.headers.get("Content-Length") or "").strip()
        if self.headers.get("Transfer-Encoding") or not length.isdigit() or int(length) > DRAIN_MAX_BYTES:
            self.close_connection = True
            return
        if self._read_exactly(int(length), keep=False) is None:
            self.close_connection = True

    def _read_chunked(self, limit: int) -> bytes:
        """HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1); http.server has no reader for it. Past `limit`
        the rest is read and dropped (up to DRAIN_MAX_BYTES), so the client gets its 413 rather than a reset."""
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise otlp.OtlpError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields: none of them matter here
                break
            total += size
            if total > DRAIN_MAX_BYTES:
                self.close_connection = True
                break
            chunk = self._read_exactly(size, keep=total <= limit)
            self.rfile.readline(3)
            if chunk is None:
                self.close_connection = True
                raise otlp.OtlpError(400, "chunked body ended early")
            parts.append(chunk)
        if total > limit:
            raise otlp.OtlpError(413, f"body is over the limit of {limit} bytes")
        return b"".join(parts)

    def _read_exactly(self, size: int, *, keep: bool) -> bytes | None:
        """`size` bytes of the body (b"" when not kept: read in 64 KiB pieces and dropped); None if it ends early."""
        if keep:
            data = self.rfile.read(size)
            return data if len(data) == size else None
        while size > 0:
            got = self.rfile.read(min(size, 1 << 16))
            if not got:
                return None
            size -= len(got)
        return b""

    def _refuse(
        self, status: int, message: str, ctype: str = otlp.PROTOBUF, headers: dict[str, str] | None = None
    ) -> None:
        self.server.receiver.count_refused()
        self.log_message("refused %d: %s", status, message)
        self._answer(status, otlp.encode_status(ctype, _RPC_CODE.get(status, 2), message), ctype, headers)

    def _answer(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", ctype if ctype in otlp.CONTENT_TYPES else otlp.PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _not_allowed(self) -> None:
        self.close_connection = True
        if self.path.split("?", 1)[0] != TRACES_PATH:
            return self._refuse(404, f"no such path {self.path[:100]!r}; OTLP traces go to POST {TRACES_PATH}")
        self._refuse(405, f"method {self.command} not allowed; OTLP/HTTP exports with POST", headers={"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed
