"""Wire formats: server profiles, stream normalisation, text tool-call parsing, history.

Everything here is pure parsing/building (no I/O, no openai import). Names load on first
use, so `import agentkit.wire.profiles` (the CLI) does not pull in pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .history import (
        MISSING_RESULT,
        WireCache,
        broken_call_feedback,
        build_messages,
        build_request_body,
    )
    from .normalizer import StreamNormalizer, stream_error, usage_from
    from .profiles import (
        DASHSCOPE_DEFAULT_BASE_URL,
        NUDGE_REASONING_ONLY,
        Profile,
        for_model,
        get_profile,
        guess_profile,
        list_profiles,
        register_profile,
    )
    from .repair import ArgumentsError, complete_partial_json, parse_arguments, preview_arguments
    from .sse import DONE, SSEDecoder
    from .textcalls import BlockScanner, TextCall, coerce_xml_value, extract_text_calls, parse_block

_WHERE: dict[str, str] = {
    "ArgumentsError": "repair",
    "BlockScanner": "textcalls",
    "DASHSCOPE_DEFAULT_BASE_URL": "profiles",
    "DONE": "sse",
    "MISSING_RESULT": "history",
    "NUDGE_REASONING_ONLY": "profiles",
    "Profile": "profiles",
    "SSEDecoder": "sse",
    "StreamNormalizer": "normalizer",
    "TextCall": "textcalls",
    "WireCache": "history",
    "broken_call_feedback": "history",
    "build_messages": "history",
    "build_request_body": "history",
    "coerce_xml_value": "textcalls",
    "complete_partial_json": "repair",
    "extract_text_calls": "textcalls",
    "for_model": "profiles",
    "get_profile": "profiles",
    "guess_profile": "profiles",
    "list_profiles": "profiles",
    "parse_arguments": "repair",
    "parse_block": "textcalls",
    "preview_arguments": "repair",
    "register_profile": "profiles",
    "stream_error": "normalizer",
    "usage_from": "normalizer",
}

__all__ = [
    "DASHSCOPE_DEFAULT_BASE_URL",
    "DONE",
    "MISSING_RESULT",
    "NUDGE_REASONING_ONLY",
    "ArgumentsError",
    "BlockScanner",
    "Profile",
    "SSEDecoder",
    "StreamNormalizer",
    "TextCall",
    "WireCache",
    "broken_call_feedback",
    "build_messages",
    "build_request_body",
    "coerce_xml_value",
    "complete_partial_json",
    "extract_text_calls",
    "for_model",
    "get_profile",
    "guess_profile",
    "list_profiles",
    "parse_arguments",
    "parse_block",
    "preview_arguments",
    "register_profile",
    "stream_error",
    "usage_from",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
