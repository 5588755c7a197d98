"""The wheel as users get it: built from this checkout, installed into a fresh venv outside the repository, and run
from a folder that holds a `store/` package and an `analysis.py` of its own (an agent project's names that once
shadowed ours). Also runs the import-linter contracts on the installed copy, where `smythtop.store` and
`smythtop.analysis` are real folders (grimp cannot follow the editable install's package-dir mapping).

One venv for the module; each step is its own test so a failure names the step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# 35 s of CPU (a wheel build, a uv install, the demo, import-linter): `make test-integration` runs it, as CI does,
# to keep `make test` within its 4 minutes on 2 cores
pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600  # a cold cache downloads polars, pyarrow, scipy and textual
UV = str(Path(sys.executable).with_name("uv"))  # from the test extras
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".demo-store")
RUN_TIMEOUT_S = 180

RECORD = """
import sys
from smythtop import Collector
from smythtop import store
with Collector({"global": {"store": sys.argv[1], "agent_id": "wheel"}}) as c:
    for i in range(25):
        with c.track("Planner") as t:
            t.llm("gpt-4o-mini", "openai", input_tokens=100 + i, output_tokens=20)
    c.flush()
    stats = c.stats()
assert stats["internal_errors"] == 0, stats
assert store.__file__.startswith(sys.prefix), store.__file__
print(store.scan(sys.argv[1]).collect().height)
"""


@dataclass(frozen=True)
class Installed:
    venv: Path
    home: Path  # the agent project's folder: holds its own store/ and analysis.py
    wheel: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMYTHTOP_", "PYTHON", "VIRTUAL_ENV"))}
        env["HOME"] = str(self.home)  # no user config or store leaks in
        env["XDG_CONFIG_HOME"] = str(self.home / ".config")
        env["XDG_DATA_HOME"] = str(self.home / ".local" / "share")
        return subprocess.run(
            [str(a) for a in argv],
            cwd=cwd or self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )

    def smythtop(self, *argv: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run(self.venv / "bin" / "smythtop", *argv)


def _run_ok(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    assert REPO not in base.parents
    # Built from a copy of the working tree, never in place: setuptools reuses a stale build/ (a moved module
    # would still ship) and writes build/ and *.egg-info into the checkout.
    source = base / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    _run_ok([sys.executable, "-m", "pip", "-q", "wheel", "--no-deps", "-w", str(base / "dist"), str(source)])
    (wheel,) = (base / "dist").glob("smythtop-*.whl")
    venv = base / "venv"
    # uv makes an ordinary venv and installs the wheel with its dependencies from the registry, as pip would, in
    # ~5 s instead of pip's ~45 s (it links from its cache rather than unpacking polars, pyarrow and scipy again).
    _run_ok([UV, "venv", "-q", "--python", sys.executable, str(venv)])
    _run_ok([UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel), "import-linter>=2.13"])
    home = base / "agent-project"
    (home / "store").mkdir(parents=True)
    (home / "store" / "__init__.py").write_text('raise ImportError("the agent project\x27s own store/ was imported")\n')
    (home / "analysis.py").write_text('raise ImportError("the agent project\x27s own analysis.py was imported")\n')
    yield Installed(venv, home, wheel)


def test_the_wheel_has_one_top_level_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        tops = {name.split("/", 1)[0] for name in whl.namelist()}
    assert tops == {"smythtop", f"{installed.wheel.name.split('-')[0]}-{installed.wheel.name.split('-')[1]}.dist-info"}
    with zipfile.ZipFile(installed.wheel) as whl:
        shipped = {n for n in whl.namelist() if n.endswith((".py", ".tcss"))}
    # exactly the source: each folder's files under the name it is imported as
    source = {f"smythtop/{p.relative_to(REPO / 'smythtop')}" for p in (REPO / "smythtop").rglob("*") if p.is_file()}
    for folder in ("store", "analysis"):
        source |= {f"smythtop/{folder}/{p.relative_to(REPO / folder)}" for p in (REPO / folder).rglob("*.py")}
    assert shipped == {s for s in source if s.endswith((".py", ".tcss"))}


def test_recording_from_python_beside_a_local_store_package(installed: Installed) -> None:
    root = installed.home / "rec-store"
    proc = installed.run(installed.python, "-c", RECORD, root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "25"


def test_demo_report_and_check_from_the_agent_project(installed: Installed) -> None:
    root = installed.home / "demo-store"
    demo = installed.smythtop("demo", "--no-ui", "--backfill", "0.05", "--seed", "7", "--store", root)
    assert demo.returncode == 0, demo.stderr
    report = installed.smythtop("report", "--format", "json", "--store", root)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["summary"]["executions"] > 0 and data["summary"]["grade"] in set("ABCDF")
    check = installed.smythtop("store", "check", "--store", root)
    assert check.returncode == 0, check.stdout + check.stderr


def test_bare_store_and_analysis_are_not_installed(installed: Installed) -> None:
    """Outside the repository, only `smythtop.*` exists: running from the repo root can't load a second copy."""
    elsewhere = installed.home.parent / "empty"
    elsewhere.mkdir(exist_ok=True)
    for name in ("store", "analysis"):
        proc = installed.run(installed.python, "-c", f"import {name}", cwd=elsewhere)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, (name, proc.stderr)


def test_import_contracts_hold_on_the_installed_package(installed: Installed) -> None:
    """import-linter (pyproject's [tool.importlinter]) sees imports inside functions too."""
    elsewhere = installed.home.parent / "empty"
    elsewhere.mkdir(exist_ok=True)
    proc = installed.run(installed.venv / "bin" / "lint-imports", "--no-cache", REPO / "pyproject.toml", cwd=elsewhere)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" not in proc.stdout.lower() or " 0 broken" in proc.stdout.lower()
