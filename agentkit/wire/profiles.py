"""Server dialects as data.

A `Profile` says how a server switches thinking on and off, where reasoning arrives,
which field reasoning goes back in (and for which turns), and what else the server
wants or refuses. Override any field with `dataclasses.replace` (or `Profile.with_`),
register your own with `register_profile`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "DASHSCOPE_DEFAULT_BASE_URL",
    "NUDGE_REASONING_ONLY",
    "Profile",
    "ReasoningReplay",
    "ThinkingStyle",
    "for_model",
    "get_profile",
    "guess_profile",
    "list_profiles",
    "register_profile",
]

DASHSCOPE_DEFAULT_BASE_URL = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"

#: Sent once by the loop when a reply had reasoning but neither an answer nor a call.
NUDGE_REASONING_ONLY = (
    "Your last reply contained only thinking: no answer and no tool call reached me. "
    "If you meant to call a tool, make the call now; otherwise write your answer."
)

ThinkingStyle = Literal[
    "dashscope",             # enable_thinking + thinking_budget (top level)
    "chat_template_kwargs",  # vLLM / SGLang / llama.cpp: chat_template_kwargs.enable_thinking
    "reasoning_effort",      # Ollama, OpenAI: reasoning_effort ("none" turns it off)
    "deepseek",              # thinking: {"type": "enabled" | "disabled"}
    "none",                  # nothing is sent
]

#: Which assistant turns carry their reasoning back:
#: "never"; "current_loop": the turns since the last user message; "tool_turns": every
#: turn that made tool calls (field present even when empty); "all": every turn.
ReasoningReplay = Literal["never", "current_loop", "tool_turns", "all"]


@dataclass(frozen=True)
class Profile:
    """One server dialect. All fields have safe defaults (the generic profile)."""

    name: str = "generic"
    # -- switching thinking --------------------------------------------------------
    thinking_style: ThinkingStyle = "none"
    #: Clamp for `thinking_budget` (DashScope); None = no known maximum.
    max_thinking_budget: int | None = None
    #: Budget sent when thinking is on and the caller gave none (some models need one).
    default_thinking_budget: int | None = None
    #: DashScope Qwen3.6+: ask the server to keep earlier turns' thinking.
    preserve_thinking: bool = False
    #: `reasoning_effort` value that turns thinking on when the caller gave none.
    thinking_on_effort: str | None = None
    #: `reasoning_effort` value that turns thinking off (None: send nothing).
    thinking_off_effort: str | None = None
    # -- reading the stream --------------------------------------------------------
    #: Delta fields reasoning may arrive in, first non-empty wins (vLLM sent both at once).
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    #: Look for `<think>` tags in `content`.
    think_tags: bool = True
    #: With thinking on, content before a `</think>` is reasoning even without `<think>`
    #: (the opening tag was in the prompt). Costs answer streaming until decided.
    implicit_think_open: bool = False
    #: Parse Hermes / Qwen3-Coder XML tool-call markup left in `content`.
    text_tool_calls: bool = True
    # -- writing the request -------------------------------------------------------
    #: Field reasoning is replayed in; None = never send reasoning back.
    reasoning_replay_field: str | None = None
    reasoning_replay: ReasoningReplay = "never"
    #: Whether `parallel_tool_calls` is sent at all, and the value when the caller gave none.
    send_parallel_tool_calls: bool = False
    parallel_tool_calls_default: bool = True
    #: Request usage in the stream (`stream_options.include_usage`).
    include_usage: bool = True
    #: Name of the output-length parameter.
    max_tokens_field: str = "max_tokens"
    #: Extra top-level request fields sent on every request (caller's extra_body wins).
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    # -- the context window ----------------------------------------------------------
    #: Tokens the model can take (prompt + output); None: unknown (128k is assumed).
    context_window: int | None = None
    #: Regexes (case-insensitive) that mark an HTTP 400 as "context length exceeded".
    context_overflow: tuple[str, ...] = ()

    def with_(self, **changes: Any) -> Profile:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


# "Context length exceeded" as each server words it (HTTP 400 bodies).
_OVERFLOW_OPENAI = (r"maximum context length is", r"context_length_exceeded",
                    r"exceeds the context window")
_OVERFLOW_DASHSCOPE = (r"range of input length should be",
                       r"input length (?:exceeds|is longer than)", *_OVERFLOW_OPENAI)
_OVERFLOW_VLLM = (r"longer than the maximum model length", *_OVERFLOW_OPENAI)
_OVERFLOW_SGLANG = (r"longer than the model's context length", *_OVERFLOW_VLLM)
_OVERFLOW_LLAMACPP = (r"exceeds? the available context size", r"exceed_context_size",
                      *_OVERFLOW_OPENAI)
_OVERFLOW_KIMI = (r"exceeded model token limit", *_OVERFLOW_OPENAI)
_OVERFLOW_ANY = tuple(dict.fromkeys(
    (*_OVERFLOW_DASHSCOPE, *_OVERFLOW_SGLANG, *_OVERFLOW_LLAMACPP, *_OVERFLOW_KIMI,
     r"context (?:length|window|size) (?:exceeded|is too (?:long|small))",
     r"too many (?:input )?tokens")))

GENERIC = Profile(context_overflow=_OVERFLOW_ANY)

_REGISTRY: dict[str, Profile] = {
    "generic": GENERIC,
    "dashscope": Profile(
        name="dashscope", thinking_style="dashscope", max_thinking_budget=38912,
        context_window=131072, context_overflow=_OVERFLOW_DASHSCOPE,
        reasoning_replay_field="reasoning_content",
        reasoning_replay="current_loop", send_parallel_tool_calls=True,
    ),
    "vllm": Profile(
        name="vllm", thinking_style="chat_template_kwargs", implicit_think_open=True,
        context_overflow=_OVERFLOW_VLLM,
        reasoning_replay_field="reasoning",
        reasoning_replay="current_loop", send_parallel_tool_calls=True,
    ),
    "vllm_legacy": Profile(
        name="vllm_legacy", thinking_style="chat_template_kwargs", implicit_think_open=True,
        context_overflow=_OVERFLOW_VLLM,
        reasoning_replay_field="reasoning_content", reasoning_replay="current_loop",
        send_parallel_tool_calls=True,
    ),
    "sglang": Profile(
        name="sglang", thinking_style="chat_template_kwargs", implicit_think_open=True,
        context_overflow=_OVERFLOW_SGLANG,
        reasoning_replay_field="reasoning_content", reasoning_replay="current_loop",
        send_parallel_tool_calls=True,
    ),
    "ollama": Profile(
        name="ollama", thinking_style="reasoning_effort", thinking_on_effort="medium",
        context_overflow=_OVERFLOW_ANY,
        thinking_off_effort="none", reasoning_replay_field="reasoning",
        reasoning_replay="current_loop",
    ),
    "llamacpp": Profile(
        name="llamacpp", thinking_style="chat_template_kwargs", implicit_think_open=True,
        context_overflow=_OVERFLOW_LLAMACPP,
        reasoning_replay_field="reasoning_content", reasoning_replay="current_loop",
        send_parallel_tool_calls=True,
    ),
    "deepseek": Profile(
        name="deepseek", thinking_style="deepseek", text_tool_calls=False,
        context_window=131072, context_overflow=_OVERFLOW_OPENAI,
        reasoning_replay_field="reasoning_content",
        reasoning_replay="tool_turns",
    ),
    "kimi": Profile(
        name="kimi", thinking_style="none", text_tool_calls=False,
        context_overflow=_OVERFLOW_KIMI,
        reasoning_replay_field="reasoning_content", reasoning_replay="tool_turns",
        send_parallel_tool_calls=True,
    ),
    "openai": Profile(
        name="openai", thinking_style="reasoning_effort", reasoning_fields=(),
        context_overflow=_OVERFLOW_OPENAI,
        think_tags=False, text_tool_calls=False,
        send_parallel_tool_calls=True, max_tokens_field="max_completion_tokens",
    ),
}


def register_profile(name: str, profile: Profile) -> None:
    """Add or replace a named profile (`get_profile(name)` then returns it)."""
    if not name:
        raise ValueError("a profile needs a name")
    _REGISTRY[name] = profile if profile.name == name else dataclasses.replace(profile, name=name)


def get_profile(name: str) -> Profile:
    """A registered profile by name; ValueError listing the known names otherwise."""
    try:
        return _REGISTRY[name.lower().replace("-", "_").replace(".", "")]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown profile {name!r}; known profiles: {known}") from None


def list_profiles() -> list[str]:
    return sorted(_REGISTRY)


_HOSTS: tuple[tuple[str, str], ...] = (
    ("dashscope", "dashscope"),
    ("aliyuncs.com", "dashscope"),
    ("deepseek.com", "deepseek"),
    ("moonshot", "kimi"),
    ("kimi.com", "kimi"),
    ("api.openai.com", "openai"),
    ("ollama", "ollama"),
)
_PORTS = {11434: "ollama", 8080: "llamacpp", 30000: "sglang", 8000: "vllm"}
_PRESERVE_RE = re.compile(r"qwen3\.([6-9]|\d\d)", re.IGNORECASE)


def guess_profile(base_url: str | None, model: str | None = None) -> Profile:
    """The profile a base URL (and model name) most likely needs; generic if unsure."""
    name = "generic"
    if base_url:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
        for needle, prof in _HOSTS:
            if needle in host:
                name = prof
                break
        else:
            try:
                port = parts.port
            except ValueError:
                port = None
            if port in _PORTS:
                name = _PORTS[port]
    return for_model(_REGISTRY[name], model)


def for_model(profile: Profile, model: str | None) -> Profile:
    """Per-model adjustments of a named profile (Qwen3.6+ on DashScope preserves thinking)."""
    if (profile.thinking_style == "dashscope" and model and _PRESERVE_RE.search(model)
            and not profile.preserve_thinking):
        return dataclasses.replace(profile, preserve_thinking=True, reasoning_replay="all")
    return profile
