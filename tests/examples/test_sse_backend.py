"""The SSE backend example, served by uvicorn on loopback and called over real HTTP."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
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


class ServerProcess:
    """`uvicorn examples.sse_backend:app` in its own process (so it can be restarted)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.sse_backend:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=self.env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(base + "/sessions/probe", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def post_events(client: httpx.Client, url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", url, json=body) as resp:
        assert resp.status_code == 200, resp.read()
        return [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_approval_survives_a_server_restart(backend: str, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    def respond(body: dict[str, Any]) -> Any:
        last = body["messages"][-1]
        if last["role"] == "tool":
            return reply(f"Done: {last['content']}")
        return tool_step(call("publish", {"text": last["content"]}), thinking="Publish it.")

    store = (f"sqlite:///{tmp_path}/sessions.db" if backend == "sqlite"
             else request.getfixturevalue("pg_database"))
    outbox = tmp_path / "outbox"
    with LoopbackServer(responder=respond) as llm, httpx.Client(timeout=30) as client:
        env = {k: v for k, v in os.environ.items() if k != "DASHSCOPE_API_KEY"}
        env.update(OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="k", AGENTKIT_SESSIONS=store,
                   AGENTKIT_OUTBOX=str(outbox))
        with ServerProcess(env) as base:
            events = post_events(client, base + "/sessions/s1/runs", {"prompt": "hello world"})
            asks = [e for e in events if e["type"] == "approval_required"]
            assert len(asks) == 1 and asks[0]["name"] == "publish"
            assert asks[0]["arguments"] == {"text": "hello world"}
            final = events[-1]
            assert final["type"] == "run_finished" and final["result"]["status"] == "paused"
            assert "state" not in final["result"]  # the paused state stays on the server
            assert not outbox.exists()
        with ServerProcess(env) as base:  # a new process: only the store remembers
            shown = client.get(base + "/sessions/s1").json()
            assert [p["id"] for p in shown["pending_approvals"]] == [asks[0]["id"]]
            bad = client.post(base + "/sessions/s1/approvals", json={"decisions": "yes"})
            assert bad.status_code == 400
            events = post_events(client, base + "/sessions/s1/approvals",
                                 {"decisions": {asks[0]["id"]: {"kind": "approve"}}})
            types = [e["type"] for e in events]
            assert "tool_result" in types and types[-1] == "run_finished"
            assert events[-1]["result"]["status"] == "completed"
            assert events[-1]["result"]["output"] == "Done: published 11 characters"
            again = client.post(base + "/sessions/s1/approvals",
                                json={"decisions": {asks[0]["id"]: {"kind": "approve"}}})
            assert again.status_code == 409
            roles = [m["role"] for m in client.get(base + "/sessions/s1").json()["messages"]]
            assert roles == ["user", "assistant", "tool", "assistant"]
        assert len(llm.requests) == 2  # the paused step was never asked again
    assert [p.read_text() for p in outbox.iterdir()] == ["hello world"]  # published once
    assert outbox.joinpath(f"{asks[0]['id']}.txt").exists()
