# pyright: strict
"""A new user's agent script, type-checked (mypy --strict, pyright strict) by check.py.

Each `reveal_type` line carries the expected type in a `T:` comment; lines with an `E:`
comment (and a word the error must mention) must be reported as errors by both checkers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pydantic import BaseModel
from typing_extensions import reveal_type

from agentkit import Agent, RunContext, RunResult, ToolRetry, tool
from agentkit.testing import ScriptedModel, call, tool_step


class Weather(BaseModel):
    city: str
    temperature: float


@dataclass
class Deps:
    user_name: str


@tool
def get_weather(city: str) -> Weather:
    """Current weather for a city."""
    if not city:
        raise ToolRetry("city must not be empty")
    return Weather(city=city, temperature=21.0)


@tool(retries=2)
def lookup(ctx: RunContext[Deps], key: str) -> str:
    """A value for the user."""
    return f"{ctx.deps.user_name}:{key}"


def instructions(ctx: RunContext[Deps]) -> str:
    return f"You help {ctx.deps.user_name}."


model = ScriptedModel([tool_step(call("final_result", {"city": "Paris", "temperature": 21}))])

text_agent = Agent(model, "Answer briefly.", [get_weather], temperature=0.2)
reveal_type(text_agent)  # T: Agent[str, Any]

typed_agent = Agent(model, instructions, [get_weather, lookup], output_type=Weather)
reveal_type(typed_agent)  # T: Agent[Weather, Deps]

deps_agent = Agent(model, deps_type=Deps)
reveal_type(deps_agent)  # T: Agent[str, Deps]


async def main() -> None:
    result = await typed_agent.run("Weather in Paris?", deps=Deps("ann"), max_steps=5)
    reveal_type(result)  # T: RunResult[Weather]
    reveal_type(result.output)  # T: Weather
    text = text_agent.run_sync("hi", settings={"temperature": 0.1})
    reveal_type(text.output)  # T: str
    async with typed_agent.stream("Paris?", deps=Deps("bob")) as stream:
        async for event in stream:
            if event.type == "run_finished":
                reveal_type(event.result)  # T: RunResult[Any]
    reveal_type(stream.result)  # T: RunResult[Weather] | None
    keep: RunResult[Weather] = result
    print(keep.output.city)


def misuse() -> None:
    Agent(model, temprature=0.2)  # E: temprature
    text_agent.run_sync("hi", max_step=3)  # E: max_step
    typed_agent.run_sync("hi", deps="not deps")  # E: deps
    text_agent.run_sync("hi", settings={"temprature": 1.0})  # E: settings
    text_agent.replace(max_stepz=2)  # E: max_stepz


if __name__ == "__main__":
    asyncio.run(main())
