"""kill -9 loop: a child writes and flushes numbered frames and logs the last flushed number; the parent
SIGKILLs it at random moments (sometimes while compacting concurrently, sometimes also killing a
compactor process mid-way). After each kill, recovery (`compact`) + `scan` must return every
confirmed frame exactly once. SMYTHTOP_KILLS sets the number of kills (30 here, 200 in `make soak`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from store_testlib import PY, REPO, duplicates, scan_ts, tmp_leftovers

from smythtop import store

KILLS = int(os.environ.get("SMYTHTOP_KILLS", "30"))
SPAN = 10**9  # ts = SPAN * (iteration + 1) + seq: the iteration and sequence number are in the ts
LINE = 13  # one "%12d\n" record per confirmed flush in the side file

# The writer child: append a random batch, flush, and only then log the batch's last seq with one os.write.
WRITER = r"""
import os, random, sys, time
from smythtop import store
root, side, base, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
log = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
w = store.Writer(root, segment_bytes=rng.choice([1024, 4096, 65536]), buffer_bytes=rng.choice([300, 4096, 1 << 16]))
seq = 0
stop = time.monotonic() + 20  # bounded even if the parent never kills us
while time.monotonic() < stop and seq < 900_000:
    for _ in range(rng.randint(1, 60)):
        w.append({"ts": base + seq, "agent_id": "kill9", "component": "Writer", "total_ms": 1.0,
                  "success": True, "tags": {"seq": str(seq)}})
        seq += 1
    w.flush()
    os.write(log, b"%12d\n" % (seq - 1))
"""

# A compactor child, killed along with the writer: its crash can land anywhere in the publish protocol.
COMPACTOR = r"""
import sys, time
from smythtop import store
root, ready = sys.argv[1], sys.argv[2]
open(ready, "w").close()
stop = time.monotonic() + 20
while time.monotonic() < stop:
    store.compact(root, merge_min_age_s=0)
"""


def _confirmed(side: Path) -> int:
    """The last seq whose flush() had returned, or -1."""
    try:
        data = side.read_bytes()
    except FileNotFoundError:
        return -1
    whole = len(data) // LINE * LINE
    return int(data[whole - LINE : whole]) if whole else -1


def _wait_started(proc: subprocess.Popen, side: Path, limit_s: float = 30) -> None:
    """Until the child has confirmed its first flush (or died); bounded."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and proc.poll() is None and _confirmed(side) < 0:
        time.sleep(0.002)


def _compact_loop(root: Path, stop: threading.Event, results: list) -> None:
    while not stop.is_set():
        results.append(store.compact(root))


@pytest.mark.soak
@pytest.mark.slow
@pytest.mark.integration  # 17 s and 30 child processes: `make test-integration` (CI) and `make soak` run it
def test_kill9_loop(tmp_path: Path) -> None:
    root = tmp_path / "store"
    rng = random.Random(int(os.environ.get("SMYTHTOP_KILL_SEED", "0")) or None)
    seed = rng.randrange(2**32)
    rng.seed(seed)
    counts: dict[int, int] = {}  # iteration -> frames it left in the store
    total_confirmed = 0
    concurrent_compactions = 0
    for it in range(KILLS):
        base = SPAN * (it + 1)
        side = tmp_path / f"confirmed-{it}"
        mode = rng.choice(["plain", "plain", "thread", "process"])
        writer = subprocess.Popen(
            [PY, "-c", WRITER, str(root), str(side), str(base), str(rng.randrange(2**32))], cwd=REPO
        )
        compactor = None
        stop = threading.Event()
        results: list = []
        thread = None
        try:
            if rng.random() < 0.15:
                time.sleep(rng.uniform(0, 0.08))  # early: maybe during start-up or Writer creation
            else:
                _wait_started(writer, side)
                if mode == "thread":
                    thread = threading.Thread(target=_compact_loop, args=(root, stop, results))
                    thread.start()
                elif mode == "process":
                    ready = tmp_path / f"compactor-{it}"
                    compactor = subprocess.Popen([PY, "-c", COMPACTOR, str(root), str(ready)], cwd=REPO)
                    end = time.monotonic() + 30
                    while not ready.exists() and compactor.poll() is None and time.monotonic() < end:
                        time.sleep(0.005)
                    time.sleep(rng.uniform(0, 0.3))  # somewhere inside a compaction
                time.sleep(rng.uniform(0, 0.12))
            writer.send_signal(signal.SIGKILL)
            if compactor is not None:
                compactor.send_signal(signal.SIGKILL)
        finally:
            writer.kill()
            writer.wait(timeout=30)
            if compactor is not None:
                compactor.kill()
                compactor.wait(timeout=30)
            stop.set()
            if thread is not None:
                thread.join(timeout=60)
        assert writer.returncode == -signal.SIGKILL, f"seed {seed} iteration {it}: the writer exited on its own"
        assert thread is None or not thread.is_alive(), f"seed {seed} iteration {it}: compacting thread still runs"
        concurrent_compactions += sum(r.frames_written for r in results)
        confirmed = _confirmed(side)
        total_confirmed += confirmed + 1

        result = store.compact(root)  # recovery
        assert not result.busy
        ts = scan_ts(root)
        context = f"seed {seed} iteration {it} ({mode}), confirmed up to seq {confirmed}"
        assert duplicates(ts) == {}, context
        mine = sorted(t - base for t in ts if base <= t < base + SPAN)
        # Every confirmed frame is there; what follows is an unbroken prefix (a write is never half-lost
        # before a later one survives).
        assert mine == list(range(len(mine))), context
        assert len(mine) >= confirmed + 1, context
        counts[it] = len(mine)
        # Earlier iterations' frames are all still there, once each.
        per_iteration = {i: 0 for i in counts}
        for t in ts:
            per_iteration[t // SPAN - 1] += 1
        assert per_iteration == counts, context
        report = store.check(root)
        assert report.frames == len(ts), context
        assert report.damaged_bytes == 0 and report.wal_frames == 0, context  # all recovered into Parquet
        assert report.pending_journals == 0, context
        assert tmp_leftovers(root) == [], context
    assert total_confirmed > KILLS  # the loop really wrote and confirmed frames
    torn = store.check(root).quarantined_bytes  # torn tails of killed writes, copied aside
    print(
        f"kill9: {KILLS} kills, {sum(counts.values())} frames, "
        f"{concurrent_compactions} compacted concurrently, {torn} bytes quarantined"
    )
