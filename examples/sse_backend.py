"""Embed agents in an async web backend: stream runs as Server-Sent Events, keep conversations
in sessions, and let a person approve risky calls.

    pip install 'agentkit[postgres]' starlette uvicorn    # postgres only for a Postgres store
    AGENTKIT_SESSIONS=sqlite:///sessions.db uvicorn examples.sse_backend:app

Endpoints (each streamed answer is `text/event-stream`: one `data:` line per agentkit event,
as JSON, ending with `run_finished` or an `error` event):

- `POST /runs {"prompt": "..."}`: a one-off run, no history.
- `POST /sessions/{id}/runs {"prompt": "..."}`: a run in session `id` (history loaded, each
  completed exchange stored). A call that needs approval (here `publish`) streams
  `approval_required` and the run ends paused; the paused state stays on the server.
- `POST /sessions/{id}/approvals {"decisions": {"<call id>": {"kind": "approve"}}}` (or
  `{"kind": "deny", "message": "..."}`) resumes the paused run and streams the rest. The
  client only ever sends decisions by call id; a second approval of the same pause is a 409.
- `GET /sessions/{id}`: the stored messages and the calls waiting for a decision.

Sessions live in `AGENTKIT_SESSIONS` (SQLite by default; a `postgresql://...` URL for
Postgres), so a restarted server (or another replica) resumes what an earlier one paused.
Many runs share one process and one immutable `Agent`; a client that disconnects cancels its
run (the model request and any running tool stop). A real service maps its authenticated
users to session ids; this example trusts the id in the path.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentkit import Agent, AgentError, RunContext, RunFinished, UserError, tool
from agentkit.agent import AgentStream
from agentkit.messages import dump_messages
from agentkit.sessions import Store, open_store


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


@tool(needs_approval=True)
def publish(ctx: RunContext[Any], text: str) -> str:
    """Publish a text to the outbox (a person approves each call first)."""
    outbox = Path(os.environ.get("AGENTKIT_OUTBOX", "outbox"))
    outbox.mkdir(parents=True, exist_ok=True)
    try:  # the call id is the idempotency key: one call publishes at most once
        with open(outbox / f"{ctx.tool_call_id}.txt", "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        return "already published"
    return f"published {len(text)} characters"


def sse(stream: AgentStream) -> StreamingResponse:
    """Stream a run's events; the paused state is kept out (it stays on the server)."""

    async def events() -> AsyncIterator[str]:
        async with stream:
            try:
                async for event in stream:
                    exclude = {"result": {"state"}} if isinstance(event, RunFinished) else None
                    yield f"data: {event.model_dump_json(exclude=exclude)}\n\n"
            except AgentError as exc:
                error = {"type": "error", "kind": type(exc).__name__, "error": str(exc)}
                yield f"data: {json.dumps(error)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def make_app(agent: Agent[Any], store_url: str = "sqlite://") -> Starlette:
    """The app around one agent; sessions in `store_url` (default: in memory)."""
    stores: list[Store] = []

    def bad(message: str, status: int = 400) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    async def prompt_of(request: Request) -> str | None:
        body = await json_body(request)
        prompt = body.get("prompt") if body else None
        return prompt if isinstance(prompt, str) and prompt.strip() else None

    async def run(request: Request) -> Response:
        prompt = await prompt_of(request)
        if prompt is None:
            return bad("body must be {\"prompt\": \"...\"}")
        return sse(agent.stream(prompt))

    async def session_run(request: Request) -> Response:
        prompt = await prompt_of(request)
        if prompt is None:
            return bad("body must be {\"prompt\": \"...\"}")
        try:
            session = stores[0].session(request.path_params["id"])
        except UserError as exc:
            return bad(str(exc))
        return sse(agent.stream(prompt, session=session))

    async def approvals(request: Request) -> Response:
        body = await json_body(request)
        decisions = body.get("decisions") if body else None
        if not isinstance(decisions, dict) or not all(isinstance(d, dict)
                                                      for d in decisions.values()):
            return bad('body must be {"decisions": {"<call id>": {"kind": "approve"}}}')
        try:
            session = stores[0].session(request.path_params["id"])
        except UserError as exc:
            return bad(str(exc))
        if await session.paused_state() is None:
            return bad("this session has no run waiting for approval", 409)
        return sse(agent.resume_stream(session=session, decisions=decisions))

    async def show(request: Request) -> Response:
        try:
            session = stores[0].session(request.path_params["id"])
        except UserError as exc:
            return bad(str(exc))
        state = await session.paused_state()
        pending = [] if state is None else [p.model_dump(mode="json") for p in state.pending]
        return JSONResponse({"messages": dump_messages(await session.get_messages()),
                             "pending_approvals": pending})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stores.append(open_store(store_url))
        try:
            yield
        finally:
            await stores[0].aclose()
            await agent.aclose()  # release the model's connection pool with the server's loop

    return Starlette(routes=[
        Route("/runs", run, methods=["POST"]),
        Route("/sessions/{id}/runs", session_run, methods=["POST"]),
        Route("/sessions/{id}/approvals", approvals, methods=["POST"]),
        Route("/sessions/{id}", show, methods=["GET"]),
    ], lifespan=lifespan)


# The default model (Qwen3-Max on DashScope, key from DASHSCOPE_API_KEY; or OPENAI_BASE_URL
# and OPENAI_API_KEY) is created on the first run, so importing this module needs no key.
app = make_app(Agent(None, "Answer briefly. Use tools when useful.", [word_count, publish]),
               os.environ.get("AGENTKIT_SESSIONS", "sqlite:///sessions.db"))
