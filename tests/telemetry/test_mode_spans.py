"""Each chat span says which mode its step ran in (a mode policy switches it per step)."""

from __future__ import annotations

import pytest

from agentkit import Agent, tool
from agentkit.modes import Escalate
from agentkit.testing import LoopbackServer, call, reply, tool_step

from .conftest import Captured, ModelFactory

pytestmark = pytest.mark.anyio


@tool
def explode() -> str:
    """Fails."""
    raise RuntimeError("boom")


async def test_chat_spans_carry_each_steps_mode_and_model(otel: Captured,
                                                          http_model: ModelFactory) -> None:
    steps = [tool_step(call("explode")), reply("done", thinking="think it over")]
    async with LoopbackServer(steps, models=("qwen3-max", "qwen3-max-instruct")) as server:
        model = http_model(server, instruct_model="qwen3-max-instruct")
        await Agent(model, "sys", [explode], mode=Escalate()).run("go")
    chats = sorted(otel.named("chat "), key=lambda s: s.start_time or 0)
    assert [s.attributes["agentkit.request.mode"] for s in chats] == ["instruct", "thinking"]
    assert [s.attributes["agentkit.request.thinking"] for s in chats] == [False, True]
    assert [s.attributes["gen_ai.request.model"] for s in chats] == [
        "qwen3-max-instruct", "qwen3-max"]
    assert [s.name for s in chats] == ["chat qwen3-max-instruct", "chat qwen3-max"]
