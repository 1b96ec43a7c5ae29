"""The loop through the real openai client against the loopback server (real HTTP)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest

from agentkit import Agent, ModelAPIError, tool
from agentkit.events import RequestRetry, ThinkingDelta
from agentkit.models import OpenAICompatModel
from agentkit.retry import RetryPolicy
from agentkit.testing import Fault, LoopbackServer, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(max_retries=4, base_delay=0.01, max_delay=0.05)


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


async def disconnected(server: LoopbackServer) -> None:
    """Wait until the server saw the client go away (its state lives in another thread)."""
    with anyio.fail_after(5):
        while server.requests[0].outcome != "client_disconnected":  # noqa: ASYNC110
            await anyio.sleep(0.02)


_open: list[OpenAICompatModel] = []


@pytest.fixture(autouse=True)
async def close_models() -> AsyncIterator[None]:
    """Close each test's connection pools on the test's own event loop."""
    yield
    while _open:
        await _open.pop().aclose()


def model_for(server: LoopbackServer, **kw: object) -> OpenAICompatModel:
    model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="test",
                              profile="dashscope", **kw)  # type: ignore[arg-type]
    _open.append(model)
    return model


async def test_thinking_contract_on_every_request() -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2}), call("add", {"a": 3, "b": 4}),
                       thinking="two sums"),
             reply("3 and 7", thinking="done")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server, thinking=True), "sys", [add], thinking_budget=2048)
        result = await agent.run("sums?")
        assert result.output == "3 and 7"
        assert len(server.requests) == 2
        for req in server.requests:
            assert req.body["stream"] is True
            assert req.body["enable_thinking"] is True
            assert req.body["thinking_budget"] == 2048
            assert req.body["stream_options"] == {"include_usage": True}
            assert req.body["parallel_tool_calls"] is True
        # the second request carries both results, in call order, paired by id
        msgs = server.requests[1].body["messages"]
        assistant = msgs[2]
        ids = [tc["id"] for tc in assistant["tool_calls"]]
        assert [(m["role"], m["tool_call_id"], m["content"]) for m in msgs[3:]] == [
            ("tool", ids[0], "3"), ("tool", ids[1], "7")]
        assert result.usage.requests == 2 and result.usage.reasoning_tokens > 0
        server.assert_complete()


async def test_instruct_mode_still_streams_with_thinking_off() -> None:
    async with LoopbackServer([reply("fast")]) as server:
        result = await Agent(model_for(server, thinking=False)).run("hi")
        assert result.output == "fast"
        body = server.requests[0].body
        assert body["stream"] is True and body["enable_thinking"] is False


async def test_retries_over_http_honour_retry_after() -> None:
    steps = [Step(fault=Fault.http_error(429, headers={"Retry-After": "1"})),
             Step(fault=Fault.http_error(500)),
             Step(thinking="partial " * 20, text="lost", fault=Fault.cut_after(4)),
             reply("ok", thinking="fine")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), retry=FAST)
        t0 = time.monotonic()
        events = [e async for e in agent.stream("go")]
        elapsed = time.monotonic() - t0
        retries = [e for e in events if isinstance(e, RequestRetry)]
        assert [r.attempt for r in retries] == [1, 2, 3]
        assert retries[0].delay == 1.0 and elapsed >= 1.0
        result = events[-1].result  # type: ignore[union-attr]
        assert result.output == "ok" and result.usage.requests == 4
        assert len(server.requests) == 4


async def test_unreachable_server_is_a_clear_error() -> None:
    model = OpenAICompatModel("m", base_url="http://127.0.0.1:9/v1", api_key="x")
    _open.append(model)
    with pytest.raises(ModelAPIError) as err:
        await Agent(model, retry=RetryPolicy(max_retries=1, base_delay=0.01)).run("hi")
    assert err.value.retryable
    assert [m.role for m in err.value.messages] == ["user"]


async def test_leaving_the_stream_closes_the_http_request() -> None:
    step = Step(thinking="slow thought " * 40, text="never seen", chunk_delay=0.05)
    async with LoopbackServer([step]) as server:
        stream = Agent(model_for(server)).stream("go")
        async with stream:
            async for event in stream:
                if isinstance(event, ThinkingDelta):
                    break
        await disconnected(server)
        assert [m.role for m in stream.messages] == ["user"]


async def test_cancelling_the_task_mid_stream() -> None:
    step = Step(thinking="slow " * 100, chunk_delay=0.05)
    async with LoopbackServer([step]) as server:
        agent = Agent(model_for(server))
        with anyio.CancelScope() as scope:
            async def cancel_once_streaming() -> None:
                await server.wait_for_async(lambda reqs: bool(reqs), timeout=30)
                await anyio.sleep(0.2)  # a few chunks in (the whole stream takes 5 s)
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_once_streaming)
                await agent.run("go")
        assert scope.cancelled_caught, "the run must still have been streaming"
        await disconnected(server)


async def test_sdk_request_path_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the SDK's private hooks, requests go through the public `client.post`."""
    import agentkit.models.openai_compat as oc

    monkeypatch.setattr(oc, "_direct_sender", lambda client: None)
    steps = [Step(fault=Fault.http_error(429, headers={"Retry-After": "0"})),
             tool_step(call("add", {"a": 1, "b": 2}), thinking="sum"), reply("3")]
    async with LoopbackServer(steps) as server:
        model = model_for(server)
        result = await Agent(model, None, [add], retry=FAST).run("1+2?")
        assert model._send is None
        assert result.output == "3" and result.usage.requests == 3
        assert all(r.body["stream"] is True for r in server.requests)
    async with LoopbackServer([Step(fault=Fault.http_error(400))]) as server:
        with pytest.raises(ModelAPIError) as err:
            await Agent(model_for(server), retry=FAST).run("x")
        assert err.value.status_code == 400 and not err.value.retryable
