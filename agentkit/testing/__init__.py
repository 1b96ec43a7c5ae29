"""Test doubles for agentkit, shipped for users too.

- `ScriptedModel`, `FunctionModel`: in-process `Model`s (no HTTP).
- `LoopbackServer`: a real OpenAI-compatible streaming server on 127.0.0.1 replaying the
  same scripts in DashScope's wire format, with faults and request recording.
- `PostgresServer`: a throw-away Postgres cluster on a Unix socket (session-store tests).
- `Step`, `RawStep`, `Fault`, `call`, `reply`, `tool_step`: the script vocabulary.

Attributes load lazily, so importing this package stays cheap (and never imports openai).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .loopback import RecordedRequest
    from .models import FunctionModel, ScriptedModel, ScriptExhaustedError
    from .postgres import PostgresServer
    from .render import Chunking
    from .script import Fault, RawStep, ScriptedCall, Step, call, reply, tool_step
    from .server import LoopbackServer

__all__ = [
    "Chunking",
    "Fault",
    "FunctionModel",
    "LoopbackServer",
    "PostgresServer",
    "RawStep",
    "RecordedRequest",
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedModel",
    "Step",
    "call",
    "reply",
    "tool_step",
]

_WHERE = {
    "Chunking": "render",
    "Fault": "script",
    "FunctionModel": "models",
    "LoopbackServer": "server",
    "PostgresServer": "postgres",
    "RawStep": "script",
    "RecordedRequest": "loopback",
    "ScriptExhaustedError": "models",
    "ScriptedCall": "script",
    "ScriptedModel": "models",
    "Step": "script",
    "call": "script",
    "reply": "script",
    "tool_step": "script",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
