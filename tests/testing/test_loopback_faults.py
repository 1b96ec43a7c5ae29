"""Scripted faults reach the real openai client as the real exceptions."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from agentkit.testing import Fault, LoopbackServer, Step, reply

pytestmark = pytest.mark.anyio

USER: Any = [{"role": "user", "content": "hi"}]


def _client(srv: LoopbackServer, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=retries)


async def _stream_text(client: openai.AsyncOpenAI, **kw: Any) -> str:
    stream: Any = await client.chat.completions.create(model="m", messages=USER, stream=True,
                                                       **kw)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def test_429_with_retry_after_is_a_rate_limit_error() -> None:
    fault = Fault.http_error(429, headers={"Retry-After": "7"})
    async with LoopbackServer([Step(fault=fault)]) as srv, _client(srv) as client:
        with pytest.raises(openai.RateLimitError) as info:
            await _stream_text(client)
        assert info.value.status_code == 429
        assert info.value.response.headers["retry-after"] == "7"
        assert info.value.body["code"] == "limit_requests"  # type: ignore[index]
        assert srv.requests[0].outcome == "fault"


async def test_openai_retries_a_429_then_succeeds() -> None:
    steps = [Step(fault=Fault.http_error(429, headers={"Retry-After": "0"})), reply("after")]
    async with LoopbackServer(steps) as srv, _client(srv, retries=2) as client:
        assert await _stream_text(client) == "after"
        retry_counts = [r.headers["x-stainless-retry-count"] for r in srv.requests]
        assert retry_counts == ["0", "1"]
        srv.assert_complete()


async def test_500_and_dashscope_400_bodies() -> None:
    body = {"error": {"code": "invalid_parameter_error", "type": "invalid_request_error",
                      "message": "<400> InternalError.Algo.InvalidParameter: bad tools"}}
    steps = [Step(fault=Fault.http_error(500)), Step(fault=Fault.http_error(400, body))]
    async with LoopbackServer(steps) as srv, _client(srv) as client:
        with pytest.raises(openai.InternalServerError) as err500:
            await _stream_text(client)
        assert err500.value.status_code == 500
        with pytest.raises(openai.BadRequestError) as err400:
            await _stream_text(client)
        assert err400.value.response.json() == body
        assert "bad tools" in str(err400.value)


async def test_cut_mid_stream_is_a_connection_error_after_partial_output() -> None:
    step = Step(text="abcdefgh", fault=Fault.cut_after(3))
    async with LoopbackServer([step, reply("next")]) as srv, _client(srv) as client:
        seen: list[str] = []
        stream: Any = await client.chat.completions.create(model="m", messages=USER,
                                                           stream=True)
        with pytest.raises(openai.APIConnectionError):
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")
        # role chunk + 2 content deltas arrived, then the connection died without [DONE]
        assert seen == ["", "ab", "cd"]
        assert srv.requests[0].outcome == "fault"
        # the server is still healthy for the next request
        assert await _stream_text(client) == "next"


async def test_disconnect_before_response_is_a_connection_error() -> None:
    async with LoopbackServer([Step(fault=Fault.disconnect())]) as srv, _client(srv) as client:
        with pytest.raises(openai.APIConnectionError):
            await _stream_text(client)


async def test_delay_before_response_and_client_timeout() -> None:
    async with LoopbackServer([Step(text="slow", delay=0.3), reply("fast")]) as srv:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0,
                                      timeout=0.1) as client:
            with pytest.raises(openai.APITimeoutError):
                await _stream_text(client)
        async with _client(srv) as client:
            t0 = time.perf_counter()
            assert await _stream_text(client) == "fast"
            assert time.perf_counter() - t0 < 0.3


async def test_client_cancel_mid_stream_is_seen_by_server() -> None:
    step = Step(text="x" * 40, chunk_delay=0.05)
    async with LoopbackServer([step]) as srv, _client(srv) as client:
        stream: Any = await client.chat.completions.create(model="m", messages=USER,
                                                           stream=True)
        got = 0
        async for _chunk in stream:
            got += 1
            if got == 2:
                break
        await stream.close()
        recs = await srv.wait_for_async(
            lambda rs: rs[0].outcome == "client_disconnected", timeout=3)
        assert len(recs) == 1
        with pytest.raises(TimeoutError):
            srv.wait_for(lambda rs: len(rs) > 1, timeout=0.05)


async def test_chunk_delay_spaces_chunks() -> None:
    async with LoopbackServer([Step(text="abcd", chunk_delay=0.05)]) as srv, _client(srv) as c:
        t0 = time.perf_counter()
        assert await _stream_text(c) == "abcd"
        # role + 4 deltas + finish + [DONE] + terminator: at least 7 gaps of 50 ms
        assert time.perf_counter() - t0 >= 0.3


async def test_script_exhausted_is_reported() -> None:
    async with LoopbackServer([reply("only one")]) as srv, _client(srv) as client:
        assert await _stream_text(client) == "only one"
        with pytest.raises(openai.BadRequestError, match="script exhausted at request #2"):
            await _stream_text(client)
        with pytest.raises(AssertionError, match="script exhausted"):
            srv.assert_complete()


async def test_responder_errors_are_reported() -> None:
    def bad(body: dict[str, Any]) -> Step:
        raise ValueError("responder blew up")

    async with LoopbackServer(responder=bad) as srv, _client(srv) as client:
        with pytest.raises(openai.BadRequestError, match="responder blew up"):
            await _stream_text(client)
        assert srv.errors == ["responder blew up"]


def test_unused_steps_fail_assert_complete() -> None:
    with LoopbackServer([reply("a")]) as srv:
        assert srv.remaining == 1
        with pytest.raises(AssertionError, match="1 scripted step"):
            srv.assert_complete()
        srv.add_steps(reply("b"), [reply("c")])
        assert srv.remaining == 3


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault.http_error(200)
    with pytest.raises(ValueError):
        Fault.cut_after(-1)
    assert Fault.http_error(429, headers={"retry-after": "2.5"}).retry_after == 2.5
    assert Fault.http_error(429).retryable and Fault.http_error(503).retryable
    assert not Fault.http_error(400).retryable and Fault.cut_after(1).retryable
