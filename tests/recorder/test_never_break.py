"""Nothing the recorder meets raises into the agent: disabled mode, a read-only or full store, bad
values, pricing trouble. Each is counted and the agent's own results and exceptions pass unchanged.

As root, chmod does not stop writes, so the read-only and full stores are real tmpfs mounts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorder_testlib import read_frames

from smythtop.recorder import Collector
from smythtop.recorder.tracker import NOOP


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[bool]:
    """A tmpfs mounted at path; yields False where mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    ok = os.geteuid() == 0 and shutil.which("mount") is not None
    ok = ok and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=False).returncode == 0
    try:
        yield ok
    finally:
        if ok and subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def agent_work(c: Collector, n: int = 20) -> int:
    total = 0
    for i in range(n):
        with c.track("Step", agent_id="a") as t:
            t.llm("gpt-4.1", "openai", input_tokens=100, output_tokens=10)
            total += i
    return total


@pytest.mark.parametrize(("var", "value"), [("SMYTHTOP_DISABLED", "1"), ("SRE_PERFORMANCE_DISABLED", "true")])
def test_disabled_by_environment(make, root: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    c = make()
    assert not c.enabled and c._thread is None
    assert c.track("X", agent_id="a") is NOOP
    assert agent_work(c) == sum(range(20))

    @c.tracked("Deco")
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
    c.record({"agent_id": "a", "component": "R", "total_ms": 1.0, "success": True})
    c.flush()
    assert not root.exists()  # not even a store directory


def test_disabled_by_config_and_noop_api(make, root: Path) -> None:
    c = make({"global": {"enabled": False}})
    with c.track("X", agent_id="a") as t, t.phase("input"):
        t.llm("gpt-4.1", input_tokens=1)
        t.io(input=b"x")
        t.set(quality=1.0)
        t.fail()
    assert t.span_id is None and not root.exists()


def test_read_only_store_never_raises_into_the_agent(tmp_path: Path) -> None:
    mnt = tmp_path / "ro"
    with tmpfs(mnt, "ro,size=1m") as mounted:
        if not mounted:
            pytest.skip("mount not permitted here")
        c = Collector(store=mnt / "store")
        try:
            assert agent_work(c) == sum(range(20))
            with pytest.raises(ValueError, match="agent's own"), c.track("Step", agent_id="a"):
                raise ValueError("the agent's own error")
            assert c.flush()
            stats = c.stats()
            assert stats["dropped_store_unavailable"] == 21 and stats["written"] == 0
            assert stats["internal_errors"] == 0
        finally:
            c.close()


def test_full_disk_mid_run_counts_and_recovers(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    with tmpfs(mnt, "size=256k") as mounted:
        if not mounted:
            pytest.skip("mount not permitted here")
        root = mnt / "store"
        c = Collector(store=root)
        try:
            agent_work(c, 5)
            assert c.flush() and c.stats()["written"] == 5
            filler = mnt / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            for size in (1 << 16, 4096, 1):  # to the last byte
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
            os.close(fd)
            for _ in range(3):  # the disk stays full for three flushes
                assert agent_work(c, 30) == sum(range(30))
                assert c.flush()
            stats = c.stats()
            # The segment's last page may still take a few frames; the rest are dropped, counted.
            assert stats["written"] < 5 + 30 and stats["dropped_store_unavailable"] >= 30
            filler.unlink()
            agent_work(c, 5)
            assert c.flush()
            after = c.stats()
            # Everything is either written or counted as dropped; nothing vanished silently.
            assert after["written"] + after["dropped_store_unavailable"] == 5 + 90 + 5
            assert after["written"] > 10
        finally:
            c.close()
        assert len(read_frames(root)) == c.stats()["written"]


def test_bad_values_are_counted_not_raised(make, root: Path) -> None:
    c = make()
    with c.track("Good", agent_id="a"):
        pass
    with c.track("NegativeTokens", agent_id="a") as t:
        t.llm("gpt-4.1", "openai", input_tokens=-5, output_tokens=1)
    with c.track("NaNQuality", agent_id="a") as t:
        t.set(quality=float("nan"))
    with c.track("ListTag", agent_id="a") as t:
        t.set(whatever=[1, 2])  # an unknown non-scalar field
    with c.track("", agent_id="a"):  # an empty component name
        pass
    with c.track(["unhashable"], agent_id="a"):  # type: ignore[arg-type]
        pass
    with c.track("Phase", agent_id="a") as t, t.phase("warmup"):  # an unknown phase
        pass
    c.record("not a mapping")  # type: ignore[arg-type]
    c.record({"component": "NoTotal", "agent_id": "a"})
    with c.track("WeirdResponse", agent_id="a") as t:
        t.llm_response(object())
    c.flush()
    names = sorted(r["component"] for r in read_frames(root))
    assert names == ["Good", "ListTag", "Phase", "WeirdResponse"]  # a tag that cannot be kept costs only itself
    stats = c.stats()
    assert stats["rejected"] == 5  # NegativeTokens, NaNQuality, "", NoTotal, and the non-mapping
    assert stats["tags_invalid"] == 1  # ListTag's list
    assert stats["internal_errors"] == 1  # the unhashable component name
    assert stats["pricing_errors"] == 2  # the unreadable response, and the negative tokens


def test_a_failing_pricer_keeps_the_frame(make, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = make()

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("genai-prices broke")

    monkeypatch.setattr(c._pricer, "model_info", explode)
    with c.track("LLM", agent_id="a") as t:
        t.llm("gpt-4.1", "openai", input_tokens=10, output_tokens=1)
    c.flush()
    (row,) = read_frames(root)
    assert row["cost_usd"] is None and row["input_tokens"] == 10
    assert c.stats()["pricing_errors"] == 1


@pytest.mark.parametrize("bad", [{"sample_rate": None}, {"total_ms": "12"}])
def test_a_bad_recorded_frame_never_costs_its_batch(make, root: Path, bad: dict) -> None:
    """With a performance-event listener, one bad `record()` frame used to lose the whole batch."""
    c = make({"global": {"flush_interval": 60}})
    events: list = []
    c.on("performance-event", events.append)
    for _ in range(5):
        with c.track("Good", agent_id="a"):
            pass
    c.record({"component": "Tool", "agent_id": "a", "total_ms": 3.0, "success": True, **bad})
    c.flush()
    frames = read_frames(root)
    stats = c.stats()
    assert sum(f["component"] == "Good" for f in frames) == 5
    assert stats["internal_errors"] == 0
    assert stats["written"] + stats["rejected"] == 6
