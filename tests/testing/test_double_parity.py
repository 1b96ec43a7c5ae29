"""The in-process doubles and the loopback server replay a script the same way: the
assembled message from ScriptedModel equals what OpenAICompatModel builds from the wire."""

from __future__ import annotations

import pytest

from agentkit.messages import UserMessage
from agentkit.models.base import ModelRequest, ModelResponse, ModelSettings
from agentkit.testing import LoopbackServer, ScriptedModel, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio

STEPS = [
    tool_step(call("add", {"a": 2, "b": 3}, id="call_1"), call("neg", {"x": 1}, id="call_2"),
              thinking="Two calls are needed here."),
    reply("The answer is five.", thinking="Now I can answer."),
    Step(text="cut short", finish_reason="length"),
]


async def _final(model: object, request: ModelRequest) -> ModelResponse:
    events = [e async for e in model.stream(request)]  # type: ignore[attr-defined]
    final = events[-1]
    assert isinstance(final, ModelResponse)
    return final


@pytest.mark.parametrize("step", STEPS, ids=["tools", "reply", "length"])
async def test_scripted_and_wire_agree(step: Step) -> None:
    from agentkit.models import OpenAICompatModel

    request = ModelRequest(messages=[UserMessage(content="hi")], tools=[],
                           settings=ModelSettings(), thinking=True)
    scripted = await _final(ScriptedModel([step]), request)
    async with LoopbackServer([step]) as srv:
        wire_model = OpenAICompatModel("qwen3-max", base_url=srv.base_url, api_key="k")
        try:
            wired = await _final(wire_model, request)
        finally:
            await wire_model.aclose()
        srv.assert_complete()
    fields = ("content", "reasoning", "tool_calls", "finish_reason")
    assert {f: getattr(wired.message, f) for f in fields} == {
        f: getattr(scripted.message, f) for f in fields}
