"""Sessions on SQLite and on a real Postgres server: storage, runs, crashes, locks, repair."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import (
    Agent,
    AssistantMessage,
    Message,
    ToolCall,
    ToolMessage,
    UserError,
    UserMessage,
    tool,
)
from agentkit.sessions import SessionBusy, SessionError, open_store, repair_messages
from agentkit.testing import FunctionModel, ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


def consistent(messages: list[Message]) -> bool:
    """Every call answered once, right after its reply; no orphan results."""
    return repair_messages(messages) == list(messages)


async def test_store_api_round_trip(store_url: str) -> None:
    async with open_store(store_url) as store:
        s = store.session("alice")
        assert await s.get_messages() == []
        msgs: list[Message] = [UserMessage(content="hi"), AssistantMessage(content="hello")]
        await s.add_messages(msgs)
        await s.add_messages([UserMessage(content=[{"type": "text", "text": "naïve ✓"}])])
        got = await s.get_messages()
        assert got[:2] == msgs and got[2].content == [{"type": "text", "text": "naïve ✓"}]
        await store.session("bob").add_messages([UserMessage(content="x")])
        infos = {i.id: i for i in await store.list_sessions()}
        assert infos["alice"].message_count == 3 and infos["bob"].message_count == 1
        assert infos["alice"].created <= infos["alice"].updated and not infos["alice"].paused
        await s.clear()
        assert await s.get_messages() == []
        await s.add_messages([UserMessage(content="again")])
        assert [m.content for m in await s.get_messages()] == ["again"]
        assert await store.delete("bob") and not await store.delete("bob")
        assert [i.id for i in await store.list_sessions()] == ["alice"]
    with pytest.raises(UserError):
        store.session("")


async def test_a_run_loads_the_history_and_commits_each_exchange(store_url: str) -> None:
    model = ScriptedModel([tool_step(call("add", {"a": 1, "b": 2})), reply("3"), reply("yes")])
    agent = Agent(model, "You add.", [add])
    async with open_store(store_url) as store:
        s = store.session("s1")
        first = await agent.run("1+2?", session=s)
        assert first.output == "3"
        stored = await s.get_messages()
        assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]  # no system
        second = await agent.run("sure?", session=s)
        assert second.output == "yes"
        sent = model.requests[2].messages
        assert [m.role for m in sent] == ["system", "user", "assistant", "tool", "assistant",
                                          "user"]
        assert len(await s.get_messages()) == 6
        with pytest.raises(UserError, match="history= or session="):
            await agent.run("x", session=s, history=[UserMessage(content="y")])


async def test_a_run_cancelled_mid_tool_keeps_what_it_finished(store_url: str) -> None:
    started = anyio.Event()

    @tool
    async def slow(x: int) -> int:
        """Slow."""
        if x == 2:
            started.set()
            await anyio.sleep(60)
        return x

    model = ScriptedModel([tool_step(call("slow", {"x": 1})), tool_step(call("slow", {"x": 2})),
                           reply("after")])
    agent = Agent(model, None, [slow])
    async with open_store(store_url, lock_timeout=2) as store:
        s = store.session("c")
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(agent.run, "go", session=s))
            await started.wait()
            tg.cancel_scope.cancel()
        stored = await s.get_messages()
        assert [m.role for m in stored] == ["user", "assistant", "tool"]
        result = await agent.run("again", session=s)  # the lock was released, nothing dangles
        assert result.output == "after" and consistent(await s.get_messages())


CHILD = textwrap.dedent("""
    import os, sys, time, anyio
    from agentkit import Agent, tool
    from agentkit.sessions import open_store
    from agentkit.testing import ScriptedModel, call, tool_step

    @tool
    def work(n: int) -> int:
        '''Work.'''
        if n == 2:
            open(os.environ["MARKER"], "w").close()
            time.sleep(120)
        return n

    async def main():
        store = open_store(os.environ["STORE_URL"])
        model = ScriptedModel([tool_step(call("work", {"n": 1})),
                               tool_step(call("work", {"n": 2}))])
        await Agent(model, None, [work]).run("start", session=store.session("k"))

    anyio.run(main)
""")


async def test_a_process_killed_mid_run_leaves_a_session_that_continues(
        store_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = {**os.environ, "STORE_URL": store_url, "MARKER": str(marker)}
    async with await anyio.open_process([sys.executable, "-c", CHILD], env=env, cwd=ROOT,
                                        stdout=None, stderr=None) as child:
        with anyio.fail_after(60):
            while not marker.exists():
                assert child.returncode is None, "the child run ended early"
                await anyio.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        await child.wait()
    agent = Agent(ScriptedModel([reply("continued")]), None, [add])
    async with open_store(store_url, lock_timeout=5) as store:
        s = store.session("k")
        assert [m.role for m in await s.get_messages()] == ["user", "assistant", "tool"]
        t0 = time.monotonic()
        result = await agent.run("go on", session=s)
        assert time.monotonic() - t0 < 4, "the dead process's lock must be gone"
        assert result.output == "continued" and consistent(await s.get_messages())


async def test_two_runs_on_one_session_are_serialised(store_url: str) -> None:
    @tool
    async def wait(tag: str) -> str:
        """Wait a little."""
        await anyio.sleep(0.2)
        return tag

    def respond(messages: list[Message], _req: Any) -> Any:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return reply(f"done {last.content}")
        return tool_step(call("wait", {"tag": str(last.content)}))

    agent = Agent(FunctionModel(respond), None, [wait])
    # two stores on one database: for SQLite the lock between them is the OS-level one
    async with open_store(store_url) as one, open_store(store_url) as two:
        async with anyio.create_task_group() as tg:
            for store, tag in [(one, "A"), (two, "B"), (one, "C")]:
                tg.start_soon(functools.partial(agent.run, tag, session=store.session("shared")))
        stored = await one.session("shared").get_messages()
    assert len(stored) == 12 and consistent(stored)
    for block in range(3):  # each run's four messages are contiguous
        chunk = stored[block * 4:block * 4 + 4]
        tag = chunk[0].content
        assert [m.role for m in chunk] == ["user", "assistant", "tool", "assistant"]
        assert chunk[2].content == tag and chunk[3].content == f"done {tag}"


async def test_a_busy_session_waits_then_fails_clearly(store_url: str) -> None:
    agent = Agent(ScriptedModel([reply("ok")]), None, [])
    async with open_store(store_url, lock_timeout=0.3) as store:
        s = store.session("busy")
        lease = await s.lease()
        t0 = time.monotonic()
        with pytest.raises(SessionBusy, match="in use") as err:
            await agent.run("hi", session=s)
        assert 0.25 < time.monotonic() - t0 < 3
        assert err.value.messages == []  # an AgentError with the transcript as it stood
        await lease.release()
        assert (await agent.run("hi", session=s)).output == "ok"


async def test_a_hand_damaged_session_is_repaired_before_the_request(store_url: str) -> None:
    damaged: list[Message] = [
        ToolMessage(tool_call_id="ghost", name="add", content="orphan at start"),
        UserMessage(content="q"),
        AssistantMessage(tool_calls=[ToolCall(id="c1", name="add", arguments="{}"),
                                     ToolCall(id="c2", name="add", arguments="{}")]),
        ToolMessage(tool_call_id="c1", name="add", content="1"),
        ToolMessage(tool_call_id="zz", name="add", content="orphan"),
        ToolMessage(tool_call_id="c1", name="add", content="duplicate"),
        UserMessage(content="later"),
        ToolMessage(tool_call_id="c2", name="add", content="too late: orphan"),
        AssistantMessage(tool_calls=[ToolCall(id="c3", name="add", arguments="{}")]),
    ]
    model = ScriptedModel([reply("fine")])
    async with open_store(store_url) as store:
        s = store.session("hurt")
        await s.add_messages(damaged)
        assert (await Agent(model, None, []).run("next", session=s)).output == "fine"
        assert len(await s.get_messages()) == len(damaged) + 2  # stored rows never rewritten
    sent = model.requests[0].messages
    assert consistent(sent)
    summary = [(m.role, getattr(m, "tool_call_id", None), getattr(m, "content", None))
               for m in sent]
    assert summary[:4] == [("user", None, "q"), ("assistant", None, ""),
                           ("tool", "c1", "1"), ("tool", "c2", summary[3][2])]
    assert "interrupted" in summary[3][2]
    assert summary[4] == ("user", None, "later")
    assert summary[6][1] == "c3" and "interrupted" in summary[6][2]
    assert summary[-1] == ("user", None, "next") and len(sent) == 8


def test_repair_is_deterministic_and_idempotent() -> None:
    msgs: list[Message] = [
        AssistantMessage(tool_calls=[ToolCall(id="a", name="t"), ToolCall(id="b", name="t")]),
        ToolMessage(tool_call_id="b", name="t", content="B"),
        ToolMessage(tool_call_id="x", name="t", content="X"),
    ]
    once = repair_messages(msgs)
    assert repair_messages(once) == once == repair_messages(msgs)
    assert [(m.role, getattr(m, "tool_call_id", "")) for m in once] == [
        ("assistant", ""), ("tool", "b"), ("tool", "a")]
    assert repair_messages([]) == []


async def test_an_unreadable_row_is_skipped_and_a_newer_one_refused(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path}/s.db"
    async with open_store(url) as store:
        await store.session("r").add_messages([UserMessage(content="a"), UserMessage(content="b"),
                                               UserMessage(content="c")])
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE agentkit_messages SET data='{not json' WHERE seq=1")
    db.commit()
    async with open_store(url) as store:
        assert [m.content for m in await store.session("r").get_messages()] == ["a", "c"]
    db.execute("UPDATE agentkit_messages SET v=99 WHERE seq=2")
    db.commit()
    db.close()
    async with open_store(url) as store:
        with pytest.raises(SessionError, match="newer agentkit"):
            await store.session("r").get_messages()


async def test_ttl_expires_idle_sessions_and_prune_deletes_them(store_url: str) -> None:
    async with open_store(store_url, ttl=0.5) as store:
        await store.session("old").add_messages([UserMessage(content="stale")])
        await anyio.sleep(0.7)
        await store.session("new").add_messages([UserMessage(content="fresh")])
        assert [i.id for i in await store.list_sessions()] == ["new"]
        assert await store.session("old").get_messages() == []
        assert await store.prune() == 1
        await store.session("new").add_messages([UserMessage(content="more")])
        assert len(await store.session("new").get_messages()) == 2
        await anyio.sleep(0.7)
        await store.session("new").add_messages([UserMessage(content="restart")])
        assert [m.content for m in await store.session("new").get_messages()] == ["restart"]
    async with open_store(store_url) as store:
        with pytest.raises(UserError, match="older_than"):
            await store.prune()
        assert await store.prune(older_than=3600) == 0


async def test_a_thousand_sessions_of_twenty_messages_list_and_load(store_url: str) -> None:
    batch: list[Message] = [UserMessage(content=f"message {i} " + "x" * 100) for i in range(20)]
    async with open_store(store_url) as store:
        t0 = time.perf_counter()
        for i in range(1000):
            await store.session(f"user-{i:04d}").add_messages(batch)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        infos = await store.list_sessions()
        t_list = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = [await store.session(i.id).get_messages() for i in infos]
        t_load = time.perf_counter() - t0
    assert len(infos) == 1000 and {i.message_count for i in infos} == {20}
    assert all(m == batch for m in loaded)
    print(json.dumps({"write_s": t_write, "list_s": t_list, "load_all_s": t_load}))
    # loose bounds that only catch an accidental full scan per call (figures: benchmarks/)
    assert t_list < 5 and t_load < 60


def test_bad_urls_and_settings_are_clear_errors() -> None:
    for url in ["mysql://x", "sqlite", "", "redis://h"]:
        with pytest.raises(UserError, match="unsupported session store URL"):
            open_store(url)
    with pytest.raises(UserError, match="ttl"):
        open_store("sqlite://", ttl=0)
    store = open_store("postgresql://user:secret@db.example/app")
    assert "secret" not in repr(store)


def test_import_stays_light() -> None:
    code = ("import sys, agentkit.sessions, agentkit.hooks; "
            "print(sorted(m for m in ('psycopg', 'psycopg_pool', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_stores_opening_one_new_sqlite_file_at_once(tmp_path: Path) -> None:
    # regression: a connection switching a new file to WAL while another created the tables
    # failed at once with "database is locked" (that switch does not wait for the lock)
    for attempt in range(20):
        url = f"sqlite:///{tmp_path}/fresh{attempt}.db"
        stores = [open_store(url) for _ in range(8)]
        try:
            async with anyio.create_task_group() as tg:
                for i, store in enumerate(stores):
                    tg.start_soon(store.session(f"s{i}").add_messages,
                                  [UserMessage(content=str(i))])
            assert len(await stores[0].list_sessions()) == 8
        finally:
            for store in stores:
                await store.aclose()
