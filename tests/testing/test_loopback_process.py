"""LoopbackServer in a separate process (for benchmarks) and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from agentkit.testing import Fault, LoopbackServer, RawStep, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
USER: Any = [{"role": "user", "content": "ping"}]


async def test_process_mode_streams_records_and_takes_new_steps() -> None:
    steps = [tool_step(call("f", {"a": 1}, id="call_p"), thinking="hm"),
             Step(fault=Fault.http_error(429, headers={"Retry-After": "1"}))]
    async with LoopbackServer(steps, process=True) as srv:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k",
                                      max_retries=0) as client:
            stream: Any = await client.chat.completions.create(model="m", messages=USER,
                                                               stream=True)
            chunks = [c async for c in stream]
            ids = [tc.id for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
            assert ids[0] == "call_p"
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="m", messages=USER,
                                                     stream=True)
            srv.add_steps(RawStep([{"id": "r", "object": "chat.completion.chunk", "created": 0,
                                    "model": "m", "choices": [{"index": 0, "delta": {
                                        "content": "raw"}, "finish_reason": "stop"}]}]))
            stream = await client.chat.completions.create(model="m", messages=USER,
                                                          stream=True)
            assert [c.choices[0].delta.content async for c in stream] == ["raw"]
        recs = srv.requests
        assert [r.outcome for r in recs] == ["complete", "fault", "complete"]
        assert recs[0].body["messages"] == USER
        srv.assert_complete()
        srv.clear_requests()
        assert srv.requests == []


async def test_process_mode_named_responder() -> None:
    srv = LoopbackServer(responder="agentkit.testing.responders:tool_then_echo", process=True)
    tools: Any = [{"type": "function", "function": {"name": "probe", "parameters": {}}}]
    async with srv, openai.AsyncOpenAI(base_url=srv.base_url, api_key="k",
                                       max_retries=0) as client:
        first = await client.chat.completions.create(model="m", messages=USER, tools=tools)
        tc: Any = first.choices[0].message.tool_calls
        assert tc is not None and tc[0].function.name == "probe"
        history = [*USER, first.choices[0].message.model_dump(exclude_none=True),
                   {"role": "tool", "tool_call_id": tc[0].id, "content": "pong"}]
        second = await client.chat.completions.create(model="m", messages=history, tools=tools)
        assert second.choices[0].message.content == "echo: pong"
    with pytest.raises(TypeError):
        LoopbackServer(responder=lambda b: reply("x"), process=True)


def test_command_line_prints_port_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "steps.json"
    script.write_text(json.dumps([reply("from cli").to_dict()]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentkit.testing.server", "--script", str(script),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k",
                               max_retries=0)
        with client:
            r = client.chat.completions.create(model="m", messages=USER)
        assert r.choices[0].message.content == "from cli"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Warning" not in err, err
