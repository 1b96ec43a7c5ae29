"""Context management: long runs stay inside a small window, over real HTTP (the loopback
server, strict about tool-call pairing, driven by the real openai client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentkit import (
    Agent,
    CompactionMarker,
    ContextCompacted,
    ContextOverflow,
    ContextPolicy,
    ModelAPIError,
    tool,
)
from agentkit.compaction import SUMMARY_INSTRUCTIONS, sent_view
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.models import OpenAICompatModel
from agentkit.testing import Fault, LoopbackServer, Step, call, reply, tool_step
from agentkit.wire.history import build_messages
from agentkit.wire.profiles import get_profile

pytestmark = pytest.mark.anyio
_open: list[OpenAICompatModel] = []
BIG = 3000


@pytest.fixture(autouse=True)
async def close_models() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


def model_for(server: LoopbackServer, profile: str = "dashscope") -> OpenAICompatModel:
    model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="test",
                              profile=profile)
    _open.append(model)
    return model


@tool
def fetch(i: int) -> str:
    """A page: large, and different for every `i`."""
    return f"page {i} " + ("lorem ipsum dolor " * (BIG // 18))[:BIG]


def is_summary_request(body: dict[str, Any]) -> bool:
    first = body["messages"][0]
    return first["role"] == "system" and first["content"] == SUMMARY_INSTRUCTIONS


def pairing_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Orphan calls or results in one request's messages (what a strict server rejects)."""
    problems: list[str] = []
    open_ids: list[str] = []
    for m in messages:
        if m["role"] == "tool":
            if m["tool_call_id"] not in open_ids:
                problems.append(f"orphan result {m['tool_call_id']}")
            else:
                open_ids.remove(m["tool_call_id"])
        else:
            if open_ids:
                problems.append(f"calls without results: {open_ids}")
            open_ids = [c["id"] for c in m.get("tool_calls") or []]
    if open_ids:
        problems.append(f"calls without results: {open_ids}")
    return problems


def wire(messages: list[Message]) -> list[dict[str, Any]]:
    return build_messages(messages, get_profile("dashscope"))


async def test_a_300_step_run_stays_inside_a_small_window() -> None:
    steps_done = 0

    def responder(body: dict[str, Any]) -> Step:
        nonlocal steps_done
        if is_summary_request(body):
            return reply(f"summary: pages fetched up to {steps_done}")
        steps_done += 1
        if steps_done <= 300:
            return tool_step(call("fetch", {"i": steps_done}), thinking="next page")
        return reply("all 300 pages read", thinking="done")

    window, reserve = 12000, 2000
    policy = ContextPolicy(window=window, reserve=reserve, keep_last=3)
    async with LoopbackServer(responder=responder) as server:
        agent = Agent(model_for(server), "Read every page.", [fetch], context=policy,
                      max_steps=400)
        events = [e async for e in agent.stream("read pages 1..300")]
    result = events[-1].result  # type: ignore[union-attr]
    assert result.output == "all 300 pages read"
    compactions = [e for e in events if isinstance(e, ContextCompacted)]
    assert compactions and all(e.tokens_after < e.tokens_before for e in compactions)

    bodies = [r.body for r in server.requests]
    steps = [b for b in bodies if not is_summary_request(b)]
    summaries = [b for b in bodies if is_summary_request(b)]
    assert len(steps) == 301 and summaries
    for body in bodies:  # never an orphan call or result; always inside the window
        assert pairing_problems(body["messages"]) == []
        assert r_tokens(body) < window - reserve // 2
    # summaries are requested in Instruct mode, without tools; steps think
    assert all(b["enable_thinking"] is False and "tools" not in b for b in summaries)
    assert all(b["enable_thinking"] is True for b in steps)
    # the system prompt, the run's prompt and the last 3 exchanges are intact
    last = steps[-1]["messages"]
    assert last[0] == {"role": "system", "content": "Read every page."}
    assert last[1] == {"role": "user", "content": "read pages 1..300"}
    tail_results = [m for m in last if m["role"] == "tool"][-3:]
    assert [m["content"] for m in tail_results] == [fetch.function(i) for i in (298, 299, 300)]
    # the transcript is whole; the markers rebuild exactly what the last request sent
    full = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.content for m in full] == [fetch.function(i) for i in range(1, 301)]
    markers = [m for m in result.messages if isinstance(m, CompactionMarker)]
    assert len(markers) == len(compactions)
    assert wire(sent_view(result.messages[:-1])) == last


def r_tokens(body: dict[str, Any]) -> int:
    """What the loopback server estimates for a request (its prompt_tokens: ~4 chars each)."""
    import json

    return len(json.dumps(body["messages"])) // 4


async def test_stages_cheapest_first_and_reasoning_dropped() -> None:
    history: list[Message] = [UserMessage(content="earlier task")]
    for i in range(6):
        history.append(AssistantMessage(reasoning="r" * 400, tool_calls=[
            ToolCall(id=f"c{i}", name="fetch", arguments=f'{{"i": {i}}}')]))
        history.append(ToolMessage(tool_call_id=f"c{i}", name="fetch", content=fetch.function(i)))
    history.append(AssistantMessage(content="done before"))
    steps = [reply("ok")]
    # a window where cutting the old tool results alone is enough: no summary request
    policy = ContextPolicy(window=7000, reserve=1000, keep_last=2)
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server, "deepseek"), "sys", [fetch], context=policy)
        events = [e async for e in agent.stream("next", history=history)]
    compacted = [e for e in events if isinstance(e, ContextCompacted)]
    assert len(compacted) == 1
    assert compacted[0].actions == ["shortened 5 old tool results"]
    assert len(server.requests) == 1  # no summary request was needed
    sent = server.requests[0].body["messages"]
    cut = [m for m in sent if m["role"] == "tool" and "characters cut" in m["content"]]
    assert len(cut) == 5 and all(m["content"].startswith("page ") for m in cut)
    # deepseek replays reasoning on tool turns: stage 2 did not run, so all of it is sent
    assert sum(1 for m in sent if m.get("reasoning_content") == "r" * 400) == 6
    marker = next(m for m in events[-1].result.messages  # type: ignore[union-attr]
                  if isinstance(m, CompactionMarker))
    assert marker.shortened == [2, 4, 6, 8, 10] and marker.summary is None
    assert not marker.reasoning_dropped


async def test_reasoning_dropped_before_summarising() -> None:
    history: list[Message] = [UserMessage(content="earlier task")]
    for i in range(6):
        history.append(AssistantMessage(reasoning="r" * 3000, tool_calls=[
            ToolCall(id=f"c{i}", name="fetch", arguments=f'{{"i": {i}}}')]))
        history.append(ToolMessage(tool_call_id=f"c{i}", name="fetch", content="short"))
    policy = ContextPolicy(window=5000, reserve=1000, keep_last=1)
    async with LoopbackServer([reply("ok")]) as server:
        agent = Agent(model_for(server, "deepseek"), "sys", [fetch], context=policy)
        events = [e async for e in agent.stream("next", history=history)]
    compacted = [e for e in events if isinstance(e, ContextCompacted)]
    assert compacted[0].actions == ["dropped the reasoning of 5 older steps"]
    sent = server.requests[0].body["messages"]
    assert [m.get("reasoning_content") for m in sent if m["role"] == "assistant"] == [
        ""] * 5 + ["r" * 3000]


OVERFLOW_TEXTS = {
    "dashscope": "<400> InternalError.Algo.InvalidParameter: Range of input length should be "
                 "[1, 129024]",
    "vllm": "This model's maximum context length is 32768 tokens. However, you requested "
            "40000 tokens (39000 in the messages, 1000 in the completion).",
    "sglang": "The input (40000 tokens) is longer than the model's context length "
              "(32768 tokens).",
    "llamacpp": "the request exceeds the available context size, try increasing it",
    "openai": "Your input exceeds the context window of this model.",
    "deepseek": "This model's maximum context length is 131072 tokens. However, you "
                "requested 140000 tokens.",
    "kimi": "Invalid request: Your request exceeded model token limit: 131072",
    "generic": "context length exceeded",
}


def long_history() -> list[Message]:
    history: list[Message] = [UserMessage(content="first")]
    for i in range(8):
        history.append(AssistantMessage(tool_calls=[ToolCall(id=f"h{i}", name="fetch",
                                                             arguments=f'{{"i": {i}}}')]))
        history.append(ToolMessage(tool_call_id=f"h{i}", name="fetch", content=fetch.function(i)))
    history.append(AssistantMessage(content="read them"))
    return history


def overflow(profile: str) -> Step:
    return Step(fault=Fault.http_error(400, {"error": {"message": OVERFLOW_TEXTS[profile],
                                                       "type": "invalid_request_error"}}))


@pytest.mark.parametrize("profile", sorted(OVERFLOW_TEXTS))
async def test_overflow_compacts_once_and_retries(profile: str) -> None:
    steps = [overflow(profile), reply("summary of the pages"), reply("answer")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server, profile), "sys", [fetch],
                      context=ContextPolicy(window=200000, keep_last=1))
        events = [e async for e in agent.stream("and now?", history=long_history())]
        server.assert_complete()
    assert events[-1].result.output == "answer"  # type: ignore[union-attr]
    assert any(isinstance(e, ContextCompacted) for e in events)
    first, retry = server.requests[0].body, server.requests[2].body
    assert is_summary_request(server.requests[1].body)
    assert len(str(retry["messages"])) < len(str(first["messages"])) // 2


@pytest.mark.parametrize("profile", sorted(OVERFLOW_TEXTS))
async def test_overflow_without_context_management_is_typed(profile: str) -> None:
    async with LoopbackServer([overflow(profile)]) as server:
        agent = Agent(model_for(server, profile), "sys", [fetch])
        with pytest.raises(ContextOverflow) as err:
            await agent.run("and now?", history=long_history())
    assert err.value.status_code == 400
    assert [m.role for m in err.value.messages][-1] == "user"
    assert err.value.usage is not None and err.value.usage.requests == 1


async def test_second_overflow_after_compaction_is_typed() -> None:
    steps = [overflow("dashscope"), reply("a summary"), overflow("dashscope")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [fetch],
                      context=ContextPolicy(window=200000, keep_last=1))
        with pytest.raises(ContextOverflow) as err:
            await agent.run("and now?", history=long_history())
    assert any(isinstance(m, CompactionMarker) for m in err.value.messages)


async def test_other_400s_are_not_overflow() -> None:
    bad = Step(fault=Fault.http_error(400, {"error": {"message": "tools[0] is invalid"}}))
    async with LoopbackServer([bad]) as server:
        agent = Agent(model_for(server), "sys", context=ContextPolicy())
        with pytest.raises(ModelAPIError) as err:
            await agent.run("hi")
    assert not isinstance(err.value, ContextOverflow)


async def test_failed_summary_falls_back_to_a_digest_and_continues_across_runs() -> None:
    bad = Step(fault=Fault.http_error(400, {"error": {"message": "summary refused"}}))
    steps = [overflow("dashscope"), bad, reply("answer one"), reply("answer two")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [fetch],
                      context=ContextPolicy(window=200000, keep_last=1))
        first = await agent.run("and now?", history=long_history())
        second = await agent.run("more?", history=first.messages)
    assert second.output == "answer two"
    retried, next_run = server.requests[2].body["messages"], server.requests[3].body["messages"]
    summary = next(m for m in retried if m["content"].startswith("[Summary"))
    assert "earlier messages were removed" in summary["content"] and "fetch(" in summary["content"]
    # the next run starts from the compacted view, not from the whole transcript
    assert next_run[:len(retried)] == retried
    assert wire(sent_view(second.messages))[:-1] == next_run


async def test_a_session_stores_the_markers_and_the_next_run_sends_the_compacted_view(
        tmp_path: Any) -> None:
    from agentkit.sessions import open_store

    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        session = store.session("long")
        await session.add_messages(long_history())
        steps = [overflow("dashscope"), reply("summary of the pages"), reply("one"),
                 reply("two")]
        async with LoopbackServer(steps) as server:
            agent = Agent(model_for(server), "sys", [fetch],
                          context=ContextPolicy(window=200000, keep_last=1))
            await agent.run("and now?", session=session)
            stored = await session.get_messages()
            assert any(isinstance(m, CompactionMarker) for m in stored)
            assert sum(isinstance(m, ToolMessage) for m in stored) == 8  # all results kept
            await agent.run("more?", session=session)
        compacted, following = (server.requests[2].body["messages"],
                                server.requests[3].body["messages"])
        assert following[:len(compacted)] == compacted  # continued from the compacted view
        assert len(str(following)) < len(str(server.requests[0].body["messages"])) // 2
    finally:
        await store.aclose()
