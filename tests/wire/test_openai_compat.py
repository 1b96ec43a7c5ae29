"""OpenAICompatModel over real HTTP: configuration, errors, retries, cancellation."""

from __future__ import annotations

import email.utils
import os
import socket
import subprocess
import sys
import time
from typing import Any

import anyio
import pytest

from agentkit.errors import ModelAPIError, UserError
from agentkit.messages import UserMessage
from agentkit.models import ModelRequest, ModelResponse, ModelSettings, OpenAICompatModel, ToolSpec
from agentkit.models.base import ModelStreamEvent, ReasoningPart
from agentkit.retry import parse_retry_after
from agentkit.testing import Fault, LoopbackServer, RawStep, Step, reply
from agentkit.wire import DASHSCOPE_DEFAULT_BASE_URL

TOOLS = [ToolSpec("get_weather", "Weather.", {"type": "object",
                                              "properties": {"city": {"type": "string"}}})]
ENV_KEYS = ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTKIT_MODEL",
            "DEEPSEEK_API_KEY", "MOONSHOT_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


def _request(settings: ModelSettings | None = None, thinking: bool | None = None) -> ModelRequest:
    return ModelRequest([UserMessage(content="hi")], TOOLS, settings or ModelSettings(),
                        thinking=thinking)


async def _drain(model: OpenAICompatModel, request: ModelRequest | None = None,
                 ) -> list[ModelStreamEvent]:
    return [e async for e in model.stream(request or _request())]


def test_defaults_are_qwen3_max_on_dashscope(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    model = OpenAICompatModel()
    assert model.name == "qwen3-max"
    assert model.base_url == DASHSCOPE_DEFAULT_BASE_URL
    assert model.profile.name == "dashscope"
    assert model.thinking is True
    body = model.build_body(_request())
    assert body["stream"] is True and body["enable_thinking"] is True
    assert body["parallel_tool_calls"] is True


def test_missing_key_is_a_user_error_that_says_how_to_fix_it() -> None:
    with pytest.raises(UserError) as info:
        OpenAICompatModel()
    assert "DASHSCOPE_API_KEY" in str(info.value)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        OpenAICompatModel("gpt-5", base_url="https://api.openai.com/v1")


def test_openai_env_vars_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.deepseek.com/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ds")
    model = OpenAICompatModel("deepseek-chat")
    assert model.base_url == "https://api.deepseek.com/v1"
    assert model.profile.name == "deepseek"
    assert model._api_key == "sk-ds"


def test_local_servers_need_no_key() -> None:
    model = OpenAICompatModel("qwen3", base_url="http://127.0.0.1:11434/v1")
    assert model.profile.name == "ollama"
    assert OpenAICompatModel("m", base_url="http://localhost:8000/v1").profile.name == "vllm"


def test_profile_overrides_and_thinking_budget_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "k")
    model = OpenAICompatModel(profile_overrides={"max_thinking_budget": 1000})
    body = model.build_body(_request(ModelSettings(thinking_budget=50_000,
                                                   reasoning_effort="high")))
    assert body["thinking_budget"] == 1000
    assert "reasoning_effort" not in body  # never together with thinking_budget
    off = model.build_body(_request(thinking=False))
    assert off["enable_thinking"] is False and "thinking_budget" not in off
    default_model = OpenAICompatModel(settings=ModelSettings(thinking_budget=100_000))
    assert default_model.build_body(_request())["thinking_budget"] == 38912


def test_import_agentkit_does_not_import_openai() -> None:
    code = ("import sys, agentkit, agentkit.models, agentkit.wire, agentkit.models.openai_compat;"
            "print('openai' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.anyio
async def test_http_errors_map_to_model_api_error() -> None:
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    steps = [
        Step(fault=Fault.http_error(401)),
        Step(fault=Fault.http_error(404, {"error": {"message": "model qwen9 not found"}})),
        Step(fault=Fault.http_error(500)),
        Step(fault=Fault.http_error(503, None, {"Retry-After": date})),
        Step(fault=Fault.http_error(429, None, {"Retry-After": "2"})),
    ]
    async with LoopbackServer(steps) as srv:
        model = OpenAICompatModel(base_url=srv.base_url, api_key="k", profile="dashscope")
        errors = []
        for _ in steps:
            with pytest.raises(ModelAPIError) as info:
                await _drain(model)
            errors.append(info.value)
        await model.aclose()
        srv.assert_complete()
        assert len(srv.requests) == len(steps)  # the SDK never retried by itself
    assert [(e.status_code, e.retryable) for e in errors] == [
        (401, False), (404, False), (500, True), (503, True), (429, True)]
    assert "model qwen9 not found" in str(errors[1])
    assert errors[3].retry_after is not None and 25 < errors[3].retry_after <= 30
    assert errors[4].retry_after == 2


@pytest.mark.anyio
@pytest.mark.parametrize("fault", [Fault.cut_after(2), Fault.disconnect()])
async def test_broken_connections_are_retryable(fault: Fault) -> None:
    async with LoopbackServer([Step(thinking="a b c d", text="hello", fault=fault)]) as srv:
        model = OpenAICompatModel(base_url=srv.base_url, api_key="k", profile="dashscope")
        with pytest.raises(ModelAPIError) as info:
            await _drain(model)
        await model.aclose()
    assert info.value.retryable


@pytest.mark.anyio
async def test_connection_refused_and_timeouts_are_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAICompatModel(base_url=f"http://127.0.0.1:{port}/v1", api_key="k")
    with pytest.raises(ModelAPIError) as info:
        await _drain(model)
    assert info.value.retryable
    async with LoopbackServer([Step(text="late", delay=3.0)]) as srv:
        model = OpenAICompatModel(base_url=srv.base_url, api_key="k", profile="dashscope")
        started = time.monotonic()
        with pytest.raises(ModelAPIError) as info:
            await _drain(model, _request(ModelSettings(request_timeout=0.3)))
        assert time.monotonic() - started < 2.5
        await model.aclose()
    assert info.value.retryable and "timed out" in str(info.value)


@pytest.mark.anyio
async def test_stopping_early_closes_the_response_promptly() -> None:
    chunks: list[Any] = [{"choices": [{"index": 0, "delta": {"reasoning_content": f"t{i} "}}]}
                         for i in range(200)]
    async with LoopbackServer([RawStep(chunks, chunk_delay=0.02)]) as srv:
        model = OpenAICompatModel(base_url=srv.base_url, api_key="k", profile="dashscope")
        stream = model.stream(_request())
        first = await stream.__anext__()
        assert isinstance(first, ReasoningPart)
        started = time.monotonic()
        await stream.aclose()  # type: ignore[attr-defined]
        assert time.monotonic() - started < 0.5
        await srv.wait_for_async(lambda rs: rs[0].outcome == "client_disconnected", 3.0)
        await model.aclose()


@pytest.mark.anyio
async def test_cancelling_the_task_closes_the_response() -> None:
    chunks: list[Any] = [{"choices": [{"index": 0, "delta": {"content": "x"}}]}
                         for _ in range(300)]
    async with LoopbackServer([RawStep(chunks, chunk_delay=0.02)]) as srv:
        model = OpenAICompatModel(base_url=srv.base_url, api_key="k", profile="dashscope")
        seen: list[ModelStreamEvent] = []

        async def consume() -> None:
            async for event in model.stream(_request()):
                seen.append(event)

        with anyio.move_on_after(0.3):
            await consume()
        assert seen and not isinstance(seen[-1], ModelResponse)
        await srv.wait_for_async(lambda rs: rs[0].outcome == "client_disconnected", 3.0)
        await model.aclose()


@pytest.mark.anyio
async def test_one_client_is_reused_across_requests() -> None:
    async with LoopbackServer([reply("one"), reply("two")]) as srv:
        model = OpenAICompatModel(base_url=srv.base_url, api_key="k", profile="dashscope")
        a = await _drain(model)
        b = await _drain(model)
        await model.aclose()
        recs = srv.requests
    assert isinstance(a[-1], ModelResponse) and a[-1].message.content == "one"
    assert isinstance(b[-1], ModelResponse) and b[-1].message.content == "two"
    assert recs[0].connection == recs[1].connection  # keep-alive connection reused
    assert recs[0].headers["authorization"] == "Bearer k"


def test_retry_after_parsing() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
