"""Writes the conformance cases under tests/wire/cases/ (one JSON file per case).

Run `python tests/wire/gen_cases.py` after editing; the JSON files are what the tests read.
Chunks follow the servers' real shapes (see shared/docs/wire-formats.md).
Case keys: profile, thinking, tools, chunks (dicts or raw SSE lines), done (send [DONE]),
http (an HTTP error instead of a stream), expect (reasoning, content, tool_calls with
parsed arguments, broken_tool_calls with a reason substring, finish_reason, usage, error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "cases"

WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                           "days": {"type": "integer"}},
                          "required": ["city"]}}
WRITE = {"name": "write_file", "description": "Write a file.",
         "parameters": {"type": "object", "properties": {"path": {"type": "string"},
                                                         "content": {"type": "string"}},
                        "required": ["path", "content"]}}
NOW = {"name": "now", "description": "Current time.", "parameters": {"type": "object",
                                                                     "properties": {}}}
ADDR = {"name": "set_address", "description": "Store an address.",
        "parameters": {"type": "object", "properties": {
            "zip": {"type": "string"}, "number": {"type": "integer"},
            "score": {"type": "number"}, "verified": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "note": {"type": "string"}}}}


def ds(delta: dict[str, Any], finish: str | None = None, rid: str = "chatcmpl-1",
       model: str = "qwen3-max") -> dict[str, Any]:
    """A chunk in DashScope/OpenAI shape."""
    return {"id": rid, "object": "chat.completion.chunk", "created": 1760000000, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                         "logprobs": None}]}


def usage(p: int, c: int, r: int | None = None, cached: int | None = None) -> dict[str, Any]:
    u: dict[str, Any] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if r is not None:
        u["completion_tokens_details"] = {"reasoning_tokens": r}
    if cached is not None:
        u["prompt_tokens_details"] = {"cached_tokens": cached}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1760000000,
            "model": "qwen3-max", "choices": [], "usage": u}


def rc(text: str, field: str = "reasoning_content", content: Any = "") -> dict[str, Any]:
    d: dict[str, Any] = {field: text}
    if content is not None:
        d["content"] = content
    return ds(d)


def txt(text: str) -> dict[str, Any]:
    return ds({"content": text})


def tc(index: int, cid: Any = None, name: str | None = None, args: str | None = None,
       **extra: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    frag: dict[str, Any] = {"index": index, "function": fn, **extra}
    if cid is not None:
        frag["id"] = cid
        frag["type"] = "function"
    return ds({"tool_calls": [frag]})


def pieces(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)]


def stream_call(index: int, cid: str, name: str, args: str, n: int,
                cont_id: Any = "") -> list[dict[str, Any]]:
    """DashScope style: first fragment id+name+start, then `id: ""` continuations."""
    parts = pieces(args, n) or [""]
    out = [tc(index, cid, name, parts[0])]
    for p in parts[1:]:
        out.append(tc(index, cont_id, None, p) if cont_id is not None else tc(index, None, None, p))
    return out


def think_stream(text: str, n: int = 4, field: str = "reasoning_content",
                 content: Any = "") -> list[dict[str, Any]]:
    return [rc(p, field, content) for p in pieces(text, n)]


def text_stream(text: str, n: int = 4) -> list[dict[str, Any]]:
    return [txt(p) for p in pieces(text, n)]


def fin(reason: str) -> dict[str, Any]:
    return ds({}, reason)


CASES: dict[str, dict[str, Any]] = {}


def case(name: str, chunks: list[Any], expect: dict[str, Any], *, profile: str = "dashscope",
         thinking: bool | None = True, tools: list[dict[str, Any]] | None = None,
         done: bool = True, http: dict[str, Any] | None = None, note: str = "") -> None:
    CASES[name] = {"note": note, "profile": profile, "thinking": thinking,
                   "tools": tools if tools is not None else [WEATHER],
                   "chunks": chunks, "done": done, "http": http, "expect": expect}


def call_(name: str, args: dict[str, Any], cid: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "arguments": args}
    if cid is not None:
        out["id"] = cid
    return out


def build() -> None:
    paris = '{"city": "Paris", "days": 3}'
    # ---- DashScope ---------------------------------------------------------------
    case("dashscope_tool_call", [
        ds({"role": "assistant", "content": "", "reasoning_content": ""}),
        *think_stream("The user wants the weather in Paris. I will call the tool.", 6),
        tc(0, "call_ds1", "get_weather", '{"city": '),
        tc(0, "", None, None),
        ds({"tool_calls": [{"index": 0, "id": "", "type": "function", "function": {}}]}),
        tc(0, "", None, '"Paris", "days"'),
        tc(0, "", None, ': 3}'),
        fin("tool_calls"), usage(120, 40, 25, 64)],
        {"reasoning": "The user wants the weather in Paris. I will call the tool.",
         "content": "", "tool_calls": [call_("get_weather", {"city": "Paris", "days": 3},
                                             "call_ds1")],
         "finish_reason": "tool_calls",
         "usage": {"input_tokens": 120, "output_tokens": 40, "reasoning_tokens": 25,
                   "cached_tokens": 64}},
        note="DashScope: id '' on continuations, empty function {} fragments, usage chunk")
    case("dashscope_answer", [
        *think_stream("Simple arithmetic: 2+2=4.", 5),
        *text_stream("The answer is 4.", 4), fin("stop"), usage(20, 12, 8)],
        {"reasoning": "Simple arithmetic: 2+2=4.", "content": "The answer is 4.",
         "tool_calls": [], "finish_reason": "stop"})
    case("dashscope_parallel_calls", [
        *think_stream("Two cities, two calls.", 3),
        *stream_call(0, "call_a", "get_weather", '{"city": "Paris"}', 3),
        *stream_call(1, "call_b", "get_weather", '{"city": "Tokyo"}', 3),
        fin("tool_calls"), usage(50, 30)],
        {"reasoning": "Two cities, two calls.", "content": "",
         "tool_calls": [call_("get_weather", {"city": "Paris"}, "call_a"),
                        call_("get_weather", {"city": "Tokyo"}, "call_b")],
         "finish_reason": "tool_calls"})
    case("dashscope_stray_think_close", [
        *think_stream("Greeting.", 2), *text_stream("Hello there!", 3), txt("\n</think>"),
        fin("stop")],
        {"reasoning": "Greeting.", "content": "Hello there!", "tool_calls": []},
        note="shape 4: a stray closing tag at the end of content")
    case("dashscope_content_and_call", [
        *think_stream("Tell the user, then call.", 2),
        *text_stream("Let me check the weather for you.", 3),
        *stream_call(0, "call_c", "get_weather", paris, 4), fin("tool_calls")],
        {"reasoning": "Tell the user, then call.", "content": "Let me check the weather for you.",
         "tool_calls": [call_("get_weather", {"city": "Paris", "days": 3}, "call_c")]})
    zh_think = "用户想知道北京的天气，我需要调用天气工具。"
    case("dashscope_chinese", [
        *think_stream(zh_think, 7), *text_stream("好的，我来查一下北京的天气。", 5),
        *stream_call(0, "call_zh", "get_weather", '{"city": "北京", "days": 2}', 5),
        fin("tool_calls"), usage(80, 60, 30)],
        {"reasoning": zh_think, "content": "好的，我来查一下北京的天气。",
         "tool_calls": [call_("get_weather", {"city": "北京", "days": 2}, "call_zh")]})
    big = "".join(f"line {i}: " + "数据" * 5 + "x" * 40 + "\n" for i in range(900))
    big_args = json.dumps({"path": "/tmp/big.txt", "content": big}, ensure_ascii=False)
    assert len(big_args.encode()) > 50_000
    case("dashscope_big_arguments", [
        *think_stream("Write the file.", 2),
        *stream_call(0, "call_big", "write_file", big_args, 400), fin("tool_calls")],
        {"reasoning": "Write the file.", "content": "",
         "tool_calls": [call_("write_file", {"path": "/tmp/big.txt", "content": big},
                              "call_big")]},
        tools=[WRITE], note="50 KB of arguments in 400 fragments")
    case("dashscope_length_cut_call", [
        *think_stream("Writing.", 2),
        *stream_call(0, "call_cut", "write_file", '{"path": "a.txt", "content": "abc', 3),
        fin("length")],
        {"content": "", "tool_calls": [],
         "broken_tool_calls": [{"name": "write_file", "reason": "finish_reason=length"}],
         "finish_reason": "length"}, tools=[WRITE])
    case("dashscope_reasoning_only", [*think_stream("I should call get_weather for Paris.", 4),
                                      fin("stop")],
         {"reasoning": "I should call get_weather for Paris.", "content": "", "tool_calls": []},
         note="reasoning, no content, no call: reported faithfully (the loop nudges)")
    case("dashscope_no_param_tool", [
        tc(0, "call_now", "now", ""), fin("tool_calls")],
        {"tool_calls": [call_("now", {}, "call_now")]}, tools=[NOW])
    # ---- vLLM ------------------------------------------------------------------------
    case("vllm_reasoning_field", [
        ds({"role": "assistant", "content": ""}),
        *think_stream("New vLLM sends `reasoning`.", 3, "reasoning", None),
        tc(0, "chatcmpl-tool-1", "get_weather", ""),
        *[tc(0, None, None, p) for p in pieces(paris, 5)], fin("tool_calls")],
        {"reasoning": "New vLLM sends `reasoning`.",
         "tool_calls": [call_("get_weather", {"city": "Paris", "days": 3}, "chatcmpl-tool-1")]},
        profile="vllm")
    both = [ds({"reasoning_content": p, "reasoning": p}) for p in pieces("Both fields.", 3)]
    case("vllm_both_reasoning_fields", [*both, *text_stream("Done.", 2), fin("stop")],
         {"reasoning": "Both fields.", "content": "Done."}, profile="vllm",
         note="transition versions sent the same text in both fields: not doubled")
    case("vllm_tool_calls_finish_unterminated", [
        *think_stream("Call.", 1, "reasoning", None),
        tc(0, "chatcmpl-tool-2", "get_weather", '{"city": "Par'), fin("tool_calls")],
        {"tool_calls": [], "broken_tool_calls": [{"name": "get_weather", "reason": "cut off"}]},
        profile="vllm", note="truncated by max_tokens yet labelled tool_calls")
    hermes2 = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
               '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": '
               '{"city": "Oslo", "days": 2}}\n</tool_call>')
    case("vllm_hermes_markup_in_content", [
        *think_stream("Two calls.", 2, "reasoning", None),
        *text_stream("I'll check both.\n\n" + hermes2, 9), fin("stop")],
        {"reasoning": "Two calls.", "content": "I'll check both.",
         "tool_calls": [call_("get_weather", {"city": "Paris"}),
                        call_("get_weather", {"city": "Oslo", "days": 2})]},
        profile="vllm", note="server parser gave up: raw Hermes blocks in content")
    xml = ("<tool_call>\n<function=set_address>\n<parameter=zip>\n03106\n</parameter>\n"
           "<parameter=number>\n12\n</parameter>\n<parameter=score>\n4.5\n</parameter>\n"
           "<parameter=verified>\ntrue\n</parameter>\n<parameter=tags>\n[\"home\", \"main\"]\n"
           "</parameter>\n<parameter=extra>\nnull\n</parameter>\n<parameter=note>\nline one\n"
           "line two\n</parameter>\n</function>\n</tool_call>")
    case("vllm_xml_markup_typed", [*text_stream(xml, 11), fin("stop")],
         {"content": "", "tool_calls": [call_("set_address", {
             "zip": "03106", "number": 12, "score": 4.5, "verified": True,
             "tags": ["home", "main"], "extra": None, "note": "line one\nline two"})]},
         profile="vllm", thinking=False, tools=[ADDR],
         note="Qwen3-Coder XML typed by schema; a string zip stays a string")
    case("vllm_hermes_and_xml_mixed", [
        *text_stream('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n'
                     '</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\n'
                     'Lima\n</parameter>\n<parameter=days>\n4\n</parameter>\n</function>\n'
                     '</tool_call>', 7), fin("stop")],
        {"content": "", "tool_calls": [call_("get_weather", {"city": "Rome"}),
                                       call_("get_weather", {"city": "Lima", "days": 4})]},
        profile="vllm", thinking=False, note="wrong server parser: both formats parsed")
    case("vllm_think_tags_complete", [
        *text_stream("<think>\nCompute 6*7.\n</think>\n\n42 is the answer.", 6), fin("stop")],
        {"reasoning": "Compute 6*7.", "content": "42 is the answer."}, profile="vllm",
        note="shape 1")
    case("vllm_think_open_missing", [
        *text_stream("Opening tag was in the prompt.\n</think>\n\nHi!", 5), fin("stop")],
        {"reasoning": "Opening tag was in the prompt.", "content": "Hi!"}, profile="vllm",
        note="shape 2")
    case("vllm_think_never_closed", [
        *text_stream("<think>\nThinking and thinking and", 4), fin("length")],
        {"reasoning": "Thinking and thinking and", "content": "", "finish_reason": "length"},
        profile="vllm", note="shape 3: truncated")
    case("vllm_call_inside_unterminated_think", [
        *text_stream('<think>\nI need Paris weather.\n<tool_call>\n<function=get_weather>\n'
                     '<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>', 6),
        fin("stop")],
        {"reasoning": "I need Paris weather.", "content": "",
         "tool_calls": [call_("get_weather", {"city": "Paris"})]}, profile="vllm",
        note="shape 5: Qwen3.5 closes reasoning implicitly with a call")
    case("vllm_implicit_think_ended_by_call", [
        *text_stream('Opening tag in the prompt; I need Paris.\n<tool_call>\n<function=get_weather>'
                     '\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>', 7),
        fin("stop")],
        {"reasoning": "Opening tag in the prompt; I need Paris.", "content": "",
         "tool_calls": [call_("get_weather", {"city": "Paris"})]}, profile="vllm",
        note="shapes 2+5: no opening tag, thinking ended implicitly by a call")
    case("vllm_implicit_think_prose_tag", [
        *text_stream("Calls go in a <tool_call> block; none is needed here.", 5), fin("stop")],
        {"reasoning": "", "content": "Calls go in a <tool_call> block; none is needed here.",
         "tool_calls": []}, profile="vllm",
        note="undecided thinking: a tag in prose is neither a call nor the end of thinking")
    case("vllm_call_discussed_in_closed_think", [
        *text_stream('<think>\nMaybe <tool_call>\n{"name": "get_weather", "arguments": '
                     '{"city": "Paris"}}\n</tool_call> but no.\n</think>\n\nIt is sunny.', 6),
        fin("stop")],
        {"content": "It is sunny.", "tool_calls": [],
         "reasoning_contains": "<tool_call>"}, profile="vllm",
        note="a call merely discussed in closed thinking is not executed")
    case("vllm_thinking_off_answer_in_reasoning", [
        *think_stream("Paris is the capital of France.", 4, "reasoning", None), fin("stop")],
        {"reasoning": "", "content": "Paris is the capital of France."}, profile="vllm",
        thinking=False, note="thinking off, the parser routed the answer to reasoning")
    case("vllm_call_in_reasoning_field", [
        *think_stream('Need weather.\n<tool_call>\n{"name": "get_weather", "arguments": '
                      '{"city": "Kyiv"}}\n</tool_call>', 5, "reasoning", None), fin("stop")],
        {"reasoning": "Need weather.", "content": "",
         "tool_calls": [call_("get_weather", {"city": "Kyiv"})]}, profile="vllm",
        note="failure 1: a well-formed call at the end of unterminated reasoning")
    case("vllm_literal_close_tag_in_string", [
        *text_stream('<tool_call>\n{"name": "write_file", "arguments": {"path": "t.xml", '
                     '"content": "a </tool_call> b \\" </tool_call>"}}\n</tool_call>', 8),
        fin("stop")],
        {"content": "", "tool_calls": [call_("write_file", {
            "path": "t.xml", "content": "a </tool_call> b \" </tool_call>"})]},
        profile="vllm", thinking=False, tools=[WRITE],
        note="quote/escape-aware scan: a literal closing tag inside a JSON string")
    case("vllm_false_positives", [
        *text_stream('Use a block like:\n```json\n{"name": "get_weather", "arguments": {}}\n```\n'
                     'The `<tool_call>` tag wraps calls. Also <tool_call> is just a word here.'
                     '\n<tool_call>\n{"name": "unknown_tool", "arguments": {}}\n</tool_call>',
                     9), fin("stop")],
        {"content": 'Use a block like:\n```json\n{"name": "get_weather", "arguments": {}}\n```\n'
                    'The `<tool_call>` tag wraps calls. Also <tool_call> is just a word here.'
                    '\n<tool_call>\n{"name": "unknown_tool", "arguments": {}}\n</tool_call>',
         "tool_calls": []}, profile="vllm", thinking=False,
        note="no false positives: JSON code block, tag in prose, unknown tool")
    fenced = ('Example:\n```\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "X"}}\n'
              '</tool_call>\n```\nThat is the format.')
    case("vllm_markup_inside_code_fence", [*text_stream(fenced, 13), fin("stop")],
         {"content": fenced, "tool_calls": []}, profile="vllm", thinking=False,
         note="a call shown inside a fenced code block is not a call")
    case("vllm_markup_missing_close_tag", [
        *text_stream('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Bern"}}', 4),
        fin("stop")],
        {"content": "", "tool_calls": [call_("get_weather", {"city": "Bern"})]},
        profile="vllm", thinking=False)
    case("vllm_markup_cut_off", [
        *text_stream('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Be', 4),
        fin("length")],
        {"content": "", "tool_calls": [],
         "broken_tool_calls": [{"name": "get_weather", "reason": "cut off"}]},
        profile="vllm", thinking=False)
    # ---- argument repair ---------------------------------------------------------------
    case("repair_relaxed_and_literal", [
        tc(0, "c1", "get_weather", "{'city': 'Paris', 'days': 2,}"),
        tc(1, "c2", "get_weather", "{'city': 'Rome', 'days': None, 'x': True}"),
        tc(2, "c3", "get_weather", '"{\\"city\\": \\"Oslo\\"}"'),
        tc(3, "c4", "get_weather", "city=Paris"),
        fin("tool_calls")],
        {"tool_calls": [call_("get_weather", {"city": "Paris", "days": 2}, "c1"),
                        call_("get_weather", {"city": "Rome", "days": None, "x": True}, "c2"),
                        call_("get_weather", {"city": "Oslo"}, "c3")],
         "broken_tool_calls": [{"name": "get_weather", "reason": "not valid JSON"}]},
        profile="generic", thinking=None,
        note="single quotes + trailing comma; Python literal; double-encoded; garbage")
    case("generic_null_arguments", [
        ds({"tool_calls": [{"index": 0, "id": "n1", "type": "function",
                            "function": {"name": "now", "arguments": None}}]}),
        fin("tool_calls")], {"tool_calls": [call_("now", {}, "n1")]},
        profile="generic", thinking=None, tools=[NOW])
    # ---- SGLang ------------------------------------------------------------------------
    case("sglang_inconsistent_indices", [
        *think_stream("Call it.", 2),
        tc(1, "call_sg", "get_weather", ""), tc(0, None, None, '{"city": '),
        tc(0, None, None, '"Lyon"}'), fin("tool_calls")],
        {"tool_calls": [call_("get_weather", {"city": "Lyon"}, "call_sg")]},
        profile="sglang", note="old SGLang: first and later fragments with different indices")
    # ---- Ollama ------------------------------------------------------------------------
    case("ollama_whole_calls_same_index", [
        *think_stream("Two.", 1, "reasoning", None),
        tc(0, "call_o1", "get_weather", '{"city":"Paris"}'),
        tc(0, "call_o2", "get_weather", '{"city":"Rome"}'), fin("tool_calls")],
        {"reasoning": "Two.", "tool_calls": [call_("get_weather", {"city": "Paris"}, "call_o1"),
                                             call_("get_weather", {"city": "Rome"}, "call_o2")]},
        profile="ollama", note="whole calls, index 0 reused: a new id is a new call")
    case("ollama_duplicate_call", [
        tc(0, "call_d", "get_weather", '{"city":"Paris"}'),
        tc(0, "call_d", "get_weather", '{"city":"Paris"}'), fin("tool_calls")],
        {"tool_calls": [call_("get_weather", {"city": "Paris"}, "call_d")]},
        profile="ollama", note="a completed call sent again is deduplicated")
    case("ollama_http_500_bad_tool_json", [], {"error": {"retryable": True, "status": 500}},
         profile="ollama", http={"status": 500, "body": {"error": {
             "message": "error parsing tool call: unexpected end of JSON input",
             "type": "api_error"}}}, note="Ollama 500 when a tool call's JSON is malformed")
    # ---- llama.cpp ---------------------------------------------------------------------
    case("llamacpp_tags_in_content", [
        *text_stream("<think>\nShort plan.\n</think>\n\n", 3),
        *stream_call(0, "llama1", "get_weather", '{"city": "Quito"}', 3, cont_id=None),
        fin("tool_calls")],
        {"reasoning": "Short plan.", "content": "",
         "tool_calls": [call_("get_weather", {"city": "Quito"}, "llama1")]},
        profile="llamacpp")
    # ---- DeepSeek / Kimi -----------------------------------------------------------------
    case("deepseek_tool_call", [
        ds({"role": "assistant", "content": None, "reasoning_content": ""}),
        *think_stream("Need the weather.", 3, content=None),
        *stream_call(0, "call_0_ds", "get_weather", '{"city": "Seoul"}', 3, cont_id=None),
        fin("tool_calls"),
        {**usage(30, 20), "usage": {"prompt_tokens": 30, "completion_tokens": 20,
                                    "total_tokens": 50, "prompt_cache_hit_tokens": 16,
                                    "completion_tokens_details": {"reasoning_tokens": 9}}}],
        {"reasoning": "Need the weather.", "tool_calls": [
            call_("get_weather", {"city": "Seoul"}, "call_0_ds")],
         "usage": {"input_tokens": 30, "output_tokens": 20, "reasoning_tokens": 9,
                   "cached_tokens": 16}},
        profile="deepseek")
    case("kimi_tool_call", [
        *think_stream("Use the tool.", 2, content=None),
        *stream_call(0, "functions.get_weather:0", "get_weather", '{"city": "Cairo"}', 3,
                     cont_id=None), fin("tool_calls")],
        {"reasoning": "Use the tool.",
         "tool_calls": [call_("get_weather", {"city": "Cairo"}, "functions.get_weather:0")]},
        profile="kimi")
    # ---- OpenAI reference / generic quirks ---------------------------------------------
    case("openai_reference", [
        ds({"role": "assistant", "content": None, "tool_calls": [{
            "index": 0, "id": "call_oa", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]}),
        *[tc(0, None, None, p) for p in pieces(paris, 6)],
        ds({}, "tool_calls"), usage(40, 18)],
        {"content": "", "reasoning": "",
         "tool_calls": [call_("get_weather", {"city": "Paris", "days": 3}, "call_oa")]},
        profile="openai", thinking=None)
    case("generic_integer_ids_name_resent", [
        tc(0, 7, "get_weather", '{"city"'), tc(0, 7, "get_weather", ': "Riga"}'),
        fin("tool_calls")], {"tool_calls": [call_("get_weather", {"city": "Riga"}, "7")]},
        profile="generic", thinking=None, note="integer id; name resent in every chunk")
    case("generic_new_id_same_index", [
        *stream_call(0, "g1", "get_weather", '{"city": "A"}', 2, cont_id=None),
        *stream_call(0, "g2", "get_weather", '{"city": "B"}', 2, cont_id=None),
        fin("tool_calls")],
        {"tool_calls": [call_("get_weather", {"city": "A"}, "g1"),
                        call_("get_weather", {"city": "B"}, "g2")]},
        profile="generic", thinking=None, note="gateways reuse index 0 for parallel calls")
    case("sse_comments_and_split_data", [
        ": keep-alive", "event: message", rc("Hmm.", content=None),
        'data: {"choices":[{"index":0,\ndata: "delta":{"content":"Hi"},"finish_reason":null}]}',
        fin("stop")], {"reasoning": "Hmm.", "content": "Hi"})
    case("stream_cut_without_finish", [*think_stream("Partial", 2), txt("half an ans")],
         {"error": {"retryable": True}}, done=False,
         note="a stream that ends without [DONE] or finish_reason is retryable")
    case("stream_error_chunk", [*think_stream("x", 1), {"error": {
        "message": "Internal server error", "type": "internal_error", "code": 500}}],
        {"error": {"retryable": True}}, done=False)
    case("dashscope_http_400", [], {"error": {"retryable": False, "status": 400,
                                              "message": "enable_thinking"}},
         http={"status": 400, "body": {"error": {
             "code": "invalid_parameter_error",
             "message": "parameter.enable_thinking must be set to false for non-streaming calls",
             "type": "invalid_request_error"}}})
    case("dashscope_http_429_retry_after", [], {"error": {"retryable": True, "status": 429,
                                                          "retry_after": 7}},
         http={"status": 429, "headers": {"Retry-After": "7"}})


def main() -> None:
    build()
    HERE.mkdir(exist_ok=True)
    for old in HERE.glob("*.json"):
        old.unlink()
    for name, data in CASES.items():
        (HERE / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                           encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {HERE}")


if __name__ == "__main__":
    main()
