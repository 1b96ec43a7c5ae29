"""Shared fixtures for the tau2 reference tests.

A test module sets ``DOMAIN = "<name>"`` and takes a ``reference_record`` argument; it is then
run once per record of ``<reference>/<domain>.train.jsonl`` (ids ``pristine``, ``gold-<task>``,
``perturbed-<task>-<perturbation id>``). ``reference_check`` compares a record with our replay.

Data: ``$TAU2_DATA_DIR`` or ``../shared/tau2/data`` next to the repository; the reference records
live in ``<data_dir>/../reference``. Missing data makes the tests fail, not skip.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def tau2_data_dir() -> Path:
    env = os.environ.get("TAU2_DATA_DIR")
    if env:
        return Path(env).resolve()
    return (REPO / ".." / "shared" / "tau2" / "data").resolve()


def reference_dir() -> Path:
    return (tau2_data_dir() / ".." / "reference").resolve()


def load_reference(domain: str) -> list[dict[str, Any]]:
    path = reference_dir() / f"{domain}.train.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _record_id(record: dict[str, Any]) -> str:
    if record["kind"] == "pristine":
        return "pristine"
    if record["kind"] == "perturbed":
        return f"perturbed-{record['task_id']}-{record['perturbation_id']}"
    return f"gold-{record['task_id']}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "reference_record" not in metafunc.fixturenames:
        return
    domain = getattr(metafunc.module, "DOMAIN", None)
    if domain is None:
        raise pytest.UsageError(f"{metafunc.module.__name__} must define DOMAIN")
    try:
        records = load_reference(domain)
    except OSError as exc:
        # Fail (not skip): a missing reference set must not look like a pass.
        records = [{"kind": "missing", "error": f"reference data unavailable: {exc}"}]
        metafunc.parametrize("reference_record", records, ids=["missing-reference"])
        return
    metafunc.parametrize("reference_record", records, ids=[_record_id(r) for r in records])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = tau2_data_dir()
    if not (path / "tau2" / "domains").is_dir():
        pytest.fail(f"tau2 data directory not found at {path} (set $TAU2_DATA_DIR)")
    return path


# ------------------------------------------------------------------ output comparison

_PYDANTIC_URL = re.compile(r"https://errors\.pydantic\.dev/[0-9.]+/")
_ERROR_TYPE = re.compile(r"\[type=([a-z_]+)")


def _error_info(text: str) -> dict[str, Any]:
    """The version-independent information in a tool error string."""
    body = _PYDANTIC_URL.sub("https://errors.pydantic.dev/<v>/", text)
    first = body.splitlines()[0] if body else ""
    return {
        "first_line": first,
        "error_types": _ERROR_TYPE.findall(body),
        "words": sorted(set(re.findall(r"[A-Za-z_][A-Za-z_0-9.]*", first))),
    }


def outputs_match(expected: str, actual: str, error: bool) -> bool:
    """Same output: as JSON when it parses, as text otherwise; errors by their information."""
    if error:
        # Only the pydantic docs URL embeds a version; anything else must match, except that
        # Python/pydantic may word messages differently: then compare their information.
        if _PYDANTIC_URL.sub("", expected) == _PYDANTIC_URL.sub("", actual):
            return True
        return _error_info(expected) == _error_info(actual)
    try:
        return bool(json.loads(expected) == json.loads(actual))
    except ValueError:
        return expected == actual


def check_actions(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if len(expected) != len(actual):
        problems.append(f"{len(actual)} actions replayed, reference has {len(expected)}")
    for i, (exp, act) in enumerate(zip(expected, actual, strict=False)):
        if exp["error"] != act["error"]:
            problems.append(
                f"action {i} {exp['name']}: error={act['error']} (reference {exp['error']}):"
                f"\n  ours: {act['output'][:500]}\n  ref:  {exp['output'][:500]}"
            )
        elif not outputs_match(exp["output"], act["output"], exp["error"]):
            problems.append(
                f"action {i} {exp['name']}: output differs"
                f"\n  ours: {act['output'][:800]}\n  ref:  {exp['output'][:800]}"
            )
    return problems


class ReferenceCheck:
    """Replays a reference record on a fresh environment and lists the differences."""

    def __init__(self, domain: str, data_dir: Path) -> None:
        self.domain = domain
        self.data_dir = data_dir

    def task_for(self, record: dict[str, Any]) -> Any:
        from agentkit.tau2.registry import get_domain
        from agentkit.tau2.tasks import Action

        (task,) = get_domain(self.domain).load_tasks(self.data_dir, task_ids=[record["task_id"]])
        if record["kind"] == "gold" and not record.get("gold_actions_null"):
            return task
        actions = [
            Action(
                action_id=f"ref_{i}",
                requestor=a["requestor"],
                name=a["name"],
                arguments=a["arguments"],
            )
            for i, a in enumerate(record["actions"])
        ]
        criteria = task.evaluation_criteria.model_copy(update={"actions": actions or None})
        return task.model_copy(update={"evaluation_criteria": criteria})

    def run(self, record: dict[str, Any]) -> list[str]:
        from agentkit.tau2.replay import build_task_env, replay_actions
        from agentkit.tau2.tasks import EnvAssertion

        problems: list[str] = []
        if record["kind"] == "missing":
            return [record["error"]]
        if record["kind"] == "pristine":
            from agentkit.tau2.registry import get_domain

            env = get_domain(self.domain).build_env(self.data_dir)
            if env.get_db_hash() != record["db_hash"]:
                problems.append("pristine db hash differs")
            if env.get_user_db_hash() != record.get("user_db_hash"):
                problems.append("pristine user db hash differs")
            return problems

        task = self.task_for(record)
        for synced in (False, True):
            ref = record if not synced else record.get("synced_replay")
            if ref is None:
                continue
            label = "synced" if synced else "gold"
            env = build_task_env(self.domain, task, self.data_dir)
            if env.get_db_hash() != record["initial_db_hash"]:
                problems.append(f"{label}: initial db hash differs")
            if env.get_user_db_hash() != record["initial_user_db_hash"]:
                problems.append(f"{label}: initial user db hash differs")
            actions = replay_actions(env, task, synced=synced)
            expected_actions = ref.get("actions", record["actions"])
            problems += [f"{label}: {p}" for p in check_actions(expected_actions, actions)]
            if env.get_db_hash() != ref["final_db_hash"]:
                problems.append(f"{label}: final db hash differs")
            if env.get_user_db_hash() != ref["final_user_db_hash"]:
                problems.append(f"{label}: final user db hash differs")
            expected_asserts = ref.get("env_assertions", record["env_assertions"])
            for i, exp in enumerate(expected_asserts):
                source = record["env_assertions"][i]
                assertion = EnvAssertion(
                    env_type=source["env_type"],
                    func_name=source["func_name"],
                    arguments=source["arguments"],
                    assert_value=source["assert_value"],
                )
                expect_raise = exp.get("result") is None
                try:
                    met = env.run_env_assertion(assertion, raise_assertion_error=False)
                except Exception as exc:
                    if not expect_raise:
                        problems.append(f"{label}: env assertion {i} raised {exc!r}")
                    elif "error" in exp and exp["error"] != f"{type(exc).__name__}: {exc}":
                        problems.append(f"{label}: env assertion {i} error {exc!r} differs")
                    continue
                if expect_raise:
                    problems.append(f"{label}: env assertion {i} did not raise")
                elif met != exp["met"]:
                    problems.append(f"{label}: env assertion {i} met={met}, expected {exp['met']}")
        if record["kind"] == "perturbed":
            from agentkit.tau2.replay import replay_gold

            gold_task = self.task_for({**record, "kind": "gold"})
            gold = replay_gold(self.domain, gold_task, synced=False, data_dir=self.data_dir)
            ours = (gold["final_db_hash"], gold["final_user_db_hash"])
            same = ours == (record["final_db_hash"], record["final_user_db_hash"])
            if same != record["matches_gold_final_hashes"]:
                problems.append("matches_gold_final_hashes differs")
        return problems


@pytest.fixture
def reference_check(request: pytest.FixtureRequest, data_dir: Path) -> ReferenceCheck:
    return ReferenceCheck(request.module.DOMAIN, data_dir)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def reference_records() -> Any:
    """``reference_records(domain)`` -> the parsed records of ``<domain>.train.jsonl``."""
    return load_reference
