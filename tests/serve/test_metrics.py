"""`smythtop serve --metrics`: the Prometheus endpoint over frames with known sums, read back with
prometheus_client's own parser. History and tail both counted, counters monotonic across compaction, labels
folded past the limit, store health as `store.check` sees it, bad requests answered and the server still up."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from smythtop.store.schema import ACCOUNT_REASON_TAG

from smythtop import store
from smythtop.exporters import DURATION_BUCKETS_S
from smythtop.serve.metrics import OTHER, MetricsServer

BASE_TS = 1_700_000_000_000_000_000


def frame(i: int, component: str = "Retriever", **extra: Any) -> dict[str, Any]:
    return {"ts": BASE_TS + i, "agent_id": "a", "component": component, "total_ms": 100.0, "success": True, **extra}


def llm(i: int, **extra: Any) -> dict[str, Any]:
    fields = {"model": "gpt-4.1", "provider": "openai", "input_tokens": 100, "output_tokens": 10}
    return frame(i, "LLM", **{**fields, **extra})


def write(root: Path, frames: list[dict[str, Any]]) -> None:
    with store.Writer(root) as writer:  # closed: its segments are sealed, so `compact` takes them
        assert writer.append_many(frames) == []


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: MetricsServer, path: str = "/metrics", method: str = "GET") -> tuple[int, str]:
    conn = http.client.HTTPConnection(*server.address, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def samples(server: MetricsServer) -> Samples:
    status, text = scrape(server)
    assert status == 200, text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(got: Samples, name: str, **labels: str) -> float:
    return got[(name, frozenset(labels.items()))]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def serve(root: Path) -> Iterator[Any]:
    servers: list[MetricsServer] = []

    def start(label_limit: int = 200) -> MetricsServer:
        servers.append(MetricsServer(root, "127.0.0.1", 0, label_limit=label_limit).start())
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def test_history_and_tail_are_counted_weighted(root: Path, serve: Any) -> None:
    # Before the server starts (history): 2 retriever executions at 100 ms, one failed and sampled 1 in 2.
    write(root, [frame(0), frame(1, success=False, sample_rate=0.5, total_ms=3000.0)])
    server = serve()
    # After (tail): LLM calls, one unpriced; costs are binary fractions, so every sum is exact.
    write(root, [llm(2, cost_usd=0.25, total_ms=700.0), llm(3, cost_usd=0.125, sample_rate=0.25), llm(4)])
    got = samples(server)
    ret = {"agent_id": "a", "component": "Retriever"}
    assert value(got, "smythtop_component_executions_total", **ret) == 3.0  # 1 + 1/0.5
    assert value(got, "smythtop_component_errors_total", **ret) == 2.0
    assert value(got, "smythtop_component_duration_seconds_bucket", **ret, le="0.1") == 1.0
    assert value(got, "smythtop_component_duration_seconds_bucket", **ret, le="2.5") == 1.0
    assert value(got, "smythtop_component_duration_seconds_bucket", **ret, le="5.0") == 3.0
    assert value(got, "smythtop_component_duration_seconds_sum", **ret) == pytest.approx(0.1 + 2 * 3.0)
    model = {"gen_ai_request_model": "gpt-4.1", "gen_ai_provider_name": "openai"}
    assert value(got, "smythtop_llm_cost_usd_total", **model) == 0.25 + 4 * 0.125
    assert value(got, "smythtop_llm_unpriced_calls_total", **model) == 1.0
    assert value(got, "gen_ai_client_token_usage_total", **model, gen_ai_token_type="input") == 600.0
    assert value(got, "gen_ai_client_token_usage_total", **model, gen_ai_token_type="output") == 60.0
    assert value(got, "gen_ai_client_operation_duration_seconds_count", **model) == 6.0
    assert value(got, "gen_ai_client_operation_duration_seconds_bucket", **model, le="0.5") == 5.0
    assert value(got, "gen_ai_client_operation_duration_seconds_bucket", **model, le="+Inf") == 6.0
    assert len([k for k in got if k[0] == "smythtop_component_duration_seconds_bucket"]) == 2 * (
        len(DURATION_BUCKETS_S) + 1
    )


def test_counters_stay_monotonic_across_compaction(root: Path, serve: Any) -> None:
    write(root, [frame(i) for i in range(5)])
    server = serve()
    write(root, [frame(i) for i in range(5, 8)])
    key = {"agent_id": "a", "component": "Retriever"}
    assert value(samples(server), "smythtop_component_executions_total", **key) == 8.0
    result = store.compact(root, merge_min_age_s=0.0)
    assert result.frames_written == 8  # history and tail moved into Parquet: neither is counted again
    assert value(samples(server), "smythtop_component_executions_total", **key) == 8.0
    write(root, [frame(i) for i in range(8, 10)])
    assert value(samples(server), "smythtop_component_executions_total", **key) == 10.0
    assert store.compact(root, merge_min_age_s=0.0).frames_written == 2
    assert value(samples(server), "smythtop_component_executions_total", **key) == 10.0


def test_label_values_past_the_limit_fold_into_other(root: Path, serve: Any) -> None:
    server = serve(label_limit=2)
    write(root, [frame(0, "A"), frame(1, "B"), frame(2, "C"), frame(3, "D"), frame(4, "A")])
    got = samples(server)
    executions = {dict(k[1])["component"]: v for k, v in got.items() if k[0] == "smythtop_component_executions_total"}
    assert executions == {"A": 2.0, "B": 1.0, OTHER: 2.0}
    assert value(got, "smythtop_metrics_folded_frames_total", label="component") == 2.0
    assert value(got, "smythtop_metrics_folded_frames_total", label="agent_id") == 0.0


def test_store_health_matches_check(root: Path, serve: Any) -> None:
    account = frame(0, unrecorded=7, total_ms=0.0, tags={ACCOUNT_REASON_TAG: "buffer_full"})
    write(root, [account, *[frame(i) for i in range(1, 40)]])
    server = serve()
    got = samples(server)
    report = store.check(root)
    assert value(got, "smythtop_store_wal_bytes") == report.wal_bytes > 0
    assert value(got, "smythtop_store_unrecorded_executions_total") == 7.0
    assert value(got, "smythtop_component_executions_total", agent_id="a", component="Retriever") == 39.0

    store.compact(root, merge_min_age_s=0.0)
    (damaged,) = (root / "parquet").rglob("*.parquet")
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated: the next reader moves it aside
    store.scan(root).collect()
    got = samples(server)
    report = store.check(root)
    assert report.quarantined_files == 1
    assert value(got, "smythtop_store_quarantined_files") == 1.0
    assert value(got, "smythtop_store_quarantined_bytes") == report.quarantined_bytes == 100
    assert value(got, "smythtop_store_wal_bytes") == 0.0
    assert value(got, "smythtop_component_executions_total", agent_id="a", component="Retriever") == 39.0


def test_bad_requests_are_answered_and_the_server_keeps_serving(root: Path, serve: Any) -> None:
    server = serve()
    assert scrape(server, "/")[0] == 404
    assert scrape(server, "/metrics/../x")[0] == 404
    assert scrape(server, "/metrics", method="POST")[0] == 405
    assert scrape(server, "/metrics", method="PUT")[0] == 405
    write(root, [frame(0)])
    assert value(samples(server), "smythtop_component_executions_total", agent_id="a", component="Retriever") == 1.0
