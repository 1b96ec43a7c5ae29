"""History: the exact request bodies each profile sends during a tool loop and after it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentkit.messages import (
    AssistantMessage,
    BrokenToolCall,
    Message,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentkit.models import ModelRequest, ModelResponse, ModelSettings, OpenAICompatModel, ToolSpec
from agentkit.testing import Chunking, LoopbackServer, call, reply, tool_step
from agentkit.wire import MISSING_RESULT, WireCache, build_messages, get_profile

TOOLS = [ToolSpec("get_weather", "Weather.", {"type": "object",
                                              "properties": {"city": {"type": "string"}}})]

# profile -> (reasoning field or None, policy, expected thinking switch fields, model name)
PROFILES: dict[str, tuple[str | None, str, dict[str, Any], str]] = {
    "dashscope": ("reasoning_content", "current_loop", {"enable_thinking": True}, "qwen3-max"),
    "dashscope_preserve": ("reasoning_content", "all",
                           {"enable_thinking": True, "preserve_thinking": True}, "qwen3.6-plus"),
    "vllm": ("reasoning", "current_loop", {"chat_template_kwargs": {"enable_thinking": True}},
             "Qwen/Qwen3-8B"),
    "vllm_legacy": ("reasoning_content", "current_loop",
                    {"chat_template_kwargs": {"enable_thinking": True}}, "Qwen/Qwen3-8B"),
    "sglang": ("reasoning_content", "current_loop",
               {"chat_template_kwargs": {"enable_thinking": True}}, "Qwen/Qwen3-8B"),
    "ollama": ("reasoning", "current_loop", {"reasoning_effort": "medium"}, "qwen3:8b"),
    "llamacpp": ("reasoning_content", "current_loop",
                 {"chat_template_kwargs": {"enable_thinking": True}}, "qwen3"),
    "deepseek": ("reasoning_content", "tool_turns", {"thinking": {"type": "enabled"}},
                 "deepseek-chat"),
    "kimi": ("reasoning_content", "tool_turns", {}, "kimi-k2-thinking"),
    "openai": (None, "never", {}, "gpt-5"),
    "generic": (None, "never", {}, "some-model"),
}
SWITCH_KEYS = {"enable_thinking", "preserve_thinking", "thinking_budget", "chat_template_kwargs",
               "reasoning_effort", "thinking"}


def _chunking(profile: str) -> Chunking:
    if profile.startswith("vllm"):
        return Chunking.vllm()
    if profile == "ollama":
        return Chunking.ollama()
    return Chunking.dashscope()


def _expected_assistant(msg: AssistantMessage, field: str | None, send: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": c.arguments}}
                             for c in msg.tool_calls]
    if send and field:
        out[field] = msg.reasoning
    return out


def _expected(messages: list[Message], field: str | None, policy: str) -> list[dict[str, Any]]:
    last_user = max(i for i, m in enumerate(messages) if isinstance(m, UserMessage))
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        if isinstance(m, AssistantMessage):
            send = {"all": bool(m.reasoning), "tool_turns": bool(m.tool_calls),
                    "current_loop": i > last_user and bool(m.reasoning),
                    "never": False}[policy]
            out.append(_expected_assistant(m, field, send))
            results = {}
            while i + 1 < len(messages) and isinstance(messages[i + 1], ToolMessage):
                i += 1
                tm = messages[i]
                assert isinstance(tm, ToolMessage)
                results[tm.tool_call_id] = tm
            for c in m.tool_calls:  # call order, whatever order the results came in
                out.append({"role": "tool", "tool_call_id": c.id,
                            "content": results[c.id].content})
        elif isinstance(m, (SystemMessage, UserMessage)):
            out.append({"role": m.role, "content": m.content})
        i += 1
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(PROFILES))
async def test_three_step_tool_loop_bodies(name: str) -> None:
    field, policy, switch, model_name = PROFILES[name]
    profile = "dashscope" if name == "dashscope_preserve" else name
    steps = [
        tool_step(call("get_weather", {"city": "Paris"}), call("get_weather", {"city": "Rome"}),
                  thinking="Two cities."),
        tool_step(call("get_weather", {"city": "Oslo"}), thinking="One more."),
        reply("Sunny everywhere.", thinking="Summarise."),
        reply("You're welcome.", thinking="Polite."),
    ]
    async with LoopbackServer(steps, chunking=_chunking(profile), strict=True) as srv:
        model = OpenAICompatModel(model_name, base_url=srv.base_url, api_key="k",
                                  profile=profile, thinking=True)
        messages: list[Message] = [SystemMessage(content="Be brief."),
                                   UserMessage(content="Weather in Paris, Rome, Oslo?")]
        sent: list[list[Message]] = []
        for turn in range(4):
            if turn == 3:
                messages.append(UserMessage(content="Thanks!"))
            sent.append(list(messages))
            final = None
            async for event in model.stream(ModelRequest(messages, TOOLS, ModelSettings())):
                final = event
            assert isinstance(final, ModelResponse)
            messages.append(final.message)
            # results deliberately appended in reverse call order
            for c in reversed(final.message.tool_calls):
                args = json.loads(c.arguments)
                messages.append(ToolMessage(tool_call_id=c.id, name=c.name,
                                            content=f"{args['city']}: 20C"))
        await model.aclose()
        srv.assert_complete()
        bodies = [r.body for r in srv.requests]
    assert len(bodies) == 4
    for body, history in zip(bodies, sent, strict=True):
        assert body["messages"] == _expected(history, field, policy)
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert {k: v for k, v in body.items() if k in SWITCH_KEYS} == switch
        assert body["tools"] == [t.to_openai() for t in TOOLS]
        assert ("parallel_tool_calls" in body) == get_profile(profile).send_parallel_tool_calls
    # spot checks that do not depend on the helper above
    second = bodies[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool", "tool"]
    calls = second[2]["tool_calls"]
    assert [m["tool_call_id"] for m in second[3:]] == [c["id"] for c in calls]
    assert second[3]["content"] == "Paris: 20C"
    if field and policy != "never":
        assert second[2][field] == "Two cities."
    else:
        assert "reasoning_content" not in second[2] and "reasoning" not in second[2]
    last_turn = bodies[3]["messages"]
    first_assistant = last_turn[2]
    if policy in ("tool_turns", "all"):
        assert first_assistant[field] == "Two cities."
    else:
        assert "reasoning_content" not in first_assistant and "reasoning" not in first_assistant


def test_deepseek_tool_turn_with_empty_reasoning_keeps_the_field() -> None:
    msgs: list[Message] = [
        UserMessage(content="hi"),
        AssistantMessage(content="", reasoning="", tool_calls=[ToolCall(id="a", name="t")]),
        ToolMessage(tool_call_id="a", name="t", content="r"),
        AssistantMessage(content="done", reasoning="x"),
    ]
    wire = build_messages(msgs, get_profile("deepseek"))
    assert wire[1] == {"role": "assistant", "content": "",
                       "tool_calls": [{"id": "a", "type": "function",
                                       "function": {"name": "t", "arguments": "{}"}}],
                       "reasoning_content": ""}
    assert wire[3] == {"role": "assistant", "content": "done"}


def _messy_history() -> list[Message]:
    return [
        UserMessage(content="go"),
        AssistantMessage(
            content="", reasoning="r",
            tool_calls=[ToolCall(id="ok1", name="get_weather", arguments='{"city":"A"}'),
                        ToolCall(id="ok2", name="get_weather", arguments='{"city":"B"}')],
            broken_tool_calls=[BrokenToolCall(id="bad", name="get_weather",
                                              raw_arguments='{"city": "C', reason="cut off")]),
        ToolMessage(tool_call_id="bad", name="get_weather", content="Arguments were cut off.",
                    is_error=True),
        ToolMessage(tool_call_id="ok1", name="get_weather", content="A: 1C"),
        ToolMessage(tool_call_id="ghost", name="get_weather", content="orphan"),
        AssistantMessage(content="", reasoning="only broken",
                         broken_tool_calls=[BrokenToolCall(id="bad2", name="get_weather",
                                                           raw_arguments="{", reason="cut")]),
        ToolMessage(tool_call_id="bad2", name="get_weather", content="Try again."),
    ]


def test_pairing_is_repaired_and_broken_calls_never_replayed() -> None:
    wire = build_messages(_messy_history(), get_profile("dashscope"))
    assert wire == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "reasoning_content": "r", "tool_calls": [
            {"id": "ok1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"A"}'}},
            {"id": "ok2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"B"}'}}]},
        {"role": "tool", "tool_call_id": "ok1", "content": "A: 1C"},
        {"role": "tool", "tool_call_id": "ok2", "content": MISSING_RESULT},
        {"role": "user", "content": "Arguments were cut off.\n\n"
                                    "Result of tool call ghost (get_weather): orphan\n\n"
                                    "Try again."},
    ]
    assert "bad" not in json.dumps(wire)


@pytest.mark.anyio
async def test_repaired_history_is_accepted_by_a_strict_server() -> None:
    async with LoopbackServer([reply("fine")], strict=True) as srv:
        model = OpenAICompatModel("qwen3-max", base_url=srv.base_url, api_key="k",
                                  profile="dashscope")
        events = [e async for e in model.stream(
            ModelRequest(_messy_history(), TOOLS, ModelSettings()))]
        await model.aclose()
        srv.assert_complete()
    final = events[-1]
    assert isinstance(final, ModelResponse) and final.message.content == "fine"


def test_wire_dicts_are_cached_per_message_and_rebuilt_when_changed() -> None:
    cache = WireCache()
    prof = get_profile("dashscope")
    msg = AssistantMessage(content="a", tool_calls=[ToolCall(id="x", name="t")])
    history: list[Message] = [UserMessage(content="u"), msg,
                              ToolMessage(tool_call_id="x", name="t", content="r")]
    first = build_messages(history, prof, cache)
    second = build_messages(history, prof, cache)
    assert first[1] is second[1] and first[2] is second[2]
    msg.content = "changed"
    third = build_messages(history, prof, cache)
    assert third[1]["content"] == "changed"


def test_cache_notices_replaced_tool_calls() -> None:
    cache = WireCache()
    prof = get_profile("dashscope")
    msg = AssistantMessage(content="a", tool_calls=[ToolCall(id="x", name="t")])
    build_messages([UserMessage(content="u"), msg], prof, cache)
    msg.tool_calls = [ToolCall(id="y", name="t2")]
    wire = build_messages([UserMessage(content="u"), msg], prof, cache)
    assert wire[1]["tool_calls"][0]["id"] == "y"
