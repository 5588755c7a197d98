"""Four writer processes, a looping compactor and a polling tailer at once: the final scan holds every frame
exactly once, and the tailer delivered every frame exactly once, segments compacted under it included."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from pathlib import Path

from store_testlib import BASE_TS, PY, REPO, df_ts, duplicates, read_rows, scan_ts
from waiting import joined

from smythtop import store

WRITERS = 4
FRAMES = 2500  # per writer
SPAN = 10**7  # writer k writes ts = BASE_TS + k * SPAN + i

WRITER = r"""
import sys, time
from smythtop import store
root, k, n, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with store.Writer(root, segment_bytes=2048, buffer_bytes=1024) as w:
    for i in range(n):
        w.append({"ts": base + k * 10**7 + i, "agent_id": f"agent-{k}", "component": "C", "total_ms": 1.0,
                  "success": True, "tags": {"writer": str(k)}})
        if i % 25 == 24:
            w.flush()
        if i % 250 == 249:
            time.sleep(0.01)  # spread the writes so compaction and tailing interleave with them
"""


def test_writers_compactor_and_tailer_concurrently(root: Path) -> None:
    expected = {store_ts for k in range(WRITERS) for store_ts in range(k * SPAN, k * SPAN + FRAMES)}
    tailer = store.Tailer(root, from_start=True)
    rng = random.Random(7)
    stop_compactor, stop_tailer = threading.Event(), threading.Event()
    compactions: list[store.CompactionResult] = []
    tailed: list[int] = []
    errors: list[BaseException] = []

    def compactor() -> None:
        try:
            while not stop_compactor.is_set():
                compactions.append(store.compact(root))
        except BaseException as exc:
            errors.append(exc)

    def follow() -> None:
        try:
            while not stop_tailer.is_set():
                tailed.extend(df_ts(tailer.poll()))
                # Sometimes slow, so whole segments are sealed and compacted away before it reads them.
                time.sleep(rng.choice([0.001, 0.05, 0.2]))
            tailed.extend(df_ts(tailer.poll()))  # after the final compaction
        except BaseException as exc:
            errors.append(exc)

    scans: list[int] = []

    def scanner() -> None:
        """Readers see a consistent store at every moment: never a frame twice, never fewer than before."""
        try:
            while not stop_compactor.is_set():
                ts = scan_ts(root)
                assert duplicates(ts) == {}, "a scan during compaction saw frames twice"
                assert not scans or len(ts) >= scans[-1], "a scan during compaction lost frames"
                scans.append(len(ts))
                time.sleep(0.02)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=compactor), threading.Thread(target=follow), threading.Thread(target=scanner)]
    for t in threads:
        t.start()
    procs = [
        subprocess.Popen(
            [PY, "-c", WRITER, str(root), str(k), str(FRAMES), str(BASE_TS)], cwd=REPO, stderr=subprocess.PIPE
        )
        for k in range(WRITERS)
    ]
    try:
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
    finally:
        for p in procs:
            p.kill()
        stop_compactor.set()
        joined(threads[0], "the compactor thread", 120)
        joined(threads[2], "the scanner thread", 120)
        final = store.compact(root)
        stop_tailer.set()
        joined(threads[1], "the tailer thread", 120)
    assert not errors, errors
    assert not final.busy

    ts = scan_ts(root)
    assert duplicates(ts) == {}
    assert {t - BASE_TS for t in ts} == expected
    assert len(ts) == WRITERS * FRAMES
    rows = read_rows(root)
    assert all(r["tags"] == {"writer": r["agent_id"].removeprefix("agent-")} for r in rows)
    report = store.check(root)
    assert (report.frames, report.wal_frames, report.damaged_bytes, report.pending_journals) == (len(ts), 0, 0, 0)

    assert duplicates(tailed) == {}, f"the tailer delivered {len(tailed) - len(set(tailed))} frames twice"
    assert {t - BASE_TS for t in tailed} == expected
    assert tailer.delivered == WRITERS * FRAMES
    # The run did exercise compaction while writing (not only the final one).
    assert sum(c.frames_written for c in compactions) > 0
    assert len(scans) > 1
