"""The stream parser's last two gaps, for every split of the text into deltas.

- A literal `<think>` / `</think>` later in a normal answer survives (every profile).
- Tool-call markup in the reasoning field never streams out as reasoning when it is a
  call, and is released, in order, as soon as it is known not to be one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentkit import Agent, tool
from agentkit.events import ThinkingDelta
from agentkit.models import OpenAICompatModel
from agentkit.models.base import (
    ModelResponse,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolSpec,
)
from agentkit.testing import LoopbackServer, RawStep, reply
from agentkit.wire import StreamNormalizer, get_profile

WEATHER = ToolSpec("get_weather", "Weather.", {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}})


def _splits(text: str) -> Iterator[list[str]]:
    """Every two-piece split, the whole text, and one character per delta."""
    yield [text]
    for i in range(1, len(text)):
        yield [text[:i], text[i:]]
    yield list(text)


def _run(profile: str, thinking: bool | None, pieces: list[tuple[str, str]],
         finish: str = "stop") -> tuple[list[ModelStreamEvent], Any]:
    norm = StreamNormalizer(get_profile(profile), [WEATHER], thinking)
    events: list[ModelStreamEvent] = []
    for field, text in pieces:
        events += norm.feed({"choices": [{"index": 0, "delta": {field: text}}]})
    events += norm.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    events += norm.close()
    final = events[-1]
    assert isinstance(final, ModelResponse)
    return events, final.message


def _text(events: list[ModelStreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextPart))


def _thinking(events: list[ModelStreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningPart))


# -- 5. literal think tags later in an answer ------------------------------------------------
ANSWERS = [
    "Close reasoning with </think> after it.",
    "Open it with <think> first.",
    "Qwen writes <think>...</think> around thoughts; then the answer.",
    "Use `</think>` to end it.",
    "Example:\n```xml\n<think>plan</think>\nanswer\n```\nDone.",
    "```\nprint('</think>')\n```",
    "A </think> B </think> C",
]
# (profile, thinking, reasoning sent in the reasoning field first)
SHAPES = [("dashscope", True, True), ("dashscope", False, False), ("vllm", True, True),
          ("vllm", False, False), ("generic", None, False), ("generic", True, True),
          ("sglang", True, True), ("llamacpp", False, False)]


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize(("profile", "thinking", "field"), SHAPES)
def test_literal_think_tags_in_an_answer_survive(answer: str, profile: str,
                                                 thinking: bool | None, field: bool) -> None:
    for parts in _splits(answer):
        pieces = [("reasoning_content", "I think.")] if field else []
        pieces += [("content", p) for p in parts]
        events, msg = _run(profile, thinking, pieces)
        assert msg.content == answer, (profile, parts)
        assert _text(events) == answer
        assert msg.reasoning == ("I think." if field else "")


@pytest.mark.parametrize("answer", ANSWERS)
def test_literal_tags_after_a_closed_think_block_survive(answer: str) -> None:
    for profile in ("dashscope", "vllm", "generic"):
        for parts in _splits("<think>plan</think>" + answer):
            _, msg = _run(profile, True, [("content", p) for p in parts])
            assert (msg.reasoning, msg.content) == ("plan", answer), (profile, parts)


@pytest.mark.parametrize("content", ["The answer.</think>", "The answer.</think>\n\n",
                                     "\n</think>\n\nThe answer.", "</think>The answer."])
def test_stray_closing_tags_at_the_edges_are_still_dropped(content: str) -> None:
    for profile in ("dashscope", "generic"):
        for parts in _splits(content):
            pieces = [("reasoning_content", "r")] + [("content", p) for p in parts]
            events, msg = _run(profile, True, pieces)
            assert msg.content == "The answer.", (profile, parts)
            assert _text(events).strip() == "The answer."


# -- 6. call markup in the reasoning field ---------------------------------------------------
XML = ("<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
       "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>")
CALL_JSON = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}'
HERMES = f"<tool_call>\n{CALL_JSON}\n</tool_call>"
HERMES_UNCLOSED = f"<tool_call>{CALL_JSON}"


@pytest.mark.parametrize("markup", [XML, HERMES, HERMES_UNCLOSED, XML + "\n" + HERMES],
                         ids=["xml", "hermes", "hermes_unclosed", "two_blocks"])
@pytest.mark.parametrize("profile", ["dashscope", "vllm", "generic"])
def test_a_call_in_the_reasoning_field_never_streams_as_reasoning(markup: str,
                                                                  profile: str) -> None:
    for parts in _splits("Let me check the weather.\n" + markup + "\n"):
        events, msg = _run(profile, True, [("reasoning_content", p) for p in parts])
        shown = _thinking(events)
        assert "<tool" not in shown and "function" not in shown and "{" not in shown, parts
        assert shown.strip() == msg.reasoning == "Let me check the weather."
        n = markup.count("<tool_call>")
        assert [json.loads(c.arguments) for c in msg.tool_calls] == [{"city": "Paris",
                                                                      "days": 3}] * n
        assert sum(isinstance(e, ToolCallPart) for e in events) == n


NOT_CALLS = [
    "I could emit <tool_call> here, but no.",
    "Markup like <tool_call>{\"name\": \"other_tool\", \"arguments\": {}}</tool_call> is wrong.",
    "Unknown: <tool_call><function=launch>\n</function></tool_call> done",
    "Discussed: " + XML + " but then I kept thinking.",
    "Broken: <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": }}</tool_call>!",
    "a < b and <tool is not a tag; <tool_call",
]


@pytest.mark.parametrize("reasoning", NOT_CALLS)
def test_markup_that_is_not_a_call_is_released_in_order(reasoning: str) -> None:
    for parts in _splits(reasoning):
        events, msg = _run("dashscope", True, [("reasoning_content", p) for p in parts])
        assert _thinking(events) == reasoning, parts
        assert msg.tool_calls == [] and msg.reasoning == reasoning.strip()


def test_text_is_released_as_soon_as_it_cannot_be_a_call() -> None:
    norm = StreamNormalizer(get_profile("dashscope"), [WEATHER], True)

    def feed(text: str) -> str:
        evs = norm.feed({"choices": [{"index": 0, "delta": {"reasoning_content": text}}]})
        return _thinking(evs)

    assert feed("plain reasoning ") == "plain reasoning "  # no tag: not delayed at all
    assert feed("then <tool") == "then "  # only the possible tag waits
    assert feed("_call>{\"name\": \"get_wea") == ""  # may still be a call
    assert feed("ther\", \"arguments\": {}}</tool_call>") == ""  # a complete call: held
    assert feed(" and more") == ('<tool_call>{"name": "get_weather", "arguments": {}}'
                                 "</tool_call> and more")  # not at the tail: released
    assert feed("<tool_call>{\"name\": \"nope\"") == '<tool_call>{"name": "nope"'  # unknown
    assert feed("<tool_call><function=nope>") == "<tool_call><function=nope>"


def test_held_markup_is_released_before_the_answer_that_follows() -> None:
    events, msg = _run("dashscope", True, [("reasoning_content", "Plan. " + HERMES),
                                           ("content", "Actually, it is sunny.")])
    kinds = [type(e).__name__ for e in events if isinstance(e, (ReasoningPart, TextPart))]
    assert kinds[-1] == "TextPart" and set(kinds[:-1]) == {"ReasoningPart"}
    assert _thinking(events) == "Plan. " + HERMES and msg.tool_calls == []
    assert msg.content == "Actually, it is sunny."


@tool
def get_weather(city: str, days: int = 1) -> str:
    """Weather.

    Args:
        city: The city.
        days: How many days.
    """
    return f"sunny in {city} for {days} days"


@pytest.mark.anyio
async def test_live_view_over_http_shows_no_call_markup_as_thinking() -> None:
    text = "I will look it up.\n" + XML
    chunks: list[dict[str, Any] | str | bytes] = [
        {"choices": [{"index": 0, "delta": {"reasoning_content": text[i:i + 7]}}]}
        for i in range(0, len(text), 7)]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    async with LoopbackServer([RawStep(chunks), reply("Sunny.")]) as srv:
        model = OpenAICompatModel("qwen3-max", base_url=srv.base_url, api_key="k",
                                  profile="dashscope")
        thinking: list[str] = []
        async with Agent(model, tools=[get_weather]).stream("weather?") as run:
            async for ev in run:
                if isinstance(ev, ThinkingDelta) and ev.step == 1:
                    thinking.append(ev.text)
        await model.aclose()
    assert run.result is not None and run.result.output == "Sunny."
    assert run.result.tool_calls[0].result == "sunny in Paris for 3 days"
    assert "".join(thinking).strip() == "I will look it up."
