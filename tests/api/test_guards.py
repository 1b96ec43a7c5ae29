"""Misconfigurations fail at once with a `UserError` (issue 11, items 4 and 5)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentkit import Agent, SystemMessage, UserError, UserMessage, tool
from agentkit.testing import ScriptedModel, reply


class Answer(BaseModel):
    text: str


@tool
def final_result(text: str) -> str:
    """A user tool that happens to carry the structured-output tool's name."""
    return text


def test_user_tool_named_final_result_clashes_with_output_type() -> None:
    with pytest.raises(UserError, match="final_result"):
        Agent(ScriptedModel([]), tools=[final_result], output_type=Answer)
    with pytest.raises(UserError, match="final_result"):
        Agent(ScriptedModel([]), tools=[final_result]).replace(output_type=list[int])
    # without structured output the name is free
    assert Agent(ScriptedModel([]), tools=[final_result]).tools[0].name == "final_result"


@pytest.mark.parametrize("history", [None, [], [SystemMessage(content="be brief")]])
def test_no_prompt_and_no_history_is_a_user_error(history: list[SystemMessage] | None) -> None:
    model = ScriptedModel([reply("never sent")])
    with pytest.raises(UserError, match="nothing to answer") as info:
        Agent(model).run_sync(None, history=history)
    assert info.value.messages == []
    assert model.requests == []


def test_no_prompt_with_history_goes_on() -> None:
    model = ScriptedModel([reply("went on")])
    result = Agent(model).run_sync(None, history=[UserMessage(content="hi")])
    assert result.output == "went on"
