"""`smythtop serve`: an OTLP/HTTP receiver that turns spans from agents in any language into frames.

`otlp` decodes requests (protobuf and JSON, with opentelemetry-proto) and encodes the answers; `server` runs the
HTTP server, applies the limits and writes frames through the store's `Writer`. Importing this package loads
protobuf: only the `serve` command does, never `import smythtop`.
"""

from __future__ import annotations

from smythtop.serve.server import OtlpReceiver, ReceiverOptions, ReceiverStats

__all__ = ["OtlpReceiver", "ReceiverOptions", "ReceiverStats"]
