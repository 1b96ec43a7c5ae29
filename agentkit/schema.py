"""JSON schema for a Python function's parameters, from type hints and docstrings."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from .context import RunContext

__all__ = ["FunctionSchema", "function_schema"]


class FunctionSchema:
    """The parameters model of a function, its JSON schema and its description."""

    def __init__(self, model: type[BaseModel], description: str, takes_context: bool,
                 param_names: list[str]) -> None:
        self.model = model
        self.description = description
        self.takes_context = takes_context
        self.param_names = param_names
        schema = _inline_refs(model.model_json_schema())
        if "$defs" not in schema:
            schema = _strip_titles(schema)
        schema.pop("title", None)
        schema.setdefault("properties", {})
        self.json_schema: dict[str, Any] = schema


def _is_context(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    return annotation is RunContext or origin is RunContext


def _annotated_description(annotation: Any) -> bool:
    return any(getattr(m, "description", None) for m in getattr(annotation, "__metadata__", ()))


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline `$defs` references (some servers reject `$ref`); recursive models keep them."""
    defs = schema.get("$defs")
    if not defs:
        return schema

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                key = ref.rsplit("/", 1)[1]
                if key in seen:
                    raise RecursionError
                target = dict(defs[key])
                target.pop("title", None)
                merged = {**resolve(target, (*seen, key)),
                          **{k: v for k, v in node.items() if k != "$ref"}}
                return merged
            return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    try:
        return resolve(schema, ())
    except RecursionError:
        return schema


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def function_schema(fn: Callable[..., Any], description: str | None = None) -> FunctionSchema:
    """Describe `fn`: a parameters model (pydantic), JSON schema and description.

    Descriptions come from `Annotated[..., Field(description=...)]` first, then from the
    docstring (Google, NumPy or Sphinx style). A first parameter typed `RunContext`
    receives the run context and is left out of the schema.
    """
    import docstring_parser

    sig = inspect.signature(fn)
    hints = get_type_hints(fn, include_extras=True)
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description or "" for p in doc.params}
    params = list(sig.parameters.values())
    takes_context = bool(params) and _is_context(hints.get(params[0].name))
    if takes_context:
        params = params[1:]
    fields: dict[str, Any] = {}
    names: list[str] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__!r}: *args/**kwargs parameters are not supported")
        if _is_context(hints.get(p.name)):
            raise TypeError(f"tool {fn.__name__!r}: RunContext must be the first parameter")
        annotation = hints.get(p.name, Any)
        default = ... if p.default is inspect.Parameter.empty else p.default
        doc_desc = None if _annotated_description(annotation) else param_docs.get(p.name)
        fields[p.name] = (annotation, Field(default, description=doc_desc) if doc_desc else default)
        names.append(p.name)
    model = create_model(
        f"{fn.__name__}_params",
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
        **fields,
    )
    if description is None:
        parts = [doc.short_description or "", doc.long_description or ""]
        description = "\n\n".join(x for x in parts if x).strip()
    return FunctionSchema(model, description, takes_context, names)
