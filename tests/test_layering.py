"""Imports run one way: smythtop -> analysis -> store. Each package's every module is imported in a fresh
interpreter and what got loaded is checked; and the writer side of the store stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> top-level packages it must never load
FORBIDDEN = {
    "store": {"analysis", "smythtop", "textual"},
    "analysis": {"smythtop", "textual"},
}

WALK = r"""
import importlib, json, pkgutil, sys, traceback
name = sys.argv[1]
failed = []
pkg = importlib.import_module(name)
def onerror(mod):
    failed.append({"module": mod, "error": traceback.format_exc(limit=3)})
modules = [name]
for info in pkgutil.walk_packages(pkg.__path__, name + ".", onerror=onerror):
    if info.name.rsplit(".", 1)[-1] == "__main__":
        continue  # running it is not importing it
    modules.append(info.name)
    try:
        importlib.import_module(info.name)
    except Exception:
        failed.append({"module": info.name, "error": traceback.format_exc(limit=3)})
print(json.dumps({"walked": modules, "failed": failed, "loaded": sorted(sys.modules)}))
"""


def _walk(package: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", WALK, package], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", ["store", "analysis", "smythtop"])
def test_every_module_imports_and_imports_run_one_way(package: str) -> None:
    result = _walk(package)
    assert result["failed"] == [], "\n".join(f"{f['module']}:\n{f['error']}" for f in result["failed"])
    assert len(result["walked"]) > 1 or package != "store"
    forbidden = FORBIDDEN.get(package, set())
    bad = sorted(m for m in result["loaded"] if m.split(".", 1)[0] in forbidden)
    assert bad == [], f"importing {package} loaded {bad}"


LIGHT = r"""
import sys, tempfile
import store
root = tempfile.mkdtemp()
with store.Writer(root) as w:
    w.append({"ts": 1, "agent_id": "a", "component": "c", "total_ms": 1.0, "success": True, "x": 1})
    w.append_many([{"ts": 2, "agent_id": "a", "component": "c", "total_ms": 1.0, "success": True}])
    w.flush()
heavy = sorted(m for m in sys.modules if m.split(".", 1)[0] in {"polars", "pyarrow", "textual", "scipy", "numpy"})
print(",".join(heavy))
"""


def test_store_writer_is_light() -> None:
    """Agents import the store to write: that must not pay for polars, pyarrow, textual, scipy or numpy."""
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_store_lazy_attributes_resolve() -> None:
    code = "import store, json; print(json.dumps({n: type(getattr(store, n)).__name__ for n in store.__all__}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    kinds = json.loads(proc.stdout)
    assert kinds["scan"] == "function" and kinds["Tailer"] == "type" and kinds["Writer"] == "type"
