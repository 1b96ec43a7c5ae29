"""Structured output: errors in good English, unusable types at Agent(...), the final-result
call out of `tool_calls` (issue 11, items 12-14)."""

from __future__ import annotations

import sys
import typing

import pytest
from pydantic import BaseModel

from agentkit import Agent, InvalidToolCallsExceeded, ToolMessage, UserError, tool
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio


class City(BaseModel):
    name: str
    population: int


@tool
def look_up(name: str) -> str:
    """Facts about a city."""
    return f"{name}: 2.1 million people"


async def test_plain_text_answers_end_with_a_clear_error() -> None:
    model = ScriptedModel([reply("Paris, about two million.") for _ in range(3)])
    with pytest.raises(InvalidToolCallsExceeded) as info:
        await Agent(model, output_type=City).run("Paris?")
    text = str(info.value)
    assert text.startswith("the model answered in plain text 3 times in a row instead of "
                           "calling 'final_result'")
    assert "invalid tool calls" not in text and "problems" not in text
    assert info.value.last_problem == "the answer was plain text, not a structured result"
    told = [m.content for m in info.value.messages if m.role == "user"][1]
    assert told.startswith("That reply cannot be used: the answer was plain text")


async def test_json_that_does_not_fit_names_the_field() -> None:
    model = ScriptedModel([reply('{"name": "Paris", "population": "many"}'),
                           reply('{"name": "Paris", "population": 2100000}')])
    result = await Agent(model, output_type=City).run("Paris?")
    assert result.output == City(name="Paris", population=2100000)
    told = model.requests[1].messages[-1].content
    assert "population: Input should be a valid integer" in told
    assert "problems" not in told


async def test_invalid_tool_calls_keep_their_own_wording() -> None:
    model = ScriptedModel([tool_step(call("look_up", {})) for _ in range(3)])
    with pytest.raises(InvalidToolCallsExceeded, match="invalid tool calls in 3 replies"):
        await Agent(model, tools=[look_up]).run("go")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="typing.TypedDict works from 3.12")
def test_unusable_output_type_fails_at_construction_with_the_reason() -> None:
    class Plain(typing.TypedDict):
        a: int

    with pytest.raises(UserError, match=r"structured output.*typing_extensions"):
        Agent(ScriptedModel([]), output_type=Plain)


def test_unschematisable_output_type_fails_at_construction() -> None:
    class Opaque:  # no pydantic schema
        pass

    with pytest.raises(UserError, match="cannot be used for structured output"):
        Agent(ScriptedModel([]), output_type=Opaque)


async def test_final_result_is_the_output_not_a_tool_call() -> None:
    model = ScriptedModel([
        tool_step(call("look_up", {"name": "Paris"})),
        tool_step(call("final_result", {"name": "Paris"})),  # invalid: no population
        tool_step(call("final_result", {"name": "Paris", "population": 2100000})),
    ])
    result = await Agent(model, tools=[look_up], output_type=City).run("Paris?")
    assert result.output.population == 2100000
    assert [r.name for r in result.tool_calls] == ["look_up"]
    # the transcript still answers every call, final_result included
    answered = [m.name for m in result.messages if isinstance(m, ToolMessage)]
    assert answered == ["look_up", "final_result", "final_result"]


async def test_wrapped_output_types_take_a_result_argument() -> None:
    model = ScriptedModel([tool_step(call("final_result", {"result": [1, 2]}))])
    result = await Agent(model, output_type=list[int]).run("numbers")
    assert result.output == [1, 2]
    spec = model.requests[0].tools[0]
    assert spec.name == "final_result" and spec.parameters["required"] == ["result"]
