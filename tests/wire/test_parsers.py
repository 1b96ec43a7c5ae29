"""Unit tests: argument repair, text-markup scanning and typing, SSE lines, profiles."""

from __future__ import annotations

import dataclasses

import pytest

from agentkit.models.base import ModelResponse, TextPart, ToolCallPart, ToolSpec
from agentkit.wire import (
    DONE,
    ArgumentsError,
    BlockScanner,
    Profile,
    SSEDecoder,
    StreamNormalizer,
    coerce_xml_value,
    complete_partial_json,
    extract_text_calls,
    get_profile,
    guess_profile,
    list_profiles,
    parse_arguments,
    preview_arguments,
    register_profile,
)

TOOLS = {"get_weather": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ("", {}),
    (None, {}),
    ("null", {}),
    ("  ", {}),
    ("{'a': }", None),
    ("{'a': 'x', 'b': [1, 2,],}", {"a": "x", "b": [1, 2]}),
    ("{'q': \"say 'hi'\"}", {"q": "say 'hi'"}),
    ("{'a': True, 'b': None, 'c': (1, 2)}", {"a": True, "b": None, "c": [1, 2]}),
    ('"{\\"a\\": 1}"', {"a": 1}),
])
def test_parse_arguments_repair_order(raw: str | None, expected: dict[str, object] | None) -> None:
    if expected is None:
        with pytest.raises(ArgumentsError):
            parse_arguments(raw)
    else:
        assert parse_arguments(raw)[0] == expected


def test_strict_json_is_kept_verbatim_and_non_objects_are_refused() -> None:
    assert parse_arguments('{"b": 2,  "a": 1}')[1] == '{"b": 2,  "a": 1}'
    with pytest.raises(ArgumentsError, match="JSON object"):
        parse_arguments("[1, 2]")
    with pytest.raises(ArgumentsError) as info:
        parse_arguments('{"a": "unterminated')
    assert info.value.truncated
    with pytest.raises(ArgumentsError):
        parse_arguments("{'a': {1, 2}}")  # a set is not JSON


def test_partial_json_is_for_display_only() -> None:
    assert preview_arguments('{"city": "Par') == {"city": "Par"}
    assert preview_arguments('{"a": [1, 2') == {"a": [1, 2]}
    assert preview_arguments('{"a": 1, "b') == {"a": 1}
    assert complete_partial_json('{"a":') == "{}"
    with pytest.raises(ArgumentsError):
        parse_arguments('{"city": "Par')  # never completed for execution


@pytest.mark.parametrize(("value", "schema", "expected"), [
    ("03106", {"type": "string"}, "03106"),
    ("03106", None, "03106"),
    ("42", {"type": "integer"}, 42),
    ("4.5", {"type": "number"}, 4.5),
    ("7", {"type": "number"}, 7),
    ("True", {"type": "boolean"}, True),
    ("null", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, None),
    ("12", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, 12),
    ("abc", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "abc"),
    ('{"k": 1}', {"type": "object"}, {"k": 1}),
    ("{'k': 1}", {"type": "object"}, {"k": 1}),
    ("[1, 2]", {"type": ["array", "null"]}, [1, 2]),
    ("not a number", {"type": "integer"}, "not a number"),
    ("b", {"enum": ["a", "b"]}, "b"),
])
def test_xml_values_are_typed_by_schema(value: str, schema: dict[str, object] | None,
                                        expected: object) -> None:
    assert coerce_xml_value(value, schema) == expected


def test_block_scanner_is_quote_and_escape_aware_and_incremental() -> None:
    body = '\n{"name": "w", "arguments": {"s": "a } </tool_call> \\" }"}}\n</tool_call>tail'
    scanner = BlockScanner()
    end = None
    for ch in body:
        end = scanner.feed(ch)
        if end is not None:
            break
    assert end is not None and end > 0
    assert scanner.text[end:] == ""  # stopped right after the closing tag
    assert scanner.body().strip().endswith("}}")
    assert BlockScanner().feed(" is a tag") == -1
    assert BlockScanner().feed("\n<func") is None


def test_extract_text_calls_keeps_non_calls_as_text() -> None:
    text = ('Intro <tool_call>{"name": "get_weather", "arguments": {"city": "X"}}</tool_call>'
            ' mid <tool_call>{"name": "nope", "arguments": {}}</tool_call> end')
    rest, calls = extract_text_calls(text, TOOLS)
    assert [c.name for c in calls] == ["get_weather"]
    assert rest == 'Intro  mid <tool_call>{"name": "nope", "arguments": {}}</tool_call> end'


def test_sse_decoder_lines() -> None:
    dec = SSEDecoder()
    assert dec.decode(b": ping") is None
    assert dec.decode(b"event: message") is None
    assert dec.decode(b'data:{"a":1}') == {"a": 1}
    assert dec.decode('data: {"b":\r\n') is None
    assert dec.decode(b'data: 2}') == {"b": 2}
    assert dec.decode(b"data: [DONE]") is DONE
    assert dec.decode(b"data: {broken") is None
    with pytest.raises(ValueError, match="malformed SSE"):
        dec.decode(b"")


def test_markup_calls_stream_as_tool_call_parts() -> None:
    tools = [ToolSpec("get_weather", "", TOOLS["get_weather"])]
    norm = StreamNormalizer(get_profile("vllm"), tools, thinking=False,
                            new_id=iter(["call_x", "call_y"]).__next__)
    events = []
    text = 'Sure.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    for ch in text:
        events += norm.feed({"choices": [{"index": 0, "delta": {"content": ch}}]})
    events += norm.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events += norm.close()
    parts = [e for e in events if isinstance(e, ToolCallPart)]
    assert [(p.index, p.id, p.name) for p in parts] == [(0, "call_x", "get_weather")]
    assert "".join(e.text for e in events if isinstance(e, TextPart)) == "Sure."
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert final.message.tool_calls[0].id == "call_x"


def test_stream_without_finish_is_an_error_unless_not_required() -> None:
    norm = StreamNormalizer(get_profile("dashscope"))
    norm.feed({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
    final = norm.close(require_finish=False)[-1]
    assert isinstance(final, ModelResponse) and final.message.content == "hi"


def test_profiles_registry_and_guessing() -> None:
    assert {"dashscope", "vllm", "vllm_legacy", "sglang", "ollama", "llamacpp", "deepseek",
            "kimi", "openai", "generic"} <= set(list_profiles())
    assert guess_profile("https://dashscope.aliyuncs.com/compatible-mode/v1").name == "dashscope"
    assert guess_profile("https://api.deepseek.com").name == "deepseek"
    assert guess_profile("https://api.moonshot.ai/v1").name == "kimi"
    assert guess_profile("http://127.0.0.1:30000/v1").name == "sglang"
    assert guess_profile("http://gpu-box:8080/v1").name == "llamacpp"
    assert guess_profile("https://example.com/v1").name == "generic"
    assert guess_profile(DASH := "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                         "qwen3.6-plus").preserve_thinking
    assert not guess_profile(DASH, "qwen3-max").preserve_thinking
    with pytest.raises(ValueError, match="known profiles"):
        get_profile("nope")
    custom = dataclasses.replace(get_profile("vllm"), reasoning_replay="never")
    register_profile("my_vllm", custom)
    assert get_profile("my_vllm").reasoning_replay == "never"
    assert get_profile("my_vllm").name == "my_vllm"
    assert isinstance(get_profile("vllm").with_(text_tool_calls=False), Profile)
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_profile("vllm").name = "x"  # type: ignore[misc]
