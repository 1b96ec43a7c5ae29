"""Run errors keep the underlying failure as their cause (issue 11, item 1).

Real HTTP: the real openai client against the loopback server, and a closed port.
"""

from __future__ import annotations

import socket

import pytest

from agentkit import Agent, ModelAPIError
from agentkit.models import OpenAICompatModel
from agentkit.retry import RetryPolicy
from agentkit.testing import Fault, LoopbackServer, Step

pytestmark = pytest.mark.anyio
NO_RETRY = RetryPolicy(max_retries=0)


def chain(exc: BaseException) -> list[BaseException]:
    """The __cause__/__context__ chain, stopping (and failing) on a cycle."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None:
        assert all(cur is not s for s in seen), f"cycle in the cause chain at {cur!r}"
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
        assert len(seen) < 20
    return seen


async def run_failing(base_url: str) -> ModelAPIError:
    model = OpenAICompatModel("qwen3-max", base_url=base_url, api_key="k", profile="dashscope")
    try:
        with pytest.raises(ModelAPIError) as info:
            await Agent(model, retry=NO_RETRY).run("hi")
    finally:
        await model.aclose()
    return info.value


@pytest.mark.parametrize("status", [401, 500, 503])
async def test_http_errors_have_the_sdk_error_as_cause(status: int) -> None:
    async with LoopbackServer([Step(fault=Fault.http_error(status))]) as server:
        err = await run_failing(server.base_url)
    assert err.status_code == status
    assert err.__cause__ is not None and err.__cause__ is not err
    links = chain(err)
    import openai

    assert any(isinstance(e, openai.APIStatusError) and e.status_code == status for e in links)


async def test_connection_error_chain_reaches_the_transport_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = await run_failing(f"http://127.0.0.1:{port}/v1")
    assert err.retryable and err.__cause__ is not err
    # the transport's own ConnectError (httpx or httpx2, whichever the SDK runs on)
    links = chain(err)
    assert any(type(e).__name__ == "ConnectError" for e in links), links


async def test_disconnect_fault_chain_has_no_cycle() -> None:
    async with LoopbackServer([Step(fault=Fault.disconnect())]) as server:
        err = await run_failing(server.base_url)
    assert err.__cause__ is not err
    assert len(chain(err)) >= 2
