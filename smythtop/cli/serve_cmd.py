"""`smythtop serve`: an OTLP/HTTP receiver (agents in any language feed the store) plus the store's maintenance.

The first line printed is `listening on HOST:PORT` (the bound port, so `--otlp 127.0.0.1:0` can be used by a
script or a test). SIGTERM and Ctrl-C stop it cleanly: requests under way finish and are flushed, the writer is
closed, and one last maintenance pass compacts what arrived. docs/SERVE.md has the details.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from smythtop.cli import CliError

if TYPE_CHECKING:
    from smythtop.otlp_out import Forwarder
    from smythtop.serve import OtlpReceiver
    from smythtop.serve.metrics import MetricsServer
    from smythtop.store.remote import Pusher

DEFAULT_OTLP = "127.0.0.1:4318"
DEFAULT_METRICS = "127.0.0.1:9464"  # the port OpenTelemetry's Prometheus exporter uses


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="receive OTLP/HTTP traces into the store, and compact it on a schedule",
        description="Accept OpenTelemetry traces (OTLP/HTTP, protobuf or JSON, POST /v1/traces) from agents in any "
        "language, record their spans as frames, and compact the store on a schedule. Stops cleanly on Ctrl-C "
        "and SIGTERM.",
    )
    p.add_argument("--store", metavar="DIR", help="store directory (default: [global] store, $SMYTHTOP_STORE or "
                   "the user data dir)")  # fmt: skip
    p.add_argument(
        "--otlp",
        metavar="HOST:PORT",
        help=f"address to listen on (default: [serve] otlp, {DEFAULT_OTLP}); port 0 picks a free port. "
        "Only loopback unless another address is named",
    )
    p.add_argument("--push", metavar="URL", help="after each compaction, push the new Parquet files to this storage "
                   "URL, e.g. s3://bucket/prefix (default: [serve] push; docs/FORMAT.md section 12)")  # fmt: skip
    p.add_argument("--host-id", metavar="ID", help="this host's partition in the bucket (default: [serve] host_id, "
                   "else the host name)")  # fmt: skip
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="also serve Prometheus metrics at http://HOST:PORT/metrics (default: [serve] metrics, none); port 0 "
        "picks a free port",
    )
    p.add_argument(
        "--forward-otlp",
        metavar="URL",
        help="also send every stored frame as an OpenTelemetry span to this OTLP/HTTP endpoint (default: [serve]"
        " forward_otlp), from a background thread: a slow or failing endpoint never delays or fails ingest",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,  # must not overwrite `smythtop --config FILE serve`
        help="smythtop config file ([serve], [advanced] retention_days; docs/CONFIG.md)",
    )
    p.set_defaults(func=run)


def parse_address(text: str, option: str = "--otlp", example: str = DEFAULT_OTLP) -> tuple[str, int]:
    """`127.0.0.1:4318`, `[::1]:4318`, `localhost:0` -> (host, port); a CliError names what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise CliError(f"{option} must be HOST:PORT with a port from 0 to 65535 (e.g. {example}), not {text!r}")
    return host, int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_unless_loopback(host: str, can: str) -> None:
    if not _loopback(host):
        print(f"smythtop serve: warning: {host} is not loopback; anyone who reaches this port can {can}",
              file=sys.stderr, flush=True)  # fmt: skip


def _metrics_server(receiver: OtlpReceiver, root: Path, address: tuple[str, int], label_limit: int) -> MetricsServer:
    """The scrape endpoint, made after the receiver (whose writer creates the store); a failure closes the receiver."""
    from smythtop.serve.metrics import MetricsServer

    host, port = address
    try:
        return MetricsServer(root, host, port, label_limit=label_limit)
    except BaseException as exc:
        receiver.stop()
        if isinstance(exc, OSError):
            raise CliError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        raise


def _close(forwarder: Forwarder | None) -> None:
    if forwarder is not None:
        forwarder.stop(timeout=0)


def push_target(root: Path, url: str | None, host_id: str | None) -> Pusher | None:
    """The pusher of `--push URL` (None without one); a bad URL or host id is a CliError."""
    if url is None:
        return None
    from smythtop.store.remote import Pusher, RemoteError

    try:
        return Pusher(root, url, host_id or socket.gethostname())
    except RemoteError as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from smythtop.config import Config
    from smythtop.maintenance import Maintenance
    from smythtop.recorder.config import store_root
    from smythtop.serve import OtlpReceiver, ReceiverOptions
    from smythtop.store import StoreError

    config = Config.load(getattr(args, "config", None))
    host, port = parse_address(args.otlp or config.serve.otlp)
    metrics_at = args.metrics or config.serve.metrics
    metrics_address = parse_address(metrics_at, "--metrics", DEFAULT_METRICS) if metrics_at else None
    root = store_root(config, args.store)
    options = ReceiverOptions(
        host=host,
        port=port,
        max_body_bytes=config.serve.max_body_bytes,
        max_spans_per_request=config.serve.max_spans_per_request,
        default_agent_id=config.serve.default_agent_id,
        max_clock_skew_s=config.global_.max_clock_skew_s,
    )
    forwarder = None
    forward_url = args.forward_otlp or config.serve.forward_otlp
    if forward_url:
        from smythtop.otlp_out import Forwarder

        try:
            forwarder = Forwarder(forward_url)
        except ValueError as exc:
            raise CliError(f"{'--forward-otlp' if args.forward_otlp else '[serve] forward_otlp'}: {exc}") from None
    try:
        receiver = OtlpReceiver(root, options, forward=forwarder.submit if forwarder is not None else None)
    except StoreError:
        _close(forwarder)
        raise  # a store refused or not writable: main prints its one line
    except OSError as exc:  # address in use, a port below 1024, a host name that does not resolve
        _close(forwarder)
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = receiver.address
    metrics = None
    if metrics_address is not None:
        try:
            metrics = _metrics_server(receiver, root, metrics_address, config.serve.metrics_label_limit)
        except BaseException:
            _close(forwarder)
            raise
    print(f"listening on {bound_host}:{bound_port}", flush=True)
    _warn_unless_loopback(bound_host, "write to the store (there is no authentication)")
    if metrics is not None:
        m_host, m_port = metrics.address
        print(f"metrics on http://{m_host}:{m_port}/metrics", flush=True)
        _warn_unless_loopback(m_host, "read the store's metrics (agent, component and model names, cost)")
    every = config.serve.maintenance_every_s
    days = config.advanced.retention_days
    print(f"store {root}; maintenance every {every:g} s, retention {days:g} days", flush=True)
    if forwarder is not None:
        print(f"forwarding stored frames to {forwarder.endpoint}", flush=True)

    pusher = push_target(root, args.push or config.serve.push, args.host_id or config.serve.host_id)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    if pusher is not None:
        from smythtop.store.remote import redacted

        print(f"pushing to {redacted(pusher.url)} as host={pusher.host_id}", flush=True)
    rollup_days = config.advanced.rollup_retention_days
    maintenance = Maintenance(
        root, every_s=every, retention_days=days, rollup_retention_days=rollup_days, pusher=pusher
    )
    try:
        if forwarder is not None:
            forwarder.start()
        receiver.start()
        if metrics is not None:
            metrics.start()
        maintenance.start()
        stop.wait()
    finally:
        if metrics is not None:
            metrics.stop()
        receiver.stop()
        if forwarder is not None:
            forwarder.stop()  # after the receiver: what its last requests stored is sent too
        maintenance.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    maintenance.run_once()  # the writer is closed: what it wrote is compacted now, not at the next start
    s, m = receiver.stats, maintenance.stats
    print(
        f"stopped: {s.requests} requests, {s.spans_accepted} spans stored, {s.spans_rejected} rejected, "
        f"{s.refused} requests refused; {m.frames_compacted} frames compacted, {m.files_pushed} files pushed",
        flush=True,
    )
    if forwarder is not None:
        f = forwarder.stats
        print(f"forwarded {f.forwarded} frames; {f.failed} failed, {f.dropped} dropped", flush=True)
    return 0
