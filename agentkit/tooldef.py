"""Tools: Python callables the model may call, described by a JSON schema."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import anyio
import pydantic_core
from pydantic import BaseModel, ValidationError

from . import budget
from .context import RunContext
from .models.base import ToolSpec

__all__ = ["ErrorResult", "Tool", "ToolArgumentsError", "tool"]

F = TypeVar("F", bound=Callable[..., Any])
# needs_approval: a bool, or (ctx, arguments) -> bool (sync or async)
ApprovalRule = bool | Callable[[RunContext[Any], dict[str, Any]], Any]


class ToolArgumentsError(ValueError):
    """The arguments do not fit the tool's schema; the message says exactly why."""


class ErrorResult:
    """Return `ErrorResult(text)` from a tool for an error result the model sees exactly as
    `text` (an exception's result is prefixed with its type); it counts as a tool error."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Tool:
    """A named, JSON-schema-described callable.

    Build one with the `@tool` decorator or `Tool.from_schema`. Sync functions run in a
    worker thread so they never block the event loop.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        takes_context: bool = False,
        args_model: type[BaseModel] | None = None,
        timeout: float | None = None,
        retries: int = 1,
        needs_approval: ApprovalRule = False,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        self.function = function
        self.name = name
        self.description = description
        self.parameters = parameters
        self.takes_context = takes_context
        self.args_model = args_model
        self.timeout = timeout
        self.retries = retries  # ToolRetry raises allowed in a row before the run ends
        # True, or rule(ctx, arguments) -> bool: a person approves each call before it runs
        self.needs_approval = needs_approval
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 - async callable objects
        )
        self._validator: Any = None

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        retries: int = 1,
        needs_approval: ApprovalRule = False,
    ) -> Tool:
        from .schema import function_schema

        fs = function_schema(function, description)
        return cls(
            function,
            name=name or function.__name__,
            description=fs.description,
            parameters=fs.json_schema,
            takes_context=fs.takes_context,
            args_model=fs.model,
            timeout=timeout,
            retries=retries,
            needs_approval=needs_approval,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: dict[str, Any],
        function: Callable[..., Any],
        *,
        takes_context: bool = False,
        timeout: float | None = None,
        retries: int = 1,
        needs_approval: ApprovalRule = False,
    ) -> Tool:
        """A tool from a raw JSON schema; `function` receives the arguments as keywords."""
        from jsonschema.validators import validator_for

        validator_for(parameters).check_schema(parameters)
        return cls(function, name=name, description=description, parameters=parameters,
                   takes_context=takes_context, timeout=timeout, retries=retries,
                   needs_approval=needs_approval)

    @functools.cached_property
    def spec(self) -> ToolSpec:
        """What the model is told (built once: the wire layer caches by identity)."""
        return ToolSpec(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check `arguments` against the schema; return the keyword arguments to call with.

        Raises `ToolArgumentsError` listing every problem (path and message).
        """
        if self._validator is None:
            from jsonschema.validators import validator_for

            self._validator = validator_for(self.parameters)(self.parameters)
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            lines = []
            for e in errors[:8]:
                where = "/".join(str(p) for p in e.absolute_path) or "(root)"
                lines.append(f"- at {where}: {e.message}")
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}:\n" + "\n".join(lines)
            )
        if self.args_model is None:
            return arguments
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            lines = [
                f"- at {'/'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                for err in exc.errors()[:8]
            ]
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}:\n" + "\n".join(lines)
            ) from None
        return {k: getattr(model, k) for k in type(model).model_fields}

    async def call(self, ctx: RunContext[Any] | None, kwargs: dict[str, Any]) -> Any:
        """Run the tool with validated keyword arguments."""
        args: tuple[Any, ...] = (ctx,) if self.takes_context else ()
        if self.is_async:
            return await self.function(*args, **kwargs)
        stop = threading.Event()  # set when this call stops waiting: the thread unwinds

        def run() -> Any:
            with budget.scope(stop=stop, what=f"the call to tool {self.name!r}"):
                return self.function(*args, **kwargs)

        try:
            return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        finally:
            stop.set()

    @staticmethod
    def format_result(result: Any) -> str:
        """The text the model receives for a tool's return value (the loop then makes it
        valid UTF-8 with `agentkit.textsafe.valid_utf8`)."""
        if isinstance(result, str):
            return result
        if result is None:
            return "null"
        try:
            if isinstance(result, BaseModel):
                return result.model_dump_json()
            return pydantic_core.to_json(result, fallback=str).decode()
        except pydantic_core.PydanticSerializationError:  # e.g. a str with a lone surrogate
            import json

            data = result.model_dump() if isinstance(result, BaseModel) else result
            return json.dumps(data, default=str)  # ASCII: surrogates as \udcNN escapes


@overload
def tool(function: F, /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None,
    retries: int = 1,
    needs_approval: ApprovalRule = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    retries: int = 1,
    needs_approval: ApprovalRule = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a sync or async function into a `Tool`.

    The JSON schema comes from the type hints (through pydantic), descriptions from the
    docstring and from `Annotated[..., Field(description=...)]`. A first parameter typed
    `RunContext` receives the run context. `retries`: how many `ToolRetry`s in a row the
    tool may raise before the run ends with `ToolRetriesExceeded`. `needs_approval=True` (or
    a function `(ctx, arguments) -> bool`) pauses the run for a person's decision before
    each call.
    """

    def wrap(fn: Callable[..., Any]) -> Tool:
        return Tool.from_function(fn, name=name, description=description, timeout=timeout,
                                  retries=retries, needs_approval=needs_approval)

    return wrap(function) if function is not None else wrap


ToolFunc = Callable[..., Any] | Callable[..., Awaitable[Any]]
