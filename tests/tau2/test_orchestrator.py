"""The three-party conversation on the core loop: turns, visibility, stops, limits, events."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentkit import Agent, ToolMessage, UserMessage
from agentkit.agent import Limits
from agentkit.events import ThinkingDelta, ToolCallReady
from agentkit.messages import AssistantMessage, SystemMessage
from agentkit.models.base import ModelRequest
from agentkit.tau2.grading import evaluate
from agentkit.tau2.orchestrator import (
    EmptyMessageError,
    MessageRecorded,
    ParticipantEvent,
    SimulationConfig,
    SimulationFinished,
    simulate,
)
from agentkit.tau2.participants import (
    EmptyReplyError,
    LoopParticipant,
    MalformedToolCallError,
    visible_text,
)
from agentkit.tau2.registry import get_domain
from agentkit.tau2.runner import EnvExecutor, history_of
from agentkit.tau2.simulation import SimMessage, SimToolCall, SimulationResult, TerminationReason
from agentkit.tau2.user import ScriptedUser, UserToolCalls, llm_user, user_system_prompt
from agentkit.testing import FunctionModel, ScriptedModel, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio

MOCK = get_domain("mock")
SCHEMAS = [{"type": "function", "function": {
    "name": "lookup", "description": "Look something up.",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                   "required": ["q"]}}}]


class FakeTools:
    """A tool executor that records calls; `fail` names return error results."""

    def __init__(self, fail: tuple[str, ...] = (), delays: dict[str, float] | None = None):
        self.calls: list[SimToolCall] = []
        self.fail = fail
        self.delays = delays or {}

    async def __call__(self, c: SimToolCall) -> SimMessage:
        await anyio.sleep(self.delays.get(str(c.arguments.get("q")), 0))
        self.calls.append(c)
        if c.name in self.fail or c.name not in ("lookup",):
            return SimMessage(role="tool", id=c.id, content=f"Error: {c.name} failed",
                              error=True, requestor=c.requestor)
        return SimMessage(role="tool", id=c.id, content=f"result for {c.arguments.get('q')}",
                          requestor=c.requestor)


def agent_of(model: Any, schemas: list[dict[str, Any]] | None = None) -> LoopParticipant:
    return LoopParticipant(Agent(model=model, instructions="You are an agent."), "assistant",
                           SCHEMAS if schemas is None else schemas)


async def run(agent: Any, user: Any, tools: Any, **kw: Any) -> tuple[SimulationResult, list]:
    events = [e async for e in simulate(agent, user, tools, task_id="t", **kw)]
    final = events[-1]
    assert isinstance(final, SimulationFinished)
    return final.result, events


async def test_turns_steps_and_user_stop() -> None:
    model = ScriptedModel([tool_step(call("lookup", {"q": "a"}), thinking="need data"),
                           reply("Here it is.", thinking="answer")])
    user = ScriptedUser(["I need a", "Thanks ###STOP###"])
    tools = FakeTools()
    result, events = await run(agent_of(model), user, tools)
    roles = [(m.role, m.content) for m in result.messages]
    assert roles == [("assistant", "Hi! How can I help you today?"), ("user", "I need a"),
                     ("assistant", None), ("tool", "result for a"),
                     ("assistant", "Here it is."), ("user", "Thanks ###STOP###")]
    assert result.termination_reason == TerminationReason.USER_STOP
    assert result.stop_token == "###STOP###"
    assert result.steps == 5 and result.num_errors == 0
    assert [m.turn_idx for m in result.messages] == list(range(6))
    assert result.messages[2].reasoning == "need data"
    assert result.messages[2].tool_calls == [
        SimToolCall(id=result.messages[3].id or "", name="lookup", arguments={"q": "a"})]
    assert user.received == ["Hi! How can I help you today?", "Here it is."]
    assert [c.name for c in tools.calls] == ["lookup"]
    # the agent's thinking streamed as core events during the conversation
    thinking = "".join(e.event.text for e in events if isinstance(e, ParticipantEvent)
                       and isinstance(e.event, ThinkingDelta))
    assert thinking == "need dataanswer"
    recorded = [e for e in events if isinstance(e, MessageRecorded)]
    assert [e.step for e in recorded] == [1, 2, 3, 4, 5]
    assert result.agent_usage.output_tokens > 0


@pytest.mark.parametrize("token", ["###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###"])
async def test_every_user_stop_token_ends_the_conversation(token: str) -> None:
    result, _ = await run(agent_of(ScriptedModel([])), ScriptedUser([f"bye {token}"]),
                          FakeTools())
    assert result.termination_reason == TerminationReason.USER_STOP
    assert result.stop_token == token and result.steps == 1


async def test_agent_never_stops_unless_configured() -> None:
    model = ScriptedModel([reply("Goodbye ###STOP###")])
    result, _ = await run(agent_of(model), ScriptedUser(["hi", "hello?"]), FakeTools(),
                          config=SimulationConfig(max_steps=3))
    assert result.termination_reason == TerminationReason.MAX_STEPS
    model = ScriptedModel([reply("Goodbye ###STOP###")])
    result, _ = await run(agent_of(model), ScriptedUser(["hi"]), FakeTools(),
                          config=SimulationConfig(agent_stop_tokens=("###STOP###",)))
    assert result.termination_reason == TerminationReason.AGENT_STOP


async def test_user_sees_only_the_agents_visible_text() -> None:
    agent_model = ScriptedModel([
        Step(text="Let me check that.", thinking="secret plan",
             tool_calls=[call("lookup", {"q": "x"})]),
        reply("<think>inline secret</think>The answer is 42.", thinking="more secrets"),
    ])

    def user_fn(messages: list[Any], request: ModelRequest) -> Step:
        n = sum(1 for m in messages if isinstance(m, UserMessage))
        return reply("What is the answer?" if n == 1 else "Great ###STOP###",
                     thinking="user thoughts")

    user_model = FunctionModel(user_fn)
    user = llm_user(user_model, "Persona: tester", guidelines="GUIDE")
    result, _ = await run(agent_of(agent_model), user, FakeTools())
    assert result.termination_reason == TerminationReason.USER_STOP
    seen = user_model.requests[-1].messages
    assert isinstance(seen[0], SystemMessage)
    assert seen[0].content == user_system_prompt("Persona: tester", "GUIDE")
    assert seen[0].content == "GUIDE\n\n<scenario>\nPersona: tester\n</scenario>"
    flat = [(type(m).__name__, getattr(m, "content", "")) for m in seen[1:]]
    assert flat == [("UserMessage", "Hi! How can I help you today?"),
                    ("AssistantMessage", "What is the answer?"),
                    ("UserMessage", "The answer is 42.")]
    # the agent's record keeps its text-with-call (for COMMUNICATE) and its reasoning
    assert result.messages[2].content == "Let me check that."
    assert result.messages[2].reasoning == "secret plan"
    # and the agent sees the user's text only (not its thinking)
    agent_seen = agent_model.requests[0].messages
    assert [m.content for m in agent_seen if isinstance(m, UserMessage)] == [
        "What is the answer?"]
    assert visible_text("<think>a</think> b") == "b" and visible_text("a</think>b") == "b"


async def test_max_steps_waits_for_pending_tool_results() -> None:
    def looping(messages: list[Any], request: ModelRequest) -> Step:
        return tool_step(call("lookup", {"q": str(len(messages))}))

    result, _ = await run(agent_of(FunctionModel(looping)), ScriptedUser(["go"]), FakeTools(),
                          config=SimulationConfig(max_steps=6))
    assert result.termination_reason == TerminationReason.MAX_STEPS
    assert result.steps == 7  # step 6 was a call; its results (step 7) still arrived
    assert result.messages[-1].role == "tool"


async def test_too_many_errors_is_cumulative() -> None:
    model = ScriptedModel([
        tool_step(call("broken", {}), call("lookup", {"q": "ok"})),
        tool_step(call("lookup", {"q": "fine"})),
        tool_step(call("broken", {}), call("broken", {})),
        reply("never said"),
    ])
    result, _ = await run(agent_of(model), ScriptedUser(["go"]), FakeTools(),
                          config=SimulationConfig(max_errors=3))
    assert result.termination_reason == TerminationReason.TOO_MANY_ERRORS
    assert result.num_errors == 3
    assert result.messages[-1].role == "tool"


async def test_parallel_calls_run_one_at_a_time_in_call_order() -> None:
    model = ScriptedModel([
        tool_step(call("lookup", {"q": "slow"}), call("lookup", {"q": "fast"}),
                  call("lookup", {"q": "slow"})),
        reply("done"),
    ])
    tools = FakeTools(delays={"slow": 0.05})
    result, _ = await run(agent_of(model), ScriptedUser(["go", "bye ###STOP###"]), tools)
    assert [c.arguments["q"] for c in tools.calls] == ["slow", "fast", "slow"]
    call_ids = [c.id for c in result.messages[2].tool_calls or []]
    assert [m.id for m in result.messages[3:6]] == call_ids
    assert result.steps == 5


async def test_unknown_tool_is_answered_by_the_environment_and_counted() -> None:
    env = MOCK.build_env()
    model = ScriptedModel([tool_step(call("delete_task", {"task_id": "task_1"})),
                           reply("I cannot do that.")])
    agent = agent_of(model, env.tool_schemas())
    result, _ = await run(agent, ScriptedUser(["delete it", "ok ###STOP###"]), EnvExecutor(env))
    tool = result.messages[3]
    assert tool.role == "tool" and tool.error
    assert tool.content == "Error: Tool 'delete_task' not found."
    assert result.num_errors == 1
    seen = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert seen and seen[0].is_error  # the model was told, too


async def test_unvalidated_arguments_reach_the_environment() -> None:
    env = MOCK.build_env()
    model = ScriptedModel([tool_step(call("create_task", {"user_id": "user_1"})),
                           reply("Sorry.")])
    result, _ = await run(agent_of(model, env.tool_schemas()),
                          ScriptedUser(["make a task", "bye ###STOP###"]), EnvExecutor(env))
    tool = result.messages[3]
    assert tool.error and tool.content is not None
    assert tool.content.startswith("Error: ") and "title" in tool.content


async def test_malformed_tool_arguments_are_an_infrastructure_failure() -> None:
    model = ScriptedModel([Step(tool_calls=[call("lookup", '{"q": "unterminated')])])
    with pytest.raises(MalformedToolCallError):
        await run(agent_of(model), ScriptedUser(["go"]), FakeTools())


@pytest.mark.parametrize("step", [Step(thinking="hmm"), Step(), Step(text="   "),
                                  Step(text="<think>only inline thinking</think>")],
                         ids=["reasoning-only", "empty", "blank", "inline-thinking-only"])
async def test_an_empty_agent_reply_fails_the_simulation_without_a_nudge(step: Step) -> None:
    # tau2 rejects a message with no text and no tool calls: the simulation raises (and the
    # runner retries it whole); nothing is forwarded to the user, and the model is not nudged
    model = ScriptedModel([step, reply("a nudged answer")])
    user = ScriptedUser(["go", "bye ###STOP###"])
    with pytest.raises(EmptyReplyError, match="assistant sent an empty message"):
        await run(agent_of(model), user, FakeTools())
    assert len(model.requests) == 1
    assert user.received == ["Hi! How can I help you today?"]


@pytest.mark.parametrize("step", [Step(thinking="hmm"), Step()], ids=["reasoning-only", "empty"])
async def test_an_empty_llm_user_reply_fails_the_simulation(step: Step) -> None:
    user_model = ScriptedModel([step, reply("nudged ###STOP###")])
    user = llm_user(user_model, "scenario", guidelines="G")
    with pytest.raises(EmptyReplyError, match="user sent an empty message"):
        await run(agent_of(ScriptedModel([])), user, FakeTools())
    assert len(user_model.requests) == 1


async def test_an_empty_scripted_message_is_rejected_by_the_conversation() -> None:
    with pytest.raises(EmptyMessageError, match="user sent an empty message"):
        await run(agent_of(ScriptedModel([])), ScriptedUser([""]), FakeTools())


async def test_unknown_tools_run_in_call_order_and_the_model_sees_the_env_answer() -> None:
    env = MOCK.build_env()
    model = ScriptedModel([
        tool_step(call("get_users", {}), call("delete_task", {"task_id": "task_1"}),
                  call("get_users", {})),
        reply("I cannot delete tasks."),
    ])
    order: list[str] = []
    executor = EnvExecutor(env)

    async def tools(c: SimToolCall) -> SimMessage:
        order.append(c.name)
        return await executor(c)

    result, _ = await run(agent_of(model, env.tool_schemas()),
                          ScriptedUser(["delete task_1", "ok ###STOP###"]), tools)
    assert order == ["get_users", "delete_task", "get_users"]
    records = [m for m in result.messages if m.role == "tool"]
    assert [m.error for m in records] == [False, True, False]
    seen = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    # the model saw exactly what the trajectory records, in call order
    assert [(m.tool_call_id, m.content) for m in seen] == [(m.id, m.content) for m in records]
    assert seen[1].content == "Error: Tool 'delete_task' not found." and seen[1].is_error


async def test_identical_calls_get_their_own_results_by_call_id() -> None:
    model = ScriptedModel([
        tool_step(call("lookup", {"q": "same"}, id="c1"), call("lookup", {"q": "same"}, id="c2")),
        reply("done"),
    ])
    answers = iter(["first", "second"])

    async def tools(c: SimToolCall) -> SimMessage:
        return SimMessage(role="tool", id=c.id, content=f"{next(answers)} for {c.id}")

    result, _ = await run(agent_of(model), ScriptedUser(["go", "bye ###STOP###"]), tools)
    assert [(m.id, m.content) for m in result.messages if m.role == "tool"] == [
        ("c1", "first for c1"), ("c2", "second for c2")]
    seen = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.content) for m in seen] == [
        ("c1", "first for c1"), ("c2", "second for c2")]


async def test_environment_calls_are_not_cut_by_the_core_tool_timeout() -> None:
    model = ScriptedModel([tool_step(call("lookup", {"q": "slow"})), reply("done")])
    agent = LoopParticipant(
        Agent(model=model, instructions="x", limits=Limits(tool_timeout=0.02)), "assistant",
        SCHEMAS)
    assert agent.agent.limits.tool_timeout is None
    result, _ = await run(agent, ScriptedUser(["go", "bye ###STOP###"]),
                          FakeTools(delays={"slow": 0.1}))
    tool = result.messages[3]
    assert tool.content == "result for slow" and not tool.error
    seen = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert seen[0].content == "result for slow"


async def test_inline_thinking_is_moved_out_of_the_recorded_text() -> None:
    model = ScriptedModel([
        Step(text="<think>plan: call it</think>Checking.", tool_calls=[call("lookup", {"q": "a"})]),
        reply("<think>the secret is 7</think>It is done.", thinking="native"),
    ])
    result, _ = await run(agent_of(model), ScriptedUser(["go", "bye ###STOP###"]), FakeTools())
    call_msg, final = result.messages[2], result.messages[4]
    assert (call_msg.content, call_msg.reasoning) == ("Checking.", "plan: call it")
    assert final.content == "It is done."
    assert final.reasoning == "native\n\nthe secret is 7"
    assert "secret" not in " ".join(str(m.content) for m in result.messages)


async def test_history_ending_with_pending_tool_calls_runs_them_first() -> None:
    calls = [SimToolCall(id="h1", name="lookup", arguments={"q": "x"}),
             SimToolCall(id="h2", name="nope", arguments={})]
    history = [SimMessage(role="assistant", content="Hi! How can I help you today?"),
               SimMessage(role="user", content="look up x"),
               SimMessage(role="assistant", tool_calls=calls)]
    model = ScriptedModel([reply("x is found.")])
    tools = FakeTools()
    result, events = await run(agent_of(model), ScriptedUser(["thanks ###STOP###"]), tools,
                               history=history)
    assert [c.id for c in tools.calls] == ["h1", "h2"]
    assert [(m.role, m.id, m.error) for m in result.messages[3:5]] == [
        ("tool", "h1", False), ("tool", "h2", True)]
    assert result.num_errors == 1 and result.steps == 3  # results, agent text, user stop
    assert result.termination_reason == TerminationReason.USER_STOP
    seen = model.requests[0].messages
    assert [m.content for m in seen if isinstance(m, ToolMessage)] == [
        "result for x", "Error: nope failed"]
    assert not any(isinstance(m, UserMessage) for m in seen[-2:])  # the agent continues
    recorded = [e for e in events if isinstance(e, MessageRecorded)]
    assert [(e.side, e.step) for e in recorded[:2]] == [("agent", 0), ("agent", 1)]


async def test_pending_user_tool_calls_in_a_history_go_back_to_the_user() -> None:
    env = MOCK.build_env()
    calls = [SimToolCall(id="u1", name="check_notifications", arguments={}, requestor="user")]
    history = [SimMessage(role="assistant", content="Hi! How can I help you today?"),
               SimMessage(role="user", tool_calls=calls)]
    user = ScriptedUser(["done ###STOP###"])
    result, _ = await run(agent_of(ScriptedModel([]), env.tool_schemas()), user,
                          EnvExecutor(env), history=history)
    assert result.messages[2].role == "tool" and result.messages[2].requestor == "user"
    assert not result.messages[2].error
    assert user.received == [None] and result.termination_reason == TerminationReason.USER_STOP


async def test_scripted_user_tools_go_to_the_user_side_only() -> None:
    env = MOCK.build_env()
    task = MOCK.load_tasks(task_ids=["update_task_with_user_tools"])[0]
    state = task.initial_state
    assert state is not None
    env.set_state(state.initialization_data, state.initialization_actions, [])
    model = ScriptedModel([
        tool_step(call("update_task_status", {"task_id": "task_1", "status": "completed"})),
        reply("Task task_1 is completed."),
    ])
    user = ScriptedUser([UserToolCalls(("check_notifications", {})),
                         "Please mark task_1 completed.",
                         UserToolCalls(("dismiss_notification", {"notification_id": "notif_1"})),
                         "Thanks ###STOP###"])
    result, _ = await run(agent_of(model, env.tool_schemas()), user, EnvExecutor(env))
    assert result.termination_reason == TerminationReason.USER_STOP
    user_calls = [m for m in result.messages if m.role == "user" and m.tool_calls]
    assert [m.tool_calls[0].requestor for m in user_calls if m.tool_calls] == ["user", "user"]
    user_results = [m for m in result.messages if m.role == "tool" and m.requestor == "user"]
    assert len(user_results) == 2 and "notif_1" in (user_results[0].content or "")
    agent_view = " ".join(str(m.content) for m in model.requests[-1].messages)
    assert "notif_1" not in agent_view and "check_notifications" not in agent_view
    info = await evaluate(task, result, MOCK.build_env)
    assert info.reward_breakdown["ENV_ASSERTION"] == 1.0 and info.reward_breakdown["ACTION"] == 1.0


async def test_llm_user_with_tools_gets_its_own_results() -> None:
    env = MOCK.build_env()
    env.set_state(None, [{"env_type": "user", "func_name": "add_notification",
                          "arguments": {"notification_id": "n9", "message": "hello"}}], [])
    user_model = ScriptedModel([tool_step(call("check_notifications", {})),
                                reply("I saw n9 ###STOP###")])
    user = llm_user(user_model, "scenario", tool_schemas=env.user_tool_schemas(),
                    guidelines="G")
    result, _ = await run(agent_of(ScriptedModel([]), env.tool_schemas()), user,
                          EnvExecutor(env))
    assert result.termination_reason == TerminationReason.USER_STOP
    second = user_model.requests[1].messages
    assert isinstance(second[-1], ToolMessage) and "n9" in second[-1].content
    assert isinstance(second[-2], AssistantMessage) and second[-2].tool_calls
    assert [s.name for s in user_model.requests[0].tools] == ["check_notifications",
                                                             "dismiss_notification"]


async def test_resume_from_task_message_history() -> None:
    task = MOCK.load_tasks(task_ids=["update_task_with_history_and_env_assertions"])[0]
    env = MOCK.build_env()
    state = task.initial_state
    assert state is not None
    env.set_state(state.initialization_data, state.initialization_actions,
                  state.message_history or [])
    model = ScriptedModel([
        tool_step(call("update_task_status", {"task_id": "task_2", "status": "completed"})),
        reply("task_2 is completed now."),
    ])
    user = ScriptedUser(["Please mark task_2 as completed.", "Thanks ###STOP###"])
    history = history_of(task)
    result, _ = await run(agent_of(model, env.tool_schemas()), user, EnvExecutor(env),
                          history=history)
    assert result.messages[: len(history)] == [
        m.model_copy(update={"turn_idx": i, "timestamp": result.messages[i].timestamp})
        for i, m in enumerate(history)]
    assert user.received[0] == history[-1].content  # the user answers the last agent text
    first = model.requests[0].messages
    assert any(isinstance(m, ToolMessage) and "task_2" in m.content for m in first)
    info = await evaluate(task, result, MOCK.build_env)
    assert info.reward == 1.0 and info.env_assertions and info.env_assertions[0].met


async def test_events_carry_tool_calls_of_both_sides() -> None:
    model = ScriptedModel([tool_step(call("lookup", {"q": "z"})), reply("z!")])
    _, events = await run(agent_of(model), ScriptedUser(["z?", "ok ###STOP###"]), FakeTools())
    ready = [e for e in events if isinstance(e, ParticipantEvent)
             and isinstance(e.event, ToolCallReady)]
    assert [(e.side, e.event.name) for e in ready] == [("agent", "lookup")]


async def test_timeout_ends_a_running_conversation_between_steps() -> None:
    def looping(messages: list[Any], request: ModelRequest) -> Step:
        return tool_step(call("lookup", {"q": "slow"}))

    tools = FakeTools(delays={"slow": 0.03})
    result, _ = await run(agent_of(FunctionModel(looping)), ScriptedUser(["go"]), tools,
                          config=SimulationConfig(timeout=0.1))
    assert result.termination_reason == TerminationReason.TIMEOUT
    assert result.messages[-1].role == "tool" and 2 <= len(tools.calls) <= 6


async def test_a_stop_is_not_turned_into_a_timeout() -> None:
    slow_user = ScriptedUser(["bye ###STOP###"])
    result, _ = await run(agent_of(ScriptedModel([])), slow_user, FakeTools(),
                          config=SimulationConfig(timeout=0.0))
    assert result.termination_reason == TerminationReason.USER_STOP


async def test_a_stop_on_the_last_allowed_step_counts_as_max_steps() -> None:
    model = ScriptedModel([reply("ok")])
    result, _ = await run(agent_of(model), ScriptedUser(["hi", "bye ###STOP###"]), FakeTools(),
                          config=SimulationConfig(max_steps=3))
    assert result.steps == 3 and result.stop_token == "###STOP###"
    assert result.termination_reason == TerminationReason.MAX_STEPS  # as in tau2
