"""Run the simulated fleet: live (real time, until stopped) or as a backfill of past hours.

Live, one dispatcher thread draws Poisson arrivals across the fleet and hands each request to a
thread pool, so requests overlap like real traffic and the pool's wait shows up as queue time.
While it runs, a maintenance thread compacts the store every `compact_every_s`; that is done here,
in the demo process, never inside an agent's recorder (it would load pyarrow into agents).

A backfill replays the same requests on a virtual clock, fast, with a day-shaped traffic curve.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smythtop.fleet.pacing import LivePacing, Pacing, VirtualPacing
from smythtop.fleet.profiles import profile_for
from smythtop.fleet.workflow import Agent
from smythtop.recorder import Collector, VirtualClock

log = logging.getLogger("smythtop.fleet")

NS = 1_000_000_000
FLUSH_EVERY_REQUESTS = 250  # backfill: flush often enough that the ring buffer never overflows
TAIL_S = 180  # a backfill's requests all start this long before its end


@dataclass(frozen=True, slots=True)
class FleetOptions:
    store: Path | None = None
    agents: int = 4
    rate: float = 2.0  # requests per second across the whole fleet
    seed: int | None = None
    compact_every_s: float = 20.0
    config: dict[str, Any] = field(default_factory=dict)  # recorder config for the fleet's collector


@dataclass(slots=True)
class FleetReport:
    """What a run wrote; updated from the flush thread's batch-flush events while it runs."""

    requests: int = 0
    frames: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_batch(self, frames: list[dict[str, Any]]) -> None:
        with self._lock:
            for f in frames:
                self.frames += 1
                self.failed += not f["success"]
                cost = f.get("cost_usd")
                if cost is not None:
                    self.cost_usd += cost / f.get("sample_rate", 1.0)
                elif f.get("model") and f.get("output_tokens") is not None:
                    self.unpriced += 1
                ts = f["ts"]
                self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
                self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)


def _agents(collector: Collector, pacing: Pacing, count: int, rng: random.Random) -> list[Agent]:
    agents = []
    for i in range(count):
        agent_id, profile = profile_for(i)
        agents.append(Agent(agent_id, profile, collector, pacing, rss=rng.uniform(250e6, 700e6)))
    return agents


def _collector(options: FleetOptions, report: FleetReport, **kwargs: Any) -> Collector:
    collector = Collector(options.config, store=options.store, **kwargs)
    collector.on("batch-flush", report.add_batch)
    return collector


def run_fleet(
    options: FleetOptions,
    stop: threading.Event,
    *,
    duration_s: float | None = None,
    on_progress: Callable[[FleetReport, float], None] | None = None,
    progress_every_s: float = 5.0,
    report: FleetReport | None = None,
) -> FleetReport:
    """Run live until `stop` is set (or `duration_s` passes); safe to run in a background thread.
    Pass a `report` to watch it fill while the fleet runs."""
    if options.agents < 1 or options.rate <= 0:
        raise ValueError("a fleet needs at least one agent and a positive rate")
    report = FleetReport() if report is None else report
    collector = _collector(options, report)
    rng = random.Random(options.seed)
    agents = _agents(collector, LivePacing(stop), options.agents, rng)
    pool = ThreadPoolExecutor(max_workers=min(256, 16 + 24 * options.agents), thread_name_prefix="fleet-request")
    maintenance = threading.Thread(target=_maintain, args=(collector, options, stop), name="fleet-compact", daemon=True)
    maintenance.start()
    started = time.monotonic()
    next_progress = started + progress_every_s
    next_arrival = started
    try:
        while not stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - started >= duration_s:
                break
            if on_progress is not None and now >= next_progress:
                on_progress(report, now - started)
                next_progress += progress_every_s
            if now < next_arrival:
                stop.wait(min(next_arrival - now, 0.25))
                continue
            agent = rng.choice(agents)
            seed = rng.getrandbits(63)
            report.requests += 1
            pool.submit(_live_request, agent, seed, time.perf_counter_ns())
            next_arrival += rng.expovariate(options.rate)
    finally:
        stop.set()  # in-flight requests finish at once: their waits return early
        pool.shutdown(wait=True)
        maintenance.join()
        collector.close()
        report.stats = collector.stats()
        _compact(options.store)
    return report


def _live_request(agent: Agent, seed: int, queued_at_ns: int) -> None:
    queue_ms = (time.perf_counter_ns() - queued_at_ns) / 1e6
    try:
        agent.handle_request(seed, queue_ms=queue_ms)
    except Exception:  # a bug in the simulation must not kill the pool's worker silently
        log.exception("fleet request failed")


def backfill(
    options: FleetOptions,
    hours: float,
    *,
    end_ns: int | None = None,
    on_progress: Callable[[FleetReport, float], None] | None = None,
) -> FleetReport:
    """Write `hours` of past traffic ending at `end_ns` (default now), through the real recorder
    API on a virtual clock. The arrival rate follows a day curve around `options.rate`. Arrivals stop
    TAIL_S before the end, so that the requests still running then finish in the past too."""
    if options.agents < 1 or options.rate <= 0 or hours <= 0:
        raise ValueError("a backfill needs at least one agent, a positive rate and positive hours")
    end = time.time_ns() if end_ns is None else end_ns
    start = end - int(hours * 3600 * NS)
    clock = VirtualClock(start)
    report = FleetReport()
    collector = _collector(options, report, clock=clock)
    rng = random.Random(options.seed)
    agents = _agents(collector, VirtualPacing(clock), options.agents, rng)
    peak = options.rate * 1.6
    t = start
    last_arrival = end - min(TAIL_S * NS, (end - start) // 2)
    try:
        while True:
            t += int(rng.expovariate(peak) * NS)
            if t >= last_arrival:
                break
            accept = rng.random() < _day_curve(t) / 1.6  # thinning: a Poisson process with a varying rate
            agent = rng.choice(agents)
            seed = rng.getrandbits(63)
            if not accept:
                continue
            clock.set(t)
            agent.handle_request(seed)
            report.requests += 1
            if report.requests % FLUSH_EVERY_REQUESTS == 0:
                collector.flush()
                if on_progress is not None:
                    on_progress(report, (t - start) / NS)
    finally:
        collector.close()
        report.stats = collector.stats()
        _compact(options.store)
    return report


def _day_curve(ts_ns: int) -> float:
    """Traffic relative to the mean, by UTC hour: a quiet night (0.4) and a busy afternoon (1.6)."""
    hour = (ts_ns / NS / 3600) % 24
    return 1.0 + 0.6 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi)


def _maintain(collector: Collector, options: FleetOptions, stop: threading.Event) -> None:
    while not stop.wait(options.compact_every_s):
        _compact(options.store, retention_days=collector.config.advanced.retention_days)


def _compact(root: Path | None, retention_days: float | None = None) -> None:
    """Compact (and apply retention); a failure is logged, never fatal to the demo."""
    try:
        from smythtop import store

        store.compact(root)
        if retention_days is not None:
            store.apply_retention(root, days=retention_days)
    except Exception as exc:
        log.warning("smythtop: store maintenance failed (will retry): %s", exc)
