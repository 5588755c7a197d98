"""A real Prometheus scrapes `smythtop serve --metrics` on loopback, and what PromQL says agrees with
`smythtop report` on the same frames: the p95 of `histogram_quantile(0.95, ...)` falls in the bucket of the
report's exact p95 (a histogram cannot say more than its bucket), the cost `sum(...)` is equal to the last bit.
`promtool check metrics` passes on the scraped body.

`make test-integration` installs Debian's `prometheus` package (it brings promtool) first; where it cannot be
installed (no apt, no root or sudo) this test skips saying so. The frames come from a recorder-style writer into
the same store, some before serve starts (its history) and some while it runs (its tail), with costs that are
binary fractions, so every order of summing gives the same float.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from serve_process import SMYTHTOP, user_env
from waiting import wait_until

from smythtop import store
from smythtop.exporters import DURATION_BUCKETS_S

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    not (PROMETHEUS and PROMTOOL),
    reason="prometheus/promtool not installed: `make test-integration` installs Debian's `prometheus` package "
    "(apt-get, as root or with sudo); it could not be installed here",
)
N_SEARCH = 200  # executions of the component whose p95 is compared, half before serve starts


def frames(start: int, n: int, rng: random.Random, now: int) -> list[dict[str, Any]]:
    """`Search` executions with latencies spread over 20 ms..3 s, each followed by a priced LLM call; every fourth
    pair sampled 1 in 2 (weight 2), so the weighting is compared too."""
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        sample = {"sample_rate": 0.5} if i % 4 == 0 else {}
        out.append(
            {"ts": now - (n - i) * 1_000_000, "agent_id": "agent", "component": "Search",
             "total_ms": rng.uniform(20.0, 3000.0), "success": i % 10 != 0, **sample}
        )  # fmt: skip
        out.append(
            {"ts": now - (n - i) * 1_000_000 + 1, "agent_id": "agent", "component": "LLM", "total_ms": 800.0,
             "success": True, "model": "gpt-4.1", "provider": "openai", "input_tokens": 100, "output_tokens": 20,
             "cost_usd": rng.randint(1, 4096) / 65536, **sample}
        )  # fmt: skip
    return out


def write(root: Path, batch: list[dict[str, Any]]) -> None:
    with store.Writer(root) as writer:
        assert writer.append_many(batch) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def scalar(port: int, promql: str) -> float | None:
    result = query(port, promql)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_serve_and_agrees_with_report(tmp_path: Path) -> None:
    assert PROMETHEUS and PROMTOOL
    root, env, rng = tmp_path / "store", user_env(tmp_path), random.Random(12)
    now = time.time_ns()
    write(root, frames(0, N_SEARCH // 2, rng, now))
    serve = subprocess.Popen(
        [SMYTHTOP, "serve", "--store", str(root), "--otlp", "127.0.0.1:0", "--metrics", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    prometheus = None
    try:
        assert serve.stdout is not None
        first, second = serve.stdout.readline(), serve.stdout.readline()
        assert first.startswith("listening on 127.0.0.1:") and second.startswith("metrics on http://127.0.0.1:"), (
            first + second + (serve.stderr.read() if serve.poll() is not None and serve.stderr else "")
        )
        target = second.split("//", 1)[1].split("/", 1)[0]
        write(root, frames(N_SEARCH // 2, N_SEARCH // 2, rng, now))  # the tail, while serve runs

        body = urllib.request.urlopen(f"http://{target}/metrics", timeout=30).read()
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr

        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: smythtop\n    static_configs:\n      - targets: ['{target}']\n"
        )
        port = free_port()
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def scraped() -> bool:
            assert prometheus is not None and prometheus.poll() is None, prometheus and prometheus.stderr.read()
            try:
                return scalar(port, 'sum(smythtop_component_executions_total{component="Search"})') is not None
            except OSError:  # not listening yet
                return False

        wait_until(scraped, "Prometheus to scrape smythtop serve", timeout=120)

        report = subprocess.run(
            [SMYTHTOP, "report", "--store", str(root), "--since", "1d", "--format", "json"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert report.returncode == 0, report.stderr
        data = json.loads(report.stdout)
        (search,) = [c for c in data["components"] if c["component"] == "Search"]
        executions = N_SEARCH + N_SEARCH // 4  # 1 in 4 is sampled 1 in 2: counted twice
        assert search["executions"] == executions
        assert scalar(port, 'sum(smythtop_component_executions_total{component="Search"})') == executions

        p95_s = scalar(
            port,
            'histogram_quantile(0.95, sum by (le) (smythtop_component_duration_seconds_bucket{component="Search"}))',
        )
        exact_s = search["p95_ms"] / 1000.0
        bucket = next(i for i, le in enumerate(DURATION_BUCKETS_S) if exact_s <= le)
        lower = DURATION_BUCKETS_S[bucket - 1] if bucket else 0.0
        assert p95_s is not None and lower <= p95_s <= DURATION_BUCKETS_S[bucket], (p95_s, exact_s)

        cost = scalar(port, "sum(smythtop_llm_cost_usd_total)")
        assert cost == data["summary"]["total_cost_usd"] > 0
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.communicate(timeout=60)
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=120)
