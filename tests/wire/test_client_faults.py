"""The model client under faults, over real loopback HTTP through the real openai client.

Incomplete 200 streams, wrong-shape chunks, many concurrent first requests on one model,
and what `usage.requests` counts when a request never reached the server.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from agentkit import Agent, LimitExceeded, ModelAPIError
from agentkit.events import RequestRetry
from agentkit.messages import UserMessage
from agentkit.models import OpenAICompatModel
from agentkit.retry import RetryPolicy
from agentkit.testing import LoopbackServer, RawStep, Step, reply

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)
_open: list[OpenAICompatModel] = []


@pytest.fixture(autouse=True)
async def close_models() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


def model_at(base_url: str) -> OpenAICompatModel:
    model = OpenAICompatModel("qwen3-max", base_url=base_url, api_key="test",
                              profile="dashscope")
    _open.append(model)
    return model


def _choice(delta: Any = None, finish: Any = None) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "model": "qwen3-max",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


# -- 1. a 200 stream with no choice and no finish_reason is incomplete ------------------------
INCOMPLETE = {
    "done_only": [],
    "usage_only": [{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}],
    "empty_choices": [{"id": "c1", "choices": []}],
    "role_only": [_choice({"role": "assistant"})],
    "empty_content": [_choice({"role": "assistant", "content": ""})],
}


@pytest.mark.parametrize("chunks", INCOMPLETE.values(), ids=list(INCOMPLETE))
async def test_done_without_any_choice_is_retried_then_a_typed_error(
        chunks: list[dict[str, Any]]) -> None:
    steps = [RawStep(list(chunks)) for _ in range(FAST.max_retries + 1)]
    async with LoopbackServer(steps) as srv:
        agent = Agent(model_at(srv.base_url), "sys", retry=FAST)
        retries = []
        with pytest.raises(ModelAPIError) as info:
            async for ev in agent.stream("hello"):
                if isinstance(ev, RequestRetry):
                    retries.append(ev)
        srv.assert_complete()
    err = info.value
    assert err.retryable and "before it was complete" in str(err)
    assert len(retries) == FAST.max_retries
    assert [m.role for m in err.messages] == ["system", "user"]  # the transcript survives
    assert err.usage is not None and err.usage.requests == FAST.max_retries + 1


async def test_an_incomplete_stream_then_a_good_one_succeeds() -> None:
    async with LoopbackServer([RawStep([]), reply("fine")]) as srv:
        result = await Agent(model_at(srv.base_url), retry=FAST).run("hello")
    assert result.output == "fine" and result.usage.requests == 2


# -- 3. JSON that parses but has the wrong shape -----------------------------------------------
_ok = {"role": "assistant", "content": "x"}
MALFORMED: dict[str, Any] = {
    "choices_string": {"choices": "oops"},
    "choices_object": {"choices": {"index": 0, "delta": _ok}},
    "choices_number": {"choices": 3},
    "choice_string": {"choices": ["oops"]},
    "choice_null": {"choices": [None]},
    "delta_string": {"choices": [{"index": 0, "delta": "oops"}]},
    "delta_list": {"choices": [{"index": 0, "delta": ["a"]}]},
    "content_number": _choice({"content": 42}),
    "content_object": _choice({"content": {"text": "x"}}),
    "reasoning_object": _choice({"reasoning_content": {"text": "x"}}),
    "tool_calls_string": _choice({"tool_calls": "oops"}),
    "tool_call_number": _choice({"tool_calls": [7]}),
    "function_string": _choice({"tool_calls": [{"index": 0, "id": "c", "function": "f"}]}),
    "function_list": _choice({"tool_calls": [{"index": 0, "id": "c", "function": ["f"]}]}),
    "function_name_object": _choice(
        {"tool_calls": [{"index": 0, "id": "c", "function": {"name": {"n": 1}}}]}),
    "finish_reason_number": _choice(_ok, finish=5),
    "usage_string": {"choices": [], "usage": "lots"},
    "usage_list": {"choices": [], "usage": [1, 2]},
    "prompt_tokens_text": {"choices": [], "usage": {"prompt_tokens": "many"}},
    "completion_tokens_list": {"choices": [], "usage": {"completion_tokens": [1]}},
    "completion_tokens_negative": {"choices": [], "usage": {"completion_tokens": -4}},
    "details_string": {"choices": [], "usage": {"completion_tokens_details": "x"}},
    "reasoning_tokens_text": {"choices": [], "usage": {
        "completion_tokens_details": {"reasoning_tokens": "ten"}}},
    "cached_tokens_float": {"choices": [], "usage": {
        "prompt_tokens_details": {"cached_tokens": 1.5}}},
    "chunk_list": "data: [1, 2]",
    "chunk_string": 'data: "hello"',
    "chunk_null": "data: null",
}


@pytest.mark.parametrize("bad", MALFORMED.values(), ids=list(MALFORMED))
async def test_a_wrong_shape_chunk_is_a_retryable_error_with_the_transcript(bad: Any) -> None:
    chunks = [_choice({"role": "assistant", "content": "partial "}), bad,
              _choice({}, finish="stop")]
    steps = [RawStep(list(chunks)) for _ in range(FAST.max_retries + 1)]
    async with LoopbackServer(steps) as srv:
        with pytest.raises(ModelAPIError) as info:
            await Agent(model_at(srv.base_url), "sys", retry=FAST).run("hello")
        srv.assert_complete()  # every attempt was retried
    err = info.value
    assert err.retryable and "malformed" in str(err)
    assert [m.role for m in err.messages] == ["system", "user"]
    assert isinstance(err.messages[1], UserMessage) and err.messages[1].content == "hello"


async def test_a_malformed_chunk_then_a_good_response_recovers() -> None:
    steps: list[Step | RawStep] = [RawStep([MALFORMED["usage_string"]]), reply("recovered")]
    async with LoopbackServer(steps) as srv:
        result = await Agent(model_at(srv.base_url), retry=FAST).run("hello")
    assert result.output == "recovered" and result.usage.requests == 2


# -- 2. one HTTP client per model and event loop ----------------------------------------------
async def test_concurrent_first_requests_share_one_client(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    import openai

    built: list[Any] = []
    real = openai.AsyncOpenAI

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            built.append(self)
            super().__init__(*a, **kw)

    monkeypatch.setattr(openai, "AsyncOpenAI", Counted)  # counts, the client stays real
    n = 200
    async with LoopbackServer(responder=lambda body: reply("ok"), record=False) as srv:
        agent = Agent(model_at(srv.base_url))
        outputs: list[str] = []

        async def one() -> None:
            outputs.append((await agent.run("hi")).output)

        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one)
    assert outputs == ["ok"] * n
    assert len(built) == 1, f"{len(built)} clients were built for one model"


async def test_a_failed_client_build_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    import agentkit.models.openai_compat as oc

    model = model_at("http://127.0.0.1:9/v1")
    real = oc._import_openai
    calls = [0]

    def flaky() -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("import failed once")
        return real()

    monkeypatch.setattr(oc, "_import_openai", flaky)
    results = await _gather([model._get_client() for _ in range(5)])
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    conns = [r for r in results if not isinstance(r, BaseException)]
    assert conns and all(c is conns[0] for c in conns) and model._conn is conns[0]


async def _gather(coros: list[Any]) -> list[Any]:
    out: list[Any] = [None] * len(coros)

    async def run(i: int, c: Any) -> None:
        try:
            out[i] = await c
        except Exception as exc:
            out[i] = exc

    async with anyio.create_task_group() as tg:
        for i, c in enumerate(coros):
            tg.start_soon(run, i, c)
    return out


# -- 4. usage.requests counts what was sent ---------------------------------------------------
@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port whose accept queue is full: a connect to it hangs (nothing is ever sent)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    yield port
    for c in fillers:
        c.close()
    server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_deadline_before_sending_is_not_a_request(stalled_port: int) -> None:
    agent = Agent(model_at(f"http://127.0.0.1:{stalled_port}/v1"), timeout=0.3)
    with pytest.raises(LimitExceeded) as info:
        await agent.run("hello")
    assert info.value.limit == "timeout"
    assert info.value.usage is not None and info.value.usage.requests == 0


async def test_refused_connections_are_not_requests() -> None:
    agent = Agent(model_at(f"http://127.0.0.1:{_free_port()}/v1"), retry=FAST)
    with pytest.raises(ModelAPIError) as info:
        await agent.run("hello")
    assert info.value.retryable and "connect" in str(info.value)
    assert info.value.usage is not None and info.value.usage.requests == 0


async def test_a_deadline_after_sending_counts_the_request() -> None:
    async with LoopbackServer([Step(text="late", delay=2.0)]) as srv:
        agent = Agent(model_at(srv.base_url), timeout=0.3)
        with pytest.raises(LimitExceeded) as info:
            await agent.run("hello")
        await srv.wait_for_async(lambda rs: len(rs) == 1)
    assert info.value.usage is not None and info.value.usage.requests == 1
