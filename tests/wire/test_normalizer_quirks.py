"""Normalizer edge cases not covered by whole-transcript cases."""

from __future__ import annotations

from typing import Any

from agentkit.models.base import ModelResponse, ReasoningPart, TextPart, ToolCallPart, ToolSpec
from agentkit.wire import StreamNormalizer, get_profile

TOOL = ToolSpec("w", "", {"type": "object", "properties": {"c": {"type": "string"}}})


def _run(chunks: list[dict[str, Any]], profile: str = "generic", thinking: bool | None = None,
         finish: str = "tool_calls") -> tuple[list[Any], ModelResponse]:
    norm = StreamNormalizer(get_profile(profile), [TOOL], thinking)
    events: list[Any] = []
    for c in chunks:
        events += norm.feed({"choices": [{"index": 0, "delta": c}]})
    events += norm.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    events += norm.close()
    final = events[-1]
    assert isinstance(final, ModelResponse)
    return events, final


def _tc(**frag: Any) -> dict[str, Any]:
    return {"tool_calls": [frag]}


def test_call_without_any_id_gets_a_generated_one() -> None:
    events, final = _run([_tc(index=0, function={"name": "w", "arguments": '{"c":'}),
                          _tc(index=0, function={"arguments": ' "x"}'})])
    (call,) = final.message.tool_calls
    assert call.id == "call_1" and call.arguments == '{"c": "x"}'
    parts = [e for e in events if isinstance(e, ToolCallPart)]
    assert parts[0].id == "call_1" and parts[1].id is None


def test_id_arriving_after_the_first_fragment_is_adopted() -> None:
    _, final = _run([_tc(index=0, function={"name": "w", "arguments": '{"c"'}),
                     _tc(index=0, id="late", function={"arguments": ': "x"}'})])
    assert [c.arguments for c in final.message.tool_calls] == ['{"c": "x"}']


def test_id_resent_on_every_fragment_is_one_call() -> None:
    _, final = _run([_tc(index=0, id="a", function={"name": "w", "arguments": '{"c": '}),
                     _tc(index=0, id="a", function={"name": "w", "arguments": '"y"}'})])
    assert [(c.id, c.arguments) for c in final.message.tool_calls] == [("a", '{"c": "y"}')]


def test_call_without_a_name_is_broken_not_executed() -> None:
    _, final = _run([_tc(index=0, id="a", function={"arguments": "{}"})])
    assert final.message.tool_calls == []
    assert final.message.broken_tool_calls[0].reason == "the tool call has no function name"


def test_arguments_sent_as_an_object_are_accepted() -> None:
    _, final = _run([_tc(index=0, id="a", function={"name": "w", "arguments": {"c": "z"}})])
    assert final.message.tool_calls[0].arguments == '{"c":"z"}'


def test_thinking_off_keeps_real_reasoning_when_an_answer_follows() -> None:
    events, final = _run([{"reasoning": "hmm"}, {"content": "  "}, {"content": "Answer"}],
                         profile="vllm", thinking=False, finish="stop")
    assert final.message.reasoning == "hmm" and final.message.content == "Answer"
    kinds = [type(e).__name__ for e in events[:-1]]
    assert kinds == ["ReasoningPart", "TextPart"]


def test_implicit_think_needs_thinking_on() -> None:
    _, final = _run([{"content": "plain answer</think>"}], profile="vllm", thinking=False,
                    finish="stop")
    assert final.message.content == "plain answer" and final.message.reasoning == ""
    _, final = _run([{"content": "plan</think>answer"}], profile="vllm", thinking=True,
                    finish="stop")
    assert (final.message.reasoning, final.message.content) == ("plan", "answer")


def test_reasoning_field_ends_undecided_content() -> None:
    events, final = _run([{"reasoning": "r1"}, {"content": "Hi there"}], profile="vllm",
                         thinking=True, finish="stop")
    assert [type(e) for e in events[:-1]] == [ReasoningPart, TextPart]
    assert final.message.content == "Hi there"


def test_usage_and_model_name() -> None:
    norm = StreamNormalizer(get_profile("dashscope"))
    norm.feed({"model": "qwen3-max-2026", "choices": [{"index": 0, "delta": {"content": "a"},
                                                       "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    final = norm.close()[-1]
    assert isinstance(final, ModelResponse)
    assert final.model_name == "qwen3-max-2026"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.requests) == (3, 1, 1)


def test_tag_in_prose_before_deciding_implicit_thinking_stays_text() -> None:
    _, final = _run([{"content": "Wrap calls in <tool_call> tags, "},
                     {"content": "as documented."}], profile="vllm", thinking=True,
                    finish="stop")
    assert final.message.reasoning == ""
    assert final.message.content == "Wrap calls in <tool_call> tags, as documented."


def test_call_after_implicit_thinking_ends_it() -> None:
    _, final = _run([{"content": "I need w.\n<tool_call>\n"},
                          {"content": '{"name": "w", "arguments": {"c": "x"}}'}],
                         profile="vllm", thinking=True, finish="stop")
    assert final.message.reasoning == "I need w."
    assert [c.name for c in final.message.tool_calls] == ["w"]
    assert final.message.content == ""
