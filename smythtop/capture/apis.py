"""What one LLM API's answers say: the response model, the finish reason and where the usage is.

Read on the agent's thread, so only attribute reads of the SDK's own objects (a few hundred ns): the usage object
itself is handed to the recorder (`Tracker.llm_response`) and read later in the flush thread by genai-prices'
`extract_usage`, which knows each provider's shape (Anthropic's `input_tokens` excludes the cache; genai-prices
adds it back, OTel semantics). A stream's events are folded into one `StreamState`; at its end the state's usage
goes the same way as a whole response's.

The three APIs: OpenAI chat completions, OpenAI Responses, Anthropic Messages. Each is one `Api` row in `APIS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class StreamState:
    """What a stream has said so far."""

    __slots__ = ("finish", "model", "usage")

    def __init__(self) -> None:
        self.model: str | None = None
        self.finish: str | None = None
        self.usage: Any = None  # what genai-prices reads at the end: a response-shaped object or dict


@dataclass(frozen=True, slots=True)
class Api:
    name: str  # the tag `api` of its frames
    operation: str  # OTel gen_ai.operation.name
    flavor: str  # genai-prices' api_flavor for extract_usage
    finish: Callable[[Any], str | None]  # the finish reason of a whole response
    has_usage: Callable[[Any], bool]  # whether a whole response reports usage
    event: Callable[[StreamState, Any], None]  # fold one stream event into the state


def _chat_finish(resp: Any) -> str | None:
    choices = resp.choices
    return choices[0].finish_reason if choices else None


def _chat_event(state: StreamState, chunk: Any) -> None:
    if state.model is None:
        state.model = chunk.model
    if state.finish is None:
        for choice in chunk.choices:
            if choice.finish_reason is not None:
                state.finish = choice.finish_reason
                break
    if chunk.usage is not None:  # the last chunk, only with stream_options.include_usage
        state.usage = chunk


def _responses_finish(resp: Any) -> str | None:
    details = getattr(resp, "incomplete_details", None)
    reason = getattr(details, "reason", None) if details is not None else None
    return reason or resp.status


# The Responses stream's closing events carry the whole response, usage included.
_RESPONSES_END = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _responses_event(state: StreamState, event: Any) -> None:
    kind = event.type
    if kind == "response.created":
        state.model = event.response.model
    elif kind in _RESPONSES_END:
        resp = event.response
        state.model = resp.model
        state.finish = _responses_finish(resp)
        if resp.usage is not None:
            state.usage = resp


def _messages_event(state: StreamState, event: Any) -> None:
    """message_start holds the model and the input side of the usage; each message_delta the output count so far
    (and, from newer API versions, the input side again). The merged usage is a Messages-shaped dict."""
    kind = event.type
    if kind == "message_start":
        msg = event.message
        state.model = msg.model
        state.usage = {"model": msg.model, "type": "message", "usage": msg.usage.model_dump(exclude_none=True)}
    elif kind == "message_delta":
        if state.finish is None:
            state.finish = event.delta.stop_reason
        if state.usage is not None and event.usage is not None:
            state.usage["usage"].update(event.usage.model_dump(exclude_none=True))


def _has_usage(resp: Any) -> bool:
    return getattr(resp, "usage", None) is not None


APIS: dict[str, Api] = {
    "chat.completions": Api("chat.completions", "chat", "chat", _chat_finish, _has_usage, _chat_event),
    "responses": Api("responses", "chat", "responses", _responses_finish, _has_usage, _responses_event),
    "messages": Api("messages", "chat", "default", lambda resp: resp.stop_reason, _has_usage, _messages_event),
}
