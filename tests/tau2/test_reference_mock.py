"""Mock fidelity: replaying every reference record reproduces tau2's outputs and hashes."""

from __future__ import annotations

from typing import Any

DOMAIN = "mock"


def test_reference_record(reference_record: dict[str, Any], reference_check: Any) -> None:
    problems = reference_check.run(reference_record)
    assert not problems, "\n".join(problems)


def _run_replay_gold(repo: Any, data_dir: Any, *args: str) -> list[dict[str, Any]]:
    """Run ``replay-gold`` in a real subprocess and parse its JSON lines."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.tau2.replay", "replay-gold", "--data-dir", str(data_dir),
         *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_replay_gold_cli_mock_matches_synced_reference(
    data_dir: Any, repo_root: Any, reference_records: Any
) -> None:
    gold = {r["task_id"]: r for r in reference_records("mock") if r["kind"] == "gold"}
    lines = _run_replay_gold(repo_root, data_dir, "--domain", "mock", "--json")
    assert [line["task_id"] for line in lines] == list(gold)
    for line in lines:
        ref = gold[line["task_id"]]
        synced = ref["synced_replay"]
        assert line["final_db_hash"] == synced["final_db_hash"], line["task_id"]
        assert line["final_user_db_hash"] == synced["final_user_db_hash"], line["task_id"]
        expected = synced.get("actions", ref["actions"])
        assert [(a["name"], a["error"]) for a in line["actions"]] == [
            (a["name"], a["error"]) for a in expected
        ]


def test_replay_gold_cli_airline_subset(
    data_dir: Any, repo_root: Any, reference_records: Any
) -> None:
    gold = {r["task_id"]: r for r in reference_records("airline") if r["kind"] == "gold"}
    wanted = ["1", "14", "23"]
    lines = _run_replay_gold(
        repo_root, data_dir, "--domain", "airline", "--task-ids", *wanted, "--json"
    )
    assert [line["task_id"] for line in lines] == wanted
    for line in lines:
        ref = gold[line["task_id"]]
        assert line["final_db_hash"] == ref["final_db_hash"]
        assert line["final_user_db_hash"] is None
        assert [a["output"] for a in line["actions"]] == [a["output"] for a in ref["actions"]]


def test_replay_gold_cli_rejects_unknown_task(data_dir: Any, repo_root: Any) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.tau2.replay", "replay-gold", "--domain", "airline",
         "--data-dir", str(data_dir), "--task-ids", "no-such-task", "--json"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo_root)},
        timeout=120, check=False,
    )
    assert proc.returncode == 2
    assert "Unknown task id(s): no-such-task" in proc.stderr
    assert proc.stdout == ""
