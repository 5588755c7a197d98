"""Which implementation of the per-execution hot path runs: the C extension `_hotpath`, or Python.

The hot path is what every tracked execution pays on the agent's thread: `collector.track(...)`, the tracker's
`__enter__` and `__exit__`, and the component-state fields they read. Issue 11 asks a sampled-out execution to cost
at most 2x the reference loop (two `perf_counter_ns` and a deque append) and a kept one 6x. In Python the floor is
above the first: a slotted context manager whose `__enter__`/`__exit__` only read the clock twice and set and
reset the ContextVar costs about 2.1x the reference on its own, before `track()`'s call or any decision
(docs/RECORDER.md, "Import time and overhead"). `_hotpath.c` does the same steps, in the same order and with the
same fields, as C calls with no Python frame; two things differ in how, not what: a C tracker's `__enter__` and
`__exit__` bind to the tracker itself (which is callable as both) rather than to a new bound-method object, and its
sampling draw comes from a splitmix64 generator in C rather than `random.random`.

`C` is the extension module, or None when Python runs: the extension was not built (it is optional: no compiler,
or not Linux, where its clock would not be `time.perf_counter_ns`'s), or SMYTHTOP_PURE_PYTHON=1 asks for Python
(the tests run the sampling rule's property test and the recorder's behaviour tests on both). Everything beyond the
with-protocol (phases, LLM usage, ids, `begin`/`end`, injected clocks, memory sampling) is Python either way.
"""

from __future__ import annotations

import os
from types import ModuleType

C: ModuleType | None
if os.environ.get("SMYTHTOP_PURE_PYTHON") == "1":
    C = None
else:
    try:
        from smythtop.recorder import _hotpath as C
    except ImportError:  # not built here: the Python implementation runs
        C = None

IMPLEMENTATION = "python" if C is None else "c"  # stats() and the bench say which one measured
