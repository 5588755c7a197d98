"""Sampling: every frame carries its sample_rate, weights give back the truth, errors and slow
executions are always kept, whitelist/blacklist/custom rates, and the volume cap."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recorder_testlib import by_component, read_frames

from smythtop.recorder import VirtualClock
from smythtop.recorder.sampling import weighted_quantile

T0 = 1_750_000_000 * 10**9


def test_weights_recover_counts_and_sums(make, root: Path) -> None:
    random.seed(7)
    clock = VirtualClock(T0)
    c = make({"global": {"sampling_rate": 0.1, "max_frames_per_second": 0}}, clock=clock)
    n = 20_000
    true_total = 0.0
    rng = random.Random(1)
    for _ in range(n):
        with c.track("Hot", agent_id="a"):
            ms = rng.uniform(1.0, 3.0)
            clock.advance(ms)
            true_total += ms
    c.flush()
    rows = read_frames(root)
    assert 0.05 * n < len(rows) < 0.25 * n  # most were sampled out ...
    weights = [1.0 / r["sample_rate"] for r in rows]
    assert set(r["sample_rate"] for r in rows) <= {0.1, 1.0}
    # ... yet the weighted count and sum are unbiased: within 5% (about 4 standard errors) of the truth.
    assert sum(weights) == pytest.approx(n, rel=0.05)
    assert sum(w * r["total_ms"] for w, r in zip(weights, rows, strict=True)) == pytest.approx(true_total, rel=0.05)
    stats = c.stats()
    assert stats["kept"] + stats["sampled_out"] == n


def test_errors_are_always_kept_at_weight_one(make, root: Path) -> None:
    random.seed(11)
    c = make({"global": {"sampling_rate": 0.01, "flush_interval": 3600}})  # one drain, at the end
    for i in range(5_000):
        try:
            with c.track("Tool", agent_id="a"):
                if i % 100 == 0:
                    raise ConnectionError("reset")
        except ConnectionError:
            pass
    c.flush()
    rows = read_frames(root)
    errors = [r for r in rows if not r["success"]]
    assert len(errors) == 50
    assert all(r["sample_rate"] == 1.0 and r["error_type"] == "ConnectionError" for r in errors)
    assert len(rows) < 500  # the successes were sampled


def test_executions_slower_than_the_running_p95_are_always_kept(make, root: Path) -> None:
    random.seed(3)
    clock = VirtualClock(T0)
    c = make({"global": {"sampling_rate": 0.05, "max_frames_per_second": 0}}, clock=clock)
    rng = random.Random(5)

    def run(n: int, slow_every: int) -> None:
        for i in range(n):
            with c.track("Search", agent_id="a"):
                clock.advance(500.0 if i % slow_every == 0 else rng.uniform(10, 20))

    run(2_000, 10**9)  # learn the normal latency: 10-20 ms, so p95 is about 19.5 ms
    c.flush()
    keep_above = c._states["Search"].keep_above / 1e6
    assert 18.0 < keep_above < 20.5
    before = len(read_frames(root))
    run(3_000, 100)  # now 30 executions take 500 ms
    c.flush()
    new = read_frames(root)[before:]
    slow = [r for r in new if r["total_ms"] >= 500]
    assert len(slow) == 30 and all(r["sample_rate"] == 1.0 for r in slow)
    fast = [r for r in new if r["total_ms"] < 500]
    assert len(fast) < 600  # mostly sampled out: 5% by chance plus the ~5% above p95


def test_whitelist_blacklist_and_custom_rates(make, root: Path) -> None:
    random.seed(1)
    config = {
        "components": {
            "whitelist": ["LLM*", "Tool:*", "Noisy"],
            "blacklist": ["Tool:debug"],
            "custom_sampling_rates": {"Noisy": 0.25, "LLM*": 1.0},
        },
        "global": {"sampling_rate": 0.5, "max_frames_per_second": 0, "flush_interval": 3600},
    }
    c = make(config)
    for name in ("LLMPlanner", "Tool:search", "Tool:debug", "Cache", "Noisy"):
        for _ in range(400):
            with c.track(name, agent_id="a"):
                pass
    c.flush()
    rows = by_component(read_frames(root))
    assert set(rows) == {"LLMPlanner", "Tool:search", "Noisy"}
    assert len(rows["LLMPlanner"]) == 400 and {r["sample_rate"] for r in rows["LLMPlanner"]} == {1.0}
    assert {r["sample_rate"] for r in rows["Tool:search"]} <= {0.5, 1.0}
    assert {r["sample_rate"] for r in rows["Noisy"]} <= {0.25, 1.0}
    assert sum(1 / r["sample_rate"] for r in rows["Noisy"]) == pytest.approx(400, rel=0.3)


def test_volume_cap_lowers_the_rate_of_a_hot_component(make, root: Path) -> None:
    random.seed(2)
    clock = VirtualClock(T0)
    c = make({"global": {"max_frames_per_second": 100}}, clock=clock)
    for _ in range(3):  # three simulated seconds at 5,000 executions per second
        for _ in range(5_000):
            with c.track("Hot", agent_id="a"):
                clock.advance(0.2)
        c.flush()
    st = c._states["Hot"]
    assert st.rate == pytest.approx(100 / 5_000, rel=0.2)
    written = len(read_frames(root))
    assert written < 5_000 + 2 * 500  # after the first second, about 100/s kept (plus the slowest tail)
    assert c.stats()["rates"]["Hot"] == st.rate


def test_record_is_sampled_by_the_same_rule(make, root: Path) -> None:
    random.seed(4)
    c = make({"global": {"sampling_rate": 0.02, "flush_interval": 3600}})
    for i in range(2_000):
        c.record({"agent_id": "a", "component": "Ext", "total_ms": 5.0, "success": i % 500 != 0})
    c.flush()
    rows = read_frames(root)
    assert sum(not r["success"] for r in rows) == 4
    assert sum(1 / r["sample_rate"] for r in rows) == pytest.approx(2_000, rel=0.35)


def test_weighted_quantile() -> None:
    assert weighted_quantile([(10, 1.0), (20, 1.0), (30, 1.0), (40, 1.0)], 0.5) == 20
    # 99 light samples at 1 ms, one sample at 5 ms standing for 900 executions: the median is 5 ms.
    assert weighted_quantile([(1, 1.0)] * 99 + [(5, 900.0)], 0.5) == 5


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 5)), min_size=1, max_size=60),
    q=st.floats(0.01, 1.0),
)
def test_weighted_quantile_is_the_quantile_of_the_expanded_samples(samples: list[tuple[int, int]], q: float) -> None:
    """With whole weights, a sample of weight w is w executions: the answer is the order statistic of them all."""
    expanded = sorted(d for d, w in samples for _ in range(w))
    k = max(0, math.ceil(q * len(expanded)) - 1)
    assert weighted_quantile([(d, float(w)) for d, w in samples], q) == expanded[k]
