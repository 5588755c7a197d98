"""examples/openai_agent.py runs as documented (against the stub) and its store holds what the README promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

from smythtop import store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai_agent.py"


def test_the_example_agent_records_every_sdk_call_under_its_questions(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("openai_agent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    answers = example.main(tmp_path / "store")
    assert answers == ["Hello from the stub."] * len(example.QUESTIONS)
    rows = store.scan(tmp_path / "store").collect()
    questions = rows.filter(pl.col("component") == "Question")
    calls = rows.filter(pl.col("operation") == "chat")
    assert questions.height == 4 and calls.height == 8
    assert set(calls["parent_span_id"]) == set(questions["span_id"])
    assert calls["retry_count"].sum() == 2  # the stub failed two attempts with 429 and 503
    assert calls["cost_usd"].null_count() == 0 and calls["input_tokens"].min() > 0
    streams = calls.filter(pl.col("component") == "chat gpt-4.1")
    assert streams["ttft_ms"].null_count() == 0
