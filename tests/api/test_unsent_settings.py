"""A setting the server dialect cannot send warns once (issue 11, item 6).

Real HTTP: the real openai client against the loopback server (port chosen by the OS, so
the auto profile is the generic one).
"""

from __future__ import annotations

import warnings

import pytest

from agentkit import Agent
from agentkit.models import OpenAICompatModel
from agentkit.testing import LoopbackServer, reply

pytestmark = pytest.mark.anyio


async def test_thinking_off_without_a_switch_warns_once() -> None:
    async with LoopbackServer([reply("a"), reply("b")]) as server:
        model = OpenAICompatModel("m", base_url=server.base_url, api_key="k", thinking=False)
        try:
            assert model.profile.name == "generic"
            agent = Agent(model)
            with pytest.warns(UserWarning, match="thinking=False has no effect.*'generic'"):
                await agent.run("one")
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                await agent.run("two")  # said once per model
        finally:
            await model.aclose()
        body = server.requests[0].body
        assert not any("thinking" in k for k in body)  # what the warning is about


@pytest.mark.parametrize(("profile", "warns"), [("vllm", True), ("dashscope", False)])
async def test_a_budget_the_profile_cannot_send_warns(profile: str, warns: bool) -> None:
    async with LoopbackServer([reply("a")]) as server:
        model = OpenAICompatModel("qwen3", base_url=server.base_url, api_key="k",
                                  profile=profile)
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                await Agent(model, thinking_budget=512).run("hi")
        finally:
            await model.aclose()
        budget_warnings = [w for w in seen if "thinking_budget=512" in str(w.message)]
        assert len(budget_warnings) == (1 if warns else 0)
        assert ("thinking_budget" in server.requests[0].body) is not warns
