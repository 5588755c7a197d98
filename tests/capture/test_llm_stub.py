"""The stub itself, driven by the real SDKs: the ground truth the capture tests rely on must be right."""

from __future__ import annotations

import anthropic
import openai
import pytest
from llm_stub import LLMStub, Usage

MSG = [{"role": "user", "content": "hi"}]


def test_openai_usage_and_retries_are_logged_as_served(llm_stub: LLMStub) -> None:
    client = openai.OpenAI(base_url=llm_stub.openai_url, api_key="x", max_retries=3)
    llm_stub.usage = Usage(input_tokens=500, output_tokens=50, cache_read_tokens=100, reasoning_tokens=20)
    llm_stub.fail(429, 503)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MSG)
    resp = raw.parse()
    assert raw.retries_taken == 2
    served = llm_stub.log()
    assert [s.status for s in served] == [429, 503, 200]
    ok = served[-1]
    assert resp.usage is not None and resp.usage.prompt_tokens == ok.otel.input_tokens == 500 + ok.n
    assert resp.usage.prompt_tokens_details.cached_tokens == 100
    assert resp.usage.completion_tokens_details.reasoning_tokens == 20
    assert resp.model == ok.response_model != ok.model == "gpt-4.1"


def test_anthropic_input_excludes_the_cache_as_the_api_does(llm_stub: LLMStub) -> None:
    client = anthropic.Anthropic(base_url=llm_stub.anthropic_url, api_key="x")
    llm_stub.usage = Usage(input_tokens=900, cache_read_tokens=300, cache_write_tokens=200, cache_write_1h_tokens=50)
    msg = client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MSG)
    ok = llm_stub.log()[-1]
    assert msg.usage.input_tokens == 900 + ok.n - 300 - 200
    assert msg.usage.cache_creation is not None and msg.usage.cache_creation.ephemeral_1h_input_tokens == 50
    assert ok.otel.input_tokens == 900 + ok.n


def test_streams_carry_usage_only_when_asked(llm_stub: LLMStub) -> None:
    client = openai.OpenAI(base_url=llm_stub.openai_url, api_key="x")
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4.1", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    without = list(client.chat.completions.create(model="gpt-4.1", messages=MSG, stream=True))
    assert (
        with_usage[-1].usage is not None and with_usage[-1].usage.prompt_tokens == llm_stub.log()[0].otel.input_tokens
    )
    assert all(c.usage is None for c in without)
    assert llm_stub.log()[1].otel is None


def test_errors_are_not_retried_past_max_and_reach_the_caller(llm_stub: LLMStub) -> None:
    client = anthropic.Anthropic(base_url=llm_stub.anthropic_url, api_key="x", max_retries=1)
    llm_stub.fail(529, 529, model="claude-haiku-4-5")
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MSG)
    assert info.value.status_code == 529
    assert [s.status for s in llm_stub.log()] == [529, 529]
