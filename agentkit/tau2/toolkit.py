"""Toolkit base classes for tau2 domains: tool marking, DB models, schemas and hashing.

A toolkit is a class over a pydantic :class:`DB`. Methods decorated with :func:`is_tool` become
tools; their LLM-facing schema is derived from the signature and the Google-style docstring, the
way tau2-bench does it (description = short + long description, parameters = a pydantic model
named ``parameters`` built from the type hints, with the ``Args:`` texts as field descriptions).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from .cow import cow_hash

__all__ = [
    "DB",
    "ToolKitBase",
    "ToolType",
    "dict_hash",
    "is_tool",
    "parse_docstring",
    "update_model_with_dict",
]

F = TypeVar("F", bound=Callable[..., Any])
DBT = TypeVar("DBT", bound="DB")

_TOOL_ATTR = "__tau2_tool__"
_TOOL_TYPE_ATTR = "__tau2_tool_type__"
_MUTATES_ATTR = "__tau2_mutates_state__"


class ToolType(str, Enum):
    """What a tool does: READ (no side effects), WRITE, THINK or GENERIC."""

    READ = "read"
    WRITE = "write"
    THINK = "think"
    GENERIC = "generic"


def is_tool(
    tool_type: ToolType = ToolType.READ, mutates_state: bool | None = None
) -> Callable[[F], F]:
    """Mark a toolkit method as a tool.

    ``mutates_state`` defaults to ``tool_type == WRITE``; only mutating tools are re-executed when
    a trajectory is replayed for grading.
    """
    mutates = tool_type == ToolType.WRITE if mutates_state is None else mutates_state

    def decorator(func: F) -> F:
        setattr(func, _TOOL_ATTR, True)
        setattr(func, _TOOL_TYPE_ATTR, tool_type)
        setattr(func, _MUTATES_ATTR, mutates)
        return func

    return decorator


def dict_hash(data: Any) -> str:
    """tau2's canonical hash: sha256 of ``json.dumps(data, sort_keys=True, default=str)``."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _deep_merge(target: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
    return target


def update_model_with_dict(model: DBT, update: dict[str, Any]) -> DBT:
    """Deep-merge ``update`` into a dump of ``model`` and re-validate (a new instance)."""
    merged = _deep_merge(model.model_dump(), update)
    return type(model).model_validate(merged)


class DB(BaseModel):
    """Base class of domain databases (pydantic models; unknown fields are rejected)."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def load(cls: type[DBT], path: str | Path) -> DBT:
        """Load the DB from a ``.json`` or ``.toml`` file."""
        return cls.model_validate(load_data_file(path))

    def get_hash(self) -> str:
        """Canonical hash of the whole DB (see :func:`dict_hash`)."""
        fast = cow_hash(self)
        return fast if fast is not None else dict_hash(self.model_dump())

    def get_statistics(self) -> dict[str, Any]:
        """Per-domain statistics; overridden by domains that report any."""
        return {}


def load_data_file(path: str | Path) -> Any:
    """Read a JSON or TOML data file."""
    p = Path(path)
    if p.suffix == ".json":
        with p.open("rb") as fh:
            return json.loads(fh.read())
    if p.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        with p.open("rb") as fh:
            return tomllib.load(fh)
    raise ValueError(f"Unsupported data file format: {p} (expected .json or .toml)")


# --------------------------------------------------------------------------- docstrings

_SECTION_TITLES = (
    "Args",
    "Arguments",
    "Parameters",
    "Params",
    "Raises",
    "Exceptions",
    "Except",
    "Attributes",
    "Example",
    "Examples",
    "Returns",
    "Yields",
)
_TITLES_RE = re.compile(r"^(" + "|".join(_SECTION_TITLES) + r"):[ \t\r\f\v]*$", re.M)
_PARAM_SECTIONS = {"Args", "Arguments", "Parameters", "Params"}


class ParsedDocstring(BaseModel):
    """Short/long description and per-parameter descriptions of a Google-style docstring."""

    short_description: str = ""
    long_description: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    param_types: dict[str, str] = Field(default_factory=dict)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Parse a Google-style docstring the way tau2's schema builder reads it."""
    result = ParsedDocstring()
    if not doc:
        return result
    text = inspect.cleandoc(doc)
    match = _TITLES_RE.search(text)
    desc_chunk = text[: match.start()] if match else text
    meta_chunk = text[match.start() :] if match else ""
    first, _, rest = desc_chunk.partition("\n")
    result.short_description = first
    result.long_description = rest.strip()
    titles = list(_TITLES_RE.finditer(meta_chunk))
    for i, title in enumerate(titles):
        if title.group(1) not in _PARAM_SECTIONS:
            continue
        end = titles[i + 1].start() if i + 1 < len(titles) else len(meta_chunk)
        chunk = inspect.cleandoc(meta_chunk[title.end() : end])
        starts = [m.start() for m in re.finditer(r"^\S", chunk, flags=re.M)]
        for j, start in enumerate(starts):
            part = chunk[start : starts[j + 1] if j + 1 < len(starts) else None].strip("\n")
            if ":" not in part:
                continue
            before, desc = part.split(":", 1)
            if desc.startswith(" "):
                desc = desc[1:]
            if "\n" in desc:
                head, tail = desc.split("\n", 1)
                desc = head + "\n" + inspect.cleandoc(tail)
            desc = desc.strip("\n")
            name, type_name = before.strip(), ""
            typed = re.match(r"^(\S+)\s*\((.*)\)$", name)
            if typed:
                name, type_name = typed.group(1), typed.group(2)
            result.params[name] = desc
            if type_name:
                result.param_types[name] = type_name
    return result


def tool_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """OpenAI function-tool dict for a (bound) tool method, derived like tau2 derives it."""
    doc = parse_docstring(func.__doc__)
    sig = inspect.signature(func, eval_str=True)
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        anno: Any = param.annotation
        default: Any = ... if param.default is param.empty else param.default
        if pname in doc.params:
            default = Field(default, description=doc.params[pname])
        if anno is param.empty:
            anno = Any
        fields[pname] = (anno, default)
    params_model = create_model("parameters", **fields)
    if not doc.short_description:
        description = func.__name__
    elif doc.long_description:
        description = doc.short_description + "\n\n" + doc.long_description
    else:
        description = doc.short_description
    return {
        "type": "function",
        "function": {
            "name": func.__name__,
            "description": description,
            "parameters": params_model.model_json_schema(),
        },
    }


# --------------------------------------------------------------------------- toolkit


class ToolKitBase:
    """Base class of toolkits. Subclasses mark tool methods with :func:`is_tool`."""

    _tool_names: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                func = attr.fget if isinstance(attr, property) else attr
                if getattr(func, _TOOL_ATTR, False):
                    names[name] = None
                elif name in names:
                    del names[name]  # overridden by a non-tool
        cls._tool_names = tuple(names)

    def __init__(self, db: DB | None = None) -> None:
        self.db: Any = db

    @property
    def tools(self) -> dict[str, Callable[..., Any]]:
        """Tool name -> bound method."""
        return {name: getattr(self, name) for name in self._tool_names}

    def has_tool(self, name: str) -> bool:
        return name in self._tool_names

    def _require(self, name: str) -> Callable[..., Any]:
        if name not in self._tool_names:
            raise ValueError(f"Tool '{name}' not found.")
        return getattr(self, name)

    def tool_type(self, name: str) -> ToolType:
        return getattr(self._require(name), _TOOL_TYPE_ATTR)

    def tool_mutates_state(self, name: str) -> bool:
        return bool(getattr(self._require(name), _MUTATES_ATTR, True))

    def use_tool(self, name: str, **kwargs: Any) -> Any:
        """Call a tool with keyword arguments (no validation, like tau2); raises on error."""
        if name not in self._tool_names:
            raise ValueError(f"Tool '{name}' not found.")
        return getattr(self, name)(**kwargs)

    def tool_schemas(self) -> list[dict[str, Any]]:
        """OpenAI function-tool dicts for every tool, in declaration order."""
        return [tool_schema(getattr(self, name)) for name in self._tool_names]

    def update_db(self, update_data: dict[str, Any] | None = None) -> None:
        """Deep-merge ``update_data`` into the DB (tau2's ``initialization_data``)."""
        if self.db is None:
            raise ValueError("Database has not been initialized.")
        self.db = update_model_with_dict(self.db, update_data or {})

    def get_db_hash(self) -> str:
        if self.db is None:
            raise ValueError("Database has not been initialized.")
        if isinstance(self.db, DB):
            return self.db.get_hash()
        return dict_hash(self.db.model_dump())
