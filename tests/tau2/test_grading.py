"""Grading: DB replay, ENV_ASSERTION, COMMUNICATE, ACTION, NL judge, basis product, pass^k."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentkit.tau2.environment import Environment, ReplayMismatchError, ToolCallRecord
from agentkit.tau2.grading import (
    EnvAssertionError,
    RewardInfo,
    action_matches,
    check_communicate,
    evaluate,
    is_successful,
    pass_hat_k,
)
from agentkit.tau2.judge import JUDGE_SYSTEM_PROMPT, JudgeError, NLJudge, flatten_transcript
from agentkit.tau2.registry import get_domain
from agentkit.tau2.simulation import SimMessage, SimToolCall, SimulationResult, TerminationReason
from agentkit.tau2.tasks import Action, EnvAssertion, Task
from agentkit.testing import ScriptedModel, Step, reply

pytestmark = pytest.mark.anyio

MOCK = get_domain("mock")


def mock_env() -> Environment:
    return MOCK.build_env()


def task(domain: str, task_id: str) -> Task:
    return get_domain(domain).load_tasks(task_ids=[task_id])[0]


def live_trajectory(t: Task, env: Environment,
                    calls: list[tuple[str, dict[str, Any], Any]],
                    final_text: str = "All done.") -> list[SimMessage]:
    """Run ``calls`` (name, arguments, requestor) live in ``env``, as a conversation would."""
    state = t.initial_state
    if state is not None:
        env.set_state(state.initialization_data, state.initialization_actions,
                      state.message_history or [])
    messages = [SimMessage(role="assistant", content="Hi! How can I help you today?"),
                SimMessage(role="user", content="Please help me.")]
    for i, (name, args, requestor) in enumerate(calls):
        call = SimToolCall(id=f"call_{i}", name=name, arguments=args, requestor=requestor)
        messages.append(SimMessage(role=requestor, tool_calls=[call]))
        res = env.get_response(ToolCallRecord(call.id, name, args, requestor))
        messages.append(SimMessage(role="tool", id=call.id, content=res.content, error=res.error,
                                   requestor=requestor))
    messages.append(SimMessage(role="assistant", content=final_text))
    messages.append(SimMessage(role="user", content="Thanks! ###STOP###"))
    return messages


def gold_calls(t: Task) -> list[tuple[str, dict[str, Any], Any]]:
    return [(a.name, a.arguments, a.requestor) for a in t.gold_actions]


def sim(t: Task, messages: list[SimMessage],
        reason: TerminationReason = TerminationReason.USER_STOP) -> SimulationResult:
    return SimulationResult(id="s", task_id=t.id, termination_reason=reason, messages=messages)


async def grade(t: Task, messages: list[SimMessage], **kw: Any) -> RewardInfo:
    return await evaluate(t, sim(t, messages), mock_env, **kw)


# --------------------------------------------------------------------------- DB


async def test_gold_trajectory_scores_one() -> None:
    t = task("mock", "create_task_1")
    info = await grade(t, live_trajectory(t, mock_env(), gold_calls(t)))
    assert info.reward == 1.0
    assert info.db_check is not None and info.db_check.db_match
    assert info.reward_breakdown == {"DB": 1.0, "COMMUNICATE": 1.0}


async def test_wrong_missing_and_extra_writes_fail_db() -> None:
    t = task("mock", "create_task_1")
    wrong = [("create_task", {"user_id": "user_1", "title": "Unimportant Meeting"}, "assistant")]
    extra = [*gold_calls(t), ("update_task_status",
                              {"task_id": "task_1", "status": "completed"}, "assistant")]
    for calls in (wrong, [], extra):
        info = await grade(t, live_trajectory(t, mock_env(), calls))
        assert info.reward == 0.0, calls
        assert info.db_check is not None and not info.db_check.db_match
        assert info.db_check.gold_db_hash != info.db_check.predicted_db_hash


async def test_reads_and_failed_writes_do_not_change_the_db() -> None:
    t = task("mock", "create_task_1")
    calls = [("get_users", {}, "assistant"),
             ("create_task", {"user_id": "nobody", "title": "x"}, "assistant"),  # error
             *gold_calls(t)]
    messages = live_trajectory(t, mock_env(), calls)
    assert any(m.role == "tool" and m.error for m in messages)
    assert (await grade(t, messages)).reward == 1.0


async def test_only_user_or_agent_stops_are_graded() -> None:
    t = task("mock", "create_task_1")
    messages = live_trajectory(t, mock_env(), gold_calls(t))
    for reason in (TerminationReason.MAX_STEPS, TerminationReason.TOO_MANY_ERRORS,
                   TerminationReason.AGENT_ERROR, TerminationReason.TIMEOUT):
        info = await evaluate(t, sim(t, messages, reason), mock_env)
        assert info.reward == 0.0
        assert reason.value in info.info["note"]
    assert (await evaluate(t, sim(t, messages, TerminationReason.AGENT_STOP),
                           mock_env)).reward == 1.0


async def test_strict_replay_detects_a_tampered_record_lenient_does_not() -> None:
    t = task("mock", "create_task_1")
    messages = live_trajectory(t, mock_env(), gold_calls(t))
    tool = next(m for m in messages if m.role == "tool")
    tool.content = json.dumps({"task_id": "task_99"})
    with pytest.raises(ReplayMismatchError):
        await grade(t, messages)
    assert (await grade(t, messages, strict_replay=False)).reward == 1.0


async def test_airline_write_task_gold_and_policy_violation() -> None:
    """Real airline data: the gold writes pass; an extra (forbidden) cancellation fails."""
    t = task("airline", "11")
    factory = get_domain("airline").build_env
    good = live_trajectory(t, factory(), gold_calls(t), final_text="Total: 5,244 dollars")
    assert (await evaluate(t, sim(t, good), factory)).reward == 1.0
    bad_calls = [*gold_calls(t), ("cancel_reservation", {"reservation_id": "NM1VX1"},
                                  "assistant")]
    bad = live_trajectory(t, factory(), bad_calls, final_text="Total: 5244")
    info = await evaluate(t, sim(t, bad), factory)
    assert info.reward == 0.0 and info.db_check is not None and not info.db_check.db_match


# --------------------------------------------------------------------------- ENV_ASSERTION


async def test_env_assertions_run_on_the_predicted_environment() -> None:
    t = task("mock", "create_task_1_with_env_assertions")
    ok = await grade(t, live_trajectory(t, mock_env(), gold_calls(t)))
    assert ok.reward == 1.0
    assert ok.env_assertions is not None and [c.met for c in ok.env_assertions] == [True]
    done = [*gold_calls(t), ("update_task_status", {"task_id": "task_2", "status": "completed"},
                             "assistant")]
    bad = await grade(t, live_trajectory(t, mock_env(), done))
    assert bad.reward_breakdown["ENV_ASSERTION"] == 0.0 and bad.reward == 0.0


@pytest.mark.parametrize("assertion", [
    {"func_name": "assert_task_status", "arguments": {"task_id": "task_2"}},  # TypeError
    {"func_name": "assert_task_status",
     "arguments": {"task_id": "no_such_task", "expected_status": "pending"}},
], ids=["bad-arguments", "raises-inside"])
async def test_an_env_assertion_that_raises_is_an_infrastructure_error(
        assertion: dict[str, Any]) -> None:
    t = task("mock", "create_task_1_with_env_assertions")
    trajectory = live_trajectory(t, mock_env(), gold_calls(t))
    assert t.evaluation_criteria is not None
    broken = EnvAssertion(env_type="assistant", assert_value=True, **assertion)
    criteria = t.evaluation_criteria.model_copy(update={"env_assertions": [broken]})
    bad = t.model_copy(update={"evaluation_criteria": criteria})
    with pytest.raises(EnvAssertionError, match=r"assert_task_status.*infrastructure error"):
        await grade(bad, trajectory)


async def test_user_tool_calls_are_replayed_into_the_user_db() -> None:
    t = task("mock", "update_task_with_user_tools")
    calls = [("check_notifications", {}, "user"),
             ("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant"),
             ("dismiss_notification", {"notification_id": "notif_1"}, "user")]
    # The task's gold actions omit the user's dismissal (a quirk of tau2's mock data), so
    # the user DB differs from the gold one while the assertion on it holds; without the
    # dismissal it is the other way round. Both sides' DBs are compared.
    info = await grade(t, live_trajectory(t, mock_env(), calls))
    assert info.reward_breakdown == {"DB": 0.0, "ENV_ASSERTION": 1.0, "ACTION": 1.0}
    assert info.db_check is not None
    assert info.db_check.gold_db_hash == info.db_check.predicted_db_hash
    assert info.db_check.gold_user_db_hash != info.db_check.predicted_user_db_hash
    no_dismiss = await grade(t, live_trajectory(t, mock_env(), calls[:2]))
    assert no_dismiss.reward_breakdown == {"DB": 1.0, "ENV_ASSERTION": 0.0, "ACTION": 1.0}


# --------------------------------------------------------------------------- ACTION


def test_action_matching_follows_compare_args() -> None:
    gold = Action(action_id="a", name="f", arguments={"x": 1, "y": 2})
    assert action_matches(gold, "f", {"x": 1, "y": 2})
    assert not action_matches(gold, "g", {"x": 1, "y": 2})
    assert not action_matches(gold, "f", {"x": 1, "y": 3})
    # compare_args None: the *call's* keys are compared
    assert action_matches(gold, "f", {"x": 1})
    assert not action_matches(gold, "f", {"x": 1, "z": 0})
    subset = Action(action_id="a", name="f", arguments={"x": 1, "y": 2}, compare_args=["x"])
    assert action_matches(subset, "f", {"x": 1, "y": 99})
    assert not action_matches(subset, "f", {"x": 2, "y": 2})
    anything = Action(action_id="a", name="f", arguments={"x": 1}, compare_args=[])
    assert action_matches(anything, "f", {"q": "whatever"})


async def test_action_reward_in_basis() -> None:
    t = task("mock", "impossible_task_1")
    transfer = [("transfer_to_human_agents", {"summary": "any words"}, "assistant")]
    ok = await grade(t, live_trajectory(t, mock_env(), transfer))
    assert ok.reward == 1.0 and ok.action_checks is not None and ok.action_checks[0].action_match
    missing = await grade(t, live_trajectory(t, mock_env(), []))
    assert missing.reward_breakdown == {"DB": 1.0, "ACTION": 0.0} and missing.reward == 0.0


# --------------------------------------------------------------------------- COMMUNICATE


def test_communicate_is_case_insensitive_and_ignores_commas_in_agent_text() -> None:
    t = task("airline", "7")  # communicate_info ["1628"]
    base = [SimMessage(role="user", content="the total is 1628"),
            SimMessage(role="tool", id="c", content="1628")]
    assert [c.met for c in check_communicate(t, base)] == [False]
    said = [*base, SimMessage(role="assistant", content="Your refund is $1,628.")]
    assert [c.met for c in check_communicate(t, said)] == [True]
    t2 = task("mock", "update_task_with_initialization_data")
    msgs = [SimMessage(role="assistant", content="THE AGENT ACKNOWLEDGED THE PREVIOUS CONTEXT")]
    assert [c.met for c in check_communicate(t2, msgs)] == [True, False]


def test_communicate_and_the_judge_see_only_the_visible_text() -> None:
    t = task("airline", "7")  # communicate_info ["1628"]
    thought = [SimMessage(role="assistant", content="<think>refund is 1628</think>Done."),
               SimMessage(role="assistant", content="refund 1,628 maybe</think>All set.")]
    assert [c.met for c in check_communicate(t, thought)] == [False]
    flat = flatten_transcript([*thought, SimMessage(role="assistant", tool_calls=[
        SimToolCall(id="c", name="x")]), SimMessage(role="tool", id="c", content="<think>")])
    assert flat == "assistant: Done.\nassistant: All set.\nassistant: None\ntool: <think>"


async def test_communicate_multiplies_into_the_reward() -> None:
    t = task("airline", "11")  # basis DB x COMMUNICATE, communicate_info ["5244"]
    factory = get_domain("airline").build_env
    silent = live_trajectory(t, factory(), gold_calls(t), final_text="Done.")
    info = await evaluate(t, sim(t, silent), factory)
    assert info.reward_breakdown == {"DB": 1.0, "COMMUNICATE": 0.0} and info.reward == 0.0


# --------------------------------------------------------------------------- NL judge


def judge_answer(*results: tuple[str, bool]) -> str:
    return json.dumps({"results": [{"expectedOutcome": a, "reasoning": "r", "metExpectation": m}
                                   for a, m in results]})


def retail_nl_task() -> Task:
    tasks = get_domain("retail").load_tasks()
    return next(t for t in tasks if t.evaluation_criteria is not None
                and t.evaluation_criteria.nl_assertions
                and t.evaluation_criteria.communicate_info
                and t.evaluation_criteria.actions)


async def test_nl_judge_grades_retail_and_llm_free_uses_communicate() -> None:
    t = retail_nl_task()
    assert t.evaluation_criteria is not None
    nl = list(t.evaluation_criteria.nl_assertions or [])
    factory = get_domain("retail").build_env
    text = "Summary: " + " ".join(t.evaluation_criteria.communicate_info or [])
    messages = live_trajectory(t, factory(), gold_calls(t), final_text=text)

    model = ScriptedModel([Step(text=judge_answer(*[(a, True) for a in nl]), thinking="hmm")])
    judge = NLJudge(model)
    info = await evaluate(t, sim(t, messages), factory, judge=judge)
    assert info.reward == 1.0 and info.reward_breakdown == {"DB": 1.0, "NL_ASSERTION": 1.0}
    request = model.requests[0]
    system = request.messages[0].content
    assert system == JUDGE_SYSTEM_PROMPT
    assert request.settings.temperature == 0.0 and request.tools == []
    prompt = request.messages[1].content
    assert isinstance(prompt, str) and "assistant: Summary:" in prompt and str(nl) in prompt
    assert "tool: " in prompt and "assistant: None" in prompt  # tool turns are flattened too

    failing = ScriptedModel([reply(judge_answer(*[(a, i != 0) for i, a in enumerate(nl)]))])
    info = await evaluate(t, sim(t, messages), factory, judge=NLJudge(failing))
    assert info.reward == 0.0 and info.nl_assertions is not None
    assert info.nl_assertions[0].met is False

    with pytest.raises(ValueError, match="judge"):
        await evaluate(t, sim(t, messages), factory)

    free = await evaluate(t, sim(t, messages), factory, llm_free=True)
    assert free.llm_free and free.nl_skipped and free.nl_assertions is None
    assert free.effective_reward_basis == ["DB", "COMMUNICATE"]
    assert free.reward == 1.0 and "NL_ASSERTION skipped" in free.info["llm_free"]
    quiet = live_trajectory(t, factory(), gold_calls(t), final_text="ok")
    assert (await evaluate(t, sim(t, quiet), factory, llm_free=True)).reward == 0.0


async def test_judge_retries_unparseable_answers_then_fails() -> None:
    msgs = [SimMessage(role="assistant", content="hello")]
    judge = NLJudge(ScriptedModel([reply("not json"), reply(judge_answer(("a", True)))]))
    assert [c.met for c in await judge.judge(msgs, ["a"])] == [True]
    broken = NLJudge(ScriptedModel([reply("nope"), reply("[]")]))
    with pytest.raises(JudgeError):
        await broken.judge(msgs, ["a"])
    assert flatten_transcript([SimMessage(role="assistant", tool_calls=[
        SimToolCall(id="1", name="f")])]) == "assistant: None"


# --------------------------------------------------------------------------- pass^k


def test_pass_hat_k_values() -> None:
    assert pass_hat_k(4, 3, 1) == 0.75
    assert pass_hat_k(4, 3, 2) == 0.5
    assert pass_hat_k(4, 3, 4) == 0.0
    assert pass_hat_k(4, 4, 4) == 1.0
    with pytest.raises(ValueError):
        pass_hat_k(2, 1, 3)
    assert is_successful(1.0 - 1e-7) and not is_successful(0.999) and not is_successful(None)


async def test_telecom_gold_trajectories_meet_every_env_assertion() -> None:
    """A live (synced) replay of the gold actions satisfies all 114 base tasks' criteria."""
    telecom = get_domain("telecom")
    tasks = telecom.load_tasks(split="base")
    assert len(tasks) == 114
    failures = []
    for t in tasks:
        info = await evaluate(t, sim(t, live_trajectory(t, telecom.build_env(), gold_calls(t))),
                              telecom.build_env)
        if info.reward != 1.0:
            failures.append((t.id, info.reward_breakdown))
    assert failures == []
    # and doing nothing fails them (the phone stays broken)
    t = tasks[0]
    idle = await evaluate(t, sim(t, live_trajectory(t, telecom.build_env(), [])),
                          telecom.build_env)
    assert idle.reward == 0.0 and idle.reward_breakdown["ENV_ASSERTION"] == 0.0
