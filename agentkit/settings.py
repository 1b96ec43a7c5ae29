"""Keyword settings of `Agent(...)` and of one run: their names, types and checks.

`RunSettings` names every keyword a type checker should accept (limits, model settings and
the thinking switch), so a misspelt setting is caught before the program runs. The checks
here reject values no server would accept (`temperature="hot"`, `max_tokens=-5`) with a
`UserError` when the agent is built or a run is started, not when a request is sent.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

from .errors import UserError
from .models.base import ModelSettings
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .agent import Limits

__all__ = [
    "RunSettings",
    "check_limits",
    "check_model_settings",
    "check_thinking",
    "split_settings",
    "warn_unsent",
]


class RunSettings(TypedDict, total=False):
    """Keyword settings of `Agent(...)`, `agent.run/stream/run_sync(...)` and `agent.replace`.

    Limits (see `Limits`), model settings (see `ModelSettings`) and `thinking` (True: on,
    False: Instruct mode, None: the model's default).
    """

    max_steps: int
    max_tool_calls: int | None
    token_budget: int | None
    timeout: float | None
    tool_timeout: float | None
    tool_concurrency: int
    max_invalid_calls: int
    reasoning_only_nudges: int
    retry: RetryPolicy
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    thinking_budget: int | None
    reasoning_effort: str | None
    parallel_tool_calls: bool | None
    seed: int | None
    request_timeout: float | None
    extra_body: dict[str, Any]
    thinking: bool | None


def split_settings(
    kw: Mapping[str, Any], limit_names: set[str], where: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`kw` as (limit fields, model-setting fields, other known keys); unknown keys raise."""
    model_names = {f.name for f in dataclasses.fields(ModelSettings)}
    limits = {k: v for k, v in kw.items() if k in limit_names}
    model = {k: v for k, v in kw.items() if k in model_names}
    other = {k: v for k, v in kw.items() if k == "thinking"}
    unknown = sorted(set(kw) - set(limits) - set(model) - set(other))
    if unknown:
        known = ", ".join(sorted(limit_names | model_names | {"thinking"}))
        raise TypeError(f"{where} got unknown settings: {', '.join(unknown)} (known: {known})")
    return limits, model, other


def _number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (isinstance(value, float)
                                                   and not math.isfinite(value)):
        raise UserError(f"{name} must be {kind}, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise UserError(f"{name} must be {bound}, got {value!r}")
    if high is not None and value > high:
        raise UserError(f"{name} must be <= {high:g}, got {value!r}")


def check_model_settings(s: ModelSettings) -> ModelSettings:
    """`s` if every value is one a server accepts; else a `UserError` naming the setting."""
    optional: list[tuple[str, dict[str, Any]]] = [
        ("temperature", {"low": 0.0, "high": 2.0}),
        ("top_p", {"low": 0.0, "high": 1.0}),
        ("max_tokens", {"low": 1, "integer": True}),
        ("thinking_budget", {"low": 1, "integer": True}),
        ("seed", {"integer": True}),
        ("request_timeout", {"low": 0.0, "low_open": True}),
    ]
    for name, bounds in optional:
        value = getattr(s, name)
        if value is not None:
            _number(name, value, **bounds)
    if s.reasoning_effort is not None and (not isinstance(s.reasoning_effort, str)
                                           or not s.reasoning_effort.strip()):
        raise UserError(f"reasoning_effort must be a word such as 'low' or 'high', "
                        f"got {s.reasoning_effort!r}")
    if s.parallel_tool_calls is not None and not isinstance(s.parallel_tool_calls, bool):
        raise UserError(f"parallel_tool_calls must be True, False or None, "
                        f"got {s.parallel_tool_calls!r}")
    if not isinstance(s.extra_body, dict) or not all(isinstance(k, str) for k in s.extra_body):
        raise UserError(f"extra_body must be a dict with string keys, got {s.extra_body!r}")
    return s


def check_limits(limits: Limits) -> None:
    """A `UserError` naming the first limit that cannot bound a run."""
    _number("max_steps", limits.max_steps, low=1, integer=True)
    _number("tool_concurrency", limits.tool_concurrency, low=1, integer=True)
    _number("max_invalid_calls", limits.max_invalid_calls, low=1, integer=True)
    _number("reasoning_only_nudges", limits.reasoning_only_nudges, low=0, integer=True)
    if limits.max_tool_calls is not None:
        _number("max_tool_calls", limits.max_tool_calls, low=0, integer=True)
    if limits.token_budget is not None:
        _number("token_budget", limits.token_budget, low=1, integer=True)
    for name in ("timeout", "tool_timeout"):
        value = getattr(limits, name)
        if value is not None:
            _number(name, value, low=0.0, low_open=True)
    if not isinstance(limits.retry, RetryPolicy):
        raise UserError(f"retry must be an agentkit.retry.RetryPolicy, got {limits.retry!r}")


def check_thinking(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise UserError(f"thinking must be True, False or None, got {value!r}")
    return value


_warned: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def warn_unsent(model: Any, settings: ModelSettings, thinking: bool | None) -> None:
    """Warn once per model when its server dialect cannot send what the caller asked for.

    Asked of the model's own request builder (`build_body`, as `OpenAICompatModel` has), so
    the profiles stay the one source of truth: `thinking=False` that sends no switch at all,
    a `thinking_budget` that no field of the request carries.
    """
    build = getattr(model, "build_body", None)
    if build is None:
        return
    try:
        done = _warned.setdefault(model, set())
    except TypeError:  # not weak-referenceable: check every run
        done = set()
    from .models.base import ModelRequest

    def body(think: bool | None, s: ModelSettings = settings) -> Any:
        return build(ModelRequest(messages=[], tools=[], settings=s, thinking=think))

    profile = getattr(getattr(model, "profile", None), "name", "?")
    if thinking is False and "thinking" not in done:
        done.add("thinking")
        if body(True) == body(False):
            warnings.warn(
                f"thinking=False has no effect on {getattr(model, 'name', model)!r}: its "
                f"profile {profile!r} sends no thinking switch. Pass the server's profile "
                "(e.g. profile='vllm') or extra_body with the switch it understands.",
                UserWarning, stacklevel=4)
    if settings.thinking_budget is not None and "thinking_budget" not in done:
        done.add("thinking_budget")
        without = dataclasses.replace(settings, thinking_budget=None)
        if body(True) == body(True, without):
            warnings.warn(
                f"thinking_budget={settings.thinking_budget} is not sent to "
                f"{getattr(model, 'name', model)!r}: its profile {profile!r} has no budget "
                "field. Pass it through extra_body in the form the server accepts.",
                UserWarning, stacklevel=4)
