"""End to end: `agentkit tau2 run` against loopback model servers (real HTTP, real streaming
wire format) with a scripted agent and a scripted LLM user, on the airline data; then
`agentkit tau2 grade`, and pass^k on a constructed results file."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agentkit.tau2.cli import register
from agentkit.tau2.registry import get_domain
from agentkit.tau2.results import Results, load_results, pass_hat_ks, save_results
from agentkit.tau2.simulation import SimulationResult, TerminationReason
from agentkit.testing import LoopbackServer, Step, call, reply, tool_step


def main(argv: Sequence[str]) -> int:
    """`agentkit <argv>` with just the tau2 command group registered."""
    parser = argparse.ArgumentParser(prog="agentkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


T11 = get_domain("airline").load_tasks(task_ids=["11"])[0]
GOLD_11 = T11.gold_actions[0].arguments  # update_reservation_flights to basic economy


@pytest.fixture
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with LoopbackServer() as agent_srv, LoopbackServer() as user_srv:
        yield agent_srv, user_srv


def run_cli(agent_srv: LoopbackServer, user_srv: LoopbackServer, out: Path, task_id: str,
            *extra: str) -> dict[str, Any]:
    code = main(["tau2", "run", "--domain", "airline", "--task-ids", task_id,
                 "--agent-model", "qwen3-max", "--agent-base-url", agent_srv.base_url,
                 "--user-model", "qwen3-max", "--user-base-url", user_srv.base_url,
                 "--api-key", "test-key", "--trials", "1", "--concurrency", "1",
                 "--max-retries", "0", "--no-progress", "--out", str(out), *extra])
    assert code == 0
    assert agent_srv.errors == [] and user_srv.errors == []
    (sim,) = json.loads(out.read_text())["simulations"]
    return {**sim, **sim["agentkit"]}  # agentkit's own fields sit in one object


def user_script(*texts: str) -> list[Step]:
    return [reply(t, thinking="I am the customer.") for t in texts]


def test_scripted_agent_and_user_complete_a_task(
        servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    agent_srv, user_srv = servers
    agent_srv.add_steps(
        tool_step(call("get_reservation_details", {"reservation_id": "GV1N64"}),
                  thinking="Look the reservation up first."),
        reply("I can downgrade all passengers to basic economy; the refund is $5,244. "
              "Shall I proceed?", thinking="Compute the refund."),
        tool_step(call("update_reservation_flights", GOLD_11), thinking="Confirmed."),
        reply("Done: you were refunded 5244 dollars.", thinking="Tell the user."),
    )
    user_srv.add_steps(user_script("Please change my reservation GV1N64 to basic economy.",
                                   "Yes, proceed.", "Thanks! ###STOP###"))
    out = tmp_path / "results.json"
    sim = run_cli(agent_srv, user_srv, out, "11", "--stream")
    assert sim["termination_reason"] == "user_stop"
    assert sim["reward_info"]["reward"] == 1.0
    assert sim["reward_info"]["reward_breakdown"] == {"DB": 1.0, "COMMUNICATE": 1.0}
    captured = capsys.readouterr()
    printed = captured.out
    assert "airline" in printed and "pass^1" in printed and "1.0000" in printed
    # --stream: the agent's thinking and tool calls were shown while the conversation ran
    assert "Look the reservation up first." in captured.err
    assert "[11#0] agent calls get_reservation_details" in captured.err
    assert "[11#0] user (step 1): Please change my reservation GV1N64" in captured.err

    # what went over the wire: the agent got tau2's prompt and tools; the user the scenario
    first_agent = agent_srv.requests[0].body
    assert first_agent["messages"][0]["content"].startswith("<instructions>\nYou are a customer")
    assert "<policy>" in first_agent["messages"][0]["content"]
    assert {t["function"]["name"] for t in first_agent["tools"]} >= {
        "update_reservation_flights", "cancel_reservation"}
    first_user = user_srv.requests[0].body
    assert "<scenario>" in first_user["messages"][0]["content"]
    assert "James Patel" in first_user["messages"][0]["content"]
    assert first_user["messages"][1] == {"role": "user",
                                         "content": "Hi! How can I help you today?"}
    assert not first_user.get("tools")
    last_user = user_srv.requests[-1].body["messages"]
    assert all("GV1N64\", \"user_id\"" not in str(m.get("content")) for m in last_user)
    assert last_user[-1]["content"] == "Done: you were refunded 5244 dollars."

    # re-grading the file (lenient replay) gives the same reward
    code = main(["tau2", "grade", str(out), "--write"])
    assert code == 0
    regraded = load_results(out)
    assert regraded.simulations[0].reward == 1.0


@pytest.mark.parametrize("case", ["wrong_write", "missing_write", "policy_violation"])
def test_wrong_missing_or_forbidden_writes_score_zero(
        case: str, servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path) -> None:
    agent_srv, user_srv = servers
    task_id = "11"
    if case == "wrong_write":
        wrong = dict(GOLD_11, cabin="economy")
        agent_srv.add_steps(tool_step(call("update_reservation_flights", wrong)),
                            reply("Done, refund 5244."))
    elif case == "missing_write":
        agent_srv.add_steps(reply("Your refund would be 5244; it is all set."))
    else:  # task 1: cancelling is against the policy (booked > 24h ago, no insurance reason)
        task_id = "1"
        agent_srv.add_steps(tool_step(call("cancel_reservation", {"reservation_id": "Q69X3R"})),
                            reply("Your reservation is cancelled."))
    user_srv.add_steps(user_script("Please help with my reservation.", "Thanks ###STOP###"))
    sim = run_cli(agent_srv, user_srv, tmp_path / "r.json", task_id)
    assert sim["termination_reason"] == "user_stop"
    info = sim["reward_info"]
    assert info["reward"] == 0.0
    assert info["db_check"]["db_match"] is False
    assert info["db_check"]["gold_db_hash"] != info["db_check"]["predicted_db_hash"]


def test_a_conversation_the_user_never_stops_scores_zero(
        servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path) -> None:
    agent_srv, user_srv = servers
    agent_srv.add_steps(tool_step(call("update_reservation_flights", GOLD_11)),
                        reply("Done, refund 5244."))
    user_srv.add_steps(user_script("Downgrade GV1N64 please.", "Great, and one more thing"))
    sim = run_cli(agent_srv, user_srv, tmp_path / "r.json", "11", "--max-steps", "5")
    assert sim["termination_reason"] == "max_steps"
    assert sim["reward_info"]["reward"] == 0.0  # the right write, but not a user stop
    assert "Termination reason: max_steps" in sim["reward_info"]["info"]["note"]


def test_server_errors_become_infrastructure_errors_after_retries(
        servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path) -> None:
    from agentkit.testing import Fault

    agent_srv, user_srv = servers
    user_srv.add_steps([Step(fault=Fault.http_error(400)) for _ in range(2)])
    sim = run_cli(agent_srv, user_srv, tmp_path / "r.json", "11", "--max-retries", "1")
    assert sim["termination_reason"] == "infrastructure_error"
    assert sim["attempts"] == 2 and "400" in sim["error"]


def sim_record(task_id: str, trial: int, reward: float | None,
               reason: TerminationReason = TerminationReason.USER_STOP) -> SimulationResult:
    return SimulationResult(
        id=f"{task_id}-{trial}", task_id=task_id, domain="airline", trial=trial,
        termination_reason=reason,
        reward_info=None if reward is None else {"reward": reward})


def test_pass_hat_k_on_a_constructed_results_file(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # successes per task: A 3/4, B 1/4, C 4/4; B also has an infrastructure error (dropped)
    outcomes = {"A": [1, 1, 1, 0], "B": [0, 1, 0, 0], "C": [1, 1, 1, 1]}
    sims = [sim_record(t, i, float(r)) for t, rs in outcomes.items() for i, r in enumerate(rs)]
    sims.append(sim_record("B", 4, None, TerminationReason.INFRASTRUCTURE_ERROR))
    path = tmp_path / "constructed.json"
    save_results(Results(info={"domain": "airline"}, simulations=sims), path)

    # by hand: pass^k = mean over tasks of C(c,k)/C(4,k)
    #   k=1: (3/4 + 1/4 + 1)/3 = 2/3      k=2: (3/6 + 0 + 1)/3 = 1/2
    #   k=3: (1/4 + 0 + 1)/3 = 5/12       k=4: (0 + 0 + 1)/3 = 1/3
    expected = {1: 2 / 3, 2: 1 / 2, 3: 5 / 12, 4: 1 / 3}
    got = pass_hat_ks(load_results(path).simulations)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=1e-12)

    assert main(["tau2", "grade", str(path), "--summary-only"]) == 0
    out = capsys.readouterr().out
    header, _, row = out.splitlines()[:3]
    assert header.split() == ["domain", "tasks", "sims", "infra", "avg_reward", "pass^1",
                              "pass^2", "pass^3", "pass^4"]
    assert row.split() == ["airline", "3", "12", "1", "0.6667", "0.6667", "0.5000", "0.4167",
                           "0.3333"]
    assert "1 simulation(s) failed with infrastructure errors" in out


def test_grade_reports_bad_files_clearly(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["tau2", "grade", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["tau2", "grade", str(tmp_path / "missing.json")]) == 2
    assert "not found" in capsys.readouterr().err


def test_llm_free_grades_retail_on_db_times_communicate(
        servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    task = next(t for t in get_domain("retail").load_tasks()
                if t.evaluation_criteria and t.evaluation_criteria.nl_assertions
                and t.evaluation_criteria.communicate_info and len(t.gold_actions) <= 4)
    assert task.evaluation_criteria is not None
    agent_srv, user_srv = servers
    agent_srv.add_steps(*[tool_step(call(a.name, a.arguments)) for a in task.gold_actions],
                        reply("Here you go: " + ", ".join(
                            task.evaluation_criteria.communicate_info or [])))
    user_srv.add_steps(user_script("I need help with an order.", "Thank you ###STOP###"))
    code = main(["tau2", "run", "--domain", "retail", "--task-ids", task.id,
                 "--agent-model", "qwen3-max", "--agent-base-url", agent_srv.base_url,
                 "--user-model", "qwen3-max", "--user-base-url", user_srv.base_url,
                 "--api-key", "k", "--trials", "1", "--no-progress", "--llm-free",
                 "--split", "all", "--out", str(tmp_path / "r.json")])
    assert code == 0
    (sim,) = json.loads((tmp_path / "r.json").read_text())["simulations"]
    info = sim["reward_info"]
    assert info["reward"] == 1.0 and info["llm_free"] and info["nl_skipped"]
    assert info["reward_basis"] == ["DB", "NL_ASSERTION"]
    assert info["effective_reward_basis"] == ["DB", "COMMUNICATE"]
    out = capsys.readouterr().out
    assert "retail (llm-free)" in out and "NL assertions skipped" in out


@pytest.mark.parametrize(("mode", "switches"), [
    ("escalate", [False, True, True, False]),  # the failed lookup: two thinking steps
    ("plan-then-act", [True, True, False, False]),  # plan, re-plan after the failure, act
    ("always", [True, True, True, True]),
])
def test_agent_mode_policies_switch_per_request_and_are_recorded(
        servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path, mode: str,
        switches: list[bool], capsys: pytest.CaptureFixture[str]) -> None:
    agent_srv, user_srv = servers
    agent_srv.add_steps(
        tool_step(call("get_reservation_details", {"reservation_id": "NOPE00"})),  # not found
        tool_step(call("get_reservation_details", {"reservation_id": "GV1N64"}),
                  thinking="That id was wrong; use the one the user gave."),
        tool_step(call("update_reservation_flights", GOLD_11)),
        reply("Done: you were refunded 5244 dollars."),
    )
    user_srv.add_steps(user_script("Please change my reservation GV1N64 to basic economy.",
                                   "Thanks! ###STOP###"))
    out = tmp_path / "results.json"
    sim = run_cli(agent_srv, user_srv, out, "11", "--profile", "dashscope",
                  "--agent-mode", mode)
    assert [r.body.get("enable_thinking") for r in agent_srv.requests] == switches
    labels = ["thinking" if s else "instruct" for s in switches]
    assert sim["agent_modes"] == labels
    by_mode = sim["agent_usage"]["by_mode"]
    assert {m: u["requests"] for m, u in by_mode.items()} == {
        m: labels.count(m) for m in set(labels)}
    info = json.loads(out.read_text())["info"]
    assert mode in json.dumps(info)
    assert load_results(out).info["agent_mode"] == mode
    printed = capsys.readouterr().out
    assert f"agent modes ({mode})" in printed
