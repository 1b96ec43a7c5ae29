"""Wire formats: server profiles, stream normalisation, text tool-call parsing, history.

Everything here is pure parsing/building (no I/O, no openai import).
"""

from __future__ import annotations

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
