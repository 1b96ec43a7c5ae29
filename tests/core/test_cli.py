"""The command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "agentkit"


def run(*args: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout,
                          env={**base, **(env or {})})


def test_import_is_light() -> None:
    code = ("import sys, agentkit, agentkit.tools, agentkit.sandbox, agentkit.testing;"
            "agentkit.Agent; agentkit.tool; "
            "heavy = [m for m in ('openai', 'docker', 'httpx', 'trafilatura') if m in sys.modules];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("run", "demo", "sandbox", "tau2"):
        assert cmd in out.stdout


def test_run_without_key_explains_instead_of_traceback() -> None:
    out = run("run", "hello")
    assert out.returncode == 2
    assert "DASHSCOPE_API_KEY" in out.stderr and "Traceback" not in out.stderr


def test_run_against_a_server_streams_json_events() -> None:
    from agentkit.testing import LoopbackServer, reply

    with LoopbackServer([reply("Hi there!", thinking="Greet back.")]) as server:
        out = run("run", "hello", "--base-url", server.base_url, "--api-key", "k", "--json",
                  "--profile", "dashscope")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[0] == {"step": 1, "type": "thinking_delta", "text": events[0]["text"]}
    assert events[-1]["type"] == "run_finished"
    assert events[-1]["result"]["output"] == "Hi there!"


@pytest.mark.docker
def test_demo_offline_uses_every_kind_of_tool() -> None:
    out = run("demo", "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    results = {e["name"]: e for e in events if e["type"] == "tool_result"}
    assert set(results) == {"list_files", "read_file", "code_interpreter", "fetch_url",
                            "write_file"}
    assert not any(r["is_error"] for r in results.values())
    assert '"North":4141.0' in results["code_interpreter"]["content"]
    assert "rounded to whole euros" in results["fetch_url"]["content"]
    assert "track()" not in results["fetch_url"]["content"]  # scripts stripped
    assert events[-1]["type"] == "run_finished"
