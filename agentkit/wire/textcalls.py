"""Tool calls written as text: Hermes JSON blocks and Qwen3-Coder XML.

`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` and
`<tool_call><function=NAME><parameter=P>value</parameter></function></tool_call>`.
`BlockScanner` finds where one block ends, incrementally and quote/escape aware for JSON
(a literal `</tool_call>` inside a JSON string does not end the call). `parse_block`
turns a block body into a call; XML values are typed by the tool's JSON schema.
A block that is not a well-formed call to a known tool is not a call (`None`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .repair import ArgumentsError, parse_arguments

__all__ = [
    "CLOSE_TAG",
    "OPEN_TAG",
    "BlockScanner",
    "TextCall",
    "coerce_xml_value",
    "extract_text_calls",
    "parse_block",
]

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"

_JSON_OUTSIDE = re.compile(r'[{}"]')
_JSON_INSIDE = re.compile(r'["\\]')
_FUNC_RE = re.compile(r"<function=([^>\n]+)>")
_PARAM_RE = re.compile(r"<parameter=([^>\n]+)>(.*?)</parameter>", re.DOTALL)
_NAME_RE = re.compile(r'"name"\s*:\s*"([^"\\]+)"')


@dataclass(slots=True)
class TextCall:
    """A call parsed from markup: `arguments` is JSON text, or `error` says why it is broken."""

    name: str
    arguments: str
    error: str | None = None


class BlockScanner:
    """Finds the end of one `<tool_call>` block; feed the text that follows the open tag.

    `feed` returns the index just past the block (closing tag included, if any) in the
    text fed so far, `None` while undecided, or `-1` when the text is not a call at all.
    """

    __slots__ = ("_body_end", "_buf", "_depth", "_esc", "_in_str", "_kind", "_pos")

    def __init__(self) -> None:
        self._buf = ""
        self._kind = ""  # "", "json", "xml"
        self._pos = 0
        self._depth = 0
        self._in_str = False
        self._esc = False
        self._body_end = -1

    @property
    def text(self) -> str:
        return self._buf

    def feed(self, text: str) -> int | None:
        self._buf += text
        buf = self._buf
        if not self._kind:
            stripped = buf.lstrip()
            if not stripped:
                return None
            if stripped[0] == "{":
                self._kind = "json"
                self._pos = len(buf) - len(stripped)
            elif stripped.startswith("<function="):
                self._kind = "xml"
            elif "<function=".startswith(stripped[:10]):
                return None
            else:
                return -1
        if self._kind == "json":
            return self._feed_json()
        return self._feed_xml()

    def _feed_json(self) -> int | None:
        buf = self._buf
        n = len(buf)
        if self._body_end < 0:
            pos, depth, in_str, esc = self._pos, self._depth, self._in_str, self._esc
            while pos < n:
                if esc:
                    esc = False
                    pos += 1
                    continue
                if in_str:
                    m = _JSON_INSIDE.search(buf, pos)
                    if m is None:
                        pos = n
                        break
                    pos = m.end()
                    if m.group() == "\\":
                        esc = True
                    else:
                        in_str = False
                    continue
                m = _JSON_OUTSIDE.search(buf, pos)
                if m is None:
                    pos = n
                    break
                pos = m.end()
                c = m.group()
                if c == '"':
                    in_str = True
                elif c == "{":
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        self._body_end = pos
                        break
            self._pos, self._depth, self._in_str, self._esc = pos, depth, in_str, esc
            if self._body_end < 0:
                return None
        rest = buf[self._body_end:]
        stripped = rest.lstrip()
        if not stripped:
            return None
        skipped = len(rest) - len(stripped)
        if stripped.startswith(CLOSE_TAG):
            return self._body_end + skipped + len(CLOSE_TAG)
        if CLOSE_TAG.startswith(stripped):
            return None
        return self._body_end  # closing tag missing: the block ends with the object

    def _feed_xml(self) -> int | None:
        buf = self._buf
        start = max(0, self._pos - len(CLOSE_TAG))
        i = buf.find(CLOSE_TAG, start)
        if i < 0:
            self._pos = len(buf)
            return None
        self._body_end = i
        return i + len(CLOSE_TAG)

    def finish(self) -> int | None:
        """At end of stream: the block end if the body is complete without a closing tag."""
        if self._kind == "json" and self._body_end >= 0:
            return self._body_end
        if self._kind == "xml" and "</function>" in self._buf:
            self._body_end = len(self._buf)
            return self._body_end
        return None

    def body(self) -> str:
        return self._buf[: self._body_end] if self._body_end >= 0 else self._buf


def parse_block(body: str, tools: Mapping[str, Mapping[str, Any]],
                complete: bool = True) -> TextCall | None:
    """A call from a block body, or None when it is not a call to a known tool.

    `tools` maps tool names to their JSON schemas (`parameters`). `complete=False` means
    the block was cut off: a recognisable call comes back with `error` set.
    """
    text = body.strip()
    if text.startswith("{"):
        return _parse_json_block(text, tools, complete)
    if text.startswith("<function="):
        return _parse_xml_block(text, tools, complete)
    return None


def _parse_json_block(text: str, tools: Mapping[str, Mapping[str, Any]],
                      complete: bool) -> TextCall | None:
    if not complete:
        m = _NAME_RE.search(text)
        if m and m.group(1).strip() in tools:
            return TextCall(m.group(1).strip(), text, "the tool call was cut off")
        return None
    try:
        obj, _ = parse_arguments(text)
    except ArgumentsError as exc:
        m = _NAME_RE.search(text)
        if m and m.group(1).strip() in tools:
            return TextCall(m.group(1).strip(), text, str(exc))
        return None
    name = obj.get("name")
    if not isinstance(name, str) or name.strip() not in tools:
        return None
    name = name.strip()
    args = obj.get("arguments", obj.get("parameters"))
    if isinstance(args, dict):
        return TextCall(name, orjson.dumps(args).decode())
    if args is None:
        return TextCall(name, "{}")
    if isinstance(args, str):
        try:
            return TextCall(name, parse_arguments(args)[1])
        except ArgumentsError as exc:
            return TextCall(name, args, str(exc))
    return TextCall(name, orjson.dumps(args).decode(), "the arguments must be a JSON object")


def _parse_xml_block(text: str, tools: Mapping[str, Mapping[str, Any]],
                     complete: bool) -> TextCall | None:
    m = _FUNC_RE.match(text)
    if m is None:
        return None
    name = m.group(1).strip()
    if name not in tools:
        return None
    if not complete or "</function>" not in text:
        return TextCall(name, text, "the tool call was cut off")
    props = tools[name].get("properties") or {}
    args: dict[str, Any] = {}
    for pm in _PARAM_RE.finditer(text, m.end()):
        pname = pm.group(1).strip()
        value = pm.group(2)
        if value.startswith("\n"):
            value = value[1:]
        if value.endswith("\n"):
            value = value[:-1]
        args[pname] = coerce_xml_value(value, props.get(pname))
    return TextCall(name, orjson.dumps(args).decode())


def _schema_types(schema: Mapping[str, Any] | None) -> set[str]:
    if not schema:
        return set()
    types: set[str] = set()
    t = schema.get("type")
    if isinstance(t, str):
        types.add(t)
    elif isinstance(t, list):
        types.update(x for x in t if isinstance(x, str))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or ():
            if isinstance(sub, Mapping):
                types |= _schema_types(sub)
    if not types and isinstance(schema.get("enum"), list):
        types |= {_json_type(v) for v in schema["enum"]}
    if not types and "properties" in schema:
        types.add("object")
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "object"


_INT_RE = re.compile(r"[+-]?\d+")


def coerce_xml_value(value: str, schema: Mapping[str, Any] | None) -> Any:
    """An XML parameter value typed by its JSON schema; string when unsure."""
    types = _schema_types(schema)
    if not types or types == {"string"}:
        return value
    v = value.strip()
    if "null" in types and v.lower() in ("null", "none"):
        return None
    if "integer" in types and _INT_RE.fullmatch(v):
        return int(v)
    if "number" in types:
        try:
            f = float(v)
        except ValueError:
            pass
        else:
            if f == f and f not in (float("inf"), float("-inf")):
                return int(v) if _INT_RE.fullmatch(v) else f
    if "boolean" in types and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if types & {"object", "array"} and v[:1] in ("{", "["):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            pass
        try:
            lit = ast.literal_eval(v)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            lit = None
        if isinstance(lit, (dict, list)):
            return lit
    return value


def extract_text_calls(text: str, tools: Mapping[str, Mapping[str, Any]],
                       ) -> tuple[str, list[TextCall]]:
    """All well-formed calls in a whole text, and the text with their blocks removed.

    Blocks that are not calls stay in the text. A block cut off at the end of the text
    comes back as a call with `error` set when its tool is recognisable.
    """
    out: list[str] = []
    calls: list[TextCall] = []
    pos = 0
    while True:
        i = text.find(OPEN_TAG, pos)
        if i < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:i])
        scanner = BlockScanner()
        rest = text[i + len(OPEN_TAG):]
        end = scanner.feed(rest)
        complete = True
        if end is None:
            end = scanner.finish()
            if end is None:
                complete = False
                end = len(rest)
        if end == -1:
            out.append(OPEN_TAG)
            pos = i + len(OPEN_TAG)
            continue
        call = parse_block(scanner.body() if complete else rest, tools, complete)
        if call is None:
            out.append(text[i:i + len(OPEN_TAG) + end])
        else:
            calls.append(call)
        pos = i + len(OPEN_TAG) + end
    return "".join(out), calls
