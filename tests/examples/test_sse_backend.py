"""The SSE backend example, served by uvicorn on loopback and called over real HTTP."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentkit import Agent
from agentkit.models import OpenAICompatModel
from agentkit.testing import FunctionModel, LoopbackServer, call, reply, tool_step

ROOT = Path(__file__).resolve().parents[2]


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("sse_backend_example",
                                                  ROOT / "examples" / "sse_backend.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Uvicorn:
    def __init__(self, app: Any) -> None:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def read_events(client: httpx.Client, url: str, prompt: str) -> list[dict[str, Any]]:
    events = []
    with client.stream("POST", url, json={"prompt": prompt}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_streams_a_runs_events_over_sse_with_the_real_wire_model() -> None:
    example = load_example()

    def respond(body: dict[str, Any]) -> Any:
        last = body["messages"][-1]
        if last["role"] == "tool":
            return reply(f"There are {last['content']} words.", thinking="Tool said so.")
        text = last["content"]
        return tool_step(call("word_count", {"text": text}), thinking="Count them.")

    with LoopbackServer(responder=respond) as llm:
        model = OpenAICompatModel("qwen3-max", base_url=llm.base_url, api_key="k")
        agent = Agent(model, "Count words.", [example.word_count])
        with Uvicorn(example.make_app(agent)) as base, httpx.Client(timeout=20) as client:
            events = read_events(client, base + "/runs", "one two three four")
            types = [e["type"] for e in events]
            assert types[0] == "thinking_delta" and types[-1] == "run_finished"
            assert "tool_call_ready" in types and "tool_result" in types
            result = events[-1]["result"]
            assert result["output"] == "There are 4 words."
            # several runs at once, one process, one agent
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                outs = list(pool.map(
                    lambda i: read_events(client, base + "/runs", " ".join(["w"] * i))[-1],
                    range(1, 9)))
            assert [o["result"]["output"] for o in outs] == [
                f"There are {i} words." for i in range(1, 9)]
            bad = client.post(base + "/runs", json={"nope": 1})
            assert bad.status_code == 400


@pytest.mark.parametrize("status", [400])
def test_model_error_is_streamed_as_error_event(status: int) -> None:
    example = load_example()
    agent = Agent(FunctionModel(lambda m, r: reply("hi")), None, [])
    with Uvicorn(example.make_app(agent)) as base, httpx.Client(timeout=20) as client:
        events = read_events(client, base + "/runs", "hello")
        assert events[-1]["result"]["output"] == "hi"
    from agentkit.testing import Fault, Step

    with LoopbackServer([Step(fault=Fault.http_error(status))]) as llm:
        model = OpenAICompatModel("qwen3-max", base_url=llm.base_url, api_key="k")
        with Uvicorn(example.make_app(Agent(model))) as base, httpx.Client(timeout=20) as client:
            events = read_events(client, base + "/runs", "hello")
    assert events[-1]["type"] == "error" and events[-1]["kind"] == "ModelAPIError"
