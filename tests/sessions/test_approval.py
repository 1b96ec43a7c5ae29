"""Human approval: pause at the tool-call boundary, JSON state, resume (here or in a fresh
process), fail-closed decisions, once-only resumes, limits across a pause, sessions."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from agentkit import (
    Agent,
    ApprovalRequired,
    Approve,
    Deny,
    LimitExceeded,
    RunContext,
    RunFinished,
    RunState,
    Tool,
    ToolMessage,
    UserError,
    tool,
)
from agentkit.approval import arguments_hash
from agentkit.events import ToolResult
from agentkit.sessions import open_store, repair_messages
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
ran: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


@tool(needs_approval=True)
def pay(ctx: RunContext[None], amount: int, to: str) -> str:
    """Pay someone."""
    ran.append(("pay", (ctx.tool_call_id, amount, to)))
    return f"paid {amount} to {to}"


@tool
def lookup(name: str) -> str:
    """Look a name up."""
    ran.append(("lookup", name))
    return f"{name}: ok"


def paying_model(*after: Any) -> ScriptedModel:
    return ScriptedModel([tool_step(call("pay", {"amount": 5, "to": "bob"}, id="p1")),
                          *(after or [reply("paid")])])


async def test_a_gated_call_pauses_the_run_before_anything_runs() -> None:
    model = paying_model()
    agent = Agent(model, "Pay.", [pay])
    events = [e async for e in agent.stream("pay bob 5")]
    asks = [e for e in events if isinstance(e, ApprovalRequired)]
    assert [(a.id, a.name, a.arguments) for a in asks] == [("p1", "pay", {"amount": 5,
                                                                          "to": "bob"})]
    assert asks[0].arguments_hash == arguments_hash("pay", {"to": "bob", "amount": 5})
    assert not any(isinstance(e, ToolResult) for e in events)
    final = events[-1]
    assert isinstance(final, RunFinished) and events[-2] is asks[0]
    result = final.result
    assert result.status == "paused" and ran == [] and len(model.requests) == 1
    assert [p.id for p in result.pending_approvals] == ["p1"]
    state = result.state
    assert state is not None and state.schema_version == 1
    assert RunState.model_validate_json(state.model_dump_json()) == state
    assert json.loads(final.model_dump_json())["result"]["status"] == "paused"

    done = await agent.resume(state, decisions={"p1": Approve(arguments_hash=asks[0]
                                                              .arguments_hash)})
    assert done.status == "completed" and done.output == "paid"
    assert ran == [("pay", ("p1", 5, "bob"))]  # the call id is the idempotency key
    assert len(model.requests) == 2 and done.steps == 2 and done.usage.requests == 2
    assert [r.name for r in done.tool_calls] == ["pay"]
    assert repair_messages(done.messages) == done.messages
    model.assert_complete()


RESUMER = textwrap.dedent("""
    import json, os, sys
    from agentkit import Agent, Approve, RunState, tool
    from agentkit.models import OpenAICompatModel

    @tool(needs_approval=True)
    def pay(amount: int, to: str) -> str:
        '''Pay someone.'''
        with open(os.environ["LEDGER"], "a") as f:
            f.write(f"{amount} {to}\\n")
        return "paid"

    state = RunState.model_validate_json(sys.stdin.read())
    model = OpenAICompatModel("qwen3-max", base_url=os.environ["LLM"], api_key="k")
    agent = Agent(model, "Pay.", [pay])
    result = agent.resume_sync(state, decisions={state.pending[0].id: Approve()})
    print(json.dumps({"status": result.status, "output": result.output}))
    try:
        agent.resume_sync(state, decisions={state.pending[0].id: Approve()})
    except Exception as exc:
        print(json.dumps({"second": type(exc).__name__}))
""")


async def test_pause_to_json_then_resume_in_a_fresh_process(tmp_path: Path) -> None:
    from agentkit.models import OpenAICompatModel
    from agentkit.testing import LoopbackServer

    ledger = tmp_path / "ledger"
    with LoopbackServer([tool_step(call("pay", {"amount": 7, "to": "ann"})),
                         reply("all paid")]) as llm:
        model = OpenAICompatModel("qwen3-max", base_url=llm.base_url, api_key="k")
        paused = await Agent(model, "Pay.", [pay]).run("pay ann 7")
        await model.aclose()
        assert paused.status == "paused" and paused.state is not None
        env = {**os.environ, "LEDGER": str(ledger), "LLM": llm.base_url}
        with anyio.fail_after(120):
            proc = await anyio.run_process([sys.executable, "-c", RESUMER], env=env, cwd=ROOT,
                                           input=paused.state.model_dump_json().encode(),
                                           check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        lines = [json.loads(x) for x in proc.stdout.decode().splitlines()]
        assert lines[0] == {"status": "completed", "output": "all paid"}
        assert lines[1] == {"second": "UserError"}  # the same process refuses a second resume
        assert len(llm.requests) == 2  # the paused step was not asked again
        last = llm.requests[1].body["messages"]
        assert last[-1]["role"] == "tool" and last[-1]["content"] == "paid"
    assert ledger.read_text() == "7 ann\n"  # ran exactly once


async def test_deny_and_a_missing_decision_give_the_model_an_error() -> None:
    for decisions, expected in [({"p1": Deny(message="too risky")}, "not approved: too risky"),
                                ({}, "not approved (no decision was given)")]:
        model = paying_model(reply("ok, not paid"))
        agent = Agent(model, None, [pay])
        paused = await agent.run("pay")
        done = await agent.resume(paused.state, decisions=decisions)
        assert ran == [] and done.output == "ok, not paid"
        result = [m for m in done.messages if isinstance(m, ToolMessage)]
        assert len(result) == 1 and result[0].is_error and expected in result[0].content
        assert model.requests[1].messages[-1] == result[0]  # what the model saw


async def test_bad_decisions_are_refused_and_consume_nothing() -> None:
    agent = Agent(paying_model(), None, [pay])
    paused = await agent.run("pay")
    state = paused.state
    assert state is not None
    with pytest.raises(UserError, match="unknown call ids: 'nope'"):
        await agent.resume(state, decisions={"p1": Approve(), "nope": Approve()})
    with pytest.raises(UserError, match="arguments hash does not match"):
        await agent.resume(state, decisions={"p1": Approve(arguments_hash="sha256:00")})
    for bad in (None, True, "yes"):
        with pytest.raises(UserError, match="must be Approve"):
            await agent.resume(state, decisions={"p1": bad})  # type: ignore[dict-item]
    edited = json.loads(state.model_dump_json())
    edited["reply"]["tool_calls"][0]["arguments"] = json.dumps({"amount": 5000, "to": "eve"})
    with pytest.raises(UserError, match="does not match its reply"):
        await agent.resume(RunState.model_validate(edited), decisions={"p1": Approve()})
    assert ran == []
    done = await agent.resume(state, decisions={"p1": Approve()})  # still resumable
    assert done.output == "paid" and len(ran) == 1
    with pytest.raises(UserError, match="already resumed"):
        await agent.resume(state, decisions={"p1": Approve()})
    with pytest.raises(UserError, match="already resumed"):  # also from its JSON
        await agent.resume(RunState.model_validate_json(state.model_dump_json()))
    assert len(ran) == 1


async def test_a_parallel_reply_with_gated_and_ungated_calls() -> None:
    step = tool_step(call("lookup", {"name": "bob"}, id="l1"),
                     call("pay", {"amount": 1, "to": "bob"}, id="p1"),
                     call("pay", {"amount": 2}, id="bad"),  # invalid: never gated, never run
                     call("pay", {"amount": 3, "to": "cy"}, id="p2"))
    for decisions in [{"p1": Approve(), "p2": Deny(message="no")}, {"p1": Approve(),
                                                                     "p2": Approve()}]:
        ran.clear()
        model = ScriptedModel([step, reply("done")])
        agent = Agent(model, None, [pay, lookup])
        paused = await agent.run("go")
        assert [p.id for p in paused.pending_approvals] == ["p1", "p2"] and ran == []
        events = [e async for e in agent.resume_stream(paused.state, decisions=decisions)]
        results = [e for e in events if isinstance(e, ToolResult)]
        # each result goes out as its call completes; the transcript keeps call order
        assert sorted(r.id for r in results) == ["bad", "l1", "p1", "p2"]
        tool_ids = [m.tool_call_id for m in events[-1].result.messages  # type: ignore[union-attr]
                    if isinstance(m, ToolMessage)]
        assert tool_ids == ["l1", "p1", "bad", "p2"]
        denied = "p2" in decisions and isinstance(decisions["p2"], Deny)
        assert sorted(name for name, _ in ran) == ["lookup", "pay"] + ([] if denied else ["pay"])
        done = events[-1].result  # type: ignore[union-attr]
        tool_msgs = [m for m in done.messages if isinstance(m, ToolMessage)]
        assert [m.tool_call_id for m in tool_msgs] == ["l1", "p1", "bad", "p2"]  # one each
        assert tool_msgs[2].is_error and tool_msgs[3].is_error is denied


async def test_needs_approval_rules_and_built_in_plumbing(tmp_path: Path) -> None:
    async def big(ctx: RunContext[None], args: dict[str, Any]) -> bool:
        return bool(args["amount"] > 100)

    def broken(ctx: RunContext[None], args: dict[str, Any]) -> bool:
        raise RuntimeError("rule bug")

    def spend(amount: int) -> str:
        ran.append(("spend", amount))
        return "spent"

    schema = {"type": "object", "properties": {"amount": {"type": "integer"}},
              "required": ["amount"]}
    for rule, amount, pauses in [(big, 5, False), (big, 500, True), (broken, 5, True)]:
        t = Tool.from_schema("spend", "Spend.", schema, spend, needs_approval=rule)
        model = ScriptedModel([tool_step(call("spend", {"amount": amount})), reply("ok")])
        result = await Agent(model, None, [t]).run("spend")
        assert (result.status == "paused") is pauses, (rule, amount)

    from agentkit.tools import code_tools, file_tools

    assert all(t.needs_approval is True for t in code_tools(needs_approval=True))
    flags = {t.name: t.needs_approval for t in file_tools(tmp_path, read_only=False,
                                                          allow_delete=True,
                                                          needs_approval=True)}
    assert flags == {"read_file": False, "write_file": True, "edit_file": True,
                     "list_files": False, "glob": False, "grep": False, "delete_file": True}
    assert not any(t.needs_approval for t in code_tools())


async def test_limits_keep_counting_across_a_pause() -> None:
    again = tool_step(call("lookup", {"name": "x"}))
    agent = Agent(paying_model(again, again), None, [pay, lookup], max_steps=2)
    paused = await agent.run("go")
    with pytest.raises(LimitExceeded) as err:
        await agent.resume(paused.state, decisions={"p1": Approve()})
    assert err.value.limit == "max_steps" and len(ran) == 2  # pay, then lookup in step 2

    ran.clear()
    two = ScriptedModel([tool_step(call("pay", {"amount": 1, "to": "a"}, id="a"),
                                   call("pay", {"amount": 2, "to": "b"}, id="b"))])
    agent = Agent(two, None, [pay], max_tool_calls=1)
    paused = await agent.run("go")
    with pytest.raises(LimitExceeded) as err:
        await agent.resume(paused.state, decisions={"a": Approve(), "b": Approve()})
    assert err.value.limit == "max_tool_calls" and ran == []

    agent = Agent(paying_model(), None, [pay], timeout=30)
    paused = await agent.run("go")
    assert paused.state is not None and 0 < paused.state.elapsed < 30
    late = paused.state.model_copy(update={"elapsed": 31.0})  # 31 s already spent
    with pytest.raises(LimitExceeded) as err:
        await agent.resume(late, decisions={"p1": Approve()})
    assert err.value.limit == "timeout"

    agent = Agent(paying_model(), None, [pay], token_budget=10_000)
    paused = await agent.run("go")
    assert paused.state is not None and paused.state.usage.total_tokens > 0
    done = await agent.resume(paused.state, decisions={"p1": Approve()})
    assert done.usage.requests == 2
    assert done.usage.total_tokens > paused.state.usage.total_tokens


def test_a_state_of_another_schema_version_is_refused() -> None:
    data = json.loads(RunState(state_id="s", run_id="r", messages=[], reply={"role": "assistant"},
                               pending=[], step=1, usage={}).model_dump_json())  # type: ignore[arg-type]
    data["schema_version"] = 2
    with pytest.raises(ValidationError):
        RunState.model_validate(data)


async def test_with_a_session_the_paused_run_is_stored_and_resumed_once(
        store_url: str) -> None:
    async with open_store(store_url) as store:
        s = store.session("approve-me")
        model = paying_model()
        paused = await Agent(model, "Pay.", [pay]).run("pay bob", session=s)
        assert paused.status == "paused" and paused.state is not None
        assert paused.state.session_id == "approve-me"
        assert [m.role for m in await s.get_messages()] == ["user"]
        assert (await store.list_sessions())[0].paused
        with pytest.raises(UserError, match="resume it with session="):
            await Agent(model, "Pay.", [pay]).resume(paused.state, decisions={"p1": Approve()})
    # another store object and agent: as a new process would see it
    async with open_store(store_url) as store:
        s = store.session("approve-me")
        assert (await s.paused_state()) == paused.state
        agent = Agent(model, "Pay.", [pay])
        done = await agent.resume(session=s, decisions={"p1": Approve()})
        assert done.output == "paid" and len(ran) == 1
        assert [m.role for m in await s.get_messages()] == ["user", "assistant", "tool",
                                                             "assistant"]
        for again in [agent.resume(session=s, decisions={"p1": Approve()}),
                      agent.resume(paused.state, session=s, decisions={"p1": Approve()})]:
            with pytest.raises(UserError, match="no such paused run"):
                await again
        assert len(ran) == 1 and not (await store.list_sessions())[0].paused


async def test_a_new_prompt_on_a_paused_session_denies_the_waiting_calls(
        store_url: str) -> None:
    async with open_store(store_url) as store:
        s = store.session("moved-on")
        model = paying_model(reply("fine, something else"))
        agent = Agent(model, None, [pay])
        assert (await agent.run("pay", session=s)).status == "paused"
        done = await agent.run("never mind", session=s)
        assert done.output == "fine, something else" and ran == []
        stored = await s.get_messages()
        assert [m.role for m in stored] == ["user", "assistant", "tool", "user", "assistant"]
        assert stored[2].is_error and "not approved" in stored[2].content  # type: ignore[union-attr]
        assert await s.paused_state() is None
        with pytest.raises(UserError, match="no such paused run"):
            await agent.resume(session=s, decisions={"p1": Approve()})


async def test_tool_retries_keep_counting_across_a_pause() -> None:
    from agentkit import ToolRetriesExceeded, ToolRetry

    @tool(retries=1)
    def picky(n: int) -> str:
        """Always asks for another try."""
        raise ToolRetry("try a bigger n")

    model = ScriptedModel([
        tool_step(call("picky", {"n": 1})),                        # retry 1 of 1
        tool_step(call("picky", {"n": 2}), call("pay", {"amount": 1, "to": "x"}, id="p1")),
    ])
    agent = Agent(model, None, [picky, pay])
    paused = await agent.run("go")
    assert paused.status == "paused" and paused.state is not None
    assert paused.state.tool_retries == {"picky": 1}
    with pytest.raises(ToolRetriesExceeded):  # the second retry in a row, across the pause
        await agent.resume(paused.state, decisions={"p1": Approve()})
