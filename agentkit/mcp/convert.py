"""MCP tools and results as agentkit sees them: names, schemas and the text a model reads."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson

from ..errors import UserError

__all__ = ["MAX_NAME", "check_name", "copy_schema", "describe_bytes", "result_text"]

MAX_NAME = 64  # the providers' limit on a tool name (OpenAI, DashScope, ...)
_NAME_OK = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_name(name: str, server: str) -> None:
    """Refuse a tool name providers reject (too long, or characters they do not accept)."""
    if len(name) > MAX_NAME:
        raise UserError(
            f"{server}: the tool name {name!r} has {len(name)} characters, over the "
            f"{MAX_NAME}-character limit of model providers; use a shorter prefix= or a server "
            "without this tool")
    if not _NAME_OK.match(name):
        raise UserError(f"{server}: the tool name {name!r} has characters model providers refuse "
                        "(allowed: letters, digits, _ . -)")


def copy_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A deep copy of a server's input schema (the server's own object is never changed)."""
    out = copy.deepcopy(schema) if schema else {}
    if "type" not in out:
        out["type"] = "object"
    out.setdefault("properties", {})
    return out


def describe_bytes(kind: str, mime: str | None, size: int) -> str:
    """A short note standing in for binary content (never base64 in the model's context)."""
    return f"[{kind} content: {mime or 'unknown type'}, {_size(size)}; not shown]"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def _b64_size(data: str | bytes) -> int:
    text = data if isinstance(data, str) else data.decode("ascii", "replace")
    return max(0, len(text) * 3 // 4 - text[-2:].count("="))


def block_text(block: Any) -> str:
    """One content block as text: text as is, binary as a note, links and resources briefly."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return describe_bytes(kind, getattr(block, "mime_type", None), _b64_size(block.data))
    if kind == "resource_link":
        name = getattr(block, "name", None)
        return f"[resource link: {block.uri}{f' ({name})' if name else ''}]"
    if kind == "resource":
        return resource_text(block.resource)
    return f"[{kind or type(block).__name__} content; not shown]"


def resource_text(contents: Any) -> str:
    """A resource's contents: its text, or a note for a blob."""
    text = getattr(contents, "text", None)
    if text is not None:
        return str(text)
    blob = getattr(contents, "blob", "") or ""
    return describe_bytes(f"resource {contents.uri}", getattr(contents, "mime_type", None),
                          _b64_size(blob))


def result_text(result: Any) -> str:
    """What the model reads for a `CallToolResult`.

    Text blocks as text, binary blocks as short notes; `structuredContent` as compact JSON
    when the text is missing or only repeats it.
    """
    blocks = list(result.content or [])
    texts = [b.text for b in blocks if getattr(b, "type", None) == "text"]
    others = [block_text(b) for b in blocks if getattr(b, "type", None) != "text"]
    structured = result.structured_content
    if structured is not None and (not texts or _same_json("\n".join(texts), structured)):
        texts = [orjson.dumps(structured).decode()]
    parts = texts + others
    return "\n".join(parts) if parts else "(no content)"


def _same_json(text: str, value: Any) -> bool:
    try:
        return bool(orjson.loads(text) == value)
    except orjson.JSONDecodeError:
        return False
