"""The script vocabulary: helpers, serialisation, splitting, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.testing import Chunking, Fault, RawStep, Step, call, reply, tool_step
from agentkit.testing.render import split_text
from agentkit.testing.script import step_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_call_encodes_dicts_and_keeps_strings_verbatim() -> None:
    assert json.loads(call("f", {"a": [1, "é"]}).arguments) == {"a": [1, "é"]}
    assert call("f", '{"broken":').arguments == '{"broken":'
    assert call("f").arguments == "{}"
    assert call("f", {}, id="call_x").id == "call_x"
    with pytest.raises(TypeError):
        call("f", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tool_step()
    with pytest.raises(TypeError):
        Step(tool_calls=["f"])  # type: ignore[list-item]


def test_finish_reason_defaults() -> None:
    assert reply("x").effective_finish_reason == "stop"
    assert tool_step(call("f")).effective_finish_reason == "tool_calls"
    assert Step(text="x", finish_reason="length").effective_finish_reason == "length"


def test_steps_round_trip_through_json() -> None:
    steps: list[Step | RawStep] = [
        tool_step(call("f", {"a": 1}, id="c1"), call("g", "{bad"), thinking="t"),
        Step(text="x", usage={"prompt_tokens": 3}, finish_reason="length", delay=0.5,
             chunk_delay=0.01, fault=Fault.http_error(429, {"e": 1}, {"Retry-After": "2"})),
        Step(fault=Fault.cut_after(4)),
        RawStep([{"a": 1}, ": comment", b"data: \xff\n\n"], done=False, status=200,
                headers={"X-Test": "1"}),
    ]
    for s in steps:
        again = step_from_dict(json.loads(json.dumps(s.to_dict())))
        assert again == s
    with pytest.raises(ValueError):
        step_from_dict({"type": "nope"})


def test_split_text_and_chunking_round_trip() -> None:
    for text in ("", "a", "abc", "hello world, this is longer"):
        for parts in (0, 1, 3, 4, 50):
            pieces = split_text(text, parts)
            assert "".join(pieces) == text
            assert all(pieces) and len(pieces) <= max(parts, 1)
    c = Chunking.ollama(argument_parts=7)
    assert Chunking.from_dict(c.to_dict()) == c and c.argument_parts == 7


def test_import_is_light() -> None:
    code = ("import sys, agentkit.testing as t; t.LoopbackServer; t.ScriptedModel; "
            "assert 'openai' not in sys.modules and 'httpx' not in sys.modules, "
            "sorted(m for m in sys.modules if 'openai' in m or 'httpx' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
