"""What a session costs: per step (SQLite and Postgres) against a run without one, and the
time to load a 500-message session, all measured in the same run.

A 20-step tool loop on an in-process scripted model (so the model costs almost nothing and
the difference is the store's: one commit per completed exchange, plus the lock and the load
at the start of the run). Rounds interleave the variants; figures are medians over rounds.
Postgres is a throw-away local cluster (`agentkit.testing.PostgresServer`) with its default
durability (fsync on), spoken to over a Unix socket.

    .venv/bin/python benchmarks/sessions.py [--rounds 11] [--runs 5] [--steps 20]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from agentkit import Agent, AssistantMessage, ToolCall, ToolMessage, UserMessage, tool
from agentkit.sessions import Store, open_store
from agentkit.testing import PostgresServer, ScriptedModel, call, reply, tool_step

_ids = itertools.count()


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return f"result for {query}: " + "x" * 200


def script(steps: int) -> list[Any]:
    return [tool_step(call("lookup", {"query": f"q{i}"}), thinking="Thinking. " * 30)
            for i in range(steps - 1)] + [reply("done", thinking="Done.")]


async def one_run(store: Store | None, steps: int) -> float:
    agent = Agent(ScriptedModel(script(steps)), "Look things up.", [lookup])
    session = None if store is None else store.session(f"bench-{next(_ids)}")
    t0 = time.perf_counter()
    result = await agent.run("go", session=session)
    elapsed = time.perf_counter() - t0
    assert result.steps == steps
    return elapsed


async def per_step(stores: dict[str, Store | None], rounds: int, runs: int, steps: int
                   ) -> dict[str, float]:
    """Median seconds per step of each variant."""
    samples: dict[str, list[float]] = {name: [] for name in stores}
    for store in stores.values():  # warm up: connections, tables, caches
        await one_run(store, steps)
    for _ in range(rounds):
        for name, store in stores.items():
            times = [await one_run(store, steps) for _ in range(runs)]
            samples[name].append(statistics.median(times) / steps)
    return {name: statistics.median(v) for name, v in samples.items()}


def history(n: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < n:
        i = len(out)
        out += [UserMessage(content=f"question {i} " + "y" * 80),
                AssistantMessage(content="", reasoning="Let me look. " * 20,
                                 tool_calls=[ToolCall(id=f"c{i}", name="lookup",
                                                      arguments='{"query": "q"}')]),
                ToolMessage(tool_call_id=f"c{i}", name="lookup", content="z" * 300),
                AssistantMessage(content="An answer. " * 10)]
    return out[:n]


async def start_500(rounds: int) -> float:
    """Median seconds of a one-step run given the same 500 messages as `history=`."""
    messages, times = history(500), []
    for _ in range(rounds * 3):
        agent = Agent(ScriptedModel([reply("ok")]), None, [lookup])
        t0 = time.perf_counter()
        await agent.run(None, history=messages)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def load_500(store: Store, rounds: int) -> tuple[float, float]:
    """Median seconds to load a 500-message session, and of a one-step run on it."""
    session = store.session(f"big-{next(_ids)}")
    await session.add_messages(history(500))
    loads, starts = [], []
    for _ in range(rounds * 3):
        t0 = time.perf_counter()
        messages = await session.get_messages()
        loads.append(time.perf_counter() - t0)
        assert len(messages) >= 500  # each run below adds its reply
        agent = Agent(ScriptedModel([reply("ok")]), None, [lookup])
        t0 = time.perf_counter()
        await agent.run(None, session=session)  # lock, load, repair, one step, commit
        starts.append(time.perf_counter() - t0)
    return statistics.median(loads), statistics.median(starts)


async def main(rounds: int, runs: int, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as pg_url:
        sqlite = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        memory = open_store("sqlite://")
        postgres = open_store(pg_url)
        try:
            stores: dict[str, Store | None] = {"none": None, "sqlite-file": sqlite,
                                               "sqlite-memory": memory, "postgres": postgres}
            figures = await per_step(stores, rounds, runs, steps)
            base = figures["none"]
            print(f"per step ({steps}-step tool loop, median of {rounds} rounds x {runs} runs)")
            print(f"  {'variant':<14} {'ms/step':>8} {'added ms/step':>14}")
            for name, value in figures.items():
                added = "" if name == "none" else f"{(value - base) * 1000:14.3f}"
                print(f"  {name:<14} {value * 1000:8.3f} {added}")
            print("a 500-message session: load it; a one-step run on it (lock, load, repair, "
                  "request, commit)")
            print(f"  {'store':<14} {'load ms':>8} {'1-step run ms':>14}")
            print(f"  {'none (history=)':<14} {'':>8} {await start_500(rounds) * 1000:14.2f}")
            for name, store in [("sqlite-file", sqlite), ("postgres", postgres)]:
                load, start = await load_500(store, rounds)
                print(f"  {name:<14} {load * 1000:8.2f} {start * 1000:14.2f}")
        finally:
            for store in (sqlite, memory, postgres):
                await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    anyio.run(main, args.rounds, args.runs, args.steps)
