"""agentkit as an MCP client, against a real server built with the SDK (stdio and HTTP)."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from agentkit import Agent, UserError, tool
from agentkit.events import ToolProgress, ToolResult
from agentkit.mcp import MCPServer
from agentkit.testing import ScriptedModel, call, reply, tool_step
from agentkit.tooldef import ToolArgumentsError

from .helpers import SERVER, until

pytestmark = pytest.mark.anyio
Make = Callable[..., MCPServer]


async def test_tools_listed_with_the_servers_schemas_untouched(http_server: Make) -> None:
    async with http_server() as server:
        tools = {t.name: t for t in await server.list_tools()}
        assert {"echo", "weather", "fail", "count", "slow", "crash"} <= set(tools)
        assert server.protocol_version == "2026-07-28"
        conn = await server._connected()
        raw = {t.name: t for t in (await conn.client.list_tools()).tools}
        assert tools["weather"].parameters == raw["weather"].input_schema
        # validated with jsonschema like a local tool: a wrong call is never sent
        with pytest.raises(ToolArgumentsError, match="at text: 3 is not of type 'string'"):
            tools["echo"].validate({"text": 3})
        assert tools["echo"].validate({"text": "x"}) == {"text": "x"}


def test_schema_conversion_works_on_a_deep_copy() -> None:
    from agentkit.mcp.convert import copy_schema

    schema = {"properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}
    before = copy.deepcopy(schema)
    out = copy_schema(schema)
    out["properties"]["a"]["properties"]["b"]["type"] = "integer"
    assert schema == before and out["type"] == "object"


async def test_results_text_structured_error_and_binary(make_server: Make) -> None:
    async with make_server() as server:
        echo = await server.call_tool("echo", {"text": "hello"})
        assert (echo.text, echo.is_error) == ("hello", False)
        weather = await server.call_tool("weather", {"city": "Oslo"})
        assert weather.text == '{"city":"Oslo","temperature":21,"unit":"celsius"}'
        assert weather.structured == {"city": "Oslo", "temperature": 21, "unit": "celsius"}
        failed = await server.call_tool("fail", {"message": "no such thing"})
        assert failed.is_error and "no such thing" in failed.text
        picture = await server.call_tool("picture", {})
        assert picture.text.splitlines() == [
            "a picture",
            "[image content: image/png, 1008 bytes; not shown]",
            "[audio content: audio/wav, 300 bytes; not shown]",
        ]


async def test_progress_reaches_the_stream_while_the_tool_runs(make_server: Make) -> None:
    server = make_server()
    model = ScriptedModel([tool_step(call("count", {"steps": 3}, id="c1")), reply("done")])
    events: list[Any] = []
    async with Agent(model, tools=[server]) as agent:
        async for event in agent.stream("count"):
            events.append(event)
    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [(p.id, p.progress, p.total, p.message) for p in progress] == [
        ("c1", 1.0, 3.0, "step 1"), ("c1", 2.0, 3.0, "step 2"), ("c1", 3.0, 3.0, "step 3")]
    result = next(i for i, e in enumerate(events) if isinstance(e, ToolResult))
    assert all(events.index(p) < result for p in progress)  # live: before the result


async def test_timeout_cancels_the_call_on_the_server(make_server: Make) -> None:
    tag = uuid.uuid4().hex
    async with make_server(timeout=0.5) as server:
        result = await server.call_tool("slow", {"seconds": 30, "tag": tag})
        assert result.is_error and "within 0.5s" in result.text and "cancelled" in result.text
        assert await _cancelled_on_server(server, tag)


async def test_cancelled_run_cancels_its_mcp_call(make_server: Make) -> None:
    tag = uuid.uuid4().hex
    server = make_server()
    model = ScriptedModel([tool_step(call("slow", {"seconds": 30, "tag": tag})), reply("x")])
    async with Agent(model, tools=[server]) as agent:
        with anyio.move_on_after(1.5):
            await agent.run("sleep")
        assert await _cancelled_on_server(server, tag)
        assert (await server.call_tool("echo", {"text": "still here"})).text == "still here"


async def _cancelled_on_server(server: MCPServer, tag: str) -> bool:
    async def seen() -> bool:
        return tag in (await server.call_tool("cancelled", {})).structured["result"]

    return await until(seen, 5)


async def _has(server: MCPServer, name: str) -> bool:
    return name in {t.name for t in await server.list_tools()}


async def test_tool_list_refreshed_on_list_changed(make_server: Make) -> None:
    async with make_server(prefix="lc_") as server:
        names = {t.name for t in await server.list_tools()}
        assert "lc_add_bonus" in names
        await server.call_tool("add_bonus", {})
        assert await until(lambda: _has(server, "lc_bonus"))
        bonus = await server.call_tool("bonus", {"x": 21})  # called with its own name
        assert bonus.text == "42"


async def test_agent_run_end_to_end_over_loopback_with_two_servers(
        make_server: Make, tmp_path: Any, http_url: str) -> None:
    """Parallel calls to two servers in one step: each call waits for the other to arrive."""
    from agentkit.models import OpenAICompatModel
    from agentkit.testing import LoopbackServer

    a, b = make_server(prefix="a_"), MCPServer.http(http_url, prefix="b_")
    d = str(tmp_path)
    steps = [tool_step(call("a_rendezvous", {"directory": d, "me": "a", "other": "b"}),
                       call("b_rendezvous", {"directory": d, "me": "b", "other": "a"}),
                       call("a_weather", {"city": "Rome"})),
             reply("both met")]
    async with LoopbackServer(steps) as loop:
        model = OpenAICompatModel("qwen3-max", base_url=loop.base_url, api_key="test",
                                  profile="dashscope")
        async with Agent(model, tools=[a, b]) as agent:
            result = await agent.run("meet")
        assert result.output == "both met"
        assert [(c.name, c.result, c.is_error) for c in result.tool_calls] == [
            ("a_rendezvous", "met", False), ("b_rendezvous", "met", False),
            ("a_weather", '{"city":"Rome","temperature":21,"unit":"celsius"}', False)]
        sent = {t["function"]["name"] for t in loop.requests[0].body["tools"]}
        assert {"a_rendezvous", "b_rendezvous", "a_echo", "b_echo"} <= sent
        loop.assert_complete()


async def test_invalid_arguments_are_fed_back_never_sent(http_server: Make) -> None:
    model = ScriptedModel([tool_step(call("slow", {"seconds": "long", "tag": "t"})),
                           reply("ok")])
    async with Agent(model, tools=[http_server()]) as agent:
        result = await agent.run("go")
    text = result.tool_calls[0].result
    assert result.tool_calls[0].is_error
    # agentkit's own jsonschema check answered (the server's wording would differ)
    assert text.startswith("Error: invalid arguments for tool 'slow':\n- at seconds: 'long' is not")
    assert "The call was not run" in text


async def test_name_clashes_are_user_errors_unless_prefixed(http_server: Make) -> None:
    @tool
    def echo(text: str) -> str:
        """A local echo."""
        return text

    one, two = http_server(), http_server()
    agent = Agent(ScriptedModel([reply("x")]), tools=[one, two])
    with pytest.raises(UserError, match=r"'echo' is offered both by MCPServer"):
        await agent.run("hi")
    agent = Agent(ScriptedModel([reply("x")]), tools=[echo, one])
    with pytest.raises(UserError, match="'echo' is offered both by a local tool"):
        await agent.run("hi")
    ok = Agent(ScriptedModel([tool_step(call("p_echo", {"text": "via prefix"})), reply("y")]),
               tools=[echo, http_server(prefix="p_")])
    async with ok:
        result = await ok.run("hi")
    assert result.tool_calls[0].result == "via prefix"
    await one.aclose()
    await two.aclose()


async def test_needs_approval_is_set_on_every_tool(http_server: Make) -> None:
    async with http_server(needs_approval=True) as server:
        tools = await server.list_tools()
    assert tools and all(getattr(t, "needs_approval", None) is True for t in tools)


async def test_names_over_64_characters_are_refused(http_server: Make) -> None:
    async with http_server(prefix="x" * 60) as server:
        with pytest.raises(UserError, match="over the 64-character limit"):
            await server.list_tools()


async def test_sampling_refused_unless_a_model_is_given(http_server: Make) -> None:
    async with http_server() as server:
        refused = await server.call_tool("ask_model", {"question": "2+2?"})
        assert refused.is_error and "sampling" in refused.text
    model = ScriptedModel([reply("four")])
    async with http_server(sampling_model=model) as server:
        answered = await server.call_tool("ask_model", {"question": "2+2?"})
        assert answered.text == "model said: four"
        assert "2+2?" in model.requests[0].messages[0].content


async def test_elicitation_declined_unless_a_callback_answers(http_server: Make) -> None:
    async with http_server() as server:
        assert (await server.call_tool("ask_user", {})).text == "user answered: decline"
    asked: list[str] = []

    async def answer(message: str, schema: dict[str, Any]) -> dict[str, Any]:
        asked.append(message)
        assert "name" in schema["properties"]
        return {"name": "Ada"}

    async with http_server(elicitation=answer) as server:
        assert (await server.call_tool("ask_user", {})).text == "hello Ada"
    assert asked == ["What is your name?"]


async def test_resources_and_prompts(http_server: Make) -> None:
    async with http_server(resources_as_tools=True, prefix="r_") as server:
        assert [r.uri for r in await server.list_resources()] == ["notes://index"]
        read = await server.read_resource("notes://index")
        assert read.contents[0].text == "first, second"
        assert [p.name for p in await server.list_prompts()] == ["greet"]
        prompt = await server.get_prompt("greet", {"who": "Bob"})
        assert prompt.messages[0].content.text == "Say hello to Bob."
        tools = {t.name: t for t in await server.list_tools()}
        listing = await tools["r_list_resources"].call(None, {})
        assert listing == "notes://index - index: All notes"
        assert await tools["r_read_resource"].call(None, {"uri": "notes://two"}) == "the note two"


async def test_concurrent_runs_share_one_connection(make_server: Make) -> None:
    server = make_server()
    results: list[str] = []

    async def one(i: int) -> None:
        model = ScriptedModel([tool_step(call("pid")), reply(f"run {i}")])
        run = await Agent(model, tools=[server]).run("pid?")
        results.append(run.tool_calls[0].result)

    async with server:
        conn = await server._connected()
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(one, i)
        assert await server._connected() is conn
    assert len(results) == 6 and len(set(results)) == 1


async def test_stdio_env_is_minimal_and_stderr_is_logged(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setenv("AGENTKIT_TEST_SECRET", "s3cret")
    caplog.set_level(logging.INFO, logger="agentkit.mcp")
    async with MCPServer.stdio(sys.executable, [SERVER, "stdio"], env={"GIVEN": "yes"}) as server:
        assert (await server.call_tool("environment", {"name": "AGENTKIT_TEST_SECRET"})).text == ""
        assert (await server.call_tool("environment", {"name": "GIVEN"})).text == "yes"
        assert (await server.call_tool("environment", {"name": "PATH"})).text != ""
        assert await until(lambda: "environment lookup: GIVEN" in caplog.text)
    assert any(r.name == "agentkit.mcp" and "environment lookup" in r.getMessage()
               for r in caplog.records)
