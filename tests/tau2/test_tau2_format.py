"""tau2-bench's results format (both ways) and the NL judge's fidelity to tau2-bench.

tau2-bench is not installable here (not on PyPI), so its results schema is restated below from
its documented pydantic models (required fields and types; extra keys ignored, as its models
do): a file agentkit writes must validate against it, and the hand-written fixture
``fixtures/tau2_bench_results.json`` (tau2-bench's layout, mock domain) must be read by
``agentkit tau2 grade``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agentkit.tau2.cli import register
from agentkit.tau2.judge import (
    JUDGE_SYSTEM_PROMPT,
    JudgeError,
    NLJudge,
    judge_user_prompt,
    parse_judge_answer,
)
from agentkit.tau2.results import Results, load_results, save_results
from agentkit.tau2.runner import RunConfig, run_benchmark
from agentkit.tau2.simulation import SimMessage, TerminationReason
from agentkit.testing import FunctionModel, ScriptedModel, reply

from .test_runner import Flaky, agent_fn, user_fn

FIXTURE = Path(__file__).parent / "fixtures" / "tau2_bench_results.json"

# ----------------------------------------------------------------- tau2-bench's schema, restated


class _T(BaseModel):
    model_config = ConfigDict(extra="ignore")


Requestor = Literal["assistant", "user"]
RewardType = Literal["DB", "ENV_ASSERTION", "NL_ASSERTION", "ACTION", "COMMUNICATE"]


class TToolCall(_T):
    id: str = ""
    name: str
    arguments: dict[str, Any]
    requestor: Requestor = "assistant"


class _TParticipant(_T):
    content: str | None = None
    tool_calls: list[TToolCall] | None = None
    turn_idx: int | None = None
    timestamp: str | None = None
    cost: float | None = None
    usage: dict[str, Any] | None = None
    raw_data: dict[str, Any] | None = None


class TAssistant(_TParticipant):
    role: Literal["assistant"]


class TUser(_TParticipant):
    role: Literal["user"]


class TSystem(_T):
    role: Literal["system"]
    content: str | None = None


class TTool(_T):
    id: str
    role: Literal["tool"]
    content: str | None = None
    requestor: Requestor = "assistant"
    error: bool = False
    turn_idx: int | None = None
    timestamp: str | None = None


TMessage = Annotated[TAssistant | TUser | TSystem | TTool, Field(discriminator="role")]


class TAction(_T):
    action_id: str
    requestor: Requestor = "assistant"
    name: str
    arguments: dict[str, Any]
    info: str | None = None
    compare_args: list[str] | None = None


class TEnvAssertion(_T):
    env_type: Requestor
    func_name: str
    arguments: dict[str, Any]
    assert_value: bool = True
    message: str | None = None


class TDBCheck(_T):
    db_match: bool
    db_reward: float


class TActionCheck(_T):
    action: TAction
    action_match: bool
    action_reward: float
    tool_type: Literal["read", "write", "think", "generic"] | None = None


class TEnvAssertionCheck(_T):
    env_assertion: TEnvAssertion
    met: bool
    reward: float


class TNLCheck(_T):
    nl_assertion: str
    met: bool
    justification: str


class TCommunicateCheck(_T):
    info: str
    met: bool
    justification: str


class TRewardInfo(_T):
    reward: float
    db_check: TDBCheck | None = None
    env_assertions: list[TEnvAssertionCheck] | None = None
    action_checks: list[TActionCheck] | None = None
    nl_assertions: list[TNLCheck] | None = None
    communicate_checks: list[TCommunicateCheck] | None = None
    reward_basis: list[RewardType] | None = None
    reward_breakdown: dict[RewardType, float] | None = None
    info: dict[str, Any] | None = None


class TAgentInfo(_T):
    implementation: str
    llm: str | None = None
    llm_args: dict[str, Any] | None = None


class TUserInfo(TAgentInfo):
    global_simulation_guidelines: str | None = None


class TEnvironmentInfo(_T):
    domain_name: str
    policy: str
    tool_defs: dict[str, Any] | None = None


class TInfo(_T):
    git_commit: str
    num_trials: int
    max_steps: int
    max_errors: int
    user_info: TUserInfo
    agent_info: TAgentInfo
    environment_info: TEnvironmentInfo
    seed: int | None = None


class TSimulationRun(_T):
    id: str
    task_id: str
    timestamp: str | None = None
    start_time: str
    end_time: str
    duration: float
    termination_reason: Literal["user_stop", "agent_stop", "max_steps", "timeout",
                                "too_many_errors", "agent_error", "user_error",
                                "infrastructure_error"]
    agent_cost: float | None = None
    user_cost: float | None = None
    reward_info: TRewardInfo | None = None
    messages: list[TMessage] | None = None
    trial: int | None = None
    seed: int | None = None


class TTask(_T):
    id: str
    user_scenario: dict[str, Any]


class TResults(_T):
    timestamp: str | None = None
    info: TInfo
    tasks: list[TTask]
    simulations: list[TSimulationRun]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="agentkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def config(**kw: Any) -> RunConfig:
    base: dict[str, Any] = {
        "domain": "mock", "agent_model": FunctionModel(agent_fn, name="agent-fn"),
        "user_model": FunctionModel(user_fn, name="user-fn"), "trials": 2,
        "task_ids": ["create_task_1", "update_task_with_initialization_data"],
        "concurrency": 2, "progress": False}
    base.update(kw)
    return RunConfig(**base)


# ----------------------------------------------------------------- writing tau2-bench's format


@pytest.mark.anyio
async def test_results_files_validate_as_tau2_bench_results(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    await run_benchmark(config(), out)
    # and an infrastructure error, which never had a conversation
    await run_benchmark(config(user_model=Flaky(10**6), max_retries=0, trials=1,
                               task_ids=["update_task_1"]), tmp_path / "infra.json")
    for path in (out, tmp_path / "infra.json"):
        doc = json.loads(path.read_text())
        parsed = TResults.model_validate(doc)  # raises on anything tau2-bench would reject
        info = parsed.info
        assert info.num_trials == doc["info"]["trials"] and info.max_steps == 200
        assert info.agent_info.llm == "agent-fn" and info.user_info.llm in ("user-fn", "flaky")
        assert info.environment_info.domain_name == "mock"
        assert "task" in info.environment_info.policy.lower()
        assert info.git_commit.startswith("agentkit ")
    sims = TResults.model_validate_json(out.read_text()).simulations
    checks = [c for s in sims for c in (s.reward_info.communicate_checks or [])
              if s.reward_info is not None]
    assert checks and all(c.justification for c in checks)
    assert any(not c.met and "is in no agent message" in c.justification for c in checks)
    infra = TResults.model_validate_json((tmp_path / "infra.json").read_text()).simulations[0]
    assert infra.termination_reason == "infrastructure_error" and infra.start_time


@pytest.mark.anyio
async def test_agentkit_extras_sit_in_one_object_and_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    results = await run_benchmark(config(trials=1), out)
    raw = json.loads(out.read_text())
    assert raw["format"] == "agentkit-tau2-results" and raw["version"] == 2
    for sim in raw["simulations"]:
        assert set(sim["agentkit"]) >= {"domain", "steps", "attempts", "agent_usage",
                                        "user_usage"}
        assert not {"domain", "agent_usage", "steps"} & set(sim)
    again = load_results(out)
    assert [s.model_dump() for s in again.simulations] == [
        s.model_dump() for s in results.simulations]
    assert again.simulations[0].agent_usage.requests >= 1


def test_version_1_files_still_load(tmp_path: Path) -> None:
    doc = json.loads(FIXTURE.read_text())
    sim = {**doc["simulations"][0], "domain": "mock", "steps": 5, "attempts": 1,
           "agent_usage": {"requests": 3, "input_tokens": 10}}
    v1 = {"format": "agentkit-tau2-results", "version": 1,
          "info": {"domain": "mock", "trials": 1}, "tasks": doc["tasks"][:1],
          "simulations": [sim]}
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(v1))
    (loaded,) = load_results(path).simulations
    assert loaded.domain == "mock" and loaded.steps == 5 and loaded.agent_usage.requests == 3


# ----------------------------------------------------------------- reading tau2-bench's files


def test_the_fixture_is_tau2_bench_shaped() -> None:
    TResults.model_validate_json(FIXTURE.read_text())


def test_grade_reads_a_file_tau2_bench_wrote(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "regraded.json"
    assert main(["tau2", "grade", str(FIXTURE), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mock" in text and "pass^1" in text and "pass^2" in text
    assert "infrastructure_error=1" in text
    theirs = {s["id"]: s for s in json.loads(FIXTURE.read_text())["simulations"]}
    ours = load_results(out)
    assert ours.info["source"] == "tau2-bench" and ours.info["domain"] == "mock"
    for sim in ours.simulations:
        assert sim.domain == "mock"
        if sim.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR:
            continue
        # agentkit's grade agrees with the one tau2-bench wrote, component by component
        mine, stored = sim.reward_info, theirs[sim.id]["reward_info"]
        assert mine is not None and mine["reward"] == stored["reward"], sim.id
        assert mine.get("reward_breakdown", {}) == stored.get("reward_breakdown", {}), sim.id
    status = next(s for s in ours.simulations if s.id == "sim-status-0")
    assert status.reward_info is not None
    assert status.reward_info["reward_breakdown"] == {"COMMUNICATE": 1.0}  # no DB: nothing to
    # compare
    # tau2-bench's own fields survive the round trip, and the file is still theirs to read
    rewritten = json.loads(out.read_text())
    first = next(s for s in rewritten["simulations"] if s["id"] == "sim-groceries-0")
    assert first["agent_cost"] == 0.0021 and first["user_cost"] == 0.0009
    TResults.model_validate(rewritten)


def test_tau2_bench_directory_layout(tmp_path: Path) -> None:
    doc = json.loads(FIXTURE.read_text())
    sims = doc.pop("simulations")
    doc["simulations"] = []
    doc["simulation_index"] = [{"id": s["id"], "task_id": s["task_id"], "trial": s["trial"]}
                               for s in sims]
    run = tmp_path / "run"
    (run / "simulations").mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(doc))
    for s in sims:
        (run / "simulations" / f"{s['id']}.json").write_text(json.dumps(s))
    for where in (run, run / "results.json"):
        loaded = load_results(where)
        assert sorted(s.id for s in loaded.simulations) == sorted(s["id"] for s in sims)


def test_foreign_json_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"info": {}, "simulations": []}))
    with pytest.raises(ValueError, match="neither an agentkit nor a tau2-bench"):
        load_results(path)
    broken = json.loads(FIXTURE.read_text())
    broken["simulations"][0]["termination_reason"] = "exploded"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="not a readable tau2 results file"):
        load_results(path)


def test_saving_a_tau2_bench_file_marks_it_as_agentkit(tmp_path: Path) -> None:
    results = load_results(FIXTURE)
    shutil.copy(FIXTURE, tmp_path / "copy.json")
    save_results(results, tmp_path / "copy.json")
    again = load_results(tmp_path / "copy.json")
    assert isinstance(again, Results) and again.info["source"] == "tau2-bench"
    assert json.loads((tmp_path / "copy.json").read_text())["format"] == "agentkit-tau2-results"
    assert len(again.simulations) == 5


# ----------------------------------------------------------------- the judge, as tau2-bench


# sha256 of tau2-bench's judge system prompt, computed from its source text (evaluator_nl_
# assertions.py): eight-space indentation, the one blank line holding eight spaces, the
# trailing eight spaces
TAU2_JUDGE_SYSTEM_SHA256 = "994b7abd2d3d869adbc2ce1dce85be5b2ab0243e04f086994737e4fc5e5fd24b"


def test_judge_prompts_are_byte_identical_to_tau2_bench() -> None:
    assert hashlib.sha256(JUDGE_SYSTEM_PROMPT.encode()).hexdigest() == TAU2_JUDGE_SYSTEM_SHA256
    assert JUDGE_SYSTEM_PROMPT.startswith("\n        TASK\n        - You will be given")
    assert "grading\n        \n        Example" in JUDGE_SYSTEM_PROMPT
    assert JUDGE_SYSTEM_PROMPT.endswith("\n        }\n        ")
    prompt = judge_user_prompt("user: hi\nassistant: None", ["It's done", "b"])
    assert prompt == ("\n        conversation:\n        user: hi\nassistant: None\n        \n"
                      "        expectedOutcomes:\n        [\"It's done\", 'b']\n        ")


def answer(*items: dict[str, Any]) -> str:
    return json.dumps({"results": list(items)})


def item(outcome: str, met: Any) -> dict[str, Any]:
    return {"expectedOutcome": outcome, "reasoning": "because", "metExpectation": met}


@pytest.mark.parametrize(("value", "met"), [
    (True, True), (False, False), (1, True), (0, False), ("yes", True), ("no", False),
    ("true", True), ("True", True), ("false", False), ("on", True), ("off", False),
], ids=repr)
def test_met_expectation_is_read_as_pydantic_reads_it(value: Any, met: bool) -> None:
    (check,) = parse_judge_answer(answer(item("a", value)), ["a"])
    assert check.met is met and check.justification == "because"
    strict = parse_judge_answer(answer(item("a", value)), ["a"], strict=True)
    assert strict[0].met is (value is True or str(value).lower() == "true")


@pytest.mark.parametrize("text", [
    "```json\n" + answer(item("a", True)) + "\n```",           # fenced
    "Here you go: " + answer(item("a", True)),                  # prose-wrapped
    answer(item("a", "maybe")),                                 # not a boolean
    answer(item("a", 2)),
    json.dumps({"results": [{"expectedOutcome": "a", "metExpectation": True}]}),  # no reasoning
    json.dumps({"results": ["a"]}),
    json.dumps({"results": {"a": True}}),
    json.dumps([item("a", True)]),
], ids=["fenced", "prose", "maybe", "two", "no-reasoning", "string-item", "dict", "list"])
def test_answers_tau2_bench_rejects_are_unusable(text: str) -> None:
    with pytest.raises(JudgeError):
        parse_judge_answer(text, ["a"])


def test_only_the_returned_assertions_are_graded() -> None:
    checks = parse_judge_answer(answer(item("a", True)), ["a", "b"])
    assert [(c.nl_assertion, c.met) for c in checks] == [("a", True)]
    assert parse_judge_answer(json.dumps({"other": 1}), ["a"]) == []  # no results: nothing
    strict = parse_judge_answer(answer(item("a", True)), ["a", "b"], strict=True)
    assert [(c.nl_assertion, c.met) for c in strict] == [("a", True), ("b", False)]
    thought = "<think>let me see</think>" + answer(item("a", False))
    assert [c.met for c in parse_judge_answer(thought, ["a"])] == [False]


@pytest.mark.anyio
async def test_the_judge_asks_again_on_unusable_answers_then_gives_up() -> None:
    msgs = [SimMessage(role="assistant", content="hello")]
    model = ScriptedModel([reply("```json\n{}\n```"), reply(answer(item("a", "yes")))])
    judge = NLJudge(model)
    assert [c.met for c in await judge.judge(msgs, ["a", "b"])] == [True]
    sent = model.requests[0]
    assert sent.messages[0].content == JUDGE_SYSTEM_PROMPT
    assert sent.messages[1].content == judge_user_prompt("assistant: hello", ["a", "b"])
    strict = NLJudge(ScriptedModel([reply(answer(item("a", "yes")))]), strict=True)
    assert [c.met for c in await strict.judge(msgs, ["a", "b"])] == [False, False]
    dead = NLJudge(ScriptedModel([reply("nope"), reply("still nope")]))
    with pytest.raises(JudgeError, match="not JSON"):
        await dead.judge(msgs, ["a"])


def test_strict_judge_is_a_documented_option(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "grade"):
        with pytest.raises(SystemExit):
            main(["tau2", command, "--help"])
        assert "--strict-judge" in capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "--strict-judge" in readme and "<think>" in readme


def test_progress_counts_rewards_tokens_and_cost() -> None:
    from agentkit.tau2.progress import Progress

    sims = load_results(FIXTURE).simulations
    for s in sims:
        s.agent_usage.input_tokens, s.agent_usage.output_tokens = 1000, 500
        s.agent_usage.reasoning_tokens = 200
    progress = Progress(len(sims), enabled=False, price_per_mtok=(2.0, 8.0))
    for s in sims:
        progress.update(s)
    text = progress.describe()
    assert "5/5 done, 2 passed, 1 infra errors" in text
    assert "avg reward 0.500" in text and "5.0k in / 2.5k out (1.0k reasoning)" in text
    assert f"${5 * (1000 * 2 + 500 * 8) / 1e6:.4f}" in text
