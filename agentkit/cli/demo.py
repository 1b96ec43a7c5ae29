"""`agentkit demo`: a real multi-step run with the built-in tools, offline by default.

With no usable API key, a SCRIPTED Thinking-mode model (clearly labelled) answers over a loopback
server that speaks DashScope's real streaming wire format; everything else is real: the
openai client, the loop, the file tools on a temporary directory, page fetch from a local
web server, and Python in the Docker sandbox. When the default model can be built
(`DASHSCOPE_API_KEY`, or `OPENAI_BASE_URL` with `OPENAI_API_KEY`), the task runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["register", "scripted_responder"]

SALES = [("region", "month", "amount_eur"), ("North", "Jan", "1200.50"), ("South", "Jan", "980"),
         ("North", "Feb", "1430.25"), ("East", "Feb", "610"), ("South", "Feb", "1105.75"),
         ("East", "Mar", "875.5"), ("North", "Mar", "1510")]
PAGE = """<html><head><title>Acme Corp: reporting rules</title><script>track()</script></head>
<body><nav>Home | Products | Careers</nav><div class="ad">Buy now!</div>
<article><h1>Reporting rules</h1>
<p>All regional sales figures are reported in euros, rounded to whole euros.</p>
<p>Reports list regions from the highest total to the lowest.</p></article>
<footer>© Acme</footer></body></html>"""
TASK = ("Using the files in your working directory: total sales.csv by region with Python, "
        "check the reporting rules on the company page at {url}, and write the report to "
        "report.md following those rules. Then summarise what you did.")

CODE = """import pandas as pd
df = pd.read_csv("sales.csv")
totals = df.groupby("region")["amount_eur"].sum().sort_values(ascending=False).round(0)
print(totals.to_json())"""


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="an offline demo: a scripted model driving real tools")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    p.add_argument("--no-sandbox", action="store_true",
                   help="skip the Docker sandbox (code then runs in a local stand-in tool)")
    p.add_argument("--offline", action="store_true",
                   help="use the scripted model even when an API key is set")
    p.set_defaults(func=_demo)


@contextlib.contextmanager
def _company_site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/reporting-rules"
    finally:
        server.shutdown()
        server.server_close()


def _tool_results(body: dict[str, Any]) -> dict[str, str]:
    """The latest result of each tool in the conversation so far."""
    names: dict[str, str] = {}
    out: dict[str, str] = {}
    for m in body.get("messages", []):
        for tc in m.get("tool_calls") or []:
            names[tc["id"]] = tc["function"]["name"]
        if m.get("role") == "tool":
            out[names.get(m.get("tool_call_id", ""), "?")] = str(m.get("content", ""))
    return out


def _totals(text: str) -> dict[str, float]:
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start:end + 1])
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def scripted_responder(url: str, code_tool: str) -> Any:
    """The demo's scripted model: the next step is a function of the conversation."""
    from agentkit.testing import Step, call

    def respond(body: dict[str, Any]) -> Step:
        done = _tool_results(body)
        if "list_files" not in done:
            return Step(thinking="The task mentions files in my working directory. Let me look "
                        "at what is there first.", tool_calls=[call("list_files", {"path": "."})])
        if "read_file" not in done:
            return Step(thinking="There is a sales.csv. I will read it to see its columns.",
                        tool_calls=[call("read_file", {"path": "sales.csv"})])
        if code_tool not in done:
            return Step(thinking="Columns are region, month, amount_eur. I'll total by region "
                        "with pandas and print JSON so I can reuse the numbers.",
                        tool_calls=[call(code_tool, {"code": CODE})])
        if "fetch_url" not in done:
            return Step(thinking="I have the totals. Before writing, the task says to follow "
                        "the reporting rules on the company page.",
                        tool_calls=[call("fetch_url", {"url": url})])
        if "write_file" not in done:
            totals = _totals(done[code_tool])
            rows = "\n".join(f"| {r} | {round(v):,} |" for r, v in totals.items())
            report = ("# Sales by region\n\nAmounts in euros, rounded to whole euros, highest "
                      f"first (per the company's reporting rules).\n\n| region | total (EUR) |"
                      f"\n|---|---|\n{rows}\n")
            return Step(thinking="The page says: euros, whole numbers, highest total first. "
                        "My totals are already sorted. Writing report.md.",
                        tool_calls=[call("write_file", {"path": "report.md",
                                                        "content": report})])
        return Step(thinking="The report is written. A short summary for the user.",
                    text="I read sales.csv, totalled the sales by region in Python, checked the "
                    "company's reporting rules (euros, whole numbers, highest first) and wrote "
                    "report.md accordingly.")

    return respond


def _local_python_tool(workdir: Path) -> Any:
    """A stand-in for `code_interpreter` when Docker is not available (labelled as such)."""
    from agentkit import tool

    @tool(name="python_local")
    def python_local(code: str) -> str:
        """Total the demo's CSV without a sandbox (a stand-in: it does not run `code`)."""
        totals: dict[str, float] = {}
        for row in csv.DictReader(io.StringIO((workdir / "sales.csv").read_text())):
            totals[row["region"]] = totals.get(row["region"], 0.0) + float(row["amount_eur"])
        ordered = dict(sorted(totals.items(), key=lambda kv: -kv[1]))
        return json.dumps({k: round(v) for k, v in ordered.items()})

    return python_local


def _live_model(offline: bool) -> Any:
    """The real default model when a key for it is set (and --offline is not), else None."""
    if offline:
        return None
    from agentkit import UserError
    from agentkit.models import OpenAICompatModel

    try:
        return OpenAICompatModel()
    except UserError:
        return None


def _demo(args: argparse.Namespace) -> int:
    import shutil

    workdir = Path(tempfile.mkdtemp(prefix="agentkit-demo-"))
    try:
        return _run_demo(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run_demo(args: argparse.Namespace, workdir: Path) -> int:
    import anyio

    from agentkit import Agent, AgentError
    from agentkit.tools import file_tools, share_workspace, web_tools

    from .render import EventPrinter

    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    with (workdir / "sales.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(SALES)
    code_tool = "code_interpreter"
    sandbox = None
    extra: list[Any] = []
    if args.no_sandbox:
        code_tool = "python_local"
        extra.append(_local_python_tool(workdir))
    else:
        try:
            from agentkit.sandbox import DockerSandbox
            from agentkit.tools import code_tools

            share_workspace(workdir)  # the sandbox user and the file tools share it
            sandbox = DockerSandbox(workspace=str(workdir))
            extra += [t for t in code_tools(sandbox=sandbox) if t.name == "code_interpreter"]
        except ImportError as exc:
            print(f"the sandbox needs the Docker SDK ({exc}): `pip install 'agentkit[sandbox]'`"
                  ", or run `agentkit demo --no-sandbox`.", file=sys.stderr)
            return 1
    live = _live_model(args.offline)

    async def main(url: str) -> None:
        from agentkit.models import OpenAICompatModel

        # fetch may reach the demo's own page on 127.0.0.1 and nothing else private
        tools = [*file_tools(workdir), *web_tools(allow=["127.0.0.1"]), *extra]
        async with contextlib.AsyncExitStack() as stack:
            if sandbox is not None:
                await stack.enter_async_context(sandbox)
            if live is not None:
                model = live
                say("agentkit demo: LIVE run on", model.name)
            else:
                from agentkit.testing import LoopbackServer

                server = await stack.enter_async_context(
                    LoopbackServer(responder=scripted_responder(url, code_tool)))
                model = OpenAICompatModel("qwen3-max (scripted)", base_url=server.base_url,
                                          api_key="offline", profile="dashscope")
                say("agentkit demo: SCRIPTED Thinking-mode model (no API key set) on a loopback "
                    "server speaking DashScope's wire format; the tools are real.")
            stack.push_async_callback(model.aclose)
            say(f"working directory: {workdir}\n")
            instructions = ("You are a careful analyst. Use the tools; Python runs in a sandbox "
                            "whose working directory is /workspace.")
            agent: Agent[Any] = Agent(model, instructions, tools, max_steps=12)
            printer = EventPrinter(sys.stdout, as_json=args.json)
            async with agent.stream(TASK.format(url=url)) as stream:
                async for event in stream:
                    printer(event)

    from agentkit.sandbox.result import SandboxError

    try:
        with _company_site() as url:
            anyio.run(main, url)
    except AgentError as exc:
        from .run import report_failure

        return report_failure(args, exc, f"demo failed: {type(exc).__name__}: {exc}", 1)
    except SandboxError as exc:
        print(f"the sandbox is not ready: {exc}\nRun `agentkit sandbox doctor`, or "
              "`agentkit demo --no-sandbox` to run the demo without Docker.", file=sys.stderr)
        return 1
    report = workdir / "report.md"
    if not report.exists():
        return 1
    say(f"\n--- {report} ---\n{report.read_text()}")
    return 0
