"""LoopbackServer driven by the real openai client: streaming shapes, recording, routes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.lowlevel
import openai
import pytest

from agentkit.testing import Chunking, LoopbackServer, RawStep, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio

USER: Any = [{"role": "user", "content": "What is 2+3?"}]


def _client(srv: LoopbackServer, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0, **kw)


async def _collect(srv: LoopbackServer, **kw: Any) -> list[Any]:
    async with _client(srv) as client:
        stream: Any = await client.chat.completions.create(
            model="qwen3-max", messages=kw.pop("messages", USER), stream=True, **kw)
        return [chunk async for chunk in stream]


async def test_dashscope_thinking_and_tool_call_stream() -> None:
    step = tool_step(call("add", {"a": 2, "b": 3}, id="call_abc123"),
                     thinking="The user wants a sum. I should call add.")
    async with LoopbackServer([step]) as srv:
        chunks = await _collect(srv, stream_options={"include_usage": True},
                                extra_body={"enable_thinking": True})
        srv.assert_complete()

    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    with_choices = [c for c in chunks if c.choices]
    reasoning = [getattr(c.choices[0].delta, "reasoning_content", None) for c in with_choices]
    reasoning_deltas = [r for r in reasoning if r]
    assert len(reasoning_deltas) == 4  # default: split into 4 deltas
    assert "".join(reasoning_deltas) == "The user wants a sum. I should call add."
    # DashScope sends content "" on reasoning chunks
    for c in with_choices:
        if getattr(c.choices[0].delta, "reasoning_content", None):
            assert c.choices[0].delta.content == ""
            assert c.choices[0].delta.model_extra["reasoning_content"]

    frags = [tc for c in with_choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(frags) == 3
    assert frags[0].index == 0 and frags[0].id == "call_abc123"
    assert frags[0].type == "function" and frags[0].function.name == "add"
    for f in frags[1:]:
        assert f.index == 0 and f.id == ""  # DashScope: empty string, not absent
        assert f.function.name is None
    args = "".join(f.function.arguments or "" for f in frags)
    assert json.loads(args) == {"a": 2, "b": 3}

    assert with_choices[-1].choices[0].finish_reason == "tool_calls"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    u = usage_chunk.usage
    assert u is not None
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.completion_tokens_details.reasoning_tokens > 0
    assert u.prompt_tokens_details.cached_tokens == 0


async def test_text_reply_without_usage_and_scripted_usage() -> None:
    steps = [reply("Two plus three is five."),
             Step(text="ok", usage={"prompt_tokens": 100, "completion_tokens": 7,
                                    "reasoning_tokens": 5, "cached_tokens": 64})]
    async with LoopbackServer(steps) as srv:
        chunks = await _collect(srv)
        assert all(c.usage is None for c in chunks)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert text == "Two plus three is five."
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert sum(1 for c in chunks if c.choices[0].delta.content) == 4

        chunks = await _collect(srv, stream_options={"include_usage": True})
        u = chunks[-1].usage
        assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (100, 7, 107)
        assert u.completion_tokens_details.reasoning_tokens == 5
        assert u.prompt_tokens_details.cached_tokens == 64


async def test_parallel_calls_get_their_own_indices_and_ids() -> None:
    step = tool_step(call("a", {"x": 1}), call("b", '{"y": 2}'))
    async with LoopbackServer([step]) as srv:
        chunks = await _collect(srv)
    frags = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    by_index: dict[int, str] = {}
    ids = {}
    for f in frags:
        by_index[f.index] = by_index.get(f.index, "") + (f.function.arguments or "")
        if f.id:
            ids[f.index] = f.id
    assert by_index == {0: '{"x": 1}', 1: '{"y": 2}'}
    assert ids[0].startswith("call_") and ids[1].startswith("call_") and ids[0] != ids[1]


async def test_requests_are_recorded_and_compatible_mode_path_works() -> None:
    tools: Any = [
        {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    async with LoopbackServer([reply("hi")]) as srv:
        client = openai.AsyncOpenAI(base_url=srv.url + "/compatible-mode/v1",
                                    api_key="sk-secret", max_retries=0)
        async with client:
            stream: Any = await client.chat.completions.create(
                model="qwen3-max", messages=USER, tools=tools, stream=True,
                extra_body={"enable_thinking": True, "thinking_budget": 100})
            _ = [c async for c in stream]
        (rec,) = srv.requests
    assert rec.path == "/compatible-mode/v1/chat/completions"
    assert rec.method == "POST"
    assert rec.headers["authorization"] == "Bearer sk-secret"
    assert rec.body["messages"] == USER
    assert rec.body["tools"] == tools
    assert rec.body["enable_thinking"] is True and rec.body["thinking_budget"] == 100
    assert rec.body["stream"] is True
    assert rec.outcome == "complete"


async def test_non_streaming_thinking_gets_dashscope_400() -> None:
    async with LoopbackServer([reply("never sent")]) as srv, _client(srv) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(
                model="qwen3-max", messages=USER, extra_body={"enable_thinking": True})
        assert info.value.status_code == 400
        assert info.value.response.json() == {"error": {
            "code": "invalid_parameter_error",
            "message": "parameter.enable_thinking must be set to false for non-streaming calls",
            "type": "invalid_request_error"}}
        assert srv.requests[0].outcome == "rejected"
        assert srv.remaining == 1  # the step was not consumed


async def test_non_streaming_body() -> None:
    steps = [tool_step(call("add", {"a": 1}, id="call_1"), thinking="hmm"), reply("done")]
    async with LoopbackServer(steps) as srv, _client(srv) as client:
        r = await client.chat.completions.create(model="qwen3-max", messages=USER,
                                                 extra_body={"enable_thinking": False})
        msg: Any = r.choices[0].message
        assert r.choices[0].finish_reason == "tool_calls"
        assert msg.tool_calls is not None and msg.tool_calls[0].id == "call_1"
        assert msg.tool_calls[0].function.arguments == '{"a": 1}'
        assert msg.model_extra["reasoning_content"] == "hmm"
        r2 = await client.chat.completions.create(model="qwen3-max", messages=USER)
        assert r2.choices[0].message.content == "done"
        assert r2.usage is not None and r2.usage.total_tokens > 0
        srv.assert_complete()


async def test_models_route_and_unknown_route() -> None:
    async with LoopbackServer(models=("qwen3-max", "qwen-plus")) as srv, _client(srv) as client:
        page = await client.models.list()
        assert [m.id for m in page.data] == ["qwen3-max", "qwen-plus"]
        with pytest.raises(openai.NotFoundError):
            await client.embeddings.create(model="x", input="hi")


async def test_keep_alive_reuses_one_connection() -> None:
    async with LoopbackServer([reply("a"), reply("b"), reply("c")]) as srv:
        async with _client(srv) as client:
            for _ in range(3):
                stream: Any = await client.chat.completions.create(
                    model="m", messages=USER, stream=True)
                _ = [c async for c in stream]
        assert [r.connection for r in srv.requests] == [1, 1, 1]


async def test_openai_and_vllm_dialects() -> None:
    step = tool_step(call("f", {"k": "v"}), thinking="abc")
    async with LoopbackServer([step], chunking=Chunking.openai()) as srv:
        chunks = await _collect(srv)
    frags = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert frags[0].function.arguments == ""  # OpenAI: first fragment has no argument text
    assert all(f.id is None for f in frags[1:])  # continuations carry no id at all

    async with LoopbackServer([reply("x", thinking="deep")], chunking=Chunking.vllm()) as srv:
        chunks = await _collect(srv)
    extras = [c.choices[0].delta.model_extra for c in chunks]
    assert "".join(e.get("reasoning") or "" for e in extras) == "deep"
    assert all("reasoning_content" not in e for e in extras)

    two = tool_step(call("f", {"k": 1}), call("g", {"k": 2}))
    async with LoopbackServer([two], chunking=Chunking.ollama()) as srv:
        chunks = await _collect(srv)
    frags = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert [(f.index, f.function.name, f.function.arguments) for f in frags] == [
        (0, "f", '{"k": 1}'), (0, "g", '{"k": 2}')]


async def test_raw_step_replays_verbatim() -> None:
    raw = RawStep([
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}}]},
        ": a comment line the client must ignore",
        b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}\n\n',
    ], done=False)
    async with LoopbackServer([raw]) as srv:
        chunks = await _collect(srv)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hello"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_responder_sync_and_async_after_fifo() -> None:
    def respond(body: dict[str, Any]) -> Step:
        return reply("echo:" + body["messages"][-1]["content"])

    async def arespond(body: dict[str, Any]) -> Step:
        await anyio.lowlevel.checkpoint()
        return reply("async:" + body["messages"][-1]["content"])

    async with LoopbackServer([reply("scripted first")], responder=respond) as srv:
        texts = []
        for q in ("one", "two"):
            chunks = await _collect(srv, messages=[{"role": "user", "content": q}])
            texts.append("".join(c.choices[0].delta.content or "" for c in chunks))
        assert texts == ["scripted first", "echo:two"]
        srv.assert_complete()
    async with LoopbackServer(responder=arespond) as srv:
        chunks = await _collect(srv, messages=[{"role": "user", "content": "q"}])
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "async:q"


async def test_strict_history_rejects_unanswered_tool_call() -> None:
    history: Any = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "and?"},
    ]
    async with LoopbackServer([reply("ok")]) as srv, _client(srv) as client:
        with pytest.raises(openai.BadRequestError, match="call_1"):
            await client.chat.completions.create(model="m", messages=history,
                                                 stream=True)
        broken: Any = [history[0], {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}]},
            {"role": "tool", "tool_call_id": "c2", "content": "r"}]
        with pytest.raises(openai.BadRequestError, match="JSON object"):
            await client.chat.completions.create(model="m", messages=broken,
                                                 stream=True)
        stray: Any = [history[0], {"role": "tool", "tool_call_id": "nope", "content": "r"}]
        with pytest.raises(openai.BadRequestError, match="preceding"):
            await client.chat.completions.create(model="m", messages=stray,
                                                 stream=True)
    async with LoopbackServer([reply("ok")], strict=False) as srv:
        chunks = await _collect(srv, messages=history)
        assert chunks[-1].choices[0].finish_reason == "stop"


async def test_many_concurrent_streams() -> None:
    n = 200

    def respond(body: dict[str, Any]) -> Step:
        q = body["messages"][-1]["content"]
        return Step(thinking=f"thinking about {q}", text=f"answer {q}")

    async with LoopbackServer(responder=respond) as srv:
        results: dict[int, str] = {}
        client = _client(srv, http_client=None)

        async def one(i: int) -> None:
            stream: Any = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": str(i)}], stream=True)
            results[i] = "".join([c.choices[0].delta.content or "" async for c in stream])

        async with client, anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(one, i)
        assert results == {i: f"answer {i}" for i in range(n)}
        assert len(srv.requests) == n
        assert all(r.outcome == "complete" for r in srv.requests)


def test_sync_context_manager_and_sync_client() -> None:
    with LoopbackServer([reply("sync ok")]) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        with client:
            stream: Any = client.chat.completions.create(model="m", messages=USER, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in stream)
        assert text == "sync ok"
        srv.assert_complete()
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.base_url
