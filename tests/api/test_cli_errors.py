"""The CLI's error paths, run as real subprocesses (issue 11, items 15-19)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from agentkit.cli.render import EventPrinter
from agentkit.events import InvalidToolCall, ToolResult
from agentkit.testing import Fault, LoopbackServer, Step

BIN = Path(sys.executable).parent / "agentkit"
KEYS = ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in KEYS}
    return {**base, **extra}


def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                          env=env(**extra))


def test_no_key_is_one_message() -> None:
    out = run("run", "hello")
    assert out.returncode == 2
    assert out.stderr.count("No API key") == 1, out.stderr
    assert "DASHSCOPE_API_KEY" in out.stderr and out.stdout == ""


def test_no_key_under_json_is_a_run_failed_event() -> None:
    out = run("run", "hello", "--json")
    assert out.returncode == 2 and out.stderr == ""
    event = json.loads(out.stdout.splitlines()[-1])
    assert event["type"] == "run_failed" and event["error_type"] == "UserError"
    assert event["message"].count("No API key") == 1
    assert event["usage"]["requests"] == 0


def test_json_run_failure_ends_stdout_with_run_failed() -> None:
    with LoopbackServer([Step(fault=Fault.http_error(401))]) as server:
        out = run("run", "hello", "--json", "--base-url", server.base_url, "--api-key", "k",
                  "--profile", "dashscope")
    assert out.returncode == 1
    last = json.loads(out.stdout.splitlines()[-1])
    assert last["type"] == "run_failed" and last["error_type"] == "ModelAPIError"
    assert "HTTP 401" in last["message"] and last["usage"]["requests"] == 1


def read_some_then_close(args: list[str]) -> tuple[int, str]:
    """Run the CLI, read one line, close the pipe (as `| head -1` does); (status, stderr)."""
    proc = subprocess.Popen([str(BIN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env())
    assert proc.stdout is not None and proc.stderr is not None
    with proc, proc.stderr:
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
    return proc.returncode, err


def test_closed_pipe_exits_quietly_in_run() -> None:
    step = Step(thinking="tick " * 300, text="done", chunk_delay=0.01)
    with LoopbackServer([step]) as server:
        code, err = read_some_then_close(["run", "hi", "--json", "--base-url", server.base_url,
                                          "--api-key", "k", "--profile", "dashscope"])
    assert code == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_closed_pipe_exits_quietly_in_replay_gold() -> None:
    code, err = read_some_then_close(["tau2", "replay-gold", "--domain", "airline"])
    assert code == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_replay_gold_text_has_header_summary_and_says_which_data() -> None:
    data = Path(os.environ.get("TAU2_DATA_DIR") or
                Path(__file__).resolve().parents[3] / "shared" / "tau2" / "data")
    out = run("tau2", "replay-gold", "--domain", "mock", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split("\t")[0] == "task" and "- = the domain has no user DB" in lines[0]
    assert lines[-1].startswith(f"{len(lines) - 2} tasks of mock replayed:")
    assert f"tau2 data: {data.resolve()} (from --data-dir)" in out.stderr
    fallback = run("tau2", "replay-gold", "--domain", "mock", "--json", TAU2_DATA_DIR="")
    assert "neither --data-dir nor $TAU2_DATA_DIR" in fallback.stderr
    assert all(json.loads(line) for line in fallback.stdout.splitlines())  # stdout stays JSON


def test_an_invalid_call_is_printed_once() -> None:
    out = io.StringIO()
    printer = EventPrinter(out, color=False)
    printer(InvalidToolCall(id="c1", name="add", error="missing b", step=1))
    printer(ToolResult(id="c1", name="add", content="Error: missing b\nThe call was not run",
                       is_error=True, step=1))
    printer(ToolResult(id="c2", name="add", content="5", step=1))
    text = out.getvalue()
    assert text.count("missing b") == 1 and "← add: 5" in text
