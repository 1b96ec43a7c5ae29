"""Mode policies and context management: what they cost and what they change.

(1) The loop's CPU per step with a long history already in the transcript (10, 200 and
    1,000 earlier exchanges), context management on (a window large enough never to
    compact: the cost of the accounting alone) against off, in the same process. The model
    is an in-process stub that answers at once, so only the loop is measured.
(2) A scripted tau2-airline-shaped task over the loopback server (real HTTP, real openai
    client): 12 tool steps with a tool error at step 5 and an invalid call at step 9, then
    an answer. A Thinking step streams ~600 reasoning tokens at ~2 ms a chunk, an Instruct
    step none. Requests, reasoning tokens and wall time per policy.
    THIS MEASURES THE MECHANICS WITH A SCRIPTED MODEL, NOT ANSWER QUALITY.

    .venv/bin/python benchmarks/modes_context.py [--steps 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import AsyncGenerator
from typing import Any

import anyio

from agentkit import Agent, ContextPolicy, Tool
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.models.base import ModelRequest, ModelResponse, ModelStreamEvent
from agentkit.modes import Always, Escalate, PlanThenAct
from agentkit.usage import Usage


async def lookup(query: str) -> str:
    """Look something up (async: no worker-thread hand-off in the measurement)."""
    return "result " + query * 4


class InstantModel:
    """Answers each request at once with one tool call (a final answer after `steps`)."""

    name = "instant"
    thinking = True

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.tokens = 0

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        last = request.messages[-1]
        done = sum(1 for m in request.messages[-2 * self.steps - 2:]
                   if isinstance(m, ToolMessage) and m.tool_call_id.startswith("n"))
        self.tokens += 60
        usage = Usage(requests=1, input_tokens=self.tokens, output_tokens=20)
        if done >= self.steps or not isinstance(last, (UserMessage, ToolMessage)):
            yield ModelResponse(AssistantMessage(content="done", finish_reason="stop"), usage)
            return
        call = ToolCall(id=f"n{done}", name="lookup", arguments=f'{{"query": "q{done}"}}')
        yield ModelResponse(AssistantMessage(tool_calls=[call], finish_reason="tool_calls"),
                            usage)


def history(n: int) -> list[Message]:
    out: list[Message] = [UserMessage(content="the task")]
    for i in range(n):
        out.append(AssistantMessage(reasoning="thinking " * 20, tool_calls=[
            ToolCall(id=f"h{i}", name="lookup", arguments='{"query": "old"}')]))
        out.append(ToolMessage(tool_call_id=f"h{i}", name="lookup", content="x" * 200))
    out.append(AssistantMessage(content="ok"))
    return out


async def cpu_per_step(n_history: int, steps: int, context: bool, runs: int) -> float:
    hist = history(n_history)
    policy = ContextPolicy(window=50_000_000, reserve=1000) if context else None
    agent = Agent(InstantModel(steps), "sys", [Tool.from_function(lookup)], context=policy,
                  max_steps=steps + 5)
    total_steps = 0
    t0 = time.process_time()
    for _ in range(runs):
        result = await agent.run("go on", history=hist)
        total_steps += result.steps
    return (time.process_time() - t0) / total_steps * 1000


async def part1(steps: int, rounds: int) -> None:
    print("(1) loop CPU per step with history, context management on vs off "
          f"(runs of {steps} steps, median of {rounds} interleaved rounds)")
    print("    (the last column: the one-time cost per run of building the view of the history,")
    print("     amortised in the per-step figures; each later step costs only its new messages)")
    print(f"{'history':>8} | {'off ms/step':>11} | {'on ms/step':>10} | {'on/off':>6} | "
          f"{'view ms':>8}")
    for n in (10, 200, 1000):
        runs = max(2, 400 // steps // (1 + n // 200))
        offs, ons = [], []
        for _ in range(rounds):
            offs.append(await cpu_per_step(n, steps, False, runs))
            ons.append(await cpu_per_step(n, steps, True, runs))
        off, on = statistics.median(offs), statistics.median(ons)
        print(f"{n:>8} | {off:>11.3f} | {on:>10.3f} | {on / off:>5.2f}x | "
              f"{view_build_ms(n):>8.3f}")


def view_build_ms(n_history: int, repeat: int = 20) -> float:
    """CPU of one `ContextManager.sync` over a transcript of `n_history` exchanges."""
    from agentkit.compaction import ContextManager

    hist = history(n_history)
    t0 = time.process_time()
    for _ in range(repeat):
        ContextManager(ContextPolicy(window=50_000_000), None).sync(hist)
    return (time.process_time() - t0) / repeat * 1000


# ------------------------------------------------------------------------------- part (2)
PLAN = 12
FAIL_TOOL, FAIL_ARGS = 5, 9


def airline_responder() -> Any:
    from agentkit.testing import Step, call

    state = {"done": 0}

    def respond(body: dict[str, Any]) -> Step:
        thinking = body.get("enable_thinking") is True
        msgs = body["messages"]
        if msgs[-1]["role"] == "user" and msgs[-1]["content"] == "book it":
            state["done"] = 0
        state["done"] += 1
        n = state["done"]
        reasoning = ("Checking the policy, the reservation and the fare rules. " * 40
                     if thinking else "")
        delay = 0.002 if thinking else 0.0
        if n > PLAN:
            return Step(text="Your flight is booked.", thinking=reasoning, chunk_delay=delay)
        if n == FAIL_ARGS and not thinking:
            return Step(thinking=reasoning, tool_calls=[call("get_reservation", '{"id": ')],
                        chunk_delay=delay)
        tool = "explode" if n == FAIL_TOOL and not thinking else "get_reservation"
        return Step(thinking=reasoning, tool_calls=[call(tool, {"id": f"R{n}"})],
                    chunk_delay=delay)

    return respond


def get_reservation(id: str) -> str:
    """A reservation by id."""
    return f"reservation {id}: 2 passengers, economy, PAR-NRT"


def explode(id: str) -> str:
    """A tool that fails."""
    raise RuntimeError("the payment service is down")


async def part2() -> None:
    from agentkit.models import OpenAICompatModel
    from agentkit.testing import Chunking, LoopbackServer

    print("\n(2) scripted tau2-airline-shaped task: 12 tool steps, a tool error at step 5 and "
          "an invalid call at step 9 (when not thinking), then the answer")
    print("    NOTE: this measures the mechanics with a scripted model, not answer quality.")
    print(f"{'policy':>22} | {'requests':>8} | {'thinking':>8} | {'instruct':>8} | "
          f"{'reasoning tok':>13} | {'wall s':>6}")
    policies: list[tuple[str, Any]] = [
        ("Always(thinking=True)", Always(True)), ("Always(thinking=False)", Always(False)),
        ("PlanThenAct()", PlanThenAct()), ("Escalate()", Escalate()),
    ]
    chunking = Chunking(reasoning_parts=100)
    async with LoopbackServer(responder=airline_responder(), chunking=chunking,
                              record=False) as server:
        for label, policy in policies:
            model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="x",
                                      profile="dashscope")
            agent = Agent(model, "Follow the airline policy.", [get_reservation, explode],
                          mode=policy, max_steps=40)
            t0 = time.perf_counter()
            result = await agent.run("book it")
            wall = time.perf_counter() - t0
            await model.aclose()
            by = result.usage.by_mode
            think = by["thinking"].requests if "thinking" in by else 0
            inst = by["instruct"].requests if "instruct" in by else 0
            print(f"{label:>22} | {result.usage.requests:>8} | {think:>8} | {inst:>8} | "
                  f"{result.usage.reasoning_tokens:>13} | {wall:>6.2f}")


async def main(steps: int, rounds: int) -> None:
    await part1(steps, rounds)
    await part2()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    anyio.run(main, args.steps, args.rounds)
