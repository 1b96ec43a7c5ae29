"""Tool-call argument repair.

`parse_arguments` tries, in order: strict JSON; relaxed JSON (single-quoted strings,
trailing commas); a Python literal (objects only). It never completes cut-off text:
`complete_partial_json` exists only to *show* arguments while they stream.
"""

from __future__ import annotations

import ast
from typing import Any

import orjson

__all__ = [
    "ArgumentsError",
    "complete_partial_json",
    "is_unterminated_json",
    "parse_arguments",
    "preview_arguments",
    "relax_json",
]

_MAX_LITERAL_CHARS = 1_000_000


class ArgumentsError(ValueError):
    """Arguments that cannot be turned into a JSON object. `truncated`: they were cut off."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


def parse_arguments(raw: str | None) -> tuple[dict[str, Any], str]:
    """The arguments as a dict plus valid JSON text for them.

    Empty or null arguments are `{}`. When `raw` is already a strict JSON object it is
    returned unchanged as the text. Raises `ArgumentsError` otherwise.
    """
    if raw is None:
        return {}, "{}"
    text = raw.strip()
    if not text or text == "null":
        return {}, "{}"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        if isinstance(value, dict):
            return value, text
        return _object_from(value, raw)
    value = _relaxed(text)
    if value is None:
        value = _python_literal(text)
    if value is None:
        if is_unterminated_json(text):
            raise ArgumentsError("the arguments are cut off (unterminated JSON)", truncated=True)
        raise ArgumentsError(f"the arguments are not valid JSON: {_clip(text)}")
    return _object_from(value, raw)


def _object_from(value: Any, raw: str) -> tuple[dict[str, Any], str]:
    if value is None:
        return {}, "{}"
    if isinstance(value, str):  # double-encoded: a JSON string holding the object
        inner = value.strip()
        if inner.startswith("{"):
            return parse_arguments(inner)
    if not isinstance(value, dict):
        raise ArgumentsError(
            f"the arguments must be a JSON object, got {type(value).__name__}: {_clip(raw)}")
    return value, orjson.dumps(value).decode()


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def relax_json(text: str) -> str:
    """Rewrite single-quoted strings as JSON strings and drop trailing commas."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == '"':
                    break
                j += 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "'":
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != "'":
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    buf.append("'" if nxt == "'" else "\\" + nxt)
                    j += 2
                    continue
                buf.append('\\"' if text[j] == '"' else text[j])
                j += 1
            out.append('"' + "".join(buf) + '"')
            i = j + 1
        elif c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                i = j  # drop the trailing comma
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _relaxed(text: str) -> Any:
    if "'" not in text and "," not in text:
        return None
    try:
        return orjson.loads(relax_json(text))
    except orjson.JSONDecodeError:
        return None


def _python_literal(text: str) -> Any:
    if not text.startswith("{") or len(text) > _MAX_LITERAL_CHARS:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    try:  # tuples become lists; sets, bytes, complex numbers are refused
        return orjson.loads(orjson.dumps(value, default=_jsonable))
    except (TypeError, orjson.JSONEncodeError):
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _scan(text: str) -> tuple[list[str], bool]:
    """Open brackets still pending and whether a string is open, quote/escape aware."""
    stack: list[str] = []
    in_str = False
    esc = False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]" and stack:
            stack.pop()
    return stack, in_str


def is_unterminated_json(text: str) -> bool:
    """True when `text` looks like the start of a JSON value that was cut off."""
    text = text.strip()
    if not text or text[0] not in "{[":
        return False
    stack, in_str = _scan(text)
    return bool(stack) or in_str


def complete_partial_json(text: str) -> str:
    """Close what is open in a JSON prefix so it parses; for live display only."""
    text = text.strip()
    if not text:
        return "{}"
    stack, in_str = _scan(text)
    out = text
    if in_str:
        if out.endswith("\\"):
            out = out[:-1]
        out += '"'
    stripped = out.rstrip()
    while stripped and stripped[-1] in ",:":
        stripped = stripped[:-1].rstrip()
        if stripped.endswith('"') and stripped[-1] == '"' and _dangling_key(stripped):
            stripped = _drop_last_string(stripped)
    out = stripped
    if out.endswith('"') and _dangling_key(out):
        out = _drop_last_string(out).rstrip().rstrip(",")
    return out + "".join(reversed(stack))


def _dangling_key(text: str) -> bool:
    """A string ends the text right after `{` or `,` inside an object: a key without value."""
    start = _last_string_start(text)
    if start is None:
        return False
    before = text[:start].rstrip()
    if not before or before[-1] not in "{,":
        return False
    stack, _ = _scan(before)
    return bool(stack) and stack[-1] == "}"


def _last_string_start(text: str) -> int | None:
    i = len(text) - 2
    while i >= 0:
        if text[i] == '"':
            k, j = 0, i - 1
            while j >= 0 and text[j] == "\\":
                k += 1
                j -= 1
            if k % 2 == 0:
                return i
        i -= 1
    return None


def _drop_last_string(text: str) -> str:
    start = _last_string_start(text)
    return text if start is None else text[:start]


def preview_arguments(raw: str) -> dict[str, Any] | None:
    """Best-effort view of streaming arguments (None if nothing usable yet)."""
    try:
        value = orjson.loads(complete_partial_json(raw))
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
