"""ScriptedModel and FunctionModel: events, final response, faults, bookkeeping."""

from __future__ import annotations

import json

import pytest

from agentkit.errors import ModelAPIError
from agentkit.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentkit.models.base import (
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
)
from agentkit.testing import (
    Fault,
    FunctionModel,
    RawStep,
    ScriptedModel,
    ScriptExhaustedError,
    Step,
    call,
    reply,
    tool_step,
)

pytestmark = pytest.mark.anyio


def _req(*messages: Message) -> ModelRequest:
    msgs = list(messages) or [UserMessage(content="What is 2+3?")]
    return ModelRequest(messages=msgs, tools=[], settings=ModelSettings())


async def _run(model: Model, request: ModelRequest) -> list[ModelStreamEvent]:
    return [e async for e in model.stream(request)]


async def test_tool_step_events_and_response() -> None:
    model = ScriptedModel([tool_step(call("add", {"a": 2, "b": 3}, id="call_1"),
                                     thinking="I need to add these.")])
    assert isinstance(model, Model)
    events = await _run(model, _req())
    reasoning = [e.text for e in events if isinstance(e, ReasoningPart)]
    assert "".join(reasoning) == "I need to add these." and len(reasoning) == 4
    frags = [e for e in events if isinstance(e, ToolCallPart)]
    assert (frags[0].index, frags[0].id, frags[0].name) == (0, "call_1", "add")
    assert all(f.id is None and f.name is None for f in frags[1:])
    assert json.loads("".join(f.arguments_delta for f in frags)) == {"a": 2, "b": 3}
    assert not any(isinstance(e, TextPart) for e in events)
    final = events[-1]
    assert isinstance(final, ModelResponse) and sum(isinstance(e, ModelResponse)
                                                    for e in events) == 1
    msg = final.message
    assert msg.reasoning == "I need to add these." and msg.content == ""
    assert [(c.id, c.name, json.loads(c.arguments)) for c in msg.tool_calls] == [
        ("call_1", "add", {"a": 2, "b": 3})]
    assert msg.finish_reason == "tool_calls"
    assert final.usage.requests == 1 and final.usage.reasoning_tokens > 0
    assert final.usage.input_tokens > 0 and final.model_name == "scripted"
    model.assert_complete()


async def test_reply_usage_and_recorded_requests() -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 3, "reasoning_tokens": 1,
             "cached_tokens": 8}
    model = ScriptedModel([Step(text="five", usage=usage)], name="qwen-fake")
    messages: list[Message] = [UserMessage(content="2+3?")]
    request = _req(*messages)
    events = await _run(model, request)
    assert [e.text for e in events if isinstance(e, TextPart)] == ["f", "i", "v", "e"]
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert final.message.content == "five" and final.message.finish_reason == "stop"
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.cached_tokens) == (11, 3, 1, 8)
    request.messages.append(UserMessage(content="mutated later"))
    assert len(model.requests) == 1 and len(model.requests[0].messages) == 1  # a snapshot
    assert model.name == "qwen-fake" and model.thinking is True


async def test_exhausted_script_and_assert_complete() -> None:
    model = ScriptedModel([reply("one"), reply("two")])
    await _run(model, _req())
    with pytest.raises(AssertionError, match="1 scripted step"):
        model.assert_complete()
    await _run(model, _req())
    model.assert_complete()
    with pytest.raises(ScriptExhaustedError, match="request #3"):
        await _run(model, _req())
    assert issubclass(ScriptExhaustedError, AssertionError)


async def test_http_faults_raise_model_api_error() -> None:
    model = ScriptedModel([
        Step(fault=Fault.http_error(429, headers={"Retry-After": "3"})),
        Step(fault=Fault.http_error(400, body={"error": {"message": "bad"}})),
        Step(fault=Fault.disconnect()),
    ])
    with pytest.raises(ModelAPIError) as e429:
        await _run(model, _req())
    assert (e429.value.status_code, e429.value.retryable, e429.value.retry_after) == (429, True, 3)
    with pytest.raises(ModelAPIError) as e400:
        await _run(model, _req())
    assert not e400.value.retryable and e400.value.body == {"error": {"message": "bad"}}
    with pytest.raises(ModelAPIError) as edisc:
        await _run(model, _req())
    assert edisc.value.retryable and edisc.value.status_code is None


async def test_cut_yields_partial_events_then_retryable_error() -> None:
    model = ScriptedModel([Step(thinking="abcd", text="efgh", fault=Fault.cut_after(5))])
    seen: list[ModelStreamEvent] = []
    with pytest.raises(ModelAPIError, match="cut after 5") as info:
        async for event in model.stream(_req()):
            seen.append(event)
    assert info.value.retryable
    assert [type(e) for e in seen] == [ReasoningPart] * 4 + [TextPart]
    assert not any(isinstance(e, ModelResponse) for e in seen)


async def test_broken_arguments_become_broken_tool_calls() -> None:
    model = ScriptedModel([tool_step(call("f", '{"a": 1', id="c1"), call("g", {"b": 2}))])
    final = (await _run(model, _req()))[-1]
    assert isinstance(final, ModelResponse)
    assert [c.name for c in final.message.tool_calls] == ["g"]
    (broken,) = final.message.broken_tool_calls
    assert (broken.id, broken.name, broken.raw_arguments) == ("c1", "f", '{"a": 1')


async def test_raw_step_is_rejected_in_process() -> None:
    with pytest.raises(TypeError):
        ScriptedModel([RawStep([])])  # type: ignore[list-item]


async def test_function_model_sees_messages_sync_and_async() -> None:
    def fn(messages: list[Message], info: ModelRequest) -> Step:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return reply(f"result was {last.content}")
        return tool_step(call("lookup", {"q": "x"}, id="call_9"), thinking="look it up")

    model = FunctionModel(fn)
    first = (await _run(model, _req()))[-1]
    assert isinstance(first, ModelResponse) and first.message.tool_calls[0].id == "call_9"
    history: list[Message] = [
        UserMessage(content="q"), first.message,
        ToolMessage(tool_call_id="call_9", name="lookup", content="42")]
    second = (await _run(model, _req(*history)))[-1]
    assert isinstance(second, ModelResponse)
    assert second.message == AssistantMessage(content="result was 42", finish_reason="stop")
    assert len(model.requests) == 2 and model.name == "function"

    async def afn(messages: list[Message], info: ModelRequest) -> str:
        return f"{len(messages)} message(s)"

    final = (await _run(FunctionModel(afn, name="af"), _req()))[-1]
    assert isinstance(final, ModelResponse)
    assert final.message.content == "1 message(s)" and final.model_name == "af"

    bad = FunctionModel(lambda m, i: 42)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="must return a Step"):
        await _run(bad, _req())
