"""A custom tool from a plain Python function, run from a script.

    python examples/custom_tool.py "What is 17% of 2,340 and the square root of that?"

Uses Qwen3-Max on DashScope when DASHSCOPE_API_KEY is set (or any OpenAI-compatible
server through OPENAI_BASE_URL / OPENAI_API_KEY). With `--offline` it runs against a
scripted Thinking-mode model on a loopback server instead.
"""

from __future__ import annotations

import math
import sys
from typing import Annotated

from pydantic import Field

from agentkit import Agent, tool
from agentkit.cli.render import EventPrinter


@tool
def calculate(
    expression: Annotated[str, Field(description="Arithmetic, e.g. '0.17 * 2340'")],
) -> float:
    """Evaluate an arithmetic expression with + - * / and parentheses."""
    allowed = set("0123456789.+-*/() ")
    if not set(expression) <= allowed or "**" in expression:
        raise ValueError(f"only digits and + - * / ( ) are allowed, got {expression!r}")
    return float(eval(expression, {"__builtins__": {}}, {}))


@tool
def square_root(x: float) -> float:
    """The square root of x.

    Args:
        x: A non-negative number.
    """
    if x < 0:
        raise ValueError("x must be non-negative")
    return math.sqrt(x)


async def main(task: str, offline: bool) -> None:
    import contextlib

    from agentkit.models import OpenAICompatModel

    stack = contextlib.AsyncExitStack()
    async with stack:
        if offline:
            from agentkit.testing import LoopbackServer, call, reply, tool_step

            server = await stack.enter_async_context(LoopbackServer([
                tool_step(call("calculate", {"expression": "0.17 * 2340"}),
                          thinking="17% of 2340: let me compute it with the tool."),
                tool_step(call("square_root", {"x": 397.8}),
                          thinking="Now the square root of 397.8."),
                reply("17% of 2,340 is 397.8; its square root is about 19.94.",
                      thinking="I have both numbers."),
            ]))
            model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="offline")
        else:
            model = OpenAICompatModel()
        agent = Agent(model, "Use the tools for arithmetic.", [calculate, square_root])
        printer = EventPrinter(sys.stdout)
        async with agent.stream(task) as stream:  # leaving the block stops the run
            async for event in stream:
                printer(event)


if __name__ == "__main__":
    import anyio

    from agentkit import UserError

    args = [a for a in sys.argv[1:] if a != "--offline"]
    task = args[0] if args else "What is 17% of 2,340, and the square root of that?"
    try:
        anyio.run(main, task, "--offline" in sys.argv)
    except UserError as exc:
        sys.exit(f"{exc}\n(or run with --offline to use a scripted model)")
