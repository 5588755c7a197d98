"""Imports run one way: smythtop -> analysis -> store. Each package's every module is imported in a fresh
interpreter and what got loaded is checked; the writer side of the store stays light; and the wheel's package
list names every package folder (the store and the analysis live in top-level folders, mapped into `smythtop`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FRONT_ENDS = {"smythtop.app", "smythtop.cli", "smythtop.recorder", "smythtop.fleet"}
# package -> packages it must never load (a module is forbidden when it is one of these or inside one)
FORBIDDEN = {
    "smythtop.store": {"smythtop.analysis", "textual", "store", "analysis", *FRONT_ENDS},
    "smythtop.analysis": {"textual", "store", "analysis", *FRONT_ENDS},
    "smythtop": {"store", "analysis"},  # the bare folders are never a second copy
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


def _inside(module: str, packages: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("package", ["smythtop.store", "smythtop.analysis", "smythtop"])
def test_every_module_imports_and_imports_run_one_way(package: str) -> None:
    result = _walk(package)
    assert result["failed"] == [], "\n".join(f"{f['module']}:\n{f['error']}" for f in result["failed"])
    assert len(result["walked"]) > 1
    bad = sorted(m for m in result["loaded"] if _inside(m, FORBIDDEN[package]))
    assert bad == [], f"importing {package} loaded {bad}"


LIGHT = r"""
import sys, tempfile
from smythtop import store
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
    code = (
        "from smythtop import store; import json;"
        " print(json.dumps({n: type(getattr(store, n)).__name__ for n in store.__all__}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    kinds = json.loads(proc.stdout)
    assert kinds["scan"] == "function" and kinds["Tailer"] == "type" and kinds["Writer"] == "type"


def test_wheel_lists_every_package_folder() -> None:
    """setuptools is given the packages explicitly (the mapping needs it): a new folder must be listed too."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name: REPO / folder for name, folder in config["package-dir"].items()}
    found = {"smythtop"}
    for name, folder in {"smythtop": REPO / "smythtop", **mapped}.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            found.add(".".join([name, *rel.parts]))
    assert listed == found
