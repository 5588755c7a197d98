"""The live app: first paint on a 10M-frame store, live ticks at 10K frames/s, flush-to-screen latency,
and idle CPU.

- The 10M-frame store holds 24 h of a busy fleet (~115 frames/s, bench/frames.py's realistic mix) in
  Parquet files named like compacted ones; it is built once and kept in $SMYTHTOP_BENCH_DATA (default
  the temp dir). The app's clock stands at the end of that day, so its live 15-minute window holds
  ~104K frames, as it would on a real busy store.
- First paint: a fresh `python` process (imports included) starting the app as `smythtop top` does
  (`top_cmd.make_app`: the first tick under way before Textual is imported) until the first snapshot is on
  screen. Also on stores whose 15-minute window holds 10K and 1M distinct component names, quiet and with a
  CPU hog on one core, against the same rows over 10 names (the report keeps 200 rows and folds the rest:
  docs/ANALYSIS.md).
- Live: a writer process appends 10K frames/s (50 ms batches, flushed like a recorder); the last
  frame of each batch is a probe whose flush time it records. Tick worker times and probe
  latencies (flush -> snapshot applied on the UI thread) come from the same run. A tick merges the new
  frames into the live window's per-bucket aggregates (`smythtop.app.live`) and builds the live part of
  the report from them; the findings (`build_slow`) are refreshed every 5 s in the app's findings worker
  process (`smythtop.app.findings`), timed apart (their round trip, and their age when shown). The same run
  is repeated on the reference path, which rebuilds the cube from every frame of the window each tick
  (`analysis.report.build_live`), for a same-run ratio; both quiet and with a CPU hog on one core.
- Idle: `smythtop top` in a real pseudo-terminal on a store with data in the window and no writer, quiet
  and with a CPU hog on one core; the app's own CPU time (its findings worker's included, and given apart)
  read from /proc over IDLE_S after start-up (which ends once the first findings, computed in the background
  after the first paint, are done: `_settle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import multiprocessing as mp
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Table

N_FRAMES = 10_000_000
DAY_S = 86_400.0
CHUNKS = 10
START_NS = 1_748_822_400_000_000_000  # 2025-06-02T00:00:00Z (bench/frames.py's default)
END_NS = START_NS + int(DAY_S * 1e9)
INGEST_PER_S = 10_000
BATCH_S = 0.05
LIVE_S = 40.0
# longer than the 90 s ageing re-analysis of a 15m window and the 5-minute refresh of its findings on ageing alone
# (`app.data.FINDINGS_AGEING_S`, due at the 4th re-analysis, 360 s in), so that both are counted
IDLE_S = 400.0
SETTLED_SHARE, SETTLE_STEP_S, SETTLE_MAX_S = 0.1, 2.0, 60.0  # start-up is over below 10 % of a core for 2 s
PAINT_TIMEOUT_S = 300.0  # a first paint that takes longer is a failure to report, not a bench to wait on


def _data_dir() -> Path:
    return Path(os.environ.get("SMYTHTOP_BENCH_DATA") or tempfile.gettempdir())


def big_store() -> Path:
    """10M frames over 24 h, built once (about a minute) and reused."""
    root = _data_dir() / "smythtop-bench-app-10m"
    marker = root.with_name(root.name + ".READY")  # beside the store: a store holds only its own files
    if marker.exists():
        return root
    import pyarrow.parquet as pq
    from smythtop.store.catalog import KIND_MERGE, parquet_name
    from smythtop.store.layout import open_store
    from smythtop.store.paths import PARQUET_DIR

    from bench.frames import realistic_table

    open_store(root, write=True)  # the store's marker and lock, as a Writer would leave them
    out = root / PARQUET_DIR
    out.mkdir(parents=True, exist_ok=True)
    per, span = N_FRAMES // CHUNKS, DAY_S / CHUNKS
    for i in range(CHUNKS):
        table = realistic_table(per, seed=100 + i, start_ns=START_NS + int(i * span * 1e9), span_s=span)
        ts = table.column("ts").cast("int64")
        lo, hi = ts.combine_chunks().to_numpy().min(), ts.combine_chunks().to_numpy().max()
        pq.write_table(table, out / parquet_name(int(lo), int(hi), KIND_MERGE), row_group_size=256 * 1024)
        print(f"  built chunk {i + 1}/{CHUNKS}", flush=True)
    marker.write_text(json.dumps({"frames": N_FRAMES, "start_ns": START_NS, "span_s": DAY_S}))
    return root


# ---- first paint ----------------------------------------------------------------------------------

_FIRST_PAINT = """
import asyncio, resource, sys, time
from pathlib import Path
from smythtop.cli.top_cmd import make_app

async def main():
    app = make_app(Path(sys.argv[1]), clock=lambda: int(sys.argv[2]))  # as `smythtop top` starts it
    async with app.run_test(size=(200, 50)) as pilot:
        while app.ticks < 1:  # not `pilot.pause`, which walks every widget: 0.35 s of the UI thread's time here
            await asyncio.sleep(0.005)
        first = app.snapshot  # a quick second tick may land during the pause below
        # the screen takes the snapshot and repaints; not `pause()`, which also waits (up to 1 s) for the whole
        # process to go idle, i.e. for the first findings, which now run in the background after the paint
        await pilot.pause(0)
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(time.monotonic(), first.worker_ms, first.window_frames, rss_kb, flush=True)

asyncio.run(main())
"""


def _paint(root: Path, clock_ns: int, env: dict[str, str] | None = None) -> tuple[float, float, int, float]:
    """(seconds to first paint, first tick's worker ms, frames in the window, peak RSS MB) of a new process."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_PAINT, str(root), str(clock_ns)],
        capture_output=True,
        text=True,
        check=True,
        timeout=PAINT_TIMEOUT_S,
        env=env,
    )
    painted, worker_ms, frames, rss_kb = out.stdout.split()
    return float(painted) - start, float(worker_ms), int(frames), int(rss_kb) / 1024


def first_paint(table: Table, root: Path) -> None:
    """`smythtop top`'s first paint in a new process, as every start after the first: the modules' bytecode is
    cached (pip compiles it at install; Python writes it at the first import). One start first writes it, even
    where PYTHONDONTWRITEBYTECODE is set (as on the CI machines, where every start compiled every module from
    source: ~1 s of each). That cold start is measured apart, with an empty bytecode cache."""
    from bench.bench_analysis import cpu_hog

    _paint(root, END_NS, {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    for hog in (False, True):
        with cpu_hog(hog):
            runs = [_paint(root, END_NS) for _ in range(3)]
        when = ", CPU hog on one core" if hog else ", quiet"
        table.add("app", f"first paint, 10M-frame store, new process{when}", statistics.median(r[0] for r in runs)
                  * 1000, "ms", goal="<= 2000 ms", peer=f"{runs[0][2]:,} frames in the 15m window")  # fmt: skip
        table.add("app", "first paint: first tick's worker time", statistics.median(r[1] for r in runs), "ms")
    with tempfile.TemporaryDirectory(prefix="smythtop-bench-pycache-") as empty:
        # a bytecode cache prefix with nothing in it, written to by no one: every module is compiled from source
        cold = {**os.environ, "PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        runs = [_paint(root, END_NS, cold) for _ in range(3)]
    table.add("app", "first paint, quiet, every module compiled from source", statistics.median(r[0] for r in runs)
              * 1000, "ms", peer="no bytecode cached: a start after an install that did not compile it")  # fmt: skip


def first_paint_names(table: Table) -> None:
    """First paint on stores whose live window holds 10K and 1M distinct component names, against the same rows
    over 10 names in the same run, quiet and with a CPU hog on one core: medians of 3 new processes."""
    from bench.bench_analysis import CARDINALITY, REFERENCE_NAMES, add_names_row, cpu_hog, many_names, write_store

    for names, rows in CARDINALITY:
        with tempfile.TemporaryDirectory(prefix="smythtop-bench-app-names-") as tmp:
            roots = {n: Path(tmp) / str(n) for n in (names, REFERENCE_NAMES)}
            for n, root in roots.items():
                df = many_names(rows, n, hours=0.2)  # 12 minutes ending now: inside the live 15m window
                clock_ns = int(df["ts"].dt.epoch("ns").max()) + 10**9
                write_store(df, root)
                del df
            for hog in (False, True):
                with cpu_hog(hog):
                    runs = {n: [_paint(root, clock_ns) for _ in range(3)] for n, root in roots.items()}
                    load = os.getloadavg()[0]
                mine, ref = runs[names], runs[REFERENCE_NAMES]
                add_names_row(table, "app", "first paint", names, rows, hog, load,
                              [(r[0], r[3]) for r in mine], [(r[0], r[3]) for r in ref],
                              note=f"{mine[0][2]:,} frames; ")  # fmt: skip


# ---- live ticks and latency -----------------------------------------------------------------------


def _writer(root: str, t0: float, base_ns: int, duration: float, probes: mp.Queue, ready: mp.Event) -> None:
    """Append INGEST_PER_S frames/s in 50 ms batches; the last of each batch is a timed probe."""
    from bench.frames import realistic_frames
    from smythtop import store

    pool = realistic_frames(20_000, seed=9)
    per_batch = int(INGEST_PER_S * BATCH_S)
    seq = 0
    with store.Writer(root) as writer:
        ready.set()
        next_at = time.monotonic()
        end = next_at + duration
        while next_at < end:
            now_ns = base_ns + int((time.monotonic() - t0) * 1e9)
            for j in range(per_batch - 1):
                cycle, i = divmod(seq * per_batch + j, len(pool))
                frame = {**pool[i], "ts": now_ns}
                if cycle and "trace_id" in frame:  # each replay of the pool is new requests: fresh trace ids
                    frame["trace_id"] = f"{frame['trace_id'][:-6]}{cycle:06x}"
                writer.append(frame)
            seq += 1
            writer.append({"ts": now_ns, "agent_id": "probe", "component": "probe", "total_ms": 1.0,
                           "success": True, "retry_count": seq})  # fmt: skip
            writer.flush()
            probes.put((seq, time.monotonic()))
            next_at += BATCH_S
            time.sleep(max(0.0, next_at - time.monotonic()))
    probes.put(None)


@dataclass(frozen=True)
class LiveRun:
    """One live run's figures: tick worker ms (warm ticks), their poll share, the findings' refresh times and
    ages, flush-to-screen latencies (s) and the window's size at the end."""

    total: list[float]
    poll: list[float]
    own: list[float]
    findings: list[float]
    ages: list[float]
    latencies: list[float]
    probes: int
    frames_end: int


def live(table: Table, root: Path) -> None:
    """The live tick on the incremental path against the reference path (the cube rebuilt from the window's
    frames every tick, `Loader.INCREMENTAL = False`), quiet and with a CPU hog on one core: each run on its
    own copy of the store, so both see the same frames."""
    from bench.bench_analysis import cpu_hog

    for hog in (False, True):
        runs = {}
        for incremental in (True, False):
            with tempfile.TemporaryDirectory(prefix="smythtop-bench-live-") as tmp, cpu_hog(hog):
                live_root = Path(tmp) / "store"
                # the live run adds WAL segments: work on a copy that shares the big Parquet files by hard link
                subprocess.run(["cp", "-al", str(root), str(live_root)], check=True)
                runs[incremental] = _live_run(live_root, incremental=incremental)
        _live_rows(table, runs[True], runs[False], hog)


def _live_rows(table: Table, new: LiveRun, old: LiveRun, hog: bool) -> None:
    when = ", CPU hog on one core" if hog else ", quiet"
    if not new.total or not old.total or not new.latencies:  # e.g. one tick held the whole run: say so
        table.add("app", f"live run{when}: too few ticks to measure", len(new.total), "ticks",
                  peer=f"reference path: {len(old.total)} ticks")  # fmt: skip
        return
    ratio = statistics.median(old.total) / statistics.median(new.total)
    table.add("app", f"live tick worker time at 10K frames/s (median){when}", statistics.median(new.total), "ms",
              goal="<= 100 ms", peer=f"{ratio:.1f}x faster than rebuilding ({statistics.median(old.total):.0f} ms); "
              f"window grew to {new.frames_end:,} frames in {LIVE_S:.0f} s")  # fmt: skip
    table.add("app", f"live tick worker time at 10K frames/s (p95){when}", _p95(new.total), "ms", goal="<= 250 ms",
              peer=f"rebuilding: {_p95(old.total):.0f} ms")  # fmt: skip
    table.add("app", "  of which store.Tailer.poll + append (median)", statistics.median(new.poll), "ms")
    table.add("app", "  of which the app's window filter and checks (median)", statistics.median(new.own), "ms",
              peer="the rest is merging the new frames and the live part from the aggregates")  # fmt: skip
    slow = new.findings[1:]  # the first is the first tick's, before the writer started
    if slow:
        table.add("app", "findings (build_slow) in the worker process, every 5 s (median)", statistics.median(slow),
                  "ms", peer=f"{len(slow)} refreshes, max {max(slow):.0f} ms")  # fmt: skip
    table.add("app", "age of the findings shown (p95)", _p95(new.ages) * 1000, "ms", peer="goal: <= 5 s + one refresh")
    table.add("app", f"flush-to-screen latency p95{when}", _p95(new.latencies) * 1000, "ms", goal="<= 1000 ms",
              peer=f"{len(new.latencies)}/{new.probes} probes, median {statistics.median(new.latencies) * 1000:.0f} ms;"
              f" rebuilding: p95 {_p95(old.latencies) * 1000:.0f} ms")  # fmt: skip


def _live_run(root: Path, *, incremental: bool) -> LiveRun:
    import polars as pl

    from smythtop.app import SmythtopApp
    from smythtop.app.data import Loader
    from smythtop.app.messages import SnapshotReady

    t0 = time.monotonic()

    def clock() -> int:
        return END_NS + int((time.monotonic() - t0) * 1e9)

    class ProbeLoader(Loader):
        """Notes which probe frames each tick's poll delivered."""

        INCREMENTAL = incremental

        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            self.pending: list[int] = []
            self.by_snapshot: dict[int, list[int]] = {}

        def _poll(self):
            new = super()._poll()
            if new is not None:
                probes = new.filter(pl.col("agent_id") == "probe")["retry_count"].to_list()
                self.pending.extend(probes)
            return new

        def tick(self, request):
            snap = super().tick(request)
            self.by_snapshot[id(snap)], self.pending = self.pending, []
            return snap

    seen: dict[int, float] = {}
    ticks: list[tuple[float, float, float, int]] = []
    findings: dict[float, float] = {}  # findings ms of each background refresh (keyed by its ms: one entry each)
    ages: list[float] = []

    class ProbeApp(SmythtopApp):
        def on_snapshot_ready(self, message: SnapshotReady) -> None:
            # Textual also runs the base class's handler (after this one): note the time once it has applied
            self.call_later(self._applied, message.snapshot)

        def _applied(self, snap) -> None:
            now = time.monotonic()
            for seq in self.loader.by_snapshot.pop(id(snap), []):
                seen.setdefault(seq, now)
            if snap.recomputed and not snap.findings_inline:
                ticks.append((snap.worker_ms, snap.analysis_ms, snap.poll_ms, snap.window_frames))
                findings[snap.findings_ms] = snap.findings_ms
                ages.append(snap.findings_age_s)

    loader = ProbeLoader(root, clock=clock, findings_process=True)  # as the app's own: findings in a worker process
    app = ProbeApp(root, clock=clock, loader=loader)
    probes: mp.Queue = mp.get_context("spawn").Queue()
    ready = mp.get_context("spawn").Event()
    writer = mp.get_context("spawn").Process(
        target=_writer, args=(str(root), t0, END_NS, LIVE_S, probes, ready), daemon=True
    )
    flushed: dict[int, float] = {}

    def drain() -> None:
        while (item := probes.get()) is not None:
            flushed[item[0]] = item[1]

    async def main() -> None:
        async with app.run_test(size=(200, 50)) as pilot:
            while app.ticks < 1:
                await pilot.pause(0.01)
            writer.start()
            ready.wait()
            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            while writer.is_alive():
                await pilot.pause(0.1)
            await pilot.pause(2.0)

    asyncio.run(main())
    writer.join()
    latencies = sorted(seen[s] - flushed[s] for s in flushed if s in seen)
    warm = ticks[len(ticks) // 4 :]
    return LiveRun(
        total=[w for w, _, _, _ in warm],
        poll=[p for _, _, p, _ in warm],
        own=[w - a - p for w, a, p, _ in warm],
        findings=list(findings.values()),
        ages=ages,
        latencies=latencies,
        probes=len(flushed),
        frames_end=ticks[-1][3] if ticks else 0,
    )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


# ---- idle CPU -------------------------------------------------------------------------------------


_MAIN = "import sys; from smythtop.cli import main; sys.exit(main())"


def _cpu_split(pid: int) -> tuple[float, float]:
    """The CPU seconds of `pid` itself and of its live children (the findings worker process, multiprocessing's
    resource tracker): the bench counts both, and reports the children's part apart."""
    own = children = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid):
            own += int(fields[11]) + int(fields[12])
        elif fields[1] == str(pid):  # fields[1]: the parent's pid
            children += int(fields[11]) + int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return own / tick, children / tick


def _cpu_seconds(pid: int) -> float:
    """The CPU time of `pid` and of its live children: the app's is also its findings worker process's."""
    return sum(_cpu_split(pid))


def _settle(pid: int) -> None:
    """Wait until the app's start-up work is over: the first paint shows before the window's first findings,
    which (like the first store check) then run in the background, so on a loaded machine they can end after the
    first 8 s. Over once the app used under SETTLED_SHARE of a core for SETTLE_STEP_S; bounded by SETTLE_MAX_S."""
    deadline = time.monotonic() + SETTLE_MAX_S
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(SETTLE_STEP_S)
        if _cpu_seconds(pid) - before < SETTLED_SHARE * SETTLE_STEP_S:
            return


def idle_cpu(table: Table) -> None:
    """`smythtop top` in a pty with nobody writing: on a store whose last 15 minutes hold 100K frames (the
    window ages, and is re-analysed every 90 s, its findings every 5 minutes), quiet and with a CPU hog on one
    core (the app's own CPU time is what is read, so the hog's is not counted), and on one whose frames ended an
    hour ago."""
    from bench.bench_analysis import cpu_hog

    for hog in (False, True):
        with cpu_hog(hog):
            when = "CPU hog on one core" if hog else "quiet"
            _idle_cpu(table, ago_s=0, seconds=IDLE_S, label=f"idle CPU, 100K frames ageing in the 15m window, {when}")
    _idle_cpu(table, ago_s=3600, seconds=60.0, label="idle CPU, store quiet for an hour")


def _idle_cpu(table: Table, *, ago_s: float, seconds: float, label: str) -> None:
    import pyarrow.parquet as pq
    from smythtop.store.catalog import KIND_MERGE, parquet_name
    from smythtop.store.paths import PARQUET_DIR

    from bench.frames import realistic_table

    with tempfile.TemporaryDirectory(prefix="smythtop-bench-idle-") as tmp:
        root = Path(tmp) / "store"
        (root / PARQUET_DIR).mkdir(parents=True)
        now = time.time_ns() - int(ago_s * 1e9)
        t = realistic_table(100_000, seed=5, start_ns=now - 14 * 60 * 10**9, span_s=13 * 60)
        ts = t.column("ts").cast("int64").combine_chunks().to_numpy()
        pq.write_table(t, root / PARQUET_DIR / parquet_name(int(ts.min()), int(ts.max()), KIND_MERGE))
        pid, fd = pty.fork()
        if pid == 0:  # the child: a 200x50 terminal running the real command line
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, "-c", _MAIN, "--store", str(root)])
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set():
                try:
                    if not os.read(fd, 65536):
                        return
                except OSError:
                    return

        threading.Thread(target=drain, daemon=True).start()
        try:
            time.sleep(8.0)  # start-up and first analysis
            _settle(pid)
            cpu0, wall0 = _cpu_split(pid), time.monotonic()
            time.sleep(seconds)
            cpu1, wall1 = _cpu_split(pid), time.monotonic()
        finally:
            os.write(fd, b"q")
            time.sleep(1.0)
            stop.set()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)  # our own child, if `q` did not end it
            os.waitpid(pid, 0)
            os.close(fd)
    wall = wall1 - wall0
    share, children = (sum(cpu1) - sum(cpu0)) / wall * 100, (cpu1[1] - cpu0[1]) / wall * 100
    peer = f"over {seconds:.0f} s, `smythtop top` in a pty; {children:.2f} % of it in child processes (findings)"
    table.add("app", label, share, "% core", goal="<= 1%", peer=peer)


def run(table: Table) -> None:
    first_paint_names(table)
    root = big_store()
    first_paint(table, root)
    live(table, root)
    idle_cpu(table)
