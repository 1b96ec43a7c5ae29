"""Embed agents in an async web backend: stream a run's events as Server-Sent Events.

    pip install starlette uvicorn
    uvicorn examples.sse_backend:app

POST /runs {"prompt": "..."} answers `text/event-stream`: one `data:` line per agentkit
event (JSON), ending with the `run_finished` event. Many runs share one process and one
immutable `Agent`; a client that disconnects cancels its run (the model request and any
running tool stop).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentkit import Agent, AgentError, tool


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


def make_app(agent: Agent[Any]) -> Starlette:
    async def run(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            return JSONResponse({"error": "body must be {\"prompt\": \"...\"}"}, status_code=400)

        async def events() -> AsyncIterator[str]:
            stream = agent.stream(prompt)
            async with stream:
                try:
                    async for event in stream:
                        yield f"data: {event.model_dump_json()}\n\n"
                except AgentError as exc:
                    error = {"type": "error", "kind": type(exc).__name__, "error": str(exc)}
                    yield f"data: {json.dumps(error)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await agent.aclose()  # release the model's connection pool with the server's loop

    return Starlette(routes=[Route("/runs", run, methods=["POST"])], lifespan=lifespan)


# The default model (Qwen3-Max on DashScope, key from DASHSCOPE_API_KEY) is created on the
# first run, so importing this module needs no key.
app = make_app(Agent(None, "Answer briefly. Use tools when useful.", [word_count]))
