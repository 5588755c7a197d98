"""Fixtures for the `smythtop serve` tests: a receiver on an ephemeral loopback port over a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smythtop.serve import OtlpReceiver, ReceiverOptions


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[OtlpReceiver]:
    r = OtlpReceiver(tmp_path / "store", ReceiverOptions(port=0)).start()
    yield r
    r.stop()
