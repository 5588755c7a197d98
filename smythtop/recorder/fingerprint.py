"""`config_hash`: a real fingerprint of a component's configuration (the seed's was a constant).

Frames with the same hash ran with the same settings, so the analysis can compare runs across a
prompt, model or parameter change.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder(order="sorted", enc_hook=repr)


def config_hash(config: Any) -> str:
    """16 hex chars of BLAKE2b over the canonical JSON (sorted keys) of a config; strings hash as is.
    Values JSON cannot encode (functions, clients) count by their repr, so pass plain settings."""
    if isinstance(config, str):
        data = config.encode()
    else:
        try:
            data = _ENCODER.encode(config)
        except (TypeError, msgspec.EncodeError):
            data = repr(config).encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()
