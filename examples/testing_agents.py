"""Testing your agents without a model server: the three doubles in `agentkit.testing`.

- `ScriptedModel`: the model as a list of steps (thinking, text, tool calls), in process.
- `FunctionModel`: the model as a function of the conversation, in process.
- `LoopbackServer`: a real OpenAI-compatible streaming HTTP server on 127.0.0.1 that replays
  the same steps through the real `openai` client, injects faults and records each request.

Run it: `python examples/testing_agents.py` (each check prints one line; no key, no network).
"""

from __future__ import annotations

import anyio
from pydantic import BaseModel

from agentkit import Agent, ToolRetry, tool
from agentkit.messages import Message, ToolMessage
from agentkit.models import ModelRequest, OpenAICompatModel
from agentkit.retry import RetryPolicy
from agentkit.testing import (
    Fault,
    FunctionModel,
    LoopbackServer,
    ScriptedModel,
    Step,
    call,
    reply,
    tool_step,
)


@tool(retries=2)
def convert(amount: float, currency: str) -> float:
    """Convert an amount of euros to another currency.

    Args:
        amount: Euros, positive.
        currency: "USD" or "GBP".
    """
    if amount <= 0:
        raise ToolRetry("amount must be positive")
    return round(amount * {"USD": 1.08, "GBP": 0.85}[currency], 2)


class Quote(BaseModel):
    currency: str
    value: float


async def scripted() -> None:
    """Steps in order; the model's bad first call is retried through ToolRetry."""
    model = ScriptedModel([
        tool_step(call("convert", {"amount": -5, "currency": "USD"}), thinking="Convert."),
        tool_step(call("convert", {"amount": 5, "currency": "USD"}), thinking="Positive now."),
        tool_step(call("final_result", {"currency": "USD", "value": 5.4})),
    ])
    agent = Agent(model, "You convert money.", [convert], output_type=Quote)
    result = await agent.run("5 EUR in USD?")
    model.assert_complete()  # every scripted step was used
    assert result.output == Quote(currency="USD", value=5.4)
    assert [r.result for r in result.tool_calls] == [
        "amount must be positive\nFix the arguments and call 'convert' again.", "5.4"]
    print(f"ScriptedModel: {result.output!r} after {len(model.requests)} requests")


def answer(messages: list[Message], request: ModelRequest) -> Step | str:
    """A model that calls the tool once, then answers from the tool's result."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return tool_step(call("convert", {"amount": 10, "currency": "GBP"}))
    return f"10 EUR is {results[-1].content} GBP."


async def function_model() -> None:
    model = FunctionModel(answer)
    result = await Agent(model, tools=[convert]).run("10 EUR in GBP?")
    assert result.output == "10 EUR is 8.5 GBP."
    assert [t.name for t in model.requests[0].tools] == ["convert"]  # what the model was told
    print(f"FunctionModel: {result.output!r}")


async def loopback() -> None:
    """Real HTTP: a 429 with Retry-After and a stream cut midway, both retried by the loop."""
    steps = [
        Step(fault=Fault.http_error(429, headers={"Retry-After": "0"})),
        Step(thinking="partial", text="lost", fault=Fault.cut_after(2)),
        tool_step(call("convert", {"amount": 1, "currency": "USD"})),
        reply("1 EUR is 1.08 USD."),
    ]
    async with LoopbackServer(steps) as server:
        model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="test",
                                  profile="dashscope")
        agent = Agent(model, tools=[convert], retry=RetryPolicy(base_delay=0.01))
        try:
            async with agent.stream("1 EUR in USD?") as stream:
                kinds = [event.type async for event in stream]
        finally:
            await model.aclose()
        server.assert_complete()
    assert kinds.count("request_retry") == 2 and kinds[-1] == "run_finished"
    assert stream.result is not None and stream.result.output == "1 EUR is 1.08 USD."
    outcomes = [r.outcome for r in server.requests]
    assert outcomes == ["fault", "fault", "complete", "complete"], outcomes
    assert all(r.body["stream"] is True for r in server.requests)  # what went on the wire
    print(f"LoopbackServer: {stream.result.output!r}; request outcomes {outcomes}")


async def main() -> None:
    await scripted()
    await function_model()
    await loopback()


if __name__ == "__main__":
    anyio.run(main)
