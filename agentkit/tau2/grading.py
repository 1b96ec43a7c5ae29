"""Grading a simulated conversation the way tau2-bench does.

Components (each 0 or 1), multiplied over the task's ``reward_basis``:

- DB: a fresh environment plus the gold actions, against a fresh environment plus a replay of
  the trajectory's state-mutating calls; agent and user DB hashes must both match.
- ENV_ASSERTION: the task's assertion functions, run on the replayed (predicted) environment.
- COMMUNICATE: each ``communicate_info`` string appears (case-insensitive, commas removed
  from the agent's text) in some agent text message (its visible text: inline thinking out).
- ACTION: each gold action matches some tool call of the trajectory (``compare_args``).
- NL_ASSERTION: an LLM judge over the flattened transcript (:mod:`agentkit.tau2.judge`).

An env assertion that raises is not a failed check: :class:`EnvAssertionError` propagates, and
the runner retries the simulation (an infrastructure error), as tau2 does.
Only user or agent stops are graded; any other termination scores 0. ``llm_free`` replaces
NL_ASSERTION by COMMUNICATE in the basis (the original tau2/tau-bench retail scheme) and marks
the result. The algorithm follows tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .simulation import (
    GRADED_TERMINATIONS,
    SimMessage,
    SimulationResult,
    TerminationReason,
    visible_text,
)
from .tasks import Action, RewardType, Task

if TYPE_CHECKING:
    from .environment import Environment
    from .judge import NLJudge

__all__ = [
    "ActionCheck",
    "CommunicateCheck",
    "DBCheck",
    "EnvAssertionCheck",
    "EnvAssertionError",
    "EnvFactory",
    "GoldCache",
    "NLAssertionCheck",
    "RewardInfo",
    "action_matches",
    "check_actions",
    "check_communicate",
    "effective_reward_basis",
    "evaluate",
    "evaluate_environment",
    "is_successful",
    "pass_hat_k",
]

log = logging.getLogger(__name__)

EnvFactory = Callable[[], "Environment"]
"""Builds a fresh environment (pristine DB, no task state)."""


class EnvAssertionError(RuntimeError):
    """An env assertion raised instead of answering: an infrastructure error, not a failure."""


class DBCheck(BaseModel):
    db_match: bool
    db_reward: float
    gold_db_hash: str | None = None
    predicted_db_hash: str | None = None
    gold_user_db_hash: str | None = None
    predicted_user_db_hash: str | None = None


class EnvAssertionCheck(BaseModel):
    env_assertion: dict[str, Any]
    met: bool
    reward: float
    error: str | None = None


class ActionCheck(BaseModel):
    action: dict[str, Any]
    action_match: bool
    action_reward: float
    tool_type: str | None = None


class CommunicateCheck(BaseModel):
    info: str
    met: bool
    justification: str = ""


class NLAssertionCheck(BaseModel):
    nl_assertion: str
    met: bool
    justification: str = ""


class RewardInfo(BaseModel):
    """The grade of one simulation: the reward, its components and every check."""

    reward: float
    reward_basis: list[str] | None = None
    effective_reward_basis: list[str] | None = None
    reward_breakdown: dict[str, float] = Field(default_factory=dict)
    db_check: DBCheck | None = None
    env_assertions: list[EnvAssertionCheck] | None = None
    action_checks: list[ActionCheck] | None = None
    partial_action_reward: dict[str, dict[str, int]] | None = None
    communicate_checks: list[CommunicateCheck] | None = None
    nl_assertions: list[NLAssertionCheck] | None = None
    llm_free: bool = False
    nl_skipped: bool = False
    info: dict[str, Any] = Field(default_factory=dict)


def is_successful(reward: float | None) -> bool:
    """A simulation succeeds when its reward is within 1e-6 of 1."""
    return reward is not None and abs(reward - 1.0) <= 1e-6


def pass_hat_k(num_trials: int, success_count: int, k: int) -> float:
    """Unbiased estimate that k i.i.d. trials all succeed: C(c, k) / C(n, k)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if num_trials < k:
        raise ValueError(f"Number of trials {num_trials} is less than k {k}.")
    if not 0 <= success_count <= num_trials:
        raise ValueError(f"success count {success_count} not in [0, {num_trials}]")
    return math.comb(success_count, k) / math.comb(num_trials, k)


# --------------------------------------------------------------------------- basis


def effective_reward_basis(task: Task, llm_free: bool = False) -> list[RewardType]:
    """The components multiplied into the reward (``llm_free``: NL_ASSERTION -> COMMUNICATE)."""
    assert task.evaluation_criteria is not None
    basis = list(task.evaluation_criteria.reward_basis)
    if llm_free and RewardType.NL_ASSERTION in basis:
        basis = [b for b in basis if b != RewardType.NL_ASSERTION]
        if RewardType.COMMUNICATE not in basis:
            basis.append(RewardType.COMMUNICATE)
    return basis


# --------------------------------------------------------------------------- DB / env


def _initial_state(task: Task) -> tuple[Any, Any, list[Any]]:
    state = task.initial_state
    if state is None:
        return None, None, []
    return state.initialization_data, state.initialization_actions, list(
        state.message_history or []
    )


def _history(messages: Sequence[SimMessage]) -> list[dict[str, Any]]:
    """The trajectory in the shape ``Environment.set_state`` replays (system turns dropped)."""
    return [m.model_dump(exclude={"usage", "reasoning"}) for m in messages if m.role != "system"]


def predicted_environment(
    task: Task, messages: Sequence[SimMessage], env_factory: EnvFactory, strict: bool = True
) -> Environment:
    """A fresh environment with the task's initial state and the trajectory's writes replayed."""
    init_data, init_actions, _ = _initial_state(task)
    env = env_factory()
    env.set_state(init_data, init_actions, _history(messages), strict=strict)
    return env


def gold_environment(
    task: Task, env_factory: EnvFactory
) -> tuple[Environment, list[dict[str, Any]]]:
    """A fresh environment with the initial state plus every gold action (no sync between).

    Returns the environment and the gold actions that raised (logged and otherwise ignored,
    as tau2 does; a failing state-mutating gold action is reported in the grade's info).
    """
    init_data, init_actions, history = _initial_state(task)
    env = env_factory()
    env.set_state(init_data, init_actions, history, strict=True)
    failed: list[dict[str, Any]] = []
    for action in task.gold_actions:
        try:
            env.make_tool_call(action.name, requestor=action.requestor, **action.arguments)
        except Exception as exc:  # tau2 logs gold-action failures and carries on
            mutating = env.has_tool(action.name) and env.is_mutating_tool(action.name)
            log.debug("gold action %s of task %s raised: %s", action.name, task.id, exc)
            if mutating:
                failed.append({"action_id": action.action_id, "name": action.name,
                               "error": f"{type(exc).__name__}: {exc}"})
    return env, failed


GoldCache = dict[str, tuple[str, "str | None", list[dict[str, Any]]]]
"""Task id -> (gold DB hash, gold user DB hash, failed gold writes); valid for one env factory."""


def evaluate_environment(
    task: Task,
    messages: Sequence[SimMessage],
    env_factory: EnvFactory,
    strict: bool = True,
    gold_cache: GoldCache | None = None,
) -> tuple[DBCheck, list[EnvAssertionCheck], dict[str, Any]]:
    """The DB check and the env-assertion checks (sync, CPU-bound: call from a worker thread).

    ``strict``: a replayed write whose output differs from the recorded one raises
    (live grading); lenient mode (re-grading a results file) only logs it. ``gold_cache``
    keeps the gold hashes per task id across trials (they depend only on the task).
    """
    ec = task.evaluation_criteria
    assert ec is not None
    if ec.actions is None and ec.env_assertions is None:  # tau2: nothing to compare
        return DBCheck(db_match=True, db_reward=1.0), [], {
            "note": "No expected actions or env assertions"}
    predicted = predicted_environment(task, messages, env_factory, strict=strict)
    cached = gold_cache.get(task.id) if gold_cache is not None else None
    if cached is None:
        gold, failed = gold_environment(task, env_factory)
        cached = (gold.get_db_hash(), gold.get_user_db_hash(), failed)
        if gold_cache is not None:
            gold_cache[task.id] = cached
    gold_hash, gold_user_hash, failed = cached
    check = DBCheck(
        db_match=False,
        db_reward=0.0,
        gold_db_hash=gold_hash,
        predicted_db_hash=predicted.get_db_hash(),
        gold_user_db_hash=gold_user_hash,
        predicted_user_db_hash=predicted.get_user_db_hash(),
    )
    check.db_match = (check.gold_db_hash == check.predicted_db_hash
                      and check.gold_user_db_hash == check.predicted_user_db_hash)
    check.db_reward = 1.0 if check.db_match else 0.0
    assertion_checks: list[EnvAssertionCheck] = []
    for assertion in ec.env_assertions or []:
        try:
            met = predicted.run_env_assertion(assertion, raise_assertion_error=False)
        except Exception as exc:  # tau2 lets it propagate: the run is retried, not scored
            raise EnvAssertionError(
                f"env assertion {assertion.func_name}({assertion.arguments}) of task {task.id} "
                f"raised {type(exc).__name__}: {exc} (infrastructure error: not graded)"
            ) from exc
        assertion_checks.append(EnvAssertionCheck(
            env_assertion=assertion.model_dump(), met=met, reward=1.0 if met else 0.0))
    info: dict[str, Any] = {}
    if failed:
        info["failed_gold_writes"] = failed
    info["tool_types"] = tool_types_of(predicted)
    return check, assertion_checks, info


# --------------------------------------------------------------------------- actions


def tool_calls_of(messages: Iterable[SimMessage]) -> list[Any]:
    """Every tool call in the trajectory (agent's and user's), in order."""
    calls = []
    for m in messages:
        if m.role in ("assistant", "user") and m.tool_calls:
            calls.extend(m.tool_calls)
    return calls


def action_matches(action: Action, name: str, arguments: dict[str, Any]) -> bool:
    """tau2's match: same name; compare ``compare_args`` keys (None: the call's keys; []: none)."""
    if action.name != name:
        return False
    keys = list(arguments) if action.compare_args is None else action.compare_args
    if not keys:
        return True
    called = {k: v for k, v in arguments.items() if k in keys}
    gold = {k: v for k, v in action.arguments.items() if k in keys}
    return called == gold


def check_actions(
    task: Task, messages: Sequence[SimMessage], tool_types: dict[str, str] | None = None
) -> list[ActionCheck]:
    """One check per gold action: does any tool call of the trajectory match it?"""
    calls = tool_calls_of(messages)
    checks = []
    for action in task.gold_actions:
        matched = any(action_matches(action, c.name, c.arguments) for c in calls)
        checks.append(ActionCheck(
            action=action.model_dump(), action_match=matched,
            action_reward=1.0 if matched else 0.0,
            tool_type=(tool_types or {}).get(action.name)))
    return checks


def _partial_action_reward(checks: list[ActionCheck]) -> dict[str, dict[str, int]]:
    out = {"read": {"count": 0, "correct": 0}, "write": {"count": 0, "correct": 0}}
    for c in checks:
        bucket = out["write" if c.tool_type == "write" else "read"]
        bucket["count"] += 1
        bucket["correct"] += int(c.action_match)
    return out


def tool_types_of(env: Environment) -> dict[str, str]:
    """Tool name -> tool type value, over the agent's and the user's toolkits."""
    types: dict[str, str] = {}
    for kit in (env.tools, env.user_tools):
        if kit is not None:
            for name in kit.tools:
                types[name] = kit.tool_type(name).value
    return types


# --------------------------------------------------------------------------- communicate


def check_communicate(task: Task, messages: Sequence[SimMessage]) -> list[CommunicateCheck]:
    """Each ``communicate_info`` string must appear in some agent text message."""
    ec = task.evaluation_criteria
    infos = (ec.communicate_info if ec is not None else None) or []
    visible = [t for t in (visible_text(m.content) for m in messages if m.role == "assistant")
               if t]
    checks = []
    for info in infos:
        said = next((t for t in visible if info.lower() in t.lower().replace(",", "")), None)
        checks.append(CommunicateCheck(
            info=info, met=said is not None,
            justification=(f"'{info}' is in the agent's message: {said!r}" if said is not None
                           else f"'{info}' is in no agent message")))
    return checks


# --------------------------------------------------------------------------- combined


def _all_met(checks: Iterable[Any]) -> float:
    return 1.0 if all(c.met if hasattr(c, "met") else c.action_match for c in checks) else 0.0


async def evaluate(
    task: Task,
    simulation: SimulationResult,
    env_factory: EnvFactory,
    *,
    judge: NLJudge | None = None,
    llm_free: bool = False,
    strict_replay: bool = True,
    nl_always: bool = False,
    gold_cache: GoldCache | None = None,
) -> RewardInfo:
    """Grade ``simulation`` against ``task``.

    ``judge`` is required when NL_ASSERTION is in the (effective) basis and the task has NL
    assertions; ``nl_always`` also runs it as a diagnostic otherwise. ``strict_replay`` makes a
    replay whose outputs differ from the record raise (see :func:`evaluate_environment`).
    """
    import anyio

    if simulation.termination_reason not in GRADED_TERMINATIONS:
        return RewardInfo(reward=0.0, llm_free=llm_free, info={
            "note": "Simulation terminated prematurely. Termination reason: "
                    f"{TerminationReason(simulation.termination_reason).value}"})
    ec = task.evaluation_criteria
    if ec is None:
        return RewardInfo(reward=1.0, llm_free=llm_free, info={"note": "No evaluation criteria"})
    basis = effective_reward_basis(task, llm_free)
    messages = simulation.messages

    def env_part() -> tuple[DBCheck, list[EnvAssertionCheck], dict[str, Any]]:
        return evaluate_environment(task, messages, env_factory, strict_replay, gold_cache)

    db_check, env_checks, env_info = await anyio.to_thread.run_sync(env_part)
    tool_types: dict[str, str] = env_info.pop("tool_types", {})
    action_checks = check_actions(task, messages, tool_types)
    communicate_checks = check_communicate(task, messages)

    nl_checks: list[NLAssertionCheck] | None = None
    needs_nl = RewardType.NL_ASSERTION in basis
    nl_skipped = bool(llm_free and RewardType.NL_ASSERTION in ec.reward_basis)
    if (needs_nl or (nl_always and not llm_free)) and ec.nl_assertions:
        if judge is None:
            raise ValueError(
                f"task {task.id} is graded on NL_ASSERTION: a judge model is needed "
                "(or grade with llm_free)")
        nl_checks = await judge.judge(messages, list(ec.nl_assertions))
    elif needs_nl:
        nl_checks = []

    components: dict[str, float] = {}
    env_compared = ec.actions is not None or ec.env_assertions is not None
    if RewardType.DB in basis and env_compared:  # tau2: nothing to compare, no DB entry
        components[RewardType.DB.value] = db_check.db_reward
    if RewardType.ENV_ASSERTION in basis and env_compared:
        components[RewardType.ENV_ASSERTION.value] = _all_met(env_checks)
    if RewardType.ACTION in basis:
        components[RewardType.ACTION.value] = _all_met(action_checks)
    if RewardType.NL_ASSERTION in basis:
        components[RewardType.NL_ASSERTION.value] = _all_met(nl_checks or [])
    if RewardType.COMMUNICATE in basis:
        components[RewardType.COMMUNICATE.value] = _all_met(communicate_checks)
    reward = math.prod(components.values()) if components else 1.0

    info = dict(env_info)
    if nl_checks and judge is not None and judge.strict:
        info["nl_judge"] = "strict (--strict-judge): unreturned or non-true outcomes are unmet"
    if nl_skipped:
        info["llm_free"] = ("NL_ASSERTION skipped (no LLM judge); graded on "
                            + " x ".join(b.value for b in basis))
    return RewardInfo(
        reward=reward,
        reward_basis=[b.value for b in ec.reward_basis],
        effective_reward_basis=[b.value for b in basis],
        reward_breakdown=components,
        db_check=db_check,
        env_assertions=env_checks,
        action_checks=action_checks,
        partial_action_reward=_partial_action_reward(action_checks) if action_checks else None,
        communicate_checks=communicate_checks,
        nl_assertions=nl_checks,
        llm_free=llm_free,
        nl_skipped=nl_skipped,
        info=info,
    )
