"""The findings' worker process: `analysis.report.build_slow_from` computed outside the app's process.

Why: the findings (span trees, detectors, recommendations: ~0.3 s of mostly Python for 500K frames, ~1 s in the
app) refresh every `data.FINDINGS_EVERY_S` beside the live ticks. In a thread they share the app's GIL, and on 2
cores a live tick at 10K frames/s took 358 ms instead of 155 ms alone while they ran; from another process, 208 ms.

Method: one long-lived process of the "spawn" context (never fork: the parent runs polars' thread pool, whose locks
a forked child could inherit held), started by the first request, after the first paint (the loader's findings
thread waits for it: `data.PAINT_WAIT_S`). The loader's findings thread computes the findings' passes over the
window's raw frames itself (`report.slow_inputs`, tens of ms in polars), sends the result over a pipe (~11 MB
and ~10 ms to pickle for a 15-minute window of 500K frames) and waits for the answer without holding the GIL; one
request at a time, as the thread asks. It runs at the app's priority: niced (10), it was starved on a loaded
machine (a refresh's round trip 18.7 s median, the findings shown 40 s old at p95) for no tick gain that could be
told from the noise. It exits when its end of the pipe closes: an app that crashed leaves it running at most
until the request in hand is done (the app closes it on exit: `data.Loader.close`).

A worker that cannot start, dies or does not answer within `TIMEOUT_S` is counted (`FindingsWorker.failures`),
logged once, and its request computed in the calling thread as before; it is restarted at most once per
`restart_after_s`, the requests in between computed in the thread too.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess

    from smythtop.analysis.report import SlowInputs
    from smythtop.analysis.results import Findings

log = logging.getLogger("smythtop.app.findings")

# A worker that has not answered in this long is taken as stuck: killed, and the request computed in the thread.
# The findings of the largest window kept in memory (`data.MEM_ROWS`, 3M frames) take seconds, not minutes.
TIMEOUT_S = 300.0
RESTART_AFTER_S = 5.0  # a dead worker is restarted at most this often (`data.FINDINGS_EVERY_S`: once per refresh)
STOP_WAIT_S = 5.0  # how long `close` waits for the process to exit after SIGTERM before killing it


class WorkerDied(Exception):
    """The worker could not start, exited, or did not answer in time."""


class NotRestartedYet(WorkerDied):
    """The last worker failed less than `restart_after_s` ago: this request is computed in the thread."""


class FindingsFailed(Exception):
    """`build_slow_from` raised in the worker: `str()` is "<exception type>: <message>", as it was raised there."""


def _serve(conn: Connection) -> None:
    """The worker's loop: SlowInputs in, ("ok", Findings) or ("failed", "<type>: <message>") out, until the pipe
    closes (the app closed it, or died) or a None arrives."""
    quiet = os.open(os.devnull, os.O_WRONLY)  # the terminal is the app's screen: a stray warning would scribble on it
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    from smythtop.analysis.report import build_slow_from
    from smythtop.engine import prefer_in_memory

    prefer_in_memory()  # as in the app (`data.Loader`): the same engine, the same plans
    while True:
        try:
            inputs = conn.recv()
        except (EOFError, OSError):
            return
        if inputs is None:
            return
        try:
            reply: tuple[str, object] = ("ok", build_slow_from(inputs))
        except Exception as err:  # shown by the app as its findings warning; the worker carries on
            reply = ("failed", f"{type(err).__name__}: {err}")
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class FindingsWorker:
    """The findings of `SlowInputs`, computed in the worker process, or in the calling thread when it is down."""

    def __init__(self, *, restart_after_s: float = RESTART_AFTER_S, clock: Callable[[], float] = time.monotonic):
        self.restart_after_s = restart_after_s
        self.clock = clock
        self.failures = 0  # starts that failed, deaths and timeouts so far
        self._lock = threading.Lock()  # guards the fields below; never held while waiting for the worker
        self._stopping = threading.Lock()  # one thread at a time stops and reaps a process (`close`, `_drop`)
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._failed_at: float | None = None
        self._closed = False
        # every "spawn" start needs multiprocessing's resource tracker, and starting it passes on sys.stderr's file
        # descriptor: inside a running Textual app that is a capture object whose fileno() is -1, which made every
        # start fail ("bad value(s) in fds_to_keep"). So it starts here, with the loader, before the app runs.
        resource_tracker.ensure_running()

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs: tests kill it to check the fallback."""
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    def findings(self, inputs: SlowInputs) -> Findings:
        """The findings of `inputs`; raises FindingsFailed when `build_slow_from` raised (in either place)."""
        from smythtop.analysis.report import build_slow_from

        try:
            return self._ask(inputs)
        except WorkerDied as err:
            if self._closed:
                raise
            self._note_failure(err)
        try:
            return build_slow_from(inputs)
        except Exception as err:
            raise FindingsFailed(f"{type(err).__name__}: {err}") from err

    def close(self) -> None:
        """Stop the worker (a request in flight then gets WorkerDied) and start none again."""
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is not None:
            self._stop(proc)

    def _ask(self, inputs: SlowInputs) -> Findings:
        with self._lock:
            if self._closed:
                raise WorkerDied("the findings worker is closed")
            if self._proc is None:
                self._start()
            proc, conn = self._proc, self._conn
        assert proc is not None and conn is not None
        if not proc.is_alive():  # it died since the last request
            self._drop(proc)
            raise WorkerDied(_exited(proc))
        try:
            # the cube's cached `labelled` frames would double what is pickled: the worker joins them again (ms)
            conn.send(dataclasses.replace(inputs, cube=dataclasses.replace(inputs.cube)))
            if conn not in wait([conn, proc.sentinel], TIMEOUT_S):
                raise WorkerDied(f"no answer in {TIMEOUT_S:.0f} s" if proc.is_alive() else _exited(proc))
            status, value = conn.recv()
        except (EOFError, OSError) as err:
            self._drop(proc)
            raise WorkerDied(_exited(proc)) from err
        except WorkerDied:
            self._drop(proc)
            raise
        if status != "ok":
            raise FindingsFailed(value)
        return value  # type: ignore[return-value]

    def _start(self) -> None:
        """Start a worker, unless the last one failed less than `restart_after_s` ago. Holds `_lock`."""
        if self._failed_at is not None and self.clock() - self._failed_at < self.restart_after_s:
            raise NotRestartedYet
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(theirs,), name="smythtop-findings", daemon=True)
        try:
            proc.start()
        except Exception as err:  # e.g. no process can be started here: the thread computes the findings
            ours.close()
            raise WorkerDied(f"cannot start: {type(err).__name__}: {err}") from err
        finally:
            theirs.close()  # the worker's end lives in the worker: its exit then reads as EOF here
        self._proc, self._conn = proc, ours

    def _drop(self, proc: SpawnProcess) -> None:
        """Forget a worker that died or hung (stopping it first), so the next request may start another."""
        self._stop(proc)
        with self._lock:
            if self._proc is proc:
                assert self._conn is not None
                self._conn.close()
                self._proc, self._conn = None, None

    def _note_failure(self, err: WorkerDied) -> None:
        if isinstance(err, NotRestartedYet):
            return
        with self._lock:
            self.failures += 1
            self._failed_at = self.clock()
            first = self.failures == 1
        if first:
            log.warning("findings worker failed (%s): computing the findings in the app's process meanwhile", err)

    def _stop(self, proc: SpawnProcess) -> None:
        """Stop a worker and reap it: SIGTERM, then SIGKILL if it is still there after STOP_WAIT_S."""
        with self._stopping:
            if proc.is_alive():
                proc.terminate()
                proc.join(STOP_WAIT_S)
            if proc.is_alive():
                proc.kill()
            proc.join(STOP_WAIT_S)


def _exited(proc: SpawnProcess) -> str:
    return f"the findings worker exited (code {proc.exitcode})"
