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
    from smythtop.store.remote import Pusher

DEFAULT_OTLP = "127.0.0.1:4318"


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
                   "URL, e.g. s3://bucket/prefix (default: [serve] push; docs/FORMAT.md section 11)")  # fmt: skip
    p.add_argument("--host-id", metavar="ID", help="this host's partition in the bucket (default: [serve] host_id, "
                   "else the host name)")  # fmt: skip
    p.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,  # must not overwrite `smythtop --config FILE serve`
        help="smythtop config file ([serve], [advanced] retention_days; docs/CONFIG.md)",
    )
    p.set_defaults(func=run)


def parse_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:4318`, `[::1]:4318`, `localhost:0` -> (host, port); a CliError names what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise CliError(f"--otlp must be HOST:PORT with a port from 0 to 65535 (e.g. {DEFAULT_OTLP}), not {text!r}")
    return host, int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    root = store_root(config, args.store)
    options = ReceiverOptions(
        host=host,
        port=port,
        max_body_bytes=config.serve.max_body_bytes,
        max_spans_per_request=config.serve.max_spans_per_request,
        default_agent_id=config.serve.default_agent_id,
        max_clock_skew_s=config.global_.max_clock_skew_s,
    )
    try:
        receiver = OtlpReceiver(root, options)
    except StoreError:
        raise  # a store refused or not writable: main prints its one line
    except OSError as exc:  # address in use, a port below 1024, a host name that does not resolve
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_host, bound_port = receiver.address
    print(f"listening on {bound_host}:{bound_port}", flush=True)
    if not _loopback(bound_host):
        print(
            f"smythtop serve: warning: {bound_host} is not loopback; anyone who reaches this port can write to the "
            "store (there is no authentication)",
            file=sys.stderr,
            flush=True,
        )
    every = config.serve.maintenance_every_s
    days = config.advanced.retention_days
    print(f"store {root}; maintenance every {every:g} s, retention {days:g} days", flush=True)

    pusher = push_target(root, args.push or config.serve.push, args.host_id or config.serve.host_id)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    if pusher is not None:
        from smythtop.store.remote import redacted

        print(f"pushing to {redacted(pusher.url)} as host={pusher.host_id}", flush=True)
    maintenance = Maintenance(root, every_s=every, retention_days=days, pusher=pusher)
    try:
        receiver.start()
        maintenance.start()
        stop.wait()
    finally:
        receiver.stop()
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
    return 0
