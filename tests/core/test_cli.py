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


ATTACK = "\x1b]52;c;ZXZpbA==\x07\x1b]0;owned\x07\x1b[2J\r\x9b31m\u202eevil"
RAW_CONTROLS = [chr(c) for c in range(0x20) if c not in (9, 10)] + \
    [chr(c) for c in range(0x7f, 0xa0)] + ["\u202e", "\u2028"]


def test_run_never_prints_terminal_control_sequences(tmp_path: Path) -> None:
    """Tool output, model text and thinking may carry escape sequences (clipboard writes,
    window titles, screen clears): the live view and --json print them escaped."""
    from agentkit.testing import LoopbackServer, call, reply, tool_step

    (tmp_path / "page.txt").write_text(f"hello {ATTACK}\n")
    steps = [tool_step(call("read_file", {"path": "page.txt"}), thinking=f"think {ATTACK}"),
             reply(f"answer {ATTACK}")]
    for mode in ([], ["--json"]):
        with LoopbackServer(list(steps)) as server:
            out = run("run", "go", "--base-url", server.base_url, "--api-key", "k",
                      "--profile", "dashscope", "--tools", "files", "--root", str(tmp_path),
                      *mode)
        assert out.returncode == 0, out.stderr
        leaked = [hex(ord(c)) for c in RAW_CONTROLS if c in out.stdout]
        assert leaked == [], f"{mode}: raw controls printed: {leaked}"
        if mode:
            events = [json.loads(line) for line in out.stdout.splitlines()]
            result = next(e for e in events if e["type"] == "tool_result")
            assert ATTACK in result["content"]  # JSON keeps the exact text, escaped
        else:
            assert "\\x1b]52;c;ZXZpbA==\\x07" in out.stdout  # shown, not obeyed
            assert "answer \\x1b]52" in out.stdout and "think \\x1b]52" in out.stdout
