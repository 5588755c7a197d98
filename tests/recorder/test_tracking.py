"""Recording one execution: phases that add up, nesting and trace ids, errors, the decorator, record()."""

from __future__ import annotations

from pathlib import Path

import pytest
from recorder_testlib import by_component, read_frames

from smythtop.recorder import Collector, RemoteParent, VirtualClock, config_hash

T0 = 1_750_000_000 * 10**9


def test_phases_add_up_and_core_is_derived_only_when_not_measured(make, root: Path) -> None:
    clock = VirtualClock(T0)
    c: Collector = make(clock=clock)
    with c.track("Parser", agent_id="a1") as t:
        with t.phase("input"):
            clock.advance(2.0)
        clock.advance(5.0)  # unmeasured: this is the derived core
        with t.phase("output"):
            clock.advance(1.0)
        with t.phase("output"):  # a repeated phase adds up
            clock.advance(0.5)
    with c.track("Measured", agent_id="a1") as t:
        with t.phase("input"):
            clock.advance(1.0)
        with t.phase("core"):
            clock.advance(3.0)
        clock.advance(4.0)  # a gap nobody measured stays out of every phase
    with c.track("Plain", agent_id="a1"):
        clock.advance(7.0)
    c.flush()
    rows = by_component(read_frames(root))
    (parser,) = rows["Parser"]
    assert parser["ts"] == T0
    assert parser["total_ms"] == pytest.approx(8.5)
    assert (parser["input_ms"], parser["output_ms"]) == (pytest.approx(2.0), pytest.approx(1.5))
    assert parser["core_ms"] == pytest.approx(5.0)
    assert parser["input_ms"] + parser["core_ms"] + parser["output_ms"] == pytest.approx(parser["total_ms"])
    (measured,) = rows["Measured"]
    assert (measured["input_ms"], measured["core_ms"]) == (pytest.approx(1.0), pytest.approx(3.0))
    assert measured["output_ms"] is None and measured["total_ms"] == pytest.approx(8.0)
    (plain,) = rows["Plain"]
    assert plain["input_ms"] is None and plain["core_ms"] is None and plain["output_ms"] is None


def test_queue_time_inside_the_block_is_subtracted_and_given_queue_time_is_not(make, root: Path) -> None:
    clock = VirtualClock(T0)
    c = make(clock=clock)
    with c.track("Worker", agent_id="a", queue_ms=40.0) as t:  # waited before it started
        with t.phase("queue"):  # waited for a rate limiter inside
            clock.advance(3.0)
        with t.phase("input"):
            clock.advance(1.0)
        clock.advance(6.0)
    c.flush()
    (row,) = read_frames(root)
    assert row["total_ms"] == pytest.approx(10.0)
    assert row["queue_ms"] == pytest.approx(40.0)
    assert row["core_ms"] == pytest.approx(6.0)


def test_queue_phase_inside_block(make, root: Path) -> None:
    clock = VirtualClock(T0)
    c = make(clock=clock)
    with c.track("Worker", agent_id="a") as t:
        with t.phase("queue"):
            clock.advance(3.0)
        clock.advance(7.0)
    c.flush()
    (row,) = read_frames(root)
    assert row["queue_ms"] == pytest.approx(3.0) and row["core_ms"] == pytest.approx(7.0)


def test_nesting_links_spans_into_one_trace_and_children_inherit_the_agent(make, root: Path) -> None:
    c = make()
    with c.track("Request", agent_id="agent-7", agent_name="support") as root_t:
        with c.track("Planner") as planner, c.track("LLM") as llm:
            pass
        with c.track("Tool"):
            pass
    with c.track("Other", agent_id="agent-8"):
        pass
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    assert {r["trace_id"] for n, r in rows.items() if n != "Other"} == {root_t.trace_id}
    assert rows["Other"]["trace_id"] != root_t.trace_id
    assert rows["Request"]["parent_span_id"] is None
    assert rows["Planner"]["parent_span_id"] == rows["Request"]["span_id"] == root_t.span_id
    assert rows["LLM"]["parent_span_id"] == rows["Planner"]["span_id"] == planner.span_id
    assert rows["LLM"]["span_id"] == llm.span_id
    assert rows["Tool"]["parent_span_id"] == rows["Request"]["span_id"]
    assert len({r["span_id"] for r in rows.values()}) == 5
    assert {rows[n]["agent_id"] for n in ("Request", "Planner", "LLM", "Tool")} == {"agent-7"}
    assert {rows[n]["agent_name"] for n in ("Request", "Planner", "LLM", "Tool")} == {"support"}
    assert rows["Other"]["agent_id"] == "agent-8"
    # Children end first, so they precede their parent in the buffer; the ids still agree.
    assert rows["LLM"]["ts"] >= rows["Planner"]["ts"] >= rows["Request"]["ts"]


def test_remote_parent_from_a_traceparent_header(make, root: Path) -> None:
    c = make()
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with c.track("Handler", agent_id="a", traceparent=header), c.track("Child"):
        pass
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    assert rows["Handler"]["trace_id"] == rows["Child"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert rows["Handler"]["parent_span_id"] == "00f067aa0ba902b7"
    assert RemoteParent.from_traceparent("garbage") is None


def test_an_exception_is_reraised_unchanged_and_recorded(make, root: Path) -> None:
    c = make()

    class QuotaExceeded(RuntimeError):
        pass

    err = QuotaExceeded("over quota")
    with pytest.raises(QuotaExceeded) as caught, c.track("Billing", agent_id="a"):
        raise err
    assert caught.value is err
    with c.track("Tool", agent_id="a") as t:
        t.fail("HTTP503")  # failed without raising
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    assert rows["Billing"]["success"] is False and rows["Billing"]["error_type"] == "QuotaExceeded"
    assert rows["Tool"]["success"] is False and rows["Tool"]["error_type"] == "HTTP503"


def test_decorator_on_sync_functions_keeps_result_and_name(make, root: Path) -> None:
    c = make()

    @c.tracked
    def plain(x: int) -> int:
        return x * 2

    @c.tracked("Retriever", agent_id="r1", config={"k": 8, "index": "docs"})
    def retrieve(query: str) -> list[str]:
        return [query]

    assert plain(21) == 42
    assert retrieve("q") == ["q"]
    assert plain.__name__ == "plain"
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    assert "test_decorator_on_sync_functions_keeps_result_and_name.<locals>.plain" in rows
    assert rows["Retriever"]["agent_id"] == "r1"
    assert rows["Retriever"]["config_hash"] == config_hash({"index": "docs", "k": 8})  # key order is irrelevant


def test_config_hash_is_real() -> None:
    a = config_hash({"model": "gpt-4.1", "temperature": 0.2})
    assert a == config_hash({"temperature": 0.2, "model": "gpt-4.1"})
    assert a != config_hash({"model": "gpt-4.1", "temperature": 0.3})
    assert len(a) == 16 and int(a, 16) >= 0


def test_fields_io_retry_tags_and_record(make, root: Path) -> None:
    c = make()
    payload = {"messages": [{"role": "user", "content": "x" * 1000}]}
    with c.track("Assistant", agent_id="a", retry_count=2, component_id="pool-3", tags={"region": "eu"}) as t:
        t.io(input=payload, output=b"y" * 300, complexity=0.4)
        t.set(quality=0.9, customer="acme")
        t.tag(tier="gold")
        c.record({"component": "Inner", "total_ms": 12.5, "success": True, "input_tokens": 5})
    c.record({"ts": T0, "agent_id": "ext", "component": "Batch", "total_ms": 1500.0, "success": True})
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    a = rows["Assistant"]
    assert a["retry_count"] == 2 and a["component_id"] == "pool-3" and a["quality"] == 0.9
    assert 1000 <= a["input_bytes"] <= 1100 and a["output_bytes"] == 300 and a["complexity"] == 0.4
    assert dict(a["tags"]) == {"region": "eu", "tier": "gold", "customer": "acme"}
    inner = rows["Inner"]
    assert inner["trace_id"] == a["trace_id"] and inner["parent_span_id"] == a["span_id"]
    assert inner["agent_id"] == "a" and inner["span_id"] not in (None, a["span_id"])
    assert rows["Batch"]["ts"] == T0 and rows["Batch"]["agent_id"] == "ext"


def test_memory_tracking_reads_rss(make, root: Path) -> None:
    c = make({"global": {"track_memory": True}})
    with c.track("Loader", agent_id="a") as t, t.phase("core"):
        blob = bytearray(48 << 20)  # touch 48 MiB so the RSS really grows
        for i in range(0, len(blob), 4096):
            blob[i] = 1
    del blob
    with c.track("NoMemory", agent_id="a", memory=False):
        pass
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    loader = rows["Loader"]
    assert loader["mem_delta_bytes"] >= 45 << 20
    assert loader["mem_peak_bytes"] >= loader["mem_delta_bytes"]
    assert 0 < loader["mem_pressure"] <= 1
    assert rows["NoMemory"]["mem_peak_bytes"] is None
